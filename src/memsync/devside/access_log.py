"""The access log: which claude-mem observations Claude actually retrieved, and when.

``<state_dir>/access-log.sqlite``, table ``accesses`` (docs/usage-tracking.md): one row per
observation id a claude-mem search tool returned, written by the PostToolUse hook
(``access_hook.py``); read by export (access counts travel to the team), status, maintain and
the dashboard. WAL mode, so readers never block the hook and the hook never blocks them.

Standard library only, and no dataclasses (their import pulls in ``inspect``, ~5 ms): the hook
imports this module on every search Claude makes; immutable records are NamedTuples here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

ACCESS_LOG_NAME = "access-log.sqlite"
# The window of "recent use" that export counts and maintain keeps (claude-mem-sync: 6 months).
ACCESS_WINDOW_DAYS = 180
DAY_MS = 86_400_000
# The hook must never wait long: a locked log costs this one search's accesses, not Claude's time.
HOOK_BUSY_TIMEOUT_MS = 1000

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS accesses (observation_id INTEGER NOT NULL, accessed_at INTEGER NOT NULL,"
    " session_id TEXT, tool_name TEXT, project TEXT);"
    "CREATE INDEX IF NOT EXISTS accesses_observation ON accesses (observation_id);"
    "CREATE INDEX IF NOT EXISTS accesses_time ON accesses (accessed_at);"
)


class Access(NamedTuple):
    observation_id: int
    accessed_at: int  # ms since the epoch
    session_id: str | None = None
    tool_name: str | None = None
    project: str | None = None


class AccessSummary(NamedTuple):
    rows: int
    observations: int  # distinct observation ids
    last_access: int | None  # ms


def access_log_path(state_dir: Path) -> Path:
    return state_dir / ACCESS_LOG_NAME


def append_accesses(path: Path, accesses: Sequence[Access], *, busy_timeout_ms: int = HOOK_BUSY_TIMEOUT_MS) -> None:
    """Append ``accesses`` in one short transaction, creating the log on first use.

    Raises ``sqlite3.Error`` / ``OSError``; the hook turns them into a log line.
    """
    if not accesses:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # Persistent once set; a no-op on every later call.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO accesses (observation_id, accessed_at, session_id, tool_name, project) VALUES (?, ?, ?, ?, ?)",
            [(a.observation_id, a.accessed_at, a.session_id, a.tool_name, a.project) for a in accesses],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def open_read_only(path: Path) -> sqlite3.Connection | None:
    """A reader, or None when there is no access data yet (the hook never ran)."""
    if not path.exists():
        return None
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=5.0, isolation_level=None)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'accesses'").fetchone() is None:
            conn.close()
            return None
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def access_counts(path: Path, *, since_ms: int, ids: Iterable[int] | None = None) -> dict[int, int]:
    """observation id -> accesses at or after ``since_ms``; only ids with at least one."""
    conn = open_read_only(path)
    if conn is None:
        return {}
    try:
        rows = conn.execute(
            "SELECT observation_id, count(*) FROM accesses WHERE accessed_at >= ? GROUP BY observation_id",
            (since_ms,),
        ).fetchall()
    finally:
        conn.close()
    counts = {int(obs_id): int(count) for obs_id, count in rows}
    if ids is not None:
        wanted = set(ids)
        counts = {obs_id: count for obs_id, count in counts.items() if obs_id in wanted}
    return counts


def window_start(now_ms: int, days: int = ACCESS_WINDOW_DAYS) -> int:
    return now_ms - days * DAY_MS


def summarize(path: Path) -> AccessSummary | None:
    """Rows, distinct ids and the last access; None when there is no log yet."""
    conn = open_read_only(path)
    if conn is None:
        return None
    try:
        rows, observations, last = conn.execute(
            "SELECT count(*), count(DISTINCT observation_id), max(accessed_at) FROM accesses"
        ).fetchone()
    finally:
        conn.close()
    return AccessSummary(int(rows), int(observations), None if last is None else int(last))


def count_older_than(path: Path, cutoff_ms: int) -> int:
    conn = open_read_only(path)
    if conn is None:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM accesses WHERE accessed_at < ?", (cutoff_ms,)).fetchone()[0])
    finally:
        conn.close()


def prune_older_than(path: Path, cutoff_ms: int) -> int:
    """Delete accesses before ``cutoff_ms`` (maintain); returns how many went."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'accesses'").fetchone() is None:
            return 0
        return conn.execute("DELETE FROM accesses WHERE accessed_at < ?", (cutoff_ms,)).rowcount
    finally:
        conn.close()
