"""The import ledger: which rows of a claude-mem database came from a team import.

``maintain`` prunes only team-imported rows unless told otherwise, and retraction removes rows
the team withdrew; both need "this row came from the team" as a recorded fact, not a guess
from the session id. ``import`` writes one ledger row per observation it inserts, before its
own transaction commits (see ``importer.import_merged``).

The ledger is ``<state_dir>/import-ledger.sqlite``, table ``imported`` (docs/usage-tracking.md).
It is a separate file so claude-mem's database carries nothing of ours. claude-mem's ids are
AUTOINCREMENT, never reused once committed, so a ledger row whose id no longer holds the same
composite key in ``observations`` is stale: claude-mem (or the developer) deleted that row, or
the import's transaction rolled back after the ledger was written. Stale rows are dropped
when read, which keeps the ledger consistent without any hook into claude-mem.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from memsync.errors import DatabaseError
from memsync.model import to_millis

LEDGER_NAME = "import-ledger.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS imported ("
    " db TEXT NOT NULL, row_id INTEGER NOT NULL, project TEXT NOT NULL,"
    " memory_session_id TEXT NOT NULL, title TEXT NOT NULL, created_at_epoch INTEGER NOT NULL,"
    " imported_at INTEGER NOT NULL, PRIMARY KEY (db, row_id))"
)
# SQLite's default limit on host parameters is 999 in older builds; stay under it.
_CHUNK = 500


@dataclass(frozen=True)
class ImportedRow:
    """One observation an import inserted: its id in that database and its composite key."""

    row_id: int
    project: str  # claude-mem's project column (the developer's memProject)
    memory_session_id: str
    title: str  # '' for a NULL title, as in the composite key
    created_at_epoch: int  # milliseconds
    imported_at: int = 0  # milliseconds; filled by ``record_imported``

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.memory_session_id, self.title, self.created_at_epoch)


def ledger_path(state_dir: Path) -> Path:
    return state_dir / LEDGER_NAME


def database_id(db_path: Path) -> str:
    """The ``db`` column: one claude-mem database, however its path was spelled."""
    return str(db_path.expanduser().resolve())


def _connect(path: Path, *, create: bool) -> sqlite3.Connection | None:
    if not create and not path.exists():
        return None
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        if create:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(_SCHEMA)
    except sqlite3.Error as error:
        raise DatabaseError(
            f"mem-sync's import ledger {path} cannot be opened ({error}); move it aside and run "
            "import again (rows imported before are then treated as your own)"
        ) from None
    except OSError as error:
        raise DatabaseError(f"cannot create {path.parent} ({error.strerror}); check its permissions") from None
    return conn


def record_imported(state_dir: Path, db_path: Path, rows: Sequence[ImportedRow], now_millis: int) -> None:
    """Add ``rows`` (one transaction). A row id already listed is replaced: after a rolled-back
    import SQLite may hand the same id to another row, and the newest import is the truth."""
    if not rows:
        return
    path = ledger_path(state_dir)
    conn = _connect(path, create=True)
    assert conn is not None
    db = database_id(db_path)
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR REPLACE INTO imported (db, row_id, project, memory_session_id, title, "
                "created_at_epoch, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (db, r.row_id, r.project, r.memory_session_id, r.title, r.created_at_epoch, now_millis)
                    for r in rows
                ],
            )
    except sqlite3.Error as error:
        raise DatabaseError(
            f"cannot write mem-sync's import ledger {path} ({error}); free some space and retry"
        ) from None
    finally:
        conn.close()


def _ledger_rows(conn: sqlite3.Connection, db: str, project: str | None) -> list[ImportedRow]:
    sql = ("SELECT row_id, project, memory_session_id, title, created_at_epoch, imported_at "
           "FROM imported WHERE db = ?")
    params: list[object] = [db]
    if project is not None:
        sql += " AND project = ?"
        params.append(project)
    return [ImportedRow(*row) for row in conn.execute(sql + " ORDER BY row_id", params)]


def _live_keys(claude_mem: sqlite3.Connection, ids: Iterable[int]) -> dict[int, tuple[str, str, int, str]]:
    """id -> (session, title or '', epoch in ms, project) for the ids still in ``observations``."""
    found: dict[int, tuple[str, str, int, str]] = {}
    id_list = list(ids)
    for start in range(0, len(id_list), _CHUNK):
        chunk = id_list[start : start + _CHUNK]
        rows = claude_mem.execute(
            "SELECT id, memory_session_id, coalesce(title, ''), created_at_epoch, project FROM observations "
            f"WHERE id IN ({', '.join('?' * len(chunk))})",
            chunk,
        )
        for row_id, session, title, epoch, project in rows:
            if epoch is not None:
                found[int(row_id)] = (str(session), str(title), to_millis(int(epoch)), str(project))
    return found


def imported_rows(
    state_dir: Path,
    db_path: Path,
    claude_mem: sqlite3.Connection,
    *,
    project: str | None = None,
    drop_stale: bool = True,
) -> list[ImportedRow]:
    """Rows of ``db_path`` (open as ``claude_mem``) that a team import added and that are still there.

    ``project`` is claude-mem's project column. Stale ledger rows (the row was deleted, or the
    id now holds another observation) are left out, and removed from the ledger when
    ``drop_stale``; readers that must not write (``status``) pass False. A missing ledger means
    nothing was imported yet.
    """
    path = ledger_path(state_dir)
    conn = _connect(path, create=False)
    if conn is None:
        return []
    db = database_id(db_path)
    try:
        listed = _ledger_rows(conn, db, project)
        live = _live_keys(claude_mem, (row.row_id for row in listed))
        current: list[ImportedRow] = []
        stale: list[int] = []
        for row in listed:
            found = live.get(row.row_id)
            if found is not None and found[:3] == row.key:
                current.append(row)
            else:
                stale.append(row.row_id)
        if stale and drop_stale:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("DELETE FROM imported WHERE db = ? AND row_id = ?", [(db, i) for i in stale])
    except sqlite3.Error as error:
        raise DatabaseError(
            f"mem-sync's import ledger {path} cannot be read ({error}); move it aside (rows imported "
            "before are then treated as your own)"
        ) from None
    finally:
        conn.close()
    return current


def forget(state_dir: Path, db_path: Path, row_ids: Iterable[int]) -> None:
    """Drop ledger rows for ids we deleted ourselves (maintain, retraction)."""
    ids = list(row_ids)
    conn = _connect(ledger_path(state_dir), create=False)
    if conn is None or not ids:
        if conn is not None:
            conn.close()
        return
    db = database_id(db_path)
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM imported WHERE db = ? AND row_id = ?", [(db, i) for i in ids])
    except sqlite3.Error as error:
        raise DatabaseError(f"cannot update mem-sync's import ledger {ledger_path(state_dir)} ({error})") from None
    finally:
        conn.close()
