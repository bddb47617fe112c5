"""maintain: prune what the team no longer keeps, then prove the database is healthy, or restore it.

Order (docs/usage-tracking.md): plan -> online backup (rotated) -> deletes in short transactions
-> FTS rebuild and integrity-check, ``PRAGMA integrity_check`` -> ANALYZE, incremental vacuum ->
only then the ledger and the access log are trimmed. A failed check restores the backup through
SQLite's backup API (safe while claude-mem's worker holds the file open, unlike a file copy).

What may go: observations a team import added (the import ledger says which) that are no longer
in the team's merged set, or that score below ``maintenancePruneScoreThreshold`` once older than
``maintenancePruneOlderThanDays``; with ``include_own``, the developer's own rows by the same
score rule. Only in configured projects, never a keep-tagged row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from memsync.devside.access_log import (
    access_counts,
    access_log_path,
    count_older_than,
    prune_older_than,
    window_start,
)
from memsync.devside.claude_mem import (
    IMPORTED_SESSION_PREFIX,
    backup_database,
    open_read_only,
    open_read_write,
    read_schema,
    translate_error,
)
from memsync.devside.config import MaintenanceSettings
from memsync.devside.ledger import forget, imported_rows
from memsync.errors import DatabaseError, MemSyncError
from memsync.merge.keep import has_keep_tag
from memsync.merge.scoring import (
    MILLIS_PER_DAY,
    STRATEGY_WEIGHTS,
    access_weight,
    diffusion_weight,
    score,
    type_weight,
)
from memsync.model import CompositeKey, composite_key, stamp_from_millis, to_millis

BACKUP_PREFIX = "pre-maintain"
BACKUPS_KEPT = 3
DELETE_BATCH = 200  # rows per write transaction: claude-mem's worker waits at most one batch
FTS_TABLES = ("observations_fts", "session_summaries_fts", "user_prompts_fts")


class MaintenanceFailed(MemSyncError):
    """A check failed after maintenance; the database was restored from the backup."""


@dataclass(frozen=True)
class MergedSet:
    """The team's merged set of one project, as far as maintain needs it."""

    keys: frozenset[CompositeKey]
    contributors: dict[CompositeKey, int]
    total_devs: int


@dataclass(frozen=True)
class Row:
    row_id: int
    key: CompositeKey
    type: str
    title: str | None
    narrative: str | None
    text: str | None


@dataclass(frozen=True)
class Prune:
    row_id: int
    key: CompositeKey
    origin: str  # "team" | "own"
    reason: str


@dataclass(frozen=True)
class ProjectPlan:
    project: str  # configured name
    mem_project: str
    rows: int
    team_rows: int
    prunes: list[Prune]
    keep_protected: int
    note: str | None = None  # e.g. the merged set could not be read

    def count(self, origin: str) -> int:
        return sum(1 for prune in self.prunes if prune.origin == origin)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class MaintainReport:
    db_path: Path
    dry_run: bool
    projects: list[ProjectPlan]
    access_cutoff: int
    access_to_drop: int
    backup: Path | None = None
    deleted: dict[str, int] = field(default_factory=dict)
    sessions_removed: int = 0
    access_dropped: int = 0
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    restored: bool = False

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


# --- the pure part -----------------------------------------------------------------------


def merged_set_from(doc: Any) -> MergedSet:
    """Keys and contributor counts of a parsed latest.json."""
    observations = doc.get("observations") if isinstance(doc, dict) else None
    if not isinstance(observations, list):
        raise ValueError("no observations array")
    keys: set[CompositeKey] = set()
    contributors: dict[CompositeKey, int] = {}
    devs: set[str] = set()
    for obs in observations:
        if not isinstance(obs, dict) or not isinstance(obs.get("memory_session_id"), str) \
                or type(obs.get("created_at_epoch")) is not int:
            continue
        key = composite_key(obs)
        keys.add(key)
        names = obs.get("contributors")
        names = [name for name in names if isinstance(name, str)] if isinstance(names, list) else []
        contributors[key] = len(set(names))
        devs.update(names)
    return MergedSet(frozenset(keys), contributors, len(devs))


def choose_prunes(
    rows: Sequence[Row],
    team_ids: set[int],
    merged: MergedSet | None,
    accesses: dict[int, int],
    settings: MaintenanceSettings,
    *,
    include_own: bool,
    now_millis: int,
) -> tuple[list[Prune], int]:
    """Which rows go, and how many the keep tags protected (of those that would have gone).

    Score: the merge's formula with this machine's evidence: the team's spread (contributors in
    the merged set) in passive mode, this developer's use (the access log) in hook mode.
    """
    weights = STRATEGY_WEIGHTS.get(settings.strategy, STRATEGY_WEIGHTS["passive"])
    cutoff = now_millis - settings.prune_older_than_days * MILLIS_PER_DAY
    top = max(accesses.values(), default=0)
    prunes: list[Prune] = []
    protected = 0
    for row in rows:
        team = row.row_id in team_ids
        if not team and not include_own:
            continue
        reason = None
        if team and merged is not None and row.key not in merged.keys:
            reason = "no longer in the team's merged set"
        elif row.key[2] < cutoff:
            if settings.strategy == "hook":
                third = access_weight(accesses.get(row.row_id, 0), top)
            else:
                spread = merged.contributors.get(row.key, 0) if merged is not None else 0
                third = diffusion_weight(spread, merged.total_devs if merged is not None else 0)
            value = score(type_weight(row.type), row.key[2], third, now_millis, weights)
            if value < settings.prune_score_threshold:
                reason = (f"score {value:.2f} < {settings.prune_score_threshold:g} "
                          f"after {settings.prune_older_than_days} days")
        if reason is None:
            continue
        if has_keep_tag((row.title, row.narrative, row.text), settings.keep_tags):
            protected += 1
            continue
        prunes.append(Prune(row.row_id, row.key, "team" if team else "own", reason))
    return prunes, protected


# --- reading -----------------------------------------------------------------------------


def read_merged_set(path: Path) -> MergedSet:
    """``merged/<project>/latest.json`` of a checkout; raises ``OSError`` / ``ValueError``."""
    doc = orjson.loads(path.read_bytes())
    return merged_set_from(doc)


def project_rows(conn: sqlite3.Connection, mem_project: str) -> list[Row]:
    cursor = conn.execute(
        "SELECT id, memory_session_id, title, created_at_epoch, type, narrative, text FROM observations "
        "WHERE project = ? ORDER BY id",
        (mem_project,),
    )
    return [
        Row(int(row_id), (str(session), title or "", to_millis(int(epoch))), str(kind), title, narrative, text)
        for row_id, session, title, epoch, kind, narrative, text in cursor
        if epoch is not None
    ]


def plan_maintenance(
    db_path: Path,
    state_dir: Path,
    projects: Iterable[tuple[str, str]],
    merged: dict[str, MergedSet | str],
    settings: MaintenanceSettings,
    *,
    include_own: bool,
    now_millis: int,
    dry_run: bool,
) -> MaintainReport:
    """``projects``: (configured name, claude-mem project). ``merged``: each project's merged set,
    or why it could not be read. Reads only (the ledger drops stale rows unless ``dry_run``)."""
    conn = open_read_only(db_path)
    try:
        read_schema(conn, db_path)
        log = access_log_path(state_dir)
        try:
            accesses = access_counts(log, since_ms=window_start(now_millis))
            cutoff = window_start(now_millis)
            old_accesses = count_older_than(log, cutoff)
        except sqlite3.Error as error:
            raise DatabaseError(f"mem-sync's access log {log} cannot be read ({error}); move it aside") from None
        plans = []
        for name, mem_project in projects:
            rows = project_rows(conn, mem_project)
            team = {r.row_id for r in imported_rows(state_dir, db_path, conn, project=mem_project,
                                                     drop_stale=not dry_run)}
            found = merged.get(name)
            merged_set = found if isinstance(found, MergedSet) else None
            note = found if isinstance(found, str) else None
            in_project = {row.row_id for row in rows}
            prunes, protected = choose_prunes(
                rows, team, merged_set, {k: v for k, v in accesses.items() if k in in_project}, settings,
                include_own=include_own, now_millis=now_millis)
            plans.append(ProjectPlan(name, mem_project, len(rows), len(team & in_project), prunes, protected, note))
    except sqlite3.Error as error:
        raise translate_error(error, db_path) from None
    finally:
        conn.close()
    return MaintainReport(db_path, dry_run, plans, cutoff, old_accesses)


# --- doing it ----------------------------------------------------------------------------


def run_maintenance(report: MaintainReport, state_dir: Path, *, now_millis: int,
                    backups_kept: int = BACKUPS_KEPT) -> MaintainReport:
    """Back up, prune, check; restore and raise ``MaintenanceFailed`` if a check fails."""
    db_path = report.db_path
    conn = open_read_write(db_path)
    try:
        backup = state_dir / "backups" / f"{BACKUP_PREFIX}.{stamp_from_millis(now_millis)}.db"
        backup_database(conn, backup, db_path)
        report.backup = backup
        _rotate(backup.parent, backups_kept)
        step = "delete observations"
        try:
            for plan in report.projects:
                report.deleted[plan.project] = _delete(conn, plan.prunes)
            if any(report.deleted.values()):  # only what our deletes emptied
                step = "delete emptied imported sessions"
                report.sessions_removed = _remove_empty_imported_sessions(conn)
        except sqlite3.Error as error:
            report.checks.append(Check(step, False, str(error)))
        if not report.failed:
            _check(conn, report)
        if report.failed:
            _restore(backup, conn, db_path)
            report.restored = True
            failed = "; ".join(f"{c.name}: {c.detail}" for c in report.failed)
            raise MaintenanceFailed(
                f"{failed}; claude-mem's database {db_path} was restored from the backup {backup} "
                "(nothing was pruned); run `PRAGMA integrity_check` on it, or restore an older backup "
                f"from {backup.parent}"
            )
        _optimize(conn, report)
    finally:
        conn.close()
    # claude-mem's database is final: now our own records follow it
    forget(state_dir, db_path, [p.row_id for plan in report.projects for p in plan.prunes])
    try:
        report.access_dropped = prune_older_than(access_log_path(state_dir), report.access_cutoff)
    except sqlite3.Error as error:
        report.notes.append(f"access log not trimmed ({error}); the next maintain retries")
    return report


def _rotate(folder: Path, kept: int) -> None:
    backups = sorted(folder.glob(f"{BACKUP_PREFIX}.*.db"))
    for old in backups[: max(0, len(backups) - kept)]:
        old.unlink(missing_ok=True)


def _delete(conn: sqlite3.Connection, prunes: Sequence[Prune]) -> int:
    """Delete in short transactions; a row changed since the plan (another key) is left alone.
    claude-mem's triggers remove each row from observations_fts."""
    deleted = 0
    for start in range(0, len(prunes), DELETE_BATCH):
        batch = prunes[start : start + DELETE_BATCH]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for prune in batch:
                session, title, epoch = prune.key
                deleted += conn.execute(
                    "DELETE FROM observations WHERE id = ? AND memory_session_id = ? AND coalesce(title, '') = ? "
                    "AND created_at_epoch IN (?, ?)",
                    (prune.row_id, session, title, epoch, epoch // 1000 if epoch % 1000 == 0 else epoch),
                ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return deleted


def _remove_empty_imported_sessions(conn: sqlite3.Connection) -> int:
    """Sessions import created (``mem-sync-import:`` ids) that no longer hold anything."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        removed = conn.execute(
            "DELETE FROM sdk_sessions WHERE content_session_id LIKE ? "
            "AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.memory_session_id = sdk_sessions.memory_session_id) "
            "AND NOT EXISTS (SELECT 1 FROM session_summaries s "
            "                WHERE s.memory_session_id = sdk_sessions.memory_session_id) "
            "AND NOT EXISTS (SELECT 1 FROM user_prompts p WHERE p.session_db_id = sdk_sessions.id)",
            (IMPORTED_SESSION_PREFIX.replace("%", r"\%") + "%",),
        ).rowcount
        conn.execute("COMMIT")
    except sqlite3.OperationalError as error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if "no such table" in str(error):  # an older claude-mem without one of those tables
            return 0
        raise
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return removed


def _fts_tables(conn: sqlite3.Connection) -> list[str]:
    present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [name for name in FTS_TABLES if name in present]


def _check(conn: sqlite3.Connection, report: MaintainReport) -> None:
    """FTS rebuild then integrity-check per table, then PRAGMA integrity_check. Each statement is
    its own short transaction (autocommit)."""
    for table in _fts_tables(conn):
        for step, sql in (("rebuild", f"INSERT INTO {table}({table}) VALUES('rebuild')"),
                          ("integrity-check", f"INSERT INTO {table}({table}, rank) VALUES('integrity-check', 1)")):
            try:
                conn.execute(sql)
            except sqlite3.Error as error:
                report.checks.append(Check(f"{table} {step}", False, str(error)))
                return
        report.checks.append(Check(f"{table} rebuild + integrity-check", True))
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as error:
        report.checks.append(Check("PRAGMA integrity_check", False, str(error)))
        return
    ok = result == ["ok"]
    report.checks.append(Check("PRAGMA integrity_check", ok, "ok" if ok else "; ".join(result[:3])))


def _optimize(conn: sqlite3.Connection, report: MaintainReport) -> None:
    """ANALYZE and an incremental vacuum; neither is a health check, so a busy database only
    costs a note. A full VACUUM needs claude-mem stopped, so it is never run here."""
    try:
        conn.execute("ANALYZE")
        report.checks.append(Check("ANALYZE", True))
    except sqlite3.OperationalError as error:
        report.notes.append(f"ANALYZE skipped ({error})")
    mode = conn.execute("PRAGMA auto_vacuum").fetchone()[0]
    if mode != 2:
        report.notes.append("incremental vacuum skipped: this database was not created with auto_vacuum=INCREMENTAL "
                            "(a full VACUUM needs claude-mem's worker stopped)")
        return
    try:
        conn.execute("PRAGMA incremental_vacuum").fetchall()
        report.checks.append(Check("incremental vacuum", True))
    except sqlite3.OperationalError as error:
        report.notes.append(f"incremental vacuum skipped ({error})")


def _restore(backup: Path, conn: sqlite3.Connection, db_path: Path) -> None:
    """The backup's pages back into the live database, through SQLite's locks (claude-mem's worker
    may have it open: replacing the file under it would lose its writes or corrupt the WAL)."""
    source = sqlite3.connect(backup.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        source.backup(conn)
    except sqlite3.Error as error:
        raise DatabaseError(
            f"a maintenance check failed and restoring {db_path} from {backup} failed too ({error}); stop "
            f"Claude Code, then copy {backup} over {db_path} by hand"
        ) from None
    finally:
        source.close()
