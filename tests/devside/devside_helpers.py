"""Helpers shared by the developer-side tests (import as ``devside.devside_helpers``)."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

from memsync.publish.git import run_git


def configure(
    mem_sync: Callable[..., subprocess.CompletedProcess[str]],
    *,
    dev: str,
    db: Path,
    url: str,
    project: str = "demo",
    types: str = "decision,bugfix",
    keywords: str = "",
    tags: str = "#shared",
    mem_project: str | None = None,
    auto_merge: bool = True,
) -> None:
    args = [
        "init",
        "--dev-name",
        dev,
        "--db-path",
        str(db),
        "--project",
        project,
        "--url",
        url,
        "--types",
        types,
        "--keywords",
        keywords,
        "--tags",
        tags,
        "--force",
        "--auto-merge" if auto_merge else "--no-auto-merge",
    ]
    if mem_project:
        args += ["--mem-project", mem_project]
    mem_sync(*args)


def clone(url: Path | str, dest: Path) -> Path:
    run_git(["clone", "--quiet", str(url), str(dest)], None)
    return dest


def db_rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def fts_titles(db: Path, phrase: str) -> list[str]:
    """claude-mem's own search: a quoted phrase against observations_fts."""
    quoted = '"' + phrase.replace('"', '""') + '"'
    rows = db_rows(
        db,
        "SELECT o.title FROM observations_fts f JOIN observations o ON o.id = f.rowid "
        "WHERE observations_fts MATCH ? ORDER BY rank",
        (quoted,),
    )
    return [row[0] for row in rows]


def assert_db_consistent(db: Path) -> None:
    """Foreign keys hold, every observation has its session, the FTS index is intact."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT count(*) FROM observations o LEFT JOIN sdk_sessions s "
            "ON s.memory_session_id = o.memory_session_id WHERE s.id IS NULL"
        ).fetchone()[0]
        assert orphans == 0
        conn.execute("INSERT INTO observations_fts(observations_fts, rank) VALUES('integrity-check', 1)")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
