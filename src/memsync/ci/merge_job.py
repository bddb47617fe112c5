"""``ci-merge`` end to end, as named phases (each in ``ci/phases.py``):

    load previous -> ingest -> plan -> assemble -> stage -> commit -> profiles -> retention -> state

The order of writes is the safety story: merged files first, profiles, retention deletions,
and the state last, each atomic. A crash anywhere leaves input unmarked, so the next run
merges it again and, the merge being idempotent, lands on the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from memsync.allocation import bulk_allocation
from memsync.atomic import StagedWrite, remove_stale_temps
from memsync.ci import phases, retractions
from memsync.ci.clock import RunClock, read_clock
from memsync.ci.merged_index import UntrustedIndex
from memsync.ci.phases import ProjectRun
from memsync.ci.repo import WorkerPool, discover_contributions, load_state
from memsync.ci.staging import commit_staged, refuse_symlinks
from memsync.errors import RepoError, UsageError
from memsync.merge.report import MergeReport, ProjectReport, Quarantined
from memsync.merge.scoring import STRATEGY_WEIGHTS, Weights
from memsync.model import MergeState, ProjectState
from memsync.safety.names import is_safe_name
from memsync.safety.secrets import SecretScanner, rules_fingerprint
from memsync.safety.shown import shown
from memsync.scanner_cache import ScannerSetup, open_scanner

__all__ = ["SECRET_POLICIES", "MergeOptions", "MergeReport", "ProjectReport", "Quarantined", "run_merge"]

SECRET_POLICIES = ("quarantine", "fail", "off")
PROFILES_DIR = "profiles"  # where generate_project_profiles writes, by default


@dataclass(frozen=True)
class MergeOptions:
    repo: Path
    contributions_dir: str = "contributions"
    output_dir: str = "merged"
    state_file: str = ".merge-state.json"
    cap: int = 500
    retention_days: int = 30
    project: str | None = None
    dry_run: bool = False
    now: int | None = None
    keep_tags: tuple[str, ...] = ("#keep",)
    strategy: str = "passive"
    weights: Weights | None = None
    secrets: str = "quarantine"
    strict: bool = False
    profiles: bool = True
    anonymize: bool = True
    max_file_bytes: int = 20 * 1024 * 1024
    workers: int | None = None
    # which secret engine, and where its compiled database is cached: read once by the entry point
    scanner_setup: ScannerSetup = ScannerSetup()
    # work of the caller's that may run while merged files flush to disk (loading a template)
    while_flushing: Callable[[], object] | None = None


def run_merge(options: MergeOptions, *, trust_index: bool = True) -> MergeReport:
    """Run one merge. Bad contributions are quarantined, never raised; bad flags raise UsageError.
    ``trust_index`` False parses every previous latest.json instead of reading its index."""
    _check_options(options)
    clock = read_clock(options.now, os.environ)
    repo = options.repo
    if not repo.is_dir():
        raise RepoError(f"repository folder {repo} does not exist; pass --repo DIR")
    refuse_symlinks(repo, repo / options.state_file)
    refuse_symlinks(repo, repo / options.output_dir / "-")
    if not options.dry_run:  # what a killed run left beside its targets (callers hold merge_lock)
        remove_stale_temps(repo, (options.output_dir, PROFILES_DIR))
    state = load_state(repo / options.state_file, options.state_file)
    # built before any worker starts, so each inherits it ready to scan; names are scanned too
    scanner = open_scanner(options.scanner_setup) if options.secrets != "off" else None
    discovered, quarantined = discover_contributions(repo, options.contributions_dir, scanner)
    if options.project is not None:
        if options.project not in discovered:
            known = ", ".join(sorted(discovered)) or "none"
            raise UsageError(
                f"no contributions for project {options.project!r} under "
                f"{options.contributions_dir}/ (projects found: {known})"
            )
        discovered = {options.project: discovered[options.project]}
        quarantined = [q for q in quarantined if q.project in (None, options.project)]

    for name in discovered:  # merged/<project> too: before its previous latest.json is read
        refuse_symlinks(repo, repo / options.output_dir / name / "latest.json")
    report = MergeReport(now_millis=0, dry_run=options.dry_run, quarantined=list(quarantined))
    projects: dict[str, ProjectRun] = {}
    for name, files in sorted(discovered.items()):
        project_state = state.projects.get(name) or ProjectState(cap=options.cap)
        new = [f for f in files if f.rel_path not in project_state.processed_files]
        projects[name] = ProjectRun(name=name, files=new, state=project_state)

    staged: list[StagedWrite] = []  # written beside their targets, renamed over them at the end
    with WorkerPool(options.workers, scanner=scanner) as pool, bulk_allocation():
        try:
            # every way out of a merge reports through here: reasons are scanned before anyone prints them
            return _scan_echoes(merge(options, state, projects, report, pool, scanner, staged, clock,
                                      trust_index=trust_index), scanner)
        except UntrustedIndex:
            if not trust_index:
                raise
        finally:
            for write in staged:  # whatever was not committed: the targets stay as they were
                write.discard()
    # an index lied about the file it describes: nothing was written; merge again, parsing
    return run_merge(options, trust_index=False)


def merge(options: MergeOptions, state: MergeState, projects: dict[str, ProjectRun], report: MergeReport,
          pool: WorkerPool, scanner: SecretScanner | None, staged: list[StagedWrite],
          clock: RunClock, *, trust_index: bool = True) -> MergeReport:
    """The phases of one run, in order; ``scanner`` is None when scanning is off; ``staged``
    collects the writes ``run_merge`` discards if a phase fails before they are committed."""
    repo, dry_run = options.repo, options.dry_run
    secret_rules = rules_fingerprint() if scanner is not None else ""
    _attach_retractions(options, state, projects, report, scanner)
    for project in projects.values():
        if project.files or (project.retractions is not None and project.retractions.pending):
            phases.load_previous(repo, options.output_dir, options.keep_tags, scanner, project, report,
                                 trust_index=trust_index)
    # access counts are read whatever the strategy: latest.json carries the team's count
    phases.ingest_new_files(projects, report, pool, max_file_bytes=options.max_file_bytes,
                            keep_tags=options.keep_tags, with_access=True, clock=clock)
    now_millis, repaired = phases.resolve_now(clock, projects, state)
    report.now_millis = now_millis
    if repaired:
        report.warnings.append(repaired)
    if options.secrets == "fail" and report.secret_findings:
        return _refuse_secrets(report)
    maintainers = retractions.read_maintainers(repo)
    for project in projects.values():
        if project.retractions is not None or project.previous_secret_hits:
            project.retractions = project.retractions or retractions.ProjectRetractions()
            retractions.judge(project.retractions, project.table, project.previous_secret_hits,
                              maintainers=maintainers, now_millis=now_millis, project=project.name, report=report,
                              scanner=scanner)
            retractions.stage_retracted(repo, options.output_dir, project.name, project.retractions, dry_run,
                                        staged, report)
    report.quarantined.sort(key=lambda q: q.file)

    plans = phases.plan_projects(projects, options.contributions_dir, options.cap,
                                 options.weights or STRATEGY_WEIGHTS[options.strategy], options.strategy, now_millis)
    outputs = phases.assemble(projects, plans, now_millis, pool, options.keep_tags, secret_rules)
    phases.stage_outputs(repo, options.output_dir, options.cap, dry_run, projects, plans, outputs, state,
                         now_millis, report, staged)
    if not dry_run:
        commit_staged(repo, staged, options.while_flushing)
    processed = [p for p in projects.values() if p.replanned]
    if options.profiles:  # only projects whose contributions (and so merged set) changed
        phases.generate_profiles(repo, processed, contributions_dir=options.contributions_dir,
                                 output_dir=options.output_dir, anonymize=options.anonymize, dry_run=dry_run,
                                 now_millis=now_millis, report=report, pool=pool, scanner=scanner)
    expired = phases.apply_retention(repo, options.contributions_dir, state, now_millis, options.retention_days,
                                     options.project, dry_run, report)
    if processed or expired or repaired:  # otherwise the state is not touched
        phases.save_state(repo, options.state_file, state, now_millis, dry_run, report)

    report.changed_paths.extend(report.retention_deleted)
    report.changed_paths.sort()
    if report.failures or (options.strict and report.quarantined):
        report.exit_code = 1
    return report


def _scan_echoes(report: MergeReport, scanner: SecretScanner | None) -> MergeReport:
    """Every reason and failure repeats something of its input (a field's value, a name, a
    path): each is scanned whole and its credentials redacted before anything prints it."""
    if scanner is not None:
        report.quarantined = [Quarantined(q.file, q.project, shown(q.reason, scanner)) for q in report.quarantined]
        report.failures = [shown(failure, scanner) for failure in report.failures]
    return report


def _attach_retractions(options: MergeOptions, state: MergeState, projects: dict[str, ProjectRun],
                        report: MergeReport, scanner: SecretScanner | None) -> None:
    """Hand each project its retraction input; a project with retractions but no contributions
    folder left still has its merged set revised."""
    for name, run in retractions.read_retraction_input(options.repo, options.output_dir, report, scanner).items():
        if options.project is not None and name != options.project:
            continue
        if name not in projects:
            projects[name] = ProjectRun(name=name, files=[],
                                        state=state.projects.get(name) or ProjectState(cap=options.cap))
        projects[name].retractions = run


def _refuse_secrets(report: MergeReport) -> MergeReport:
    """``--secrets fail`` with credentials found: nothing is merged or written."""
    report.failures.append(
        f"{len(report.secret_findings)} observation(s) carry credentials and --secrets fail "
        "is set: nothing was merged. Rotate the credentials, remove them from the "
        "contribution files, and run again"
    )
    report.exit_code = 1
    return report


def _check_options(options: MergeOptions) -> None:
    if options.cap < 0:
        raise UsageError(f"--cap must be 0 or more, got {options.cap}")
    if options.retention_days < 0:
        raise UsageError(f"--retention-days must be 0 (keep forever) or more, got {options.retention_days}")
    if options.strategy not in STRATEGY_WEIGHTS:
        raise UsageError(f"--strategy must be passive or hook, got {options.strategy!r}")
    if options.secrets not in SECRET_POLICIES:
        raise UsageError(f"--secrets must be quarantine, fail or off, got {options.secrets!r}")
    if options.max_file_bytes <= 0:
        raise UsageError("--max-file-size must be positive")
    if any(not tag.strip() for tag in options.keep_tags):
        # every text contains the empty string: an empty tag would keep everything forever
        raise UsageError("--keep-tag must not be empty; pass a tag such as '#keep', or omit the flag")
    for name, value in (("--contributions-dir", options.contributions_dir),
                        ("--output-dir", options.output_dir), ("--state-file", options.state_file)):
        if PurePosixPath(value).is_absolute() or ".." in PurePosixPath(value).parts:
            raise UsageError(f"{name} must be a path inside the repository, got {value!r}")
    if options.project is not None and not is_safe_name(options.project):
        raise UsageError(f"--project {options.project!r} is not a valid project name")
