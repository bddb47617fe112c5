"""``distilled/<project>/feedback.json``: the reviewers' verdict on each rule.

claude-mem-sync's shape (``ruleId``, ``status``, ``modifiedRule``, ``reviewedBy``,
``reviewedAt``) plus our optional ``paths``; unknown fields are kept. Unlike claude-mem-sync
it is read on every run: accepted and modified rules are kept verbatim under their ids,
rejected ones are never proposed again. ``set_rule_status`` is the one writer that the CLI
(``mem-sync distill accept|reject|modify``) and the dashboard share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from memsync.atomic import atomic_write_bytes
from memsync.errors import RepoError, UsageError
from memsync.model import iso_from_millis
from memsync.safety.names import check_safe_name

STATUSES = ("proposed", "accepted", "rejected", "modified")
REVIEWED = ("accepted", "rejected", "modified")
DELIVERED = ("accepted", "modified")  # the only ones rules sync ever delivers
RULE_ID = re.compile(r"^R-[0-9a-f]{8}$")
_KNOWN = ("ruleId", "status", "modifiedRule", "reviewedBy", "reviewedAt", "paths")


@dataclass(frozen=True)
class FeedbackEntry:
    rule_id: str
    status: str
    modified_rule: str | None = None
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    paths: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"ruleId": self.rule_id, "status": self.status}
        if self.modified_rule is not None:
            doc["modifiedRule"] = self.modified_rule
        if self.reviewed_by is not None:
            doc["reviewedBy"] = self.reviewed_by
        if self.reviewed_at is not None:
            doc["reviewedAt"] = self.reviewed_at
        if self.paths is not None:
            doc["paths"] = list(self.paths)
        doc.update(self.extra)
        return doc


@dataclass(frozen=True)
class Feedback:
    project: str
    updated_at: str
    entries: tuple[FeedbackEntry, ...] = ()

    def by_rule(self) -> dict[str, FeedbackEntry]:
        return {entry.rule_id: entry for entry in self.entries}

    def statuses(self) -> list[tuple[str, str, str]]:
        """(ruleId, status, modifiedRule) of reviewed rules: what the digest covers."""
        return sorted((e.rule_id, e.status, e.modified_rule or "") for e in self.entries
                      if e.status in REVIEWED)


def distilled_dir(repo_dir: Path, project: str) -> Path:
    check_safe_name(project, "project")
    return repo_dir / "distilled" / project


def feedback_path(repo_dir: Path, project: str) -> Path:
    return distilled_dir(repo_dir, project) / "feedback.json"


def parse_feedback(data: bytes, source: str) -> Feedback:
    """Raise ``RepoError`` naming the file and the problem; never guess at a damaged verdict."""
    fix = "fix it by hand (docs/distill.md shows the format) or restore it from git history"
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise RepoError(f"{source} is not valid JSON ({error}); {fix}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries", []), list):
        raise RepoError(f"{source} must be an object with an \"entries\" array; {fix}")
    entries = []
    for index, item in enumerate(doc.get("entries", [])):
        where = f"{source}: entries[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("ruleId"), str):
            raise RepoError(f"{where} needs a string ruleId; {fix}")
        status = item.get("status")
        if status not in STATUSES:
            raise RepoError(f"{where}.status must be one of {', '.join(STATUSES)}, got "
                            f"{status!r}; {fix}")
        for name in ("modifiedRule", "reviewedBy", "reviewedAt"):
            if item.get(name) is not None and not isinstance(item[name], str):
                raise RepoError(f"{where}.{name} must be a string; {fix}")
        paths = item.get("paths")
        if paths is not None and not (isinstance(paths, list)
                                      and all(isinstance(p, str) for p in paths)):
            raise RepoError(f"{where}.paths must be an array of glob strings; {fix}")
        if status == "modified" and not item.get("modifiedRule"):
            raise RepoError(f"{where} is modified but has no modifiedRule; {fix}")
        entries.append(FeedbackEntry(
            rule_id=item["ruleId"], status=status, modified_rule=item.get("modifiedRule"),
            reviewed_by=item.get("reviewedBy"), reviewed_at=item.get("reviewedAt"),
            paths=tuple(paths) if paths is not None else None,
            extra={k: v for k, v in item.items() if k not in _KNOWN}))
    return Feedback(project=str(doc.get("project", "")), updated_at=str(doc.get("updatedAt", "")),
                    entries=tuple(entries))


def dump_feedback(feedback: Feedback) -> bytes:
    entries = sorted(feedback.entries, key=lambda e: e.rule_id)
    doc = {"project": feedback.project, "updatedAt": feedback.updated_at,
           "entries": [entry.to_json() for entry in entries]}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def read_feedback(repo_dir: Path, project: str) -> Feedback | None:
    path = feedback_path(repo_dir, project)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RepoError(f"cannot read {path}: {error.strerror}") from None
    return parse_feedback(data, str(path))


def with_proposals(previous: Feedback | None, project: str, proposed: Iterable[str],
                   updated_at: str) -> Feedback:
    """Reviewed entries stay as they are; proposed ones follow the new output exactly."""
    kept = [e for e in (previous.entries if previous else ()) if e.status in REVIEWED]
    reviewed = {e.rule_id for e in kept}
    fresh = [FeedbackEntry(rule_id=rid, status="proposed") for rid in sorted(set(proposed))
             if rid not in reviewed]
    old = previous.by_rule() if previous else {}
    # A proposal already listed keeps its entry (and any field a tool added to it).
    fresh = [old[e.rule_id] if e.rule_id in old and old[e.rule_id].status == "proposed" else e
             for e in fresh]
    entries = tuple(sorted([*kept, *fresh], key=lambda e: e.rule_id))
    if previous is not None and previous.entries == entries and previous.project == project:
        return previous  # nothing changed: keep updatedAt, so the file's bytes stay the same
    return Feedback(project=project, updated_at=updated_at, entries=entries)


def with_verdicts_from(base: Feedback | None, review: Feedback, updated_at: str) -> Feedback | None:
    """``base`` plus the verdicts recorded on the review branch (``review``); None when that
    adds nothing. A verdict wins over no verdict; between two, the later ``reviewedAt``."""
    entries = dict(base.by_rule()) if base else {}
    changed = False
    for entry in review.entries:
        if entry.status not in REVIEWED:
            continue
        mine = entries.get(entry.rule_id)
        if mine is None or mine.status not in REVIEWED or \
                (entry.reviewed_at or "") > (mine.reviewed_at or ""):
            if mine != entry:
                entries[entry.rule_id] = entry
                changed = True
    if not changed:
        return None
    project = base.project if base else review.project
    return Feedback(project=project, updated_at=updated_at,
                    entries=tuple(sorted(entries.values(), key=lambda e: e.rule_id)))


def set_rule_status(repo_dir: Path, project: str, rule_id: str, status: str, *,
                    modified_rule: str | None, reviewer: str | None, paths: list[str] | None,
                    now_ms: int) -> None:
    """Record a reviewer's verdict on one rule of ``distilled/<project>/rules.json`` (atomic)."""
    if status not in STATUSES:
        raise UsageError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if not RULE_ID.match(rule_id):
        raise UsageError(f"{rule_id!r} is not a rule id; ids look like R-1a2b3c4d "
                         f"(see distilled/{project}/rules.md)")
    if status == "modified" and not (modified_rule and modified_rule.strip()):
        raise UsageError("modify needs the new wording of the rule (--text 'RULE')")
    if status != "modified" and modified_rule is not None:
        raise UsageError("only modify takes new wording; accept or reject the rule as it is")
    if paths is not None and not all(isinstance(p, str) and p.strip() for p in paths):
        raise UsageError("paths must be non-empty glob patterns such as src/api/**")
    known = _known_rule_ids(repo_dir, project)
    previous = read_feedback(repo_dir, project)
    entries = previous.by_rule() if previous else {}
    if rule_id not in known and rule_id not in entries:
        raise UsageError(f"no rule {rule_id} in distilled/{project}/rules.json; "
                         f"pick an id from distilled/{project}/rules.md")
    old = entries.get(rule_id)
    entry = FeedbackEntry(
        rule_id=rule_id, status=status,
        modified_rule=modified_rule.strip() if modified_rule else None,
        reviewed_by=reviewer, reviewed_at=iso_from_millis(now_ms),
        paths=tuple(p.strip() for p in paths) if paths is not None else (old.paths if old else None),
        extra=old.extra if old else {})
    entries[rule_id] = entry
    feedback = Feedback(project=project, updated_at=iso_from_millis(now_ms),
                        entries=tuple(entries.values()))
    atomic_write_bytes(feedback_path(repo_dir, project), dump_feedback(feedback))


def _known_rule_ids(repo_dir: Path, project: str) -> set[str]:
    path = distilled_dir(repo_dir, project) / "rules.json"
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return set()
    rules = doc.get("rules") if isinstance(doc, dict) else None
    return {r["id"] for r in rules or () if isinstance(r, dict) and isinstance(r.get("id"), str)}


def delivered(feedback: Feedback | None) -> Sequence[FeedbackEntry]:
    """Entries whose rules may reach code repositories (accepted and modified)."""
    return [e for e in (feedback.entries if feedback else ()) if e.status in DELIVERED]


__all__ = ["DELIVERED", "STATUSES", "Feedback", "FeedbackEntry", "delivered", "dump_feedback",
           "feedback_path", "parse_feedback", "read_feedback", "set_rule_status", "with_proposals",
           "with_verdicts_from"]
