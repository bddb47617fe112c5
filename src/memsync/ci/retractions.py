"""The retraction phase of ``ci-merge``: read new retraction files, judge them, and exclude every
retracted key from the merged set (docs/retraction.md).

``retractions/<project>/<dev>/<stamp>.json`` sit beside ``contributions/``, in a folder
claude-mem-sync's merge never reads. What has been retracted, and which retraction files were
judged, is ``merged/<project>/retracted.json``, written with the merged set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from memsync.atomic import StagedWrite, current_bytes
from memsync.ci.repo import ContributionFile, discover_contributions, read_bytes_nofollow, relative
from memsync.ci.staging import stage
from memsync.errors import QuarantineReason
from memsync.merge.dedup import CandidateTable
from memsync.merge.ingest import SecretHit
from memsync.merge.report import MergeReport, Quarantined
from memsync.merge.retraction import (
    RETRACTED_NAME,
    RETRACTIONS_DIR,
    Judged,
    RetractedKey,
    RetractedSet,
    Retraction,
    dump_retracted,
    fold_retractions,
    parse_maintainers,
    parse_retracted,
    parse_retraction,
    retract_for_secrets,
    retracted_matcher,
)
from memsync.text import shorten

if TYPE_CHECKING:  # the rules load only when a run scans (not under --secrets off)
    from memsync.safety.secrets import SecretScanner

MAINTAINERS_FILE = "MAINTAINERS"
MAX_RETRACTION_BYTES = 4 * 1024 * 1024


@dataclass
class ProjectRetractions:
    """One project's retraction input and, once judged, what changes."""

    retracted: RetractedSet = field(default_factory=RetractedSet)
    pending: list[tuple[Retraction, str]] = field(default_factory=list)  # new files with their sha256
    previous_bytes: bytes = b""  # retracted.json as it was (empty when absent)
    judged: Judged | None = None
    automatic: int = 0  # keys retracted this run because a secret rule flags them
    excluded: frozenset[int] = frozenset()  # table rows that may not survive
    notes: list[str] = field(default_factory=list)  # one line per retraction applied: who, how many, why

    @property
    def changes_merged_set(self) -> bool:
        """Whether this run's retractions must rewrite the merged set (new keys in or out)."""
        judged = self.judged
        return judged is not None and bool(judged.applied or self.automatic)


def _printable(reason: str, scanner: SecretScanner | None) -> str:
    """A reason as reports show it: one line, bounded, and not repeated if it carries a credential."""
    if not reason.strip():
        return "no reason given"
    if scanner is not None and scanner.scan_text(reason, "reason"):
        return "reason withheld: it carries a credential"
    return shorten(reason, 120, one_line=True)


def read_retraction_input(repo: Path, output_dir: str, report: MergeReport,
                          scanner: SecretScanner | None = None) -> dict[str, ProjectRetractions]:
    """Per project that has either: its retracted set and the retraction files not judged yet.

    A broken retraction file is quarantined like a contribution; a broken ``retracted.json``
    fails the run (merging past it could let retracted keys back in)."""
    discovered, quarantined = discover_contributions(repo, RETRACTIONS_DIR, scanner)  # names checked too
    report.quarantined.extend(quarantined)
    runs: dict[str, ProjectRetractions] = {}
    names = set(discovered) | _projects_with_retracted(repo / output_dir)
    for name in sorted(names):
        run = ProjectRetractions()
        path = repo / output_dir / name / RETRACTED_NAME
        try:
            run.previous_bytes = read_bytes_nofollow(str(path))
            run.retracted = parse_retracted(run.previous_bytes, relative(repo, path))
        except FileNotFoundError:
            pass
        except (OSError, QuarantineReason) as error:
            problem = getattr(error, "strerror", None) or str(error)
            report.failures.append(f"{relative(repo, path)} cannot be used ({problem}); restore it from git "
                                   f"history (git checkout -- {relative(repo, path)}) and run again")
            continue
        for file in discovered.get(name, []):
            parsed = _read_retraction(file, report)
            if parsed is not None and run.retracted.processed.get(file.rel_path) != parsed[1]:
                run.pending.append(parsed)
        runs[name] = run
    return runs


def _projects_with_retracted(merged: Path) -> set[str]:
    try:
        return {entry.name for entry in merged.iterdir()
                if not entry.is_symlink() and (entry / RETRACTED_NAME).is_file()}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _read_retraction(file: ContributionFile, report: MergeReport) -> tuple[Retraction, str] | None:
    import hashlib

    try:
        raw = read_bytes_nofollow(file.abs_path, MAX_RETRACTION_BYTES)
        parsed = parse_retraction(raw, path=file.rel_path, project=file.project, dev=file.dev)
    except QuarantineReason as reason:
        report.quarantined.append(Quarantined(file.rel_path, file.project, str(reason)))
        return None
    except OSError as error:
        report.quarantined.append(Quarantined(file.rel_path, file.project, f"cannot be read ({error.strerror})"))
        return None
    return parsed, "sha256:" + hashlib.sha256(raw).hexdigest()


def read_maintainers(repo: Path) -> frozenset[str]:
    """``MAINTAINERS`` at the repository root (never followed if a symlink); none when absent."""
    try:
        raw = read_bytes_nofollow(str(repo / MAINTAINERS_FILE), 1024 * 1024)
        return parse_maintainers(raw.decode("utf-8", "replace"))
    except (OSError, QuarantineReason):
        return frozenset()


def judge(run: ProjectRetractions, table: CandidateTable, previous_hits: list[SecretHit], *,
          maintainers: frozenset[str], now_millis: int, project: str, report: MergeReport,
          scanner: SecretScanner | None) -> None:
    """Fold the pending retraction files, add automatic retractions for credentials a secret rule
    now finds in the merged set, and mark the table rows of every retracted key as excluded."""
    contributors = _contributors_by_key(table, run.retracted, run.pending, previous_hits)
    judged = fold_retractions(run.retracted, run.pending, contributors_of=lambda key: contributors.get(key, ()),
                              maintainers=maintainers)
    for path, reason in judged.refused:
        report.quarantined.append(Quarantined(path, project, reason))
    hits = {RetractedKey(hit.key[0], hit.title_sha256, hit.key[2]): hit.rules for hit in previous_hits
            if hit.title_sha256}
    automatic = retract_for_secrets(judged.retracted, hits, contributors_of=lambda key: contributors.get(key, ()),
                                    now_millis=now_millis)
    run.judged = judged
    run.automatic = len(automatic)
    run.excluded = excluded_rows(table, judged.retracted)
    run.notes = [f"{'undo by' if r.undo else 'by'} {r.by}: {len(r.keys)} key(s), {_printable(r.reason, scanner)}"
                 for r in judged.applied]
    if automatic:
        run.notes.append(f"by ci-merge: {len(automatic)} key(s) carrying a credential a secret rule now finds")


def _contributors_by_key(table: CandidateTable, retracted: RetractedSet, pending: list[tuple[Retraction, str]],
                         hits: list[SecretHit]) -> dict[RetractedKey, tuple[str, ...]]:
    """Contributors of the keys these retractions name (digesting only rows of their sessions)."""
    sessions = {key.session for retraction, _ in pending for key in retraction.keys}
    sessions.update(hit.key[0] for hit in hits)
    if not sessions:
        return {}
    rows = [(key, row) for key, row in table.rows.items() if key[0] in sessions]
    names = table.contributors_of([row for _, row in rows])
    return {RetractedKey.of(key): devs for (key, _), devs in zip(rows, names, strict=True)}


def excluded_rows(table: CandidateTable, retracted: RetractedSet) -> frozenset[int]:
    if not retracted.entries:
        return frozenset()
    is_retracted = retracted_matcher(retracted.entries.keys())
    return frozenset(row for key, row in table.rows.items() if is_retracted(key))


def stage_retracted(repo: Path, output_dir: str, project: str, run: ProjectRetractions, dry_run: bool,
                    staged: list[StagedWrite], report: MergeReport) -> None:
    """Stage ``retracted.json`` when it changed, before the merged set it explains."""
    if run.judged is None:
        return
    data = dump_retracted(project, run.judged.retracted)
    path = repo / output_dir / project / RETRACTED_NAME
    if data == run.previous_bytes or data == current_bytes(path):
        return
    report.changed_paths.append(relative(repo, path))
    if dry_run:
        return
    writer = stage(repo, path)
    writer.write(data)
    staged.append(writer)
