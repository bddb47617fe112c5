"""``forget``: find the observations a developer wants taken back and publish a retraction file.

The retraction names composite keys only (titles as digests), so taking back a note that turned
out to be confidential does not spread it once more. The file is published like an export: a
commit pushed with retry, or a pull request when the project's remote does not auto-merge.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from memsync.devside.claude_mem import open_read_only, read_schema, translate_error
from memsync.devside.config import RemoteConfig
from memsync.devside.exporter import ExportResult, NewFile, publish_new_file
from memsync.errors import UsageError
from memsync.merge.retraction import RetractedKey, build_retraction
from memsync.model import CompositeKey, iso_from_millis, to_millis

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class Match:
    """An observation of the local database a retraction would name."""

    key: CompositeKey
    local_id: int | None
    type: str
    title: str

    def describe(self) -> str:
        day = iso_from_millis(self.key[2])[:10]
        where = f"#{self.local_id}" if self.local_id is not None else "key"
        return f"  {where:<8} {day}  {self.type:<10} {self.title or '(untitled)'}  [session {self.key[0]}]"


def key_from_flags(session: str, title: str, epoch: int) -> CompositeKey:
    if not session:
        raise UsageError("--key needs a non-empty session id: --key SESSION TITLE EPOCH")
    if epoch <= 0:
        raise UsageError(f"--key's EPOCH must be a positive epoch in seconds or milliseconds, got {epoch}")
    return (session, title, to_millis(epoch))


def find_by_id(db_path: Path, mem_project: str, local_id: int) -> Match:
    rows = _query(db_path, "SELECT id, memory_session_id, title, created_at_epoch, type FROM observations "
                           "WHERE id = ? AND project = ?", (local_id, mem_project))
    if not rows:
        raise UsageError(
            f"no observation #{local_id} of claude-mem project {mem_project!r} in {db_path}; "
            "find it with: mem-sync forget --search TEXT --dry-run"
        )
    return rows[0]


def search(db_path: Path, mem_project: str, text: str) -> list[Match]:
    """Observations of the project whose title, narrative or text contains ``text`` (any case)."""
    if not text.strip():
        raise UsageError("--search needs some text to look for")
    needle = f"%{_escape_like(text)}%"
    return _query(
        db_path,
        "SELECT id, memory_session_id, title, created_at_epoch, type FROM observations WHERE project = ? AND "
        "(title LIKE ? ESCAPE '\\' OR narrative LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\') "
        f"ORDER BY created_at_epoch, id LIMIT {SEARCH_LIMIT + 1}",
        (mem_project, needle, needle, needle),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _query(db_path: Path, sql: str, params: tuple[object, ...]) -> list[Match]:
    conn = open_read_only(db_path)
    try:
        read_schema(conn, db_path)
        rows = conn.execute(sql, params).fetchall()
    except sqlite3.Error as error:
        raise translate_error(error, db_path) from None
    finally:
        conn.close()
    return [
        Match((session, title or "", to_millis(int(epoch))), int(local_id), str(kind), title or "")
        for local_id, session, title, epoch, kind in rows
    ]


def publish_retraction(
    keys: list[CompositeKey],
    *,
    project: str,
    dev: str,
    reason: str,
    undo: bool,
    remote: RemoteConfig,
    repo_dir: Path | None,
    now_millis: int,
    push: bool = True,
) -> ExportResult:
    document = build_retraction(project=project, dev=dev, keys=keys, reason=reason, undo=undo, now_millis=now_millis)
    count = len({RetractedKey.of(key) for key in keys})
    verb = "undo the retraction of" if undo else "retract"
    noun = "observation" if count == 1 else "observations"

    def body(relative: str) -> str:
        from memsync.render import render_template

        return render_template("retraction_pr.md.j2", dev=dev, project=project, count=count, undo=undo,
                               reason=reason, relative=relative)

    new = NewFile(
        folder="retractions",
        branch_kind="retract",
        project=project,
        dev=dev,
        now_millis=now_millis,
        document=document,
        count=count,
        message=f"mem-sync: {dev} asks to {verb} {count} {noun} ({project})",
        pr_title=f"mem-sync: {dev} asks to {verb} {count} {noun} in {project}",
        pr_body=body,
    )
    return publish_new_file(new, remote, repo_dir, push=push)
