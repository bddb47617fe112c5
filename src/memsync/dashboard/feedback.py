"""Reviewing a distilled rule from the dashboard.

The distillation package owns ``feedback.json`` and exposes ``set_rule_status``; the
dashboard calls it when it is installed. Until then this module writes the same file in
the agreed shape (docs/dashboard.md, "Data sources") behind the same signature, so the
dashboard's review buttons and the CLI's ``distill accept|reject`` stay interchangeable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from memsync.atomic import atomic_write_bytes
from memsync.errors import RepoError
from memsync.safety.names import check_safe_name

STATUSES = ("proposed", "accepted", "rejected", "modified")


def set_rule_status(repo_dir: Path, project: str, rule_id: str, status: str, *, modified_rule: str | None,
                    reviewer: str | None, paths: list[str] | None, now_ms: int) -> None:
    """Record a review in ``distilled/<project>/feedback.json`` (atomic write)."""
    try:
        from memsync.distill.feedback import set_rule_status as owner
    except ImportError:
        owner = _set_rule_status
    owner(repo_dir, project, rule_id, status, modified_rule=modified_rule, reviewer=reviewer, paths=paths,
          now_ms=now_ms)


def _set_rule_status(repo_dir: Path, project: str, rule_id: str, status: str, *, modified_rule: str | None,
                     reviewer: str | None, paths: list[str] | None, now_ms: int) -> None:
    check_safe_name(project, "project")
    if status not in STATUSES:
        raise RepoError(f"rule status must be one of {', '.join(STATUSES)}, got {status!r}")
    if status == "modified" and not modified_rule:
        raise RepoError("a modified rule needs its new text")
    path = repo_dir / "distilled" / project / "feedback.json"
    doc: dict[str, Any] = {"project": project, "updatedAt": "", "entries": []}
    if path.is_file():
        try:
            loaded = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as error:
            raise RepoError(f"{path} is not valid JSON ({error}); fix or delete it, then review again") from None
        if isinstance(loaded, dict):
            doc.update(loaded)
    iso = datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now_ms % 1000:03d}Z"
    entries = [e for e in doc.get("entries") or [] if isinstance(e, dict) and e.get("ruleId") != rule_id]
    entry: dict[str, Any] = {"ruleId": rule_id, "status": status}
    if modified_rule is not None:
        entry["modifiedRule"] = modified_rule
    if reviewer:
        entry["reviewedBy"] = reviewer
    entry["reviewedAt"] = iso
    if paths:
        entry["paths"] = list(paths)
    entries.append(entry)
    entries.sort(key=lambda e: str(e.get("ruleId")))
    doc.update({"project": project, "updatedAt": iso, "entries": entries})
    atomic_write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
