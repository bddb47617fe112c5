"""Sync history: ``<state_dir>/sync-history.jsonl``, one event a line, appended, never rewritten.

``export``, ``import`` and ``maintain`` append what they did; ``status`` and the dashboard read
it ("last export: 2 days ago, ok, 14 observations"). Each event is one ``write`` on a file
opened with O_APPEND, so concurrent writers (a scheduled export while the developer imports)
never interleave inside a line. A damaged line (a crash mid-write, a hand edit) is skipped
when read, never fatal: the history informs, it decides nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from memsync.model import iso_from_millis

HISTORY_NAME = "sync-history.jsonl"
KINDS = ("export", "import", "maintain")
RESULTS = ("ok", "nothing", "error")


@dataclass(frozen=True)
class HistoryEvent:
    at: str  # ISO-8601 UTC with ms
    at_epoch: int  # ms
    kind: str  # export | import | maintain
    project: str
    result: str  # ok | nothing | error
    count: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "atEpoch": self.at_epoch,
            "kind": self.kind,
            "project": self.project,
            "result": self.result,
            "count": self.count,
            "detail": self.detail,
        }


def history_path(state_dir: Path) -> Path:
    return state_dir / HISTORY_NAME


def make_event(kind: str, project: str, result: str, count: int, detail: str, now_millis: int) -> HistoryEvent:
    if kind not in KINDS:
        raise ValueError(f"unknown history kind {kind!r}")
    if result not in RESULTS:
        raise ValueError(f"unknown history result {result!r}")
    # One line per event: a multi-line error message must not split the record.
    one_line = " ".join(detail.split())
    return HistoryEvent(iso_from_millis(now_millis), now_millis, kind, project, result, int(count), one_line)


def append_event(
    state_dir: Path, kind: str, project: str, result: str, count: int, detail: str, *, now_millis: int
) -> HistoryEvent:
    """Append one event; returns it. Raises ``OSError`` only if the state directory is unwritable."""
    event = make_event(kind, project, result, count, detail, now_millis)
    line = orjson.dumps(event.to_dict()) + b"\n"
    path = history_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return event


def parse_event(line: bytes) -> HistoryEvent | None:
    """One line -> an event, or None when it is not a well-formed one."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    at, epoch, kind, project = doc.get("at"), doc.get("atEpoch"), doc.get("kind"), doc.get("project")
    result, count, detail = doc.get("result"), doc.get("count", 0), doc.get("detail", "")
    if not (isinstance(at, str) and type(epoch) is int and kind in KINDS and isinstance(project, str)):
        return None
    if result not in RESULTS or type(count) is not int or not isinstance(detail, str):
        return None
    return HistoryEvent(at, epoch, kind, project, result, count, detail)


def read_events(state_dir: Path, *, kind: str | None = None, project: str | None = None) -> list[HistoryEvent]:
    """Every well-formed event, oldest first (file order), optionally of one kind / project."""
    try:
        data = history_path(state_dir).read_bytes()
    except FileNotFoundError:
        return []
    events = []
    for line in data.splitlines():
        event = parse_event(line) if line.strip() else None
        if event is None:
            continue
        if kind is not None and event.kind != kind:
            continue
        if project is not None and event.project != project:
            continue
        events.append(event)
    return events


def last_event(state_dir: Path, *, kind: str, project: str | None = None) -> HistoryEvent | None:
    events = read_events(state_dir, kind=kind, project=project)
    return max(events, key=lambda event: event.at_epoch) if events else None


def record_event(
    state_dir: Path, kind: str, project: str, result: str, count: int, detail: str, *, now_millis: int
) -> str | None:
    """``append_event`` for commands: the history must never fail the work it describes.
    Returns a one-line warning when the event could not be written, else None."""
    try:
        append_event(state_dir, kind, project, result, count, detail, now_millis=now_millis)
    except OSError as error:
        return (
            f"mem-sync: warning: could not append to {history_path(state_dir)} ({error.strerror}); "
            "status will not show this run"
        )
    return None
