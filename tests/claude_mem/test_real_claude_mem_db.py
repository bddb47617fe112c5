"""The fixture DB is claude-mem's own: the facts import and export rely on hold for it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from claude_mem.claude_mem_db import seed_row
from memsync.devside.claude_mem import TESTED_SCHEMA_VERSION, open_read_only, read_schema


def test_pristine_db_has_claude_mems_schema_and_fts(claude_mem_db: Path) -> None:
    conn = open_read_only(claude_mem_db)
    schema = read_schema(conn, claude_mem_db, for_import=True)
    assert schema.version == TESTED_SCHEMA_VERSION
    assert schema.has_fts
    assert schema.observation_columns["created_at"].not_null
    assert not schema.observation_columns["title"].not_null
    triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"observations_ai", "observations_ad", "observations_au"} <= triggers


def test_seeded_rows_are_written_by_claude_mem_itself(seeded_db) -> None:
    db = seeded_db(
        [seed_row("Use WAL mode", concepts=["gotcha", "pattern"], created_at_epoch=1_773_900_000_123)]
    )
    conn = sqlite3.connect(db)
    row = conn.execute(
        "SELECT title, concepts, created_at, created_at_epoch, content_hash FROM observations"
    ).fetchone()
    assert row[0] == "Use WAL mode"
    assert row[1] == '["gotcha","pattern"]'
    assert row[2] == "2026-03-19T06:00:00.123Z"
    assert row[3] == 1_773_900_000_123
    assert len(row[4]) == 16
    assert (
        conn.execute(
            "SELECT count(*) FROM sdk_sessions WHERE memory_session_id = 'mem-session-1'"
        ).fetchone()[0]
        == 1
    )
    hits = conn.execute(
        "SELECT rowid FROM observations_fts WHERE observations_fts MATCH '\"WAL mode\"'"
    ).fetchall()
    assert len(hits) == 1
