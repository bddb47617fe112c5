"""import against hostile or odd merged files, on a real claude-mem database: it agrees with the
merge on one epoch range, sets aside (and names) an observation it cannot write rather than
failing the run, and fills content_hash as claude-mem's live writer does."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from builders import contribution, observation
from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import assert_db_consistent, configure, db_rows

BASE = 1_773_950_000_000


def _write_merged_raw(repo: Path, observations: list[dict[str, Any]], splices: dict[str, bytes]) -> Path:
    """A merged file whose ``"@name"`` string values are replaced by raw JSON ``splices[name]``
    (values orjson cannot write: integers past 64 bits)."""
    path = repo / "merged" / "demo" / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = orjson.dumps(contribution(observations, dev="ci-merge", project="demo"), option=orjson.OPT_INDENT_2)
    for name, raw in splices.items():
        marker = orjson.dumps("@" + name)
        assert marker in doc
        doc = doc.replace(marker, raw)
    path.write_bytes(doc)
    return path


def test_import_takes_javascript_dates_and_sets_aside_what_sqlite_cannot_hold(
        claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged_raw(repo, [
        observation("Plain", session="s1", created_at_epoch=BASE),
        observation("Year ten thousand", session="s1", created_at_epoch=253_402_300_800_000),
        observation("Last JavaScript date", session="s1", created_at_epoch=8_640_000_000_000_000),
        observation("Past 2^63", session="s2", created_at_epoch="@epoch"),
        observation("Past JavaScript", session="s2", created_at_epoch=8_640_000_000_000_001),
        observation("Huge prompt number", session="s2", created_at_epoch=BASE + 1, prompt_number="@prompt"),
        observation("Deep unknown", session="s2", created_at_epoch=BASE + 2, metadata="@deep"),
    ], {"epoch": str(2**63 + 5).encode(), "prompt": str(2**63 + 1).encode(),
        "deep": b"[" * 300 + b"]" * 300})
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))

    result = mem_sync("import", "--repo-dir", str(repo), check=False)

    assert result.returncode == 0, result.stderr
    assert "added 3 of 7 observations" in result.stdout, result.stdout
    skipped = [line for line in result.stdout.splitlines() if "skipped observations[" in line]
    assert [re.search(r"skipped (observations\[\d+\])", line).group(1) for line in skipped] == [
        "observations[3]", "observations[4]", "observations[5]", "observations[6]"], result.stdout
    assert "created_at_epoch" in skipped[0] and "created_at_epoch" in skipped[1]
    assert "prompt_number" in skipped[2] and "nested" in skipped[3]
    rows = dict(db_rows(claude_mem_db, "SELECT title, created_at FROM observations"))
    assert rows == {"Plain": "2026-03-19T19:53:20.000Z",
                    "Year ten thousand": "+010000-01-01T00:00:00.000Z",
                    "Last JavaScript date": "+275760-09-13T00:00:00.000Z"}
    assert_db_consistent(claude_mem_db)
    # the run is recorded: the same file again is a no-op
    assert "already imported" in mem_sync("import", "--repo-dir", str(repo)).stdout


def _live_hash(session: str, title: str | None, narrative: str | None) -> str:
    text = "\0".join((session, title or "", narrative or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_import_fills_content_hash_as_claude_mems_writer_does(
        seeded_db, claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    rows = [seed_row("Hashed", session="s-hash", narrative="why we hash", created_at_epoch=BASE),
            seed_row("Untitled narrative", session="s-hash", narrative=None, created_at_epoch=BASE + 1)]
    written_by_claude_mem = seeded_db(rows, name="reference")
    reference = dict(db_rows(written_by_claude_mem, "SELECT title, content_hash FROM observations"))
    assert all(reference.values()), reference  # the live writer fills it

    repo = tmp_path / "shared"
    _write_merged_raw(repo, [
        observation("Hashed", session="s-hash", narrative="why we hash", created_at_epoch=BASE),
        observation("Untitled narrative", session="s-hash", narrative=None, created_at_epoch=BASE + 1),
    ], {})
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    mem_sync("import", "--repo-dir", str(repo))

    imported = dict(db_rows(claude_mem_db, "SELECT title, content_hash FROM observations"))
    assert imported == reference
    assert imported["Hashed"] == _live_hash("s-hash", "Hashed", "why we hash")
    assert_db_consistent(claude_mem_db)


def test_import_skips_a_row_claude_mem_already_holds_under_another_epoch(
        seeded_db, mem_sync, tmp_path: Path) -> None:
    """Same session, title and narrative at another time: claude-mem's unique content index
    says it is the same memory; the import skips it instead of failing or duplicating it."""
    db = seeded_db([seed_row("Known", session="s-known", narrative="already here", created_at_epoch=BASE)])
    repo = tmp_path / "shared"
    _write_merged_raw(repo, [
        observation("Known", session="s-known", narrative="already here", created_at_epoch=BASE + 5_000),
        observation("New", session="s-known", narrative="not yet", created_at_epoch=BASE + 6_000),
    ], {})
    configure(mem_sync, dev="carol", db=db, url=str(tmp_path / "unused.git"))

    out = mem_sync("import", "--repo-dir", str(repo)).stdout

    assert "added 1 of 2 observations (1 already present" in out, out
    titles = sorted(t for (t,) in db_rows(db, "SELECT title FROM observations"))
    assert titles == ["Known", "New"]
    conn = sqlite3.connect(db)
    try:
        count = conn.execute("SELECT count(*) FROM observations WHERE content_hash IS NULL").fetchone()[0]
    finally:
        conn.close()
    assert count == 0
    assert_db_consistent(db)
