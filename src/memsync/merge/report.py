"""What a merge run reports: per project and for the whole run (pure data, serialized at the edge).

``MergeReport`` travels typed from the merge job to publishing, the GitHub runner and the PR
body; ``to_dict`` is its JSON shape (``--format json``, templates), written only at those edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memsync import __version__
from memsync.model import CompositeKey, iso_from_millis

TITLE_CHARS = 80  # a title quoted in a report is cut to this many characters


@dataclass(frozen=True)
class Quarantined:
    """A contribution file (or folder) left out of the merge, and why."""

    file: str
    project: str | None
    reason: str


@dataclass
class ProjectReport:
    project: str
    new_files: list[str] = field(default_factory=list)
    merged: int = 0
    added: int = 0
    evicted: int = 0
    keep_protected: int = 0
    retracted: int = 0  # keys taken out of the merged set by retractions this run
    retraction_notes: list[str] = field(default_factory=list)  # who retracted what and why (titles as digests)
    quarantined_files: int = 0
    secret_findings: int = 0
    added_titles: list[str] = field(default_factory=list)
    evicted_titles: list[str] = field(default_factory=list)
    changed: bool = False
    previous_from: str | None = None  # how the previous merged set was read: "index", "parsed"
    # complete lists for callers and tests; the JSON report carries counts and a few titles
    added_keys: list[CompositeKey] = field(default_factory=list, repr=False)
    evicted_keys: list[CompositeKey] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "changed": self.changed,
            "newFiles": self.new_files,
            "merged": self.merged,
            "added": self.added,
            "evicted": self.evicted,
            "keepProtected": self.keep_protected,
            "retracted": self.retracted,
            "retractionNotes": self.retraction_notes,
            "quarantinedFiles": self.quarantined_files,
            "secretFindings": self.secret_findings,
            "addedTitles": self.added_titles,
            "evictedTitles": self.evicted_titles,
            "previousFrom": self.previous_from,
        }


@dataclass
class MergeReport:
    now_millis: int
    dry_run: bool
    projects: list[ProjectReport] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    secret_findings: list[dict[str, Any]] = field(default_factory=list)
    retention_deleted: list[str] = field(default_factory=list)
    profiles_written: list[str] = field(default_factory=list)
    profiles_reused: list[str] = field(default_factory=list)  # <project>/<dev> counted from a stored summary
    changed_paths: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # problems that fail the run
    warnings: list[str] = field(default_factory=list)  # problems repaired on the way
    exit_code: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.changed_paths)

    def totals(self) -> dict[str, int]:
        """The run's counts over every project (keys as in the JSON report)."""
        return {
            "newFiles": sum(len(p.new_files) for p in self.projects),
            "merged": sum(p.merged for p in self.projects),
            "added": sum(p.added for p in self.projects),
            "evicted": sum(p.evicted for p in self.projects),
            "keepProtected": sum(p.keep_protected for p in self.projects),
            "retracted": sum(p.retracted for p in self.projects),
            "quarantinedFiles": len(self.quarantined),
            "secretFindings": len(self.secret_findings),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``--format json``) and what templates read; the code passes the
        report itself."""
        return {
            "tool": "mem-sync",
            "version": __version__,
            "now": self.now_millis // 1000,
            "nowIso": iso_from_millis(self.now_millis),
            "dryRun": self.dry_run,
            "changed": self.changed,
            "changedPaths": self.changed_paths,
            "projects": [p.to_dict() for p in self.projects],
            "quarantined": [
                {"file": q.file, "project": q.project, "reason": q.reason} for q in self.quarantined
            ],
            "secretFindings": self.secret_findings,
            "retentionDeleted": self.retention_deleted,
            "profiles": {"written": self.profiles_written, "reused": self.profiles_reused},
            "failures": self.failures,
            "warnings": self.warnings,
            "totals": self.totals(),
            "exitCode": self.exit_code,
        }

