"""Import: merged/<project>/latest.json -> claude-mem's database, once, without duplicates.

Everything that can fail on bad input (JSON, envelope, each observation) is checked before the
database is touched; then the DB is backed up and the new rows go in as one short write
transaction (see ``claude_mem.insert_rows``). A log of imported file hashes beside the config
makes a repeated import of the same merged file a no-op before the database is even opened.
Every inserted row is listed in the import ledger (``ledger.py``) inside that transaction,
so ``maintain`` and retraction know which rows came from the team.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from memsync.atomic import atomic_write_bytes
from memsync.devside.claude_mem import (
    LOCAL_ONLY_COLUMNS,
    Column,
    InsertedRow,
    backup_database,
    delete_rows,
    existing_keys,
    insert_rows,
    open_read_only,
    open_read_write,
    read_schema,
)
from memsync.devside.ledger import ImportedRow, imported_rows, record_imported
from memsync.devside.ledger import forget as forget_imported
from memsync.devside.retracted import RETRACTED_NAME, read_retracted_file
from memsync.errors import QuarantineReason, RepoError
from memsync.merge.retraction import RetractedSet, retracted_matcher, without_retracted
from memsync.model import (
    ARRAY_FIELDS,
    FORMAT_VERSION,
    SAFE_INTEGER,
    CompositeKey,
    check_envelope,
    check_observation,
    composite_key,
    iso_from_millis,
    parse_string_list,
    stamp_from_millis,
    to_millis,
)

# Beyond the exporter-local columns: which of the exporter's projects a row was folded into
# means nothing in another developer's database.
_NOT_IMPORTED = LOCAL_ONLY_COLUMNS | {"merged_into_project"}
BACKUPS_KEPT = 3
LOG_NAME = "import-log.json"


class NothingMerged(RepoError):
    """No merged file yet: for ``import`` of a configured project, nothing to do (exit 0)."""


@dataclass(frozen=True)
class MergedFile:
    path: Path
    sha256: str
    observations: list[dict[str, Any]]  # the importable ones
    in_file: int = 0
    # (index in the file, why) of each observation set aside: the rest still imports
    set_aside: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class ImportReport:
    project: str
    source: Path
    in_file: int
    added: int
    skipped_existing: int
    sessions_created: int
    already_imported: bool = False
    dry_run: bool = False
    backup: Path | None = None
    purged: Purged | None = None
    set_aside: tuple[tuple[int, str], ...] = ()


# --- reading and checking the merged file ------------------------------------------------


def read_merged_file(path: Path, project: str) -> MergedFile:
    """Parse and check the whole file: a bad envelope refuses all of it; an observation that does
    not check (or holds what claude-mem's database cannot) is set aside, the others import."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NothingMerged(
            f"{path} does not exist: nothing merged yet for project {project!r}; "
            "wait for the merge bot (ci-merge) to run after an export"
        ) from None
    except OSError as error:
        raise RepoError(f"cannot read {path} ({error.strerror})") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RepoError(
            f"{path} is not valid JSON ({error}); restore it from the shared repository's history or re-run ci-merge"
        ) from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if type(version) is int and version > FORMAT_VERSION:
        raise RepoError(
            f"{path} uses format version {version}, newer than this mem-sync reads (version "
            f"{FORMAT_VERSION}); upgrade mem-sync (pip install -U mem-sync) and import again"
        )
    try:
        check_envelope(doc, project=project, dev=None)
    except QuarantineReason as reason:
        raise RepoError(f"{path} is not a valid merged file: {reason}; nothing was imported") from None
    importable: list[dict[str, Any]] = []
    set_aside: list[tuple[int, str]] = []
    for index, obs in enumerate(doc["observations"]):
        try:
            check_observation(obs, index)
            check_importable(obs, index)
        except QuarantineReason as reason:
            set_aside.append((index, str(reason)))
        else:
            importable.append(obs)
    return MergedFile(path=path, sha256=hashlib.sha256(raw).hexdigest(), observations=importable,
                      in_file=len(doc["observations"]), set_aside=tuple(set_aside))


def check_importable(obs: dict[str, Any], index: int) -> None:
    """Raise ``QuarantineReason`` unless every value of ``obs`` goes into SQLite as it is or as
    JSON text: integers JavaScript (claude-mem) holds exactly, nesting orjson writes."""
    for name, value in obs.items():
        if type(value) is int:
            if abs(value) > SAFE_INTEGER:
                raise QuarantineReason(
                    f"observations[{index}].{name} is {value}, beyond {SAFE_INTEGER} (2^53 - 1), more than "
                    "claude-mem holds exactly")
        elif isinstance(value, (list, dict)):
            try:
                orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
            except orjson.JSONEncodeError as error:
                problem = "is nested too deeply" if "ecursion" in str(error) else f"cannot be written ({error})"
                raise QuarantineReason(f"observations[{index}].{name} {problem} for claude-mem's database") from None


def content_hash(memory_session_id: str, title: str | None, narrative: str | None) -> str:
    """claude-mem's live writer's ``content_hash``: its unique index on (memory_session_id,
    content_hash) then tells claude-mem's own dedup that an imported row is the same memory."""
    text = "\0".join((memory_session_id, title or "", narrative or ""))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# --- the pure part: merged observations -> rows for this database ------------------------


def prepare_rows(
    observations: list[dict[str, Any]], *, mem_project: str, columns: dict[str, Column]
) -> tuple[list[dict[str, Any]], list[CompositeKey]]:
    """Rows ready to insert, and their composite keys; the first of equal keys wins.

    Only columns the target table has are kept (so a newer claude-mem's columns travel when
    both sides have them); the project becomes this developer's claude-mem project; epochs
    become milliseconds with their ISO text; arrays become JSON arrays, the only shape
    claude-mem's own ``json_each`` queries accept.
    """
    wanted = {name for name in columns if name not in _NOT_IMPORTED}
    hashed = "content_hash" in wanted
    rows: list[dict[str, Any]] = []
    keys: list[CompositeKey] = []
    seen: set[CompositeKey] = set()
    for obs in observations:
        key = composite_key(obs)
        if key in seen:
            continue
        seen.add(key)
        row: dict[str, Any] = {}
        for name, value in obs.items():
            if name not in wanted:
                continue
            if name in _ARRAYS:
                value = None if value is None else json_array_text(value)
            elif isinstance(value, (list, dict)):
                value = orjson.dumps(value).decode()
            elif isinstance(value, bool):
                value = int(value)
            row[name] = value
        millis = key[2]
        row["project"] = mem_project
        row["created_at_epoch"] = millis
        row["created_at"] = iso_from_millis(millis)
        if hashed:
            row["content_hash"] = content_hash(obs["memory_session_id"], obs.get("title"), obs.get("narrative"))
        rows.append(row)
        keys.append(key)
    return rows, keys


_ARRAYS = frozenset(ARRAY_FIELDS)


def json_array_text(value: Any) -> str:
    """``parse_string_list`` as JSON text, with a fast path for what claude-mem itself writes."""
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if type(parsed) is list and all(type(item) is str and item and item.strip() == item for item in parsed):
            return orjson.dumps(parsed).decode()
    return orjson.dumps(parse_string_list(value)).decode()


# --- the import log ----------------------------------------------------------------------


def _log_key(db_path: Path, project: str) -> str:
    return f"{db_path.resolve()}::{project}"


def _read_log(log_path: Path) -> dict[str, Any]:
    try:
        doc = orjson.loads(log_path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        # A lost or damaged log only costs a re-check: dedup still prevents duplicates.
        return {"version": 1, "imports": {}}
    if not isinstance(doc, dict) or not isinstance(doc.get("imports"), dict):
        return {"version": 1, "imports": {}}
    return doc


def already_imported(log_path: Path, db_path: Path, project: str, sha256: str) -> bool:
    entry = _read_log(log_path)["imports"].get(_log_key(db_path, project))
    return isinstance(entry, dict) and entry.get("sha256") == sha256


def record_import(log_path: Path, db_path: Path, project: str, merged: MergedFile, added: int, now_millis: int) -> None:
    doc = _read_log(log_path)
    doc["imports"][_log_key(db_path, project)] = {
        "sha256": merged.sha256,
        "importedAt": iso_from_millis(now_millis),
        "added": added,
        "inFile": merged.in_file,
    }
    atomic_write_bytes(log_path, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


# --- retractions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Purged:
    """Rows an import deleted (or would, in a dry run) because the team retracted their keys."""

    team: int  # rows a team import had added
    own: int  # the developer's own rows (only with --purge-own)
    own_kept: int  # own rows of retracted keys left in place (no --purge-own)


def purge_retracted(
    retracted: RetractedSet,
    *,
    mem_project: str,
    db_path: Path,
    state_dir: Path,
    purge_own: bool,
    dry_run: bool,
    backup_to: Path | None = None,
) -> Purged | None:
    """Delete the rows of retracted keys that a team import added (the ledger says which); the
    developer's own rows only with ``purge_own``. claude-mem's triggers keep its FTS index in step
    with the deletes. None when nothing is retracted."""
    if not retracted.entries:
        return None
    sessions = sorted({key.session for key in retracted.entries})
    conn = open_read_only(db_path) if dry_run else open_read_write(db_path)
    try:
        read_schema(conn, db_path)
        is_retracted = retracted_matcher(retracted.entries.keys())
        team = [row.row_id for row in imported_rows(state_dir, db_path, conn, project=mem_project,
                                                      drop_stale=not dry_run)
                if is_retracted(row.key)]
        team_ids = set(team)
        own: list[int] = []
        for start in range(0, len(sessions), 500):
            chunk = sessions[start:start + 500]
            for row_id, session, title, epoch in conn.execute(
                "SELECT id, memory_session_id, coalesce(title, ''), created_at_epoch FROM observations "
                f"WHERE project = ? AND memory_session_id IN ({', '.join('?' * len(chunk))})",
                [mem_project, *chunk],
            ):
                if row_id not in team_ids and is_retracted((session, title, to_millis(int(epoch)))):
                    own.append(int(row_id))
        doomed = team + (own if purge_own else [])
        if doomed and not dry_run:
            if backup_to is not None:
                backup_database(conn, backup_to, db_path)
                _prune_backups(backup_to.parent)
            delete_rows(conn, doomed, db_path)
            forget_imported(state_dir, db_path, team)
    finally:
        conn.close()
    return Purged(team=len(team), own=len(own) if purge_own else 0, own_kept=0 if purge_own else len(own))


# --- the whole import --------------------------------------------------------------------


def import_merged(
    merged_path: Path,
    *,
    project: str,
    mem_project: str,
    db_path: Path,
    state_dir: Path,
    dry_run: bool = False,
    backup: bool = True,
    force: bool = False,
    purge_own: bool = False,
    now_millis: int | None = None,
) -> ImportReport:
    now_millis = now_millis if now_millis is not None else time.time_ns() // 1_000_000
    merged = read_merged_file(merged_path, project)
    # Retractions are applied on every import, even of a merged file imported before: a key
    # retracted after it left the merged set (evicted) changes retracted.json only.
    retracted = read_retracted_file(merged_path.parent / RETRACTED_NAME)
    purged = purge_retracted(
        retracted,
        mem_project=mem_project, db_path=db_path, state_dir=state_dir, purge_own=purge_own, dry_run=dry_run,
        backup_to=_backup_path(state_dir, now_millis, 'before-retraction.') if backup else None,
    )
    log_path = state_dir / LOG_NAME
    if not force and already_imported(log_path, db_path, project, merged.sha256):
        return ImportReport(
            project,
            merged_path,
            merged.in_file,
            0,
            len(merged.observations),
            0,
            already_imported=True,
            dry_run=dry_run,
            purged=purged,
        )
    if dry_run:
        conn = open_read_only(db_path)
    else:
        conn = open_read_write(db_path)
    try:
        schema = read_schema(conn, db_path, for_import=True)
        rows, keys = prepare_rows(merged.observations, mem_project=mem_project, columns=schema.observation_columns)
        if retracted.entries:  # never bring back what the team retracted, whatever latest.json says
            allowed = without_retracted(keys, retracted)
            rows = [row for row, ok in zip(rows, allowed, strict=True) if ok]
            keys = [key for key, ok in zip(keys, allowed, strict=True) if ok]
        present = existing_keys(conn, {key[0] for key in keys})
        new_count = sum(1 for key in keys if key not in present)
        if dry_run or new_count == 0:
            if not dry_run:
                record_import(log_path, db_path, project, merged, 0, now_millis)
            return ImportReport(
                project,
                merged_path,
                merged.in_file,
                new_count if dry_run else 0,
                len(rows) - new_count,
                0,
                dry_run=dry_run,
                purged=purged,
                set_aside=merged.set_aside,
            )
        backup_path = None
        if backup:
            backup_path = _backup_path(state_dir, now_millis)
            backup_database(conn, backup_path, db_path)
            _prune_backups(backup_path.parent)
        def write_ledger(inserted: Sequence[InsertedRow]) -> None:
            record_imported(
                state_dir,
                db_path,
                [
                    ImportedRow(r.row_id, mem_project, r.memory_session_id, r.title, r.created_at_epoch)
                    for r in inserted
                ],
                now_millis,
            )

        result = insert_rows(conn, rows, keys, mem_project, db_path, before_commit=write_ledger)
    finally:
        conn.close()
    record_import(log_path, db_path, project, merged, result.added, now_millis)
    return ImportReport(
        project,
        merged_path,
        merged.in_file,
        result.added,
        len(merged.observations) - result.added,
        result.sessions_created,
        backup=backup_path,
        purged=purged,
        set_aside=merged.set_aside,
    )


def _backup_path(state_dir: Path, now_millis: int, tag: str = "") -> Path:
    return state_dir / "backups" / f"claude-mem.{stamp_from_millis(now_millis)}.{tag}db"


def _prune_backups(folder: Path) -> None:
    backups = sorted(folder.glob("claude-mem.*.db"))
    for old in backups[:-BACKUPS_KEPT]:
        old.unlink(missing_ok=True)
