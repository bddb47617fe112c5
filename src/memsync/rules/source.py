"""Which rules a code repository gets: ``rules.json`` filtered by ``feedback.json`` (pure parsing).

Only rules a reviewer accepted or modified are delivered, never merely proposed ones; a modified
rule delivers the reviewer's ``modifiedRule``; a reviewer's ``paths`` replaces the scope computed
from the evidence. A rule rejected after it was accepted is simply no longer selected, and the
next sync removes it from every target.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memsync.errors import RepoError
from memsync.rules.scope import glob_problem, scope_for_files

DELIVERED_STATUSES = ("accepted", "modified")
_RULE_ID = re.compile(r"^R-[0-9a-f]{8}$")


@dataclass(frozen=True)
class Rule:
    """One reviewed rule as the targets render it."""

    id: str
    text: str
    category: str
    confidence: float  # 0..1
    source_count: int
    scope: tuple[str, ...]  # repository-relative globs; () applies everywhere
    status: str  # accepted | modified
    scope_from_reviewer: bool = False

    @property
    def anchor(self) -> str:
        return self.id.lower()


@dataclass(frozen=True)
class Selection:
    project: str
    generated_at: str
    rules: tuple[Rule, ...]  # highest confidence first, then id
    # Reviewed in feedback.json but absent from rules.json: reported, never delivered.
    missing: tuple[str, ...] = ()


def rules_paths(memory_repo: Path, project: str) -> tuple[Path, Path]:
    folder = memory_repo / "distilled" / project
    return folder / "rules.json", folder / "feedback.json"


def read_selection(memory_repo: Path, project: str, tracked: frozenset[str]) -> Selection:
    """Read ``distilled/<project>/`` from the memory repository checkout and select."""
    rules_file, feedback_file = rules_paths(memory_repo, project)
    if not rules_file.is_file():
        raise RepoError(f"no distilled/{project}/rules.json in the memory repository at {memory_repo}; "
                        f"run `mem-sync distill --project {project}` and merge its pull request first")
    rules_doc = _load_json(rules_file, f"distilled/{project}/rules.json")
    feedback_doc = (_load_json(feedback_file, f"distilled/{project}/feedback.json")
                    if feedback_file.is_file() else {"entries": []})
    return select_rules(rules_doc, feedback_doc, project=project, tracked=tracked)


def _load_json(path: Path, label: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise RepoError(f"{label} cannot be read ({error}); restore it from the memory "
                        "repository's history or run mem-sync distill again") from None


def select_rules(rules_doc: Any, feedback_doc: Any, *, project: str,
                 tracked: frozenset[str] = frozenset()) -> Selection:
    """The accepted and modified rules of ``rules_doc`` per ``feedback_doc`` (both parsed JSON)."""
    label = f"distilled/{project}/rules.json"
    if not isinstance(rules_doc, Mapping) or not isinstance(rules_doc.get("rules"), list):
        raise RepoError(f"{label} has no \"rules\" list; it is not mem-sync distill output")
    if rules_doc.get("version") != 1:
        raise RepoError(f"{label} has version {rules_doc.get('version')!r}; this mem-sync reads "
                        "version 1: upgrade mem-sync")
    reviews = _reviews(feedback_doc, project)
    by_id: dict[str, Mapping[str, Any]] = {}
    for index, raw in enumerate(rules_doc["rules"]):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            raise RepoError(f"{label}: rule #{index + 1} has no id")
        by_id[raw["id"]] = raw
    chosen: list[Rule] = []
    for rule_id, review in reviews.items():
        if review.get("status") not in DELIVERED_STATUSES or rule_id not in by_id:
            continue
        chosen.append(_rule(by_id[rule_id], review, label, tracked))
    missing = sorted(rule_id for rule_id, review in reviews.items()
                     if review.get("status") in DELIVERED_STATUSES and rule_id not in by_id)
    chosen.sort(key=lambda r: (-r.confidence, r.id))
    return Selection(project=project, generated_at=str(rules_doc.get("generatedAt") or ""),
                     rules=tuple(chosen), missing=tuple(missing))


def _reviews(feedback_doc: Any, project: str) -> dict[str, Mapping[str, Any]]:
    label = f"distilled/{project}/feedback.json"
    entries = feedback_doc.get("entries") if isinstance(feedback_doc, Mapping) else None
    if not isinstance(entries, list):
        raise RepoError(f"{label} has no \"entries\" list; fix it or restore it from history")
    reviews: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("ruleId"), str):
            reviews[entry["ruleId"]] = entry  # a later entry for the same rule wins
    return reviews


def _rule(raw: Mapping[str, Any], review: Mapping[str, Any], label: str,
          tracked: frozenset[str]) -> Rule:
    rule_id = str(raw["id"])
    if not _RULE_ID.match(rule_id):
        raise RepoError(f"{label}: rule id {rule_id!r} is not R- and 8 lowercase hex digits")
    status = str(review["status"])
    text = str(raw.get("rule") or "")
    if status == "modified" and str(review.get("modifiedRule") or "").strip():
        text = str(review["modifiedRule"])
    text = " ".join(text.split())
    if not text:
        raise RepoError(f"{label}: rule {rule_id} has no text; edit it with "
                        f"`mem-sync distill modify {rule_id}`")
    paths = review.get("paths")
    if paths is not None:
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise RepoError(f"feedback.json: the paths of {rule_id} must be a list of globs")
        for pattern in paths:
            problem = glob_problem(pattern)
            if problem:
                raise RepoError(f"feedback.json: path {pattern!r} of {rule_id} cannot be used: "
                                f"{problem}")
        scope = tuple(sorted(set(paths)))
    else:
        files = raw.get("files") or []
        scope = scope_for_files([str(f) for f in files if isinstance(f, str)], tracked)
    try:
        confidence = min(1.0, max(0.0, float(raw.get("confidence") or 0.0)))
    except (TypeError, ValueError):
        confidence = 0.0
    return Rule(id=rule_id, text=text, category=" ".join(str(raw.get("category") or "").split()),
                confidence=confidence, source_count=_int(raw.get("sourceCount")), scope=scope,
                status=status, scope_from_reviewer=paths is not None)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
