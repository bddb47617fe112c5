"""status: what mem-sync sees, read from the real files (config, claude-mem DB, access log, history,
Claude Code settings, crontab), in text and JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import configure
from devside.fake_tools import FAKE_CRONTAB
from devside.hook_helpers import SEARCH, payload, run_hook, search_table
from memsync.devside.config import state_dir
from memsync.devside.status import hook_wiring

BASE = 1_773_900_000_000


@pytest.fixture
def isolated_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(tmp_path / "crontab.txt"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    crontab = folder / "crontab"
    crontab.write_text(FAKE_CRONTAB)
    crontab.chmod(0o755)
    return folder


def _settings(tmp_path: Path, doc: dict) -> None:
    path = tmp_path / "claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(doc))


def test_status_reports_every_part(seeded_db, bare_repo: Path, mem_sync, tmp_path: Path, isolated_path: Path) -> None:
    db = seeded_db([seed_row(f"Decision {i}", session="a-s", created_at_epoch=BASE + i) for i in range(3)]
                   + [seed_row("Scratch", session="a-s", type="change", created_at_epoch=BASE + 9)])
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo))
    fresh = orjson.loads(mem_sync("status", "--format", "json").stdout)
    assert fresh["config"]["valid"] is True
    assert fresh["claudeMem"]["schemaVersion"] == 52 and fresh["claudeMem"]["observations"] == 4
    assert fresh["accessLog"]["rows"] == 0 and fresh["hook"]["wired"] is False
    assert fresh["schedule"] == {"scheduler": "crontab", "state": "not installed"}
    (project,) = fresh["projects"]
    assert project["exportableNow"] == 3 and project["publish"] == "push"
    assert project["lastExport"] is None and project["lastMaintenance"] is None

    mem_sync("export")
    mem_sync("import")
    run_hook(state_dir(), payload(SEARCH, search_table([(1, "Decision 0"), (2, "Decision 1")])))
    mem_sync("schedule", "install", "--platform", "linux")
    hook = isolated_path / "mem-sync-hook"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    _settings(tmp_path, {"enabledPlugins": {"mem-sync@mem-sync": True}})

    report = orjson.loads(mem_sync("status", "--format", "json").stdout)
    assert report["accessLog"]["rows"] == 2 and report["accessLog"]["lastAccess"].endswith("Z")
    assert report["hook"] == {"wired": True, "how": "plugin", "detail": f"plugin enabled; mem-sync-hook is {hook}"}
    assert report["schedule"]["state"] == "installed"
    (project,) = report["projects"]
    assert project["lastExport"]["result"] == "ok" and project["lastExport"]["count"] == 3
    assert project["lastImport"]["result"] == "nothing"
    text = mem_sync("status").stdout
    assert "hook:        wired (plugin enabled" in text
    assert "last export:     20" in text and " ok (3): demo: exported 3 observations" in text
    assert "last maintain:   never" in text
    assert "schema version 52, 4 observations" in text


def test_status_with_a_broken_config_still_reports(mem_sync, config_file: Path, tmp_path: Path,
                                                   isolated_path: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text("{ broken")
    result = mem_sync("status", "--format", "json")
    report = orjson.loads(result.stdout)
    assert report["config"]["valid"] is False and "not valid JSON" in report["config"]["problem"]
    assert report["projects"] == [] and report["claudeMem"] is None
    assert "INVALID" in mem_sync("status").stdout


@pytest.mark.parametrize(
    ("settings", "wired", "why"),
    [
        ({"hooks": {"PostToolUse": [{"matcher": "mcp__plugin_claude-mem_mcp-search__.*",
                                     "hooks": [{"type": "command", "command": "mem-sync hook post-tool-use"}]}]}},
         True, "PostToolUse hook"),
        ({"hooks": {"PostToolUse": [{"matcher": "Bash",
                                     "hooks": [{"type": "command", "command": "/x/bin/mem-sync-hook"}]}]}},
         False, "does not match"),
        ({"hooks": {"PostToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "echo hi"}]}]}},
         False, "neither"),
        ({"enabledPlugins": {"mem-sync@mem-sync": False}}, False, "neither"),
        ({"enabledPlugins": {"mem-sync@mem-sync": True}}, False, "not on PATH"),
    ],
)
def test_hook_wiring_is_what_claude_code_would_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   settings: dict, wired: bool, why: str) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    path = tmp_path / "settings.json"
    path.write_bytes(orjson.dumps(settings))
    found = hook_wiring(path)
    assert found["wired"] is wired and why in found["detail"]


def test_no_settings_file_says_how_to_install(tmp_path: Path) -> None:
    found = hook_wiring(tmp_path / "missing.json")
    assert not found["wired"] and "/plugin install mem-sync@mem-sync" in found["detail"]
