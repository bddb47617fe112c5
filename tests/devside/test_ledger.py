"""The import ledger: import lists exactly the rows it inserted; stale rows drop out when read."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from builders import contribution, observation
from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import configure, db_rows
from memsync.devside import ledger
from memsync.devside.config import state_dir
from memsync.errors import DatabaseError

BASE = 1_773_950_000_000


def _write_merged(repo: Path, observations: list[dict[str, Any]], project: str = "demo") -> Path:
    path = repo / "merged" / project / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = contribution(observations, dev="ci-merge", project=project)
    doc["filters"] = {"types": [], "keywords": [], "tags": []}
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def _team(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    return [
        observation(
            f"team finding {i}" if i % 4 else None,  # some untitled: '' in the ledger
            session=f"bob-session-{i % 2}",
            type="discovery",
            narrative=f"bob learned the otter{i} trick",
            created_at_epoch=BASE + i * 1000,
            contributors=["bob"],
            score=0.5,
        )
        for i in range(start, start + count)
    ]


def _ledger_table(db: Path) -> list[tuple]:
    return db_rows(
        ledger.ledger_path(state_dir()),
        "SELECT db, row_id, project, memory_session_id, title, created_at_epoch FROM imported ORDER BY row_id",
    )


def _live(db: Path) -> list[ledger.ImportedRow]:
    conn = sqlite3.connect(db)
    try:
        return ledger.imported_rows(state_dir(), db, conn)
    finally:
        conn.close()


def test_import_records_exactly_the_rows_it_inserted(seeded_db, mem_sync, tmp_path: Path) -> None:
    db = seeded_db([seed_row(f"Mine {i}", session="carol-s", created_at_epoch=BASE - 10_000 + i) for i in range(3)])
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    own = [dict(row) for row in conn.execute("SELECT * FROM observations")]
    conn.close()
    repo = tmp_path / "shared"
    # the merged file carries carol's own rows back (already present: not team imports) plus bob's
    _write_merged(repo, [*own, *_team(5)])
    configure(mem_sync, dev="carol", db=db, url=str(tmp_path / "unused.git"), mem_project="carol-demo")
    assert "added 5 of 8" in mem_sync("import", "--repo-dir", str(repo)).stdout

    expected = db_rows(
        db,
        "SELECT id, project, memory_session_id, coalesce(title, ''), created_at_epoch FROM observations "
        "WHERE memory_session_id LIKE 'bob-%' ORDER BY id",
    )
    assert len(expected) == 5
    assert [row[1:] for row in _ledger_table(db)] == [tuple(row) for row in expected]
    assert {row[0] for row in _ledger_table(db)} == {str(db.resolve())}
    assert ("carol-demo", "bob-session-0", "", BASE) in [row[2:] for row in _ledger_table(db)]
    assert [row.row_id for row in _live(db)] == [row[0] for row in expected]

    # a second merged file with two new rows adds two ledger rows; the re-sent five are not doubled
    _write_merged(repo, [*own, *_team(7)])
    assert "added 2 of 10" in mem_sync("import", "--repo-dir", str(repo)).stdout
    assert len(_ledger_table(db)) == 7


def test_dry_run_and_repeated_import_leave_the_ledger_alone(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged(repo, _team(4))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    mem_sync("import", "--repo-dir", str(repo), "--dry-run")
    assert not ledger.ledger_path(state_dir()).exists()
    mem_sync("import", "--repo-dir", str(repo))
    mem_sync("import", "--repo-dir", str(repo), "--force")
    assert len(_ledger_table(claude_mem_db)) == 4


def test_rows_claude_mem_deleted_are_dropped_when_read(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged(repo, _team(6))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    mem_sync("import", "--repo-dir", str(repo))
    ids = [row[1] for row in _ledger_table(claude_mem_db)]
    conn = sqlite3.connect(claude_mem_db)
    conn.execute("PRAGMA foreign_keys = ON")
    with conn:
        # claude-mem deletes one row, and a whole session (its observations cascade)
        conn.execute("DELETE FROM observations WHERE id = ?", (ids[0],))
        conn.execute("DELETE FROM sdk_sessions WHERE memory_session_id = 'bob-session-1'")
    remaining = {row[0] for row in conn.execute("SELECT id FROM observations")}
    conn.close()

    conn = sqlite3.connect(claude_mem_db)
    try:
        # a reader that must not write sees the same rows and leaves the ledger as it was
        kept = ledger.imported_rows(state_dir(), claude_mem_db, conn, drop_stale=False)
        assert {row.row_id for row in kept} == remaining
        assert len(_ledger_table(claude_mem_db)) == 6
        kept = ledger.imported_rows(state_dir(), claude_mem_db, conn)
    finally:
        conn.close()
    assert {row.row_id for row in kept} == remaining and len(remaining) == 2
    assert {row[1] for row in _ledger_table(claude_mem_db)} == remaining


def test_an_id_holding_another_observation_is_stale(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged(repo, _team(2))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    mem_sync("import", "--repo-dir", str(repo))
    first = _ledger_table(claude_mem_db)[0][1]
    conn = sqlite3.connect(claude_mem_db)
    with conn:  # the row changed its key (a retitle): no longer the row the team sent
        conn.execute("UPDATE observations SET title = 'renamed by hand' WHERE id = ?", (first,))
    try:
        kept = ledger.imported_rows(state_dir(), claude_mem_db, conn)
    finally:
        conn.close()
    assert first not in {row.row_id for row in kept} and len(kept) == 1


def test_ledger_failure_rolls_the_import_back(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged(repo, _team(3))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    path = ledger.ledger_path(state_dir())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a sqlite database, it is just text" * 100)
    result = mem_sync("import", "--repo-dir", str(repo), check=False)
    assert result.returncode == 1
    assert "import ledger" in result.stderr and "Traceback" not in result.stderr
    # nothing was inserted: rows without a ledger entry would later pass for the developer's own
    assert db_rows(claude_mem_db, "SELECT count(*) FROM observations")[0][0] == 0


def test_missing_ledger_means_nothing_imported(claude_mem_db: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(claude_mem_db)
    try:
        assert ledger.imported_rows(tmp_path / "nowhere", claude_mem_db, conn) == []
    finally:
        conn.close()


def test_forget_removes_only_the_given_rows(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged(repo, _team(3))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    mem_sync("import", "--repo-dir", str(repo))
    ids = [row[1] for row in _ledger_table(claude_mem_db)]
    ledger.forget(state_dir(), claude_mem_db, ids[:1])
    assert [row[1] for row in _ledger_table(claude_mem_db)] == ids[1:]


def test_unreadable_ledger_is_one_clear_error(claude_mem_db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    ledger.ledger_path(folder).write_bytes(b"garbage" * 1000)
    conn = sqlite3.connect(claude_mem_db)
    try:
        with pytest.raises(DatabaseError, match="move it aside"):
            ledger.imported_rows(folder, claude_mem_db, conn)
    finally:
        conn.close()
