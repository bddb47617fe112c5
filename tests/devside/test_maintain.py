"""maintain on a real claude-mem database: own, team-imported and keep-tagged rows; dry run, real run,
a failing check that restores the backup."""

from __future__ import annotations

import random
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from builders import contribution, observation
from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import assert_db_consistent, configure, db_rows
from memsync.devside import history, ledger
from memsync.devside.config import state_dir

DAY = 86_400_000
NOW = time.time_ns() // 1_000_000
RECENT = NOW - 10 * DAY
OLD = NOW - 800 * DAY


def _team(title: str, created: int, *, type: str = "decision", narrative: str = "team narrative",
          contributors: tuple[str, ...] = ("bob",)) -> dict[str, Any]:
    return observation(title, session=f"team-{title[:6]}", type=type, created_at_epoch=created,
                       narrative=narrative, contributors=list(contributors), score=0.5)


TEAM_KEPT = _team("Team decision kept", RECENT, contributors=("bob", "carol"))
TEAM_EVICTED = _team("Team evicted later", RECENT)
TEAM_OLD = _team("Team old change", OLD, type="change")
TEAM_OLD_KEEP = _team("Team old change pinned", OLD, type="change", narrative="pinned #keep")


def _write_merged(repo: Path, observations: list[dict[str, Any]]) -> Path:
    path = repo / "merged" / "demo" / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = contribution(observations, dev="ci-merge")
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


@pytest.fixture
def setup(seeded_db, mem_sync, tmp_path: Path) -> tuple[Path, Path]:
    """Carol's database: her own rows (one old, one old keep-tagged, one recent) and four team
    rows imported from the merged set; the team's set has since dropped one of them."""
    db = seeded_db([
        seed_row("Own recent decision", session="carol-s", created_at_epoch=RECENT),
        seed_row("Own old change", session="carol-s", type="change", created_at_epoch=OLD),
        seed_row("Own old change pinned", session="carol-s", type="change", narrative="mine #keep",
                 created_at_epoch=OLD + 1),
    ])
    repo = tmp_path / "shared"
    configure(mem_sync, dev="carol", db=db, url=str(tmp_path / "unused.git"))
    config = state_dir() / "config.json"
    doc = orjson.loads(config.read_bytes())
    doc["global"]["maintenancePruneScoreThreshold"] = 0.35
    config.write_bytes(orjson.dumps(doc))
    _write_merged(repo, [TEAM_KEPT, TEAM_EVICTED, TEAM_OLD, TEAM_OLD_KEEP])
    assert "added 4 of 4" in mem_sync("import", "--repo-dir", str(repo)).stdout
    _write_merged(repo, [TEAM_KEPT, TEAM_OLD, TEAM_OLD_KEEP, _team("Dave's", RECENT, contributors=("dave",))])
    return db, repo


def _titles(db: Path) -> list[str]:
    return sorted(row[0] for row in db_rows(db, "SELECT title FROM observations"))


def _dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [line for line in conn.iterdump() if "sqlite_stat" not in line]
    finally:
        conn.close()


ALL = ["Own old change", "Own old change pinned", "Own recent decision", "Team decision kept",
       "Team evicted later", "Team old change", "Team old change pinned"]


def test_dry_run_prints_the_plan_and_writes_nothing(setup, mem_sync) -> None:
    db, repo = setup
    before = db.read_bytes()
    ledger_before = ledger.ledger_path(state_dir()).read_bytes()
    out = mem_sync("maintain", "--dry-run", "--repo-dir", str(repo), "--include-own").stdout
    assert "dry run" in out
    assert "would drop: 3 (2 team-imported, 1 your own); 2 kept by a keep tag" in out
    assert "[team] Team evicted later: no longer in the team's merged set" in out
    assert "[team] Team old change: score 0.3" in out
    assert "[own] Own old change: score 0.2" in out
    assert db.read_bytes() == before
    assert ledger.ledger_path(state_dir()).read_bytes() == ledger_before
    assert list((state_dir() / "backups").glob("pre-maintain.*")) == []
    assert history.read_events(state_dir(), kind="maintain") == []


def test_prunes_only_team_rows_the_rules_name(setup, mem_sync) -> None:
    db, repo = setup
    before = _dump(db)
    before_bytes = db.read_bytes()
    out = mem_sync("maintain", "--repo-dir", str(repo)).stdout
    assert "dropped: 2 (2 team-imported, 0 your own); 1 kept by a keep tag" in out
    assert "ok   observations_fts rebuild + integrity-check" in out and "ok   PRAGMA integrity_check" in out
    assert _titles(db) == [t for t in ALL if t not in ("Team evicted later", "Team old change")]
    assert_db_consistent(db)
    # the sessions import created for the two dropped rows held nothing else: gone too
    sessions = {row[0] for row in db_rows(db, "SELECT memory_session_id FROM sdk_sessions")}
    assert "team-Team e" not in sessions and "team-Team o" in sessions
    # the backup holds the database as it was, and restores to it
    (backup,) = sorted((state_dir() / "backups").glob("pre-maintain.*.db"))
    assert _dump(backup) == before
    assert _without_counters(backup.read_bytes()) == _without_counters(before_bytes)
    restored = db.parent / "restored.db"
    shutil.copyfile(backup, restored)
    assert _titles(restored) == ALL
    # the ledger follows: the dropped rows are no longer listed
    conn = sqlite3.connect(db)
    listed = {row.key[1] for row in ledger.imported_rows(state_dir(), db, conn)}
    conn.close()
    assert listed == {"Team decision kept", "Team old change pinned"}
    (event,) = history.read_events(state_dir(), kind="maintain")
    assert (event.project, event.result, event.count) == ("demo", "ok", 2)
    # nothing left to do: a second run drops nothing
    assert "dropped: 0" in mem_sync("maintain", "--repo-dir", str(repo)).stdout


def test_include_own_prunes_own_low_scorers_but_never_keep_tagged(setup, mem_sync) -> None:
    db, repo = setup
    mem_sync("maintain", "--repo-dir", str(repo), "--include-own")
    assert _titles(db) == ["Own old change pinned", "Own recent decision", "Team decision kept",
                           "Team old change pinned"]
    assert_db_consistent(db)


def test_unknown_merged_set_drops_nothing_for_absence(setup, mem_sync, tmp_path: Path) -> None:
    db, _ = setup
    empty = tmp_path / "empty-checkout"
    empty.mkdir()
    out = mem_sync("maintain", "--repo-dir", str(empty)).stdout
    assert "nothing merged yet" in out
    assert "Team evicted later" in _titles(db) and "Team old change" not in _titles(db)


def test_backups_rotate(setup, mem_sync) -> None:
    _, repo = setup
    for _ in range(3):
        mem_sync("maintain", "--repo-dir", str(repo), "--keep-backups", "2")
        time.sleep(1.05)  # backups are named by the second
    assert len(list((state_dir() / "backups").glob("pre-maintain.*.db"))) == 2


def _corrupt_fts(db: Path) -> None:
    """Scribble over the pages of observations_fts's index (as a disk fault would)."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [row[0] for row in conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name IN ('observations_fts_data', 'observations_fts_idx')")]
    conn.close()
    noise = random.Random(7)
    with db.open("r+b") as handle:
        for root in roots:
            handle.seek((root - 1) * page_size + 8)
            handle.write(bytes(noise.randrange(256) for _ in range(page_size - 8)))


def _without_counters(data: bytes) -> bytes:
    """The file without the header fields SQLite rewrites on any write: the change counter (24-27),
    the schema cookie (40-43, which the backup API bumps so claude-mem's open connections reload
    the schema) and version-valid-for / the writing library's version (92-99)."""
    return data[:24] + data[28:40] + data[44:92] + data[100:]


@pytest.mark.parametrize("prunes", [True, False], ids=["while-deleting", "at-the-fts-check"])
def test_a_failing_check_restores_the_backup_and_exits_1(setup, mem_sync, tmp_path: Path, prunes: bool) -> None:
    db, repo = setup
    if not prunes:  # nothing to delete: the corruption is found by the FTS rebuild and integrity-check
        config = state_dir() / "config.json"
        doc = orjson.loads(config.read_bytes())
        doc["global"]["maintenancePruneScoreThreshold"] = 0
        config.write_bytes(orjson.dumps(doc))
        repo = tmp_path / "no-merged-set"
        repo.mkdir()
    _corrupt_fts(db)
    before = db.read_bytes()
    ledger_before = ledger.ledger_path(state_dir()).read_bytes()
    result = mem_sync("maintain", "--repo-dir", str(repo), check=False)
    assert result.returncode == 1
    assert ("FAIL delete observations" if prunes else "FAIL observations_fts rebuild") in result.stdout
    assert "restored from the backup: nothing was pruned" in result.stdout
    assert "was restored from the backup" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    # byte for byte as before (claude-mem's own pages, corrupt ones included), nothing pruned; only
    # SQLite's header bookkeeping differs (see _without_counters)
    after = db.read_bytes()
    assert _without_counters(after) == _without_counters(before)
    assert ledger.ledger_path(state_dir()).read_bytes() == ledger_before
    (event,) = history.read_events(state_dir(), kind="maintain")
    assert event.result == "error" and "restored" in event.detail


def test_safe_while_claude_mem_writes(setup, mem_sync) -> None:
    """claude-mem's worker keeps writing (short transactions, its own busy timeout) during maintain:
    every one of its rows survives, and the database checks out."""
    import threading

    db, repo = setup
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        conn = sqlite3.connect(db, timeout=10, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            conn.execute("INSERT INTO sdk_sessions (content_session_id, memory_session_id, project, started_at, "
                         "started_at_epoch) VALUES ('live', 'live-session', 'demo', '2026-03-19T00:00:00.000Z', 1)")
            i = 0
            while not stop.is_set() or i < 30:
                conn.execute("INSERT INTO observations (memory_session_id, project, type, title, narrative, "
                             "created_at, created_at_epoch) VALUES ('live-session', 'demo', 'change', ?, "
                             "'live row', '2026-03-19T00:00:00.000Z', ?)", (f"live {i}", RECENT + i))
                written.append(i)
                i += 1
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            conn.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        while len(written) < 5 and thread.is_alive():
            time.sleep(0.01)
        out = mem_sync("maintain", "--repo-dir", str(repo)).stdout
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert "dropped: 2" in out
    live = db_rows(db, "SELECT count(*) FROM observations WHERE memory_session_id = 'live-session'")[0][0]
    assert live == len(written) >= 30
    assert_db_consistent(db)
