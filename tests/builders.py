"""One builder for observations and contribution files, shared by every test."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import orjson

BASE_MILLIS = 1_773_900_000_000  # 2026-03-19, milliseconds as claude-mem 13.x stores them


def observation(
    title: str | None = "A decision",
    *,
    session: str = "mem-session-1",
    type: str = "decision",
    created_at_epoch: int | None = None,
    narrative: str | None = "Why we chose this.",
    text: str | None = None,
    concepts: Any = '["pattern"]',
    facts: Any = '["a fact"]',
    files_read: Any = '["src/app.py"]',
    files_modified: Any = "[]",
    **extra: Any,
) -> dict[str, Any]:
    created = BASE_MILLIS if created_at_epoch is None else created_at_epoch
    obs = {
        # exporter-local row id: stable for the same identity, so rebuilt fixtures are byte-identical
        "id": zlib.crc32(f"{session}|{title}|{created}".encode()) % 1_000_000,
        "memory_session_id": session,
        "type": type,
        "title": title,
        "narrative": narrative,
        "text": text,
        "facts": facts,
        "concepts": concepts,
        "files_read": files_read,
        "files_modified": files_modified,
        "created_at_epoch": created,
        "project": extra.pop("project", "demo"),
    }
    obs.update(extra)
    return obs


def contribution(
    observations: list[dict[str, Any]],
    *,
    dev: str = "alice",
    project: str = "demo",
    exported_at_epoch: int = 1_773_945_000,
    **overrides: Any,
) -> dict[str, Any]:
    doc = {
        "version": 1,
        "exportedBy": dev,
        "exportedAt": "2026-03-19T18:30:00.000Z",
        "exportedAtEpoch": exported_at_epoch,
        "project": project,
        "packageVersion": "1.1.8",
        "filters": {"types": ["decision"], "keywords": [], "tags": []},
        "observations": observations,
        "observationCount": len(observations),
    }
    doc.update(overrides)
    return doc


def write_contribution(
    repo: Path,
    observations: list[dict[str, Any]],
    *,
    dev: str = "alice",
    project: str = "demo",
    stamp: str = "2026-03-19T18-30-00",
    **overrides: Any,
) -> Path:
    """Write ``contributions/<project>/<dev>/<stamp>.json`` and return its path."""
    path = repo / "contributions" / project / dev / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = contribution(observations, dev=dev, project=project, **overrides)
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def write_retraction(
    repo: Path,
    keys: list[tuple[str, str | None, int]],
    *,
    dev: str = "alice",
    project: str = "demo",
    stamp: str = "2026-03-20T09-00-00",
    created_at_epoch: int = BASE_MILLIS + 86_400_000,
    reason: str = "wrong decision",
    undo: bool = False,
) -> Path:
    """Write ``retractions/<project>/<dev>/<stamp>.json`` as ``mem-sync forget`` publishes it:
    composite keys with the title as its sha256, never the observation's content."""
    import hashlib

    path = repo / "retractions" / project / dev / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": 1,
        "kind": "undo" if undo else "retraction",
        "project": project,
        "retractedBy": dev,
        "createdAt": "2026-03-20T09:00:00.000Z",
        "createdAtEpoch": created_at_epoch,
        "reason": reason,
        "keys": [
            {"session": session, "titleSha256": hashlib.sha256((title or "").encode()).hexdigest(),
             "createdAtEpoch": epoch}
            for session, title, epoch in keys
        ],
    }
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path
