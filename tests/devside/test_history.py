"""Sync history: export and import append one event per project and run; damaged lines are skipped."""

from __future__ import annotations

from pathlib import Path

import orjson

from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import configure
from memsync.devside import history
from memsync.devside.config import state_dir

BASE = 1_773_900_000_000


def _lines() -> list[dict]:
    return [orjson.loads(line) for line in history.history_path(state_dir()).read_bytes().splitlines()]


def test_export_and_import_append_events(seeded_db, bare_repo: Path, mem_sync, tmp_path: Path) -> None:
    db = seeded_db(
        [seed_row(f"Decision {i}", session="alice-s1", created_at_epoch=BASE + i) for i in range(3)]
        + [seed_row("Scratch", session="alice-s1", type="change", created_at_epoch=BASE + 9)]
    )
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo))
    mem_sync("export", "--dry-run")
    assert not history.history_path(state_dir()).exists()  # a dry run did nothing worth recording
    mem_sync("export")
    mem_sync("import")  # nothing merged yet in the shared repository
    (event_export, event_import) = _lines()
    assert set(event_export) == {"at", "atEpoch", "kind", "project", "result", "count", "detail"}
    assert event_export["kind"] == "export" and event_export["result"] == "ok" and event_export["count"] == 3
    assert event_export["project"] == "demo" and "exported 3 observations" in event_export["detail"]
    assert event_export["at"].endswith("Z") and len(event_export["at"]) == 24
    assert event_import["kind"] == "import" and event_import["result"] == "nothing"

    configure(mem_sync, dev="alice", db=db, url=str(bare_repo), types="security_alert", tags="")
    mem_sync("export")
    assert _lines()[-1]["result"] == "nothing" and _lines()[-1]["count"] == 0


def test_failed_runs_are_recorded_as_errors(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    configure(mem_sync, dev="alice", db=claude_mem_db, url=str(tmp_path / "missing.git"))
    assert mem_sync("export", check=False).returncode == 1  # an empty database: nothing to export from
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert mem_sync("import", "--file", str(bad), check=False).returncode == 1
    kinds = [(event.kind, event.result) for event in history.read_events(state_dir())]
    assert kinds == [("export", "error"), ("import", "error")]
    assert "not valid JSON" in history.read_events(state_dir(), kind="import")[0].detail


def test_import_records_its_count(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    from builders import contribution, observation

    merged = tmp_path / "latest.json"
    doc = contribution(
        [observation(f"t{i}", created_at_epoch=BASE + i, contributors=["bob"], score=0.5) for i in range(2)],
        dev="ci-merge",
    )
    merged.write_bytes(orjson.dumps(doc))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    mem_sync("import", "--file", str(merged))
    mem_sync("import", "--file", str(merged))  # already imported
    events = history.read_events(state_dir(), kind="import")
    assert [(e.result, e.count) for e in events] == [("ok", 2), ("nothing", 0)]


def test_damaged_lines_are_skipped(tmp_path: Path) -> None:
    history.append_event(tmp_path, "export", "demo", "ok", 3, "first\nsecond line", now_millis=BASE)
    with history.history_path(tmp_path).open("ab") as handle:
        handle.write(b'{"at": "x", "kind": "export"\n')  # cut mid-write
        handle.write(b"[1, 2]\n\n")
        handle.write(b'{"at": "2026-01-01T00:00:00.000Z", "atEpoch": 1, "kind": "teleport", "project": "demo",'
                     b' "result": "ok", "count": 1, "detail": ""}\n')
    history.append_event(tmp_path, "maintain", "demo", "error", 0, "integrity check failed", now_millis=BASE + 5)
    events = history.read_events(tmp_path)
    assert [(e.kind, e.result) for e in events] == [("export", "ok"), ("maintain", "error")]
    assert events[0].detail == "first second line"  # one line per event, always
    assert history.last_event(tmp_path, kind="maintain").at_epoch == BASE + 5
    assert history.last_event(tmp_path, kind="import") is None
    assert history.read_events(tmp_path / "none") == []
