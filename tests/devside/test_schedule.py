"""schedule install|remove|show with fake crontab, launchctl and schtasks commands on PATH."""

from __future__ import annotations

import plistlib
import sys
from pathlib import Path

import orjson
import pytest

from devside.devside_helpers import configure
from devside.fake_tools import FAKE_CRONTAB, FAKE_RECORDER
from memsync.devside.config import state_dir


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    # only the fakes: a real crontab on this machine must never be touched by a test
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(tmp_path / "crontab.txt"))
    monkeypatch.setenv("FAKE_CALLS_FILE", str(tmp_path / "calls.jsonl"))
    return folder


def _tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(script)
    path.chmod(0o755)


@pytest.fixture
def configured(mem_sync, claude_mem_db: Path, tmp_path: Path) -> None:
    configure(mem_sync, dev="alice", db=claude_mem_db, url=str(tmp_path / "unused.git"))


def _set(**fields: object) -> None:
    path = state_dir() / "config.json"
    doc = orjson.loads(path.read_bytes())
    doc["global"].update(fields)
    path.write_bytes(orjson.dumps(doc))


def _calls(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "calls.jsonl"
    return [orjson.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


USER_LINES = "MAILTO=me@example.com\n# my backup\n15 2 * * * /usr/local/bin/backup --all\n"


def test_cron_install_is_idempotent_and_remove_deletes_only_our_block(
    bin_dir: Path, configured, mem_sync, tmp_path: Path
) -> None:
    _tool(bin_dir, "crontab", FAKE_CRONTAB)
    table = tmp_path / "crontab.txt"
    table.write_text(USER_LINES)
    assert "not installed" in mem_sync("schedule", "show", "--platform", "linux").stdout

    assert "installed 3 tasks" in mem_sync("schedule", "install", "--platform", "linux").stdout
    text = table.read_text()
    assert text.startswith(USER_LINES)
    ours = text[len(USER_LINES):].splitlines()
    assert ours[0].startswith("# >>> mem-sync schedule") and ours[-1] == "# <<< mem-sync schedule <<<"
    export, imports, maintain = ours[1:-1]
    logs = state_dir() / "logs"
    assert export.startswith("0 16 * * 5 MEM_SYNC_CONFIG=")
    assert f"{sys.executable} -m memsync export --all >> {logs / 'export.log'} 2>&1" in export
    assert imports.startswith("0 9 * * 6 ") and "import --all" in imports
    assert maintain.startswith("0 3 1 * * ") and maintain.endswith(f"maintain >> {logs / 'maintain.log'} 2>&1")
    assert logs.is_dir()
    assert "installed" in mem_sync("schedule", "show", "--platform", "linux").stdout

    assert "nothing changed" in mem_sync("schedule", "install", "--platform", "linux").stdout
    assert table.read_text() == text
    assert (tmp_path / "crontab.txt.writes").read_text().count("write") == 1

    # the configuration changes: install replaces our block, and only it
    _set(exportSchedule="everyday:08:30", maintenanceSchedule="biweekly")
    assert "older than the configuration" in mem_sync("schedule", "show", "--platform", "linux").stdout
    mem_sync("schedule", "install", "--platform", "linux")
    updated = table.read_text()
    assert updated.startswith(USER_LINES) and updated.count("# >>> mem-sync schedule") == 1
    fields = [line.split(" MEM_SYNC_CONFIG=")[0] for line in updated.splitlines()[4:7]]
    assert fields == ["30 8 * * *", "0 9 * * *", "0 3 1,15 * *"]

    assert "removed" in mem_sync("schedule", "remove", "--platform", "linux").stdout
    assert table.read_text() == USER_LINES
    assert "nothing changed" in mem_sync("schedule", "remove", "--platform", "linux").stdout


def test_cron_on_an_empty_crontab_and_without_cron(bin_dir: Path, configured, mem_sync, tmp_path: Path) -> None:
    result = mem_sync("schedule", "install", "--platform", "linux", check=False)
    assert result.returncode == 1 and "no crontab command on PATH" in result.stderr
    _tool(bin_dir, "crontab", FAKE_CRONTAB)
    mem_sync("schedule", "install", "--platform", "linux")
    assert (tmp_path / "crontab.txt").read_text().startswith("# >>> mem-sync schedule")
    mem_sync("schedule", "remove", "--platform", "linux")
    assert (tmp_path / "crontab.txt").read_text() == ""


def test_launchd_plists_and_launchctl(bin_dir: Path, configured, mem_sync, tmp_path: Path) -> None:
    out = mem_sync("schedule", "install", "--platform", "macos").stdout
    assert "launchctl is not on PATH; run:" in out and "launchctl bootstrap gui/" in out
    folder = Path.home() / "Library" / "LaunchAgents"
    plists = {path.name: plistlib.loads(path.read_bytes()) for path in sorted(folder.glob("*.plist"))}
    assert sorted(plists) == ["dev.mem-sync.export.plist", "dev.mem-sync.import.plist", "dev.mem-sync.maintain.plist"]
    export = plists["dev.mem-sync.export.plist"]
    assert export["Label"] == "dev.mem-sync.export"
    assert export["ProgramArguments"] == [sys.executable, "-m", "memsync", "export", "--all"]
    assert export["StartCalendarInterval"] == {"Weekday": 5, "Hour": 16, "Minute": 0}
    assert export["StandardOutPath"] == str(state_dir() / "logs" / "export.log")
    assert export["EnvironmentVariables"] == {"MEM_SYNC_CONFIG": str(state_dir() / "config.json")}
    assert plists["dev.mem-sync.import.plist"]["StartCalendarInterval"] == {"Weekday": 6, "Hour": 9, "Minute": 0}
    assert plists["dev.mem-sync.maintain.plist"]["StartCalendarInterval"] == {"Day": 1, "Hour": 3, "Minute": 0}

    _tool(bin_dir, "launchctl", FAKE_RECORDER)
    assert "already installed" in mem_sync("schedule", "install", "--platform", "macos").stdout
    assert _calls(tmp_path) == []
    _set(maintenanceSchedule="biweekly")
    mem_sync("schedule", "install", "--platform", "macos")
    maintain = plistlib.loads((folder / "dev.mem-sync.maintain.plist").read_bytes())
    assert maintain["StartCalendarInterval"] == [{"Day": 1, "Hour": 3, "Minute": 0},
                                                 {"Day": 15, "Hour": 3, "Minute": 0}]
    calls = _calls(tmp_path)
    assert [call[:2] for call in calls] == [["launchctl", "bootout"], ["launchctl", "bootstrap"]]
    assert calls[1][3] == str(folder / "dev.mem-sync.maintain.plist")
    assert "installed" in mem_sync("schedule", "show", "--platform", "macos").stdout

    (folder / "someone-else.plist").write_bytes(plistlib.dumps({"Label": "x"}))
    mem_sync("schedule", "remove", "--platform", "macos")
    assert [path.name for path in folder.iterdir()] == ["someone-else.plist"]
    assert sum(1 for call in _calls(tmp_path) if call[1] == "bootout") == 4


def test_schtasks_with_limited_rights(bin_dir: Path, configured, mem_sync, tmp_path: Path) -> None:
    out = mem_sync("schedule", "install", "--platform", "windows").stdout
    assert "schtasks is not on PATH" in out and "/rl LIMITED" in out
    _tool(bin_dir, "schtasks", FAKE_RECORDER)
    _set(maintenanceSchedule="biweekly")
    assert "installed 3 tasks" in mem_sync("schedule", "install", "--platform", "windows").stdout
    creates = [call for call in _calls(tmp_path) if call[1] == "/create"]
    assert [call[call.index("/tn") + 1] for call in creates] == ["mem-sync-export", "mem-sync-import",
                                                                "mem-sync-maintain"]
    for call in creates:
        assert call[call.index("/rl") + 1] == "LIMITED" and call[-1] == "/f"
    export, imports, maintain = creates
    assert export[export.index("/sc"):export.index("/rl")] == ["/sc", "weekly", "/d", "FRI", "/st", "16:00"]
    assert imports[imports.index("/sc"):imports.index("/rl")] == ["/sc", "weekly", "/d", "SAT", "/st", "09:00"]
    assert maintain[maintain.index("/sc"):maintain.index("/rl")] == ["/sc", "weekly", "/d", "SUN", "/mo", "2",
                                                                     "/st", "03:00"]
    action = export[export.index("/tr") + 1]
    assert action.startswith('cmd /c "set MEM_SYNC_CONFIG=') and "-m memsync export --all >> " in action
    assert "installed" in mem_sync("schedule", "show", "--platform", "windows").stdout
    mem_sync("schedule", "remove", "--platform", "windows")
    deletes = [call[call.index("/tn") + 1] for call in _calls(tmp_path) if call[1] == "/delete"]
    assert deletes == ["mem-sync-export", "mem-sync-import", "mem-sync-maintain"]
    assert "not installed" in mem_sync("schedule", "show", "--platform", "windows").stdout


@pytest.mark.parametrize("value", ["funday:16:00", "friday:7:5"])
def test_a_bad_export_schedule_is_one_clear_line(bin_dir: Path, configured, mem_sync, value: str) -> None:
    _set(exportSchedule=value)
    result = mem_sync("schedule", "show", "--platform", "linux", check=False)
    assert result.returncode == 1
    assert "exportSchedule" in result.stderr and "friday:16:00" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
