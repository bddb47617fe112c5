"""``ci-merge`` end to end: discover -> read (parallel) -> plan -> write merged -> profiles -> state.

The order of writes is the safety story: merged files first, profiles, retention deletions,
and the state last, each atomic. A crash anywhere leaves input unmarked, so the next run
merges it again and, the merge being idempotent, lands on the same bytes.
"""

from __future__ import annotations

import heapq
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import ne, not_
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from memsync import __version__
from memsync.allocation import bulk_allocation
from memsync.atomic import StagedWrite, atomic_write_bytes, current_bytes
from memsync.errors import MemSyncError, QuarantineReason, RepoError, UsageError
from memsync.merge.dedup import PREVIOUS_RANK, CandidateTable
from memsync.merge.ingest import FileRecords, SecretHit, access_count, ingest_merged
from memsync.merge.plan import MergeSettings, ProjectPlan, plan_project
from memsync.merge.scoring import STRATEGY_WEIGHTS, Weights
from memsync.ci.merged_index import (
    INDEX_NAME,
    MergedIndex,
    build_index,
    covers,
    digest_of,
    digester,
    encode_index,
    file_digest,
    index_records,
    load_matching,
)
from memsync.model import (
    MERGE_EXPORTER,
    CompositeKey,
    MergeState,
    Observation,
    ProcessedFile,
    ProjectState,
    build_envelope,
    document_chunks,
    document_frame,
    dump_state,
    iso_from_millis,
    lay_out_document,
    merge_tail_parts,
    merged_head,
    observation_head,
    to_millis,
)
from memsync.ci.repo import (
    ContributionFile,
    Quarantined,
    ReadOutcome,
    WorkerPool,
    delete_files,
    discover_contributions,
    load_state,
    locate_observations,
    read_bytes_nofollow,
    read_contribution,
    read_observations,
)
from memsync.safety.names import is_safe_name

MERGE_FIELDS = ("score", "keep", "contributors")  # our additive per-observation fields
SECRET_POLICIES = ("quarantine", "fail", "off")
REPORT_TITLE_LIMIT = 50
TITLE_CHARS = 80
SECONDS_PER_DAY = 86_400


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
    # work of the caller's that may run while merged files flush to disk (loading a template)
    while_flushing: Callable[[], object] | None = None


@dataclass
class ProjectReport:
    project: str
    new_files: list[str] = field(default_factory=list)
    merged: int = 0
    added: int = 0
    evicted: int = 0
    keep_protected: int = 0
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
    exit_code: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.changed_paths)

    def to_dict(self) -> dict[str, Any]:
        totals = {
            "newFiles": sum(len(p.new_files) for p in self.projects),
            "merged": sum(p.merged for p in self.projects),
            "added": sum(p.added for p in self.projects),
            "evicted": sum(p.evicted for p in self.projects),
            "keepProtected": sum(p.keep_protected for p in self.projects),
            "quarantinedFiles": len(self.quarantined),
            "secretFindings": len(self.secret_findings),
        }
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
            "totals": totals,
            "exitCode": self.exit_code,
        }


@dataclass
class _Project:
    """Working state of one project during a run."""

    name: str
    files: list[ContributionFile]
    state: ProjectState
    table: CandidateTable = field(default_factory=CandidateTable)
    previous_rows: int = 0  # the table's first rows: the previous merged set
    previous_raw: Any = None  # the previous latest.json: bytes, or a map of the file
    # by position in the previous latest.json: its stored (score, keep, contributors) when it
    # was parsed, or where each head lies when its index was trusted; and access counts
    previous_fields: list[tuple[Any, Any, Any]] = field(default_factory=list)
    previous_spans: tuple[list[int], list[int]] | None = None
    previous_access: list[int] = field(default_factory=list)
    previous_export_millis: int = 0
    previous_digest: str | None = None  # file_digest of the previous latest.json
    devs: set[str] = field(default_factory=set)
    folded: list[ReadOutcome] = field(default_factory=list)
    duplicates: list[ReadOutcome] = field(default_factory=list)
    report: ProjectReport | None = None


@dataclass
class _Output:
    pieces: list[Any]  # their concatenation is the new latest.json
    index: MergedIndex  # its digest is filled in once the file is written


def run_merge(options: MergeOptions) -> MergeReport:
    """Run one merge. Bad contributions are quarantined, never raised; bad flags raise UsageError."""
    _check_options(options)
    repo = options.repo
    if not repo.is_dir():
        raise RepoError(f"repository folder {repo} does not exist; pass --repo DIR")
    state = load_state(repo / options.state_file, options.state_file)
    discovered, quarantined = discover_contributions(repo, options.contributions_dir)
    if options.project is not None:
        if options.project not in discovered:
            known = ", ".join(sorted(discovered)) or "none"
            raise UsageError(
                f"no contributions for project {options.project!r} under "
                f"{options.contributions_dir}/ (projects found: {known})"
            )
        discovered = {options.project: discovered[options.project]}
        quarantined = [q for q in quarantined if q.project in (None, options.project)]

    report = MergeReport(now_millis=0, dry_run=options.dry_run, quarantined=list(quarantined))
    projects: dict[str, _Project] = {}
    for name, files in sorted(discovered.items()):
        project_state = state.projects.get(name) or ProjectState(cap=options.cap)
        new = [f for f in files if f.rel_path not in project_state.processed_files]
        projects[name] = _Project(name=name, files=new, state=project_state)

    staged: list[StagedWrite] = []  # written beside their targets, renamed over them at the end
    with WorkerPool(options.workers) as pool, bulk_allocation():
        try:
            return _merge(options, state, projects, report, pool, staged)
        finally:
            for write in staged:  # whatever was not committed: the targets stay as they were
                write.discard()


def _merge(options: MergeOptions, state: MergeState, projects: dict[str, _Project], report: MergeReport,
           pool: WorkerPool, staged: list[StagedWrite]) -> MergeReport:
    repo = options.repo
    weights = options.weights or STRATEGY_WEIGHTS[options.strategy]
    scan = options.secrets != "off"
    secret_rules = ""
    if scan:
        from memsync.safety import secrets

        secrets.may_contain_secret(b"")  # compile the rules once, here, before workers fork
        secret_rules = secrets.rules_fingerprint()
    for project in projects.values():
        if project.files:
            _load_previous(repo, options, project, report, secret_rules)
    _ingest_new_files(options, projects, report, scan, pool)

    now_millis = _resolve_now(options, projects, state)
    report.now_millis = now_millis
    settings = MergeSettings(cap=options.cap, weights=weights, strategy=options.strategy,
                             now_millis=now_millis)

    if options.secrets == "fail" and report.secret_findings:
        report.failures.append(
            f"{len(report.secret_findings)} observation(s) carry credentials and --secrets fail "
            "is set: nothing was merged. Rotate the credentials, remove them from the "
            "contribution files, and run again"
        )
        report.exit_code = 1
        return report

    plans: dict[str, ProjectPlan] = {}
    for project in projects.values():
        if project.folded or project.duplicates:
            project.devs |= _state_devs(project.state, options.contributions_dir)
            plans[project.name] = plan_project(project.table, project.previous_rows, len(project.devs), settings)
    outputs = _build_outputs(projects, plans, now_millis, pool, options.keep_tags, secret_rules)

    for project in projects.values():
        if project.name not in plans:
            continue
        plan = plans[project.name]
        path = repo / options.output_dir / project.name / "latest.json"
        output = outputs.pop(project.name)
        changed, index_changed = _stage_output(repo, path, output, project, options.dry_run, staged)
        for written, was_changed in ((path, changed), (path.parent / INDEX_NAME, index_changed)):
            if was_changed:
                report.changed_paths.append(_rel(repo, written))
        _record_processed(project, now_millis, plan, options.cap, bool(plan.evicted))
        state.projects[project.name] = project.state
        project.report = _project_report(project, plan)
        project.report.changed = True
    _count_problems(projects, report)
    report.projects = [p.report for p in projects.values() if p.report is not None]

    deletions = _retention(repo, options, state, now_millis, report)

    # the state changes only when files were processed or deleted; otherwise it is not touched
    processed = any(p.folded or p.duplicates for p in projects.values())
    state_path = repo / options.state_file
    state_bytes = b""
    state_changed = False
    if processed or deletions:
        state.last_merged_at = now_millis // 1000
        state_bytes = dump_state(state)
        state_changed = current_bytes(state_path) != state_bytes

    if not options.dry_run:
        _commit(repo, staged, options.while_flushing)
    if options.profiles:  # only projects whose contributions (and so merged set) changed
        changed = [p for p in projects.values() if p.folded or p.duplicates]
        _generate_profiles(repo, options, changed, now_millis, report, pool)
    if not options.dry_run:
        delete_files(deletions)
        if state_changed:
            _write(repo, state_path, state_bytes)
    if state_changed:
        report.changed_paths.append(options.state_file)
    report.changed_paths.extend(report.retention_deleted)
    report.changed_paths.sort()

    if options.strict and report.quarantined:
        report.exit_code = 1
    if report.failures:
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
    for name, value in (("--contributions-dir", options.contributions_dir),
                        ("--output-dir", options.output_dir), ("--state-file", options.state_file)):
        if PurePosixPath(value).is_absolute() or ".." in PurePosixPath(value).parts:
            raise UsageError(f"{name} must be a path inside the repository, got {value!r}")
    if options.project is not None and not is_safe_name(options.project):
        raise UsageError(f"--project {options.project!r} is not a valid project name")


def _load_previous(repo: Path, options: MergeOptions, project: _Project, report: MergeReport,
                   secret_rules: str) -> None:
    """The previous latest.json is an input: its observations, contributors and keep flags.

    When the index written beside it answers for this run and the file is still the one it
    describes, the file is neither parsed nor rescanned: the index gives the records, and the
    observations' bytes are reused from a map of the file."""
    path = repo / options.output_dir / project.name / "latest.json"
    rel = _rel(repo, path)
    try:
        loaded = load_matching(path)
        if loaded is not None and covers(loaded[0], keep_tags=options.keep_tags, secret_rules=secret_rules):
            index, raw = loaded
            records = index_records(index)
            project.previous_spans = (index.starts, index.head_ends)
            project.previous_digest = index.digest
        else:
            raw = read_bytes_nofollow(str(path))
            records = ingest_merged(raw, project=project.name, keep_tags=options.keep_tags,
                                    scan_secrets=bool(secret_rules))
            project.previous_fields = records.merge_fields or []
            project.previous_digest = file_digest(raw)
    except (FileNotFoundError, NotADirectoryError):
        return  # no previous merge (a file where the folder goes fails at write, loudly)
    except OSError as error:
        problem = f"cannot be read ({error.strerror})"
    except QuarantineReason as error:
        problem = str(error)
    else:
        for hit in records.secret_hits:
            _report_secret(report, rel, project.name, hit)
        project.table.add_previous(records)
        project.previous_rows = len(project.table)
        project.previous_raw = raw
        project.previous_access = _by_position(records.access or [], records.indexes, records.observation_count)
        project.previous_export_millis = records.exported_at_millis
        contributors = records.contributors or []
        project.devs.update(chain.from_iterable(set(contributors)))
        return
    # Merging over an unreadable merged file would silently drop what it held.
    report.failures.append(
        f"{rel} {problem}; restore it from git history (git checkout -- {rel}) and run again"
    )
    project.files = []


def _by_position(values: list[int], indexes: list[int] | None, count: int) -> list[int]:
    """A column over the kept positions spread back over every position of the file."""
    if indexes is None:
        return values
    spread = [0] * count
    for index, value in zip(indexes, values, strict=True):
        spread[index] = value
    return spread


def _ingest_new_files(options: MergeOptions, projects: dict[str, _Project], report: MergeReport,
                      scan: bool, pool: WorkerPool) -> None:
    with_access = options.strategy == "hook"
    jobs = [
        (file, options.max_file_bytes, options.keep_tags, scan, with_access)
        for project in projects.values()
        for file in project.files
    ]
    # biggest first keeps both workers busy to the end; the order of results does not matter
    # because folding copies is commutative (see merge/dedup.py)
    jobs.sort(key=lambda job: (-job[0].size, job[0].rel_path))
    ranks = {file.rel_path: rank for project in projects.values()
             for rank, file in enumerate(project.files)}
    seen_hashes = {name: {info.hash for info in project.state.processed_files.values()}
                   for name, project in projects.items()}
    total = sum(job[0].size for job in jobs)
    for outcome in pool.map(read_contribution, jobs, total_bytes=total):
        file = outcome.file
        project = projects[file.project]
        if outcome.reason is not None:
            report.quarantined.append(Quarantined(file.rel_path, file.project, outcome.reason))
            continue
        assert outcome.records is not None and outcome.sha256 is not None
        for hit in outcome.records.secret_hits:
            _report_secret(report, file.rel_path, file.project, hit)
        records = outcome.records
        # keep only the header: once folded, the table holds all the merge needs of the copies
        header = ReadOutcome(file, outcome.sha256,
                             FileRecords(records.exported_at_millis, records.observation_count), None)
        if outcome.sha256 in seen_hashes[file.project]:
            project.duplicates.append(header)  # a renamed or copied file: processed, not re-merged
            continue
        seen_hashes[file.project].add(outcome.sha256)
        project.table.add_file(records, dev=file.dev, rank=ranks[file.rel_path])
        project.devs.add(file.dev)
        project.folded.append(header)
    for project in projects.values():
        project.folded.sort(key=lambda o: o.file.rel_path)
        project.duplicates.sort(key=lambda o: o.file.rel_path)
    report.quarantined.sort(key=lambda q: q.file)
    report.secret_findings.sort(key=lambda s: (s["file"], s["key"]["memory_session_id"],
                                               s["key"]["created_at_epoch"], s["key"]["title"]))


def _report_secret(report: MergeReport, file: str, project: str, hit: SecretHit) -> None:
    session, title, epoch = hit.key
    report.secret_findings.append({
        "file": file,
        "project": project,
        "rules": list(hit.rules),
        "fields": list(hit.fields),
        "key": {"memory_session_id": session, "title": _truncate(title), "created_at_epoch": epoch},
    })


def _resolve_now(options: MergeOptions, projects: dict[str, _Project], state: MergeState) -> int:
    """One "now" per run (SPEC §4): flag, SOURCE_DATE_EPOCH, else the newest input."""
    if options.now is not None:
        return to_millis(options.now)
    source_date = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if source_date:
        if not source_date.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH must be an integer epoch, got {source_date!r}")
        return to_millis(int(source_date))
    newest = [
        o.records.exported_at_millis
        for p in projects.values() for o in (*p.folded, *p.duplicates) if o.records
    ]
    newest += [p.previous_export_millis for p in projects.values()]
    newest.append(state.last_merged_at * 1000)
    return max(newest)


def _state_devs(project_state: ProjectState, contributions_dir: str) -> set[str]:
    """Developers known from processed files: they count in diffusion's denominator."""
    devs = set()
    for path in project_state.processed_files:
        parts = PurePosixPath(path).parts
        if len(parts) >= 2:
            devs.add(parts[-2])
    return devs


def _build_outputs(projects: dict[str, _Project], plans: dict[str, ProjectPlan], now_millis: int,
                   pool: WorkerPool, keep_tags: tuple[str, ...], secret_rules: str) -> dict[str, _Output]:
    """Each merged file and its index. Only the winning copies of new observations are read
    again (the table holds no bodies); previous ones keep their bytes and get a new tail."""
    wanted: dict[tuple[str, int], list[int]] = defaultdict(list)
    columns: dict[str, tuple[list[int], list[int], list[bool]]] = {}  # survivors' rank, index, is new
    for name, plan in plans.items():
        table = projects[name].table
        ranks = list(map(table.rank.__getitem__, plan.survivor_rows))
        indexes = list(map(table.index.__getitem__, plan.survivor_rows))
        is_new = list(map(ne, ranks, repeat(PREVIOUS_RANK)))
        columns[name] = (ranks, indexes, is_new)
        for rank, index in compress(zip(ranks, indexes, strict=True), is_new):
            wanted[(name, rank)].append(index)
    job_keys = sorted(wanted)
    jobs = [(projects[name].files[rank].abs_path, sorted(wanted[(name, rank)]))
            for name, rank in job_keys]
    total = sum(projects[name].files[rank].size for name, rank in job_keys)
    fetched: dict[tuple[str, int, int], Observation] = {}
    for (name, rank), rows in zip(job_keys, pool.map(read_observations, jobs, total_bytes=total), strict=True):
        for index, obs in rows:
            fetched[(name, rank, index)] = obs

    outputs: dict[str, _Output] = {}
    for name, plan in plans.items():
        project = projects[name]
        table = project.table
        rows = plan.survivor_rows
        ranks, indexes, is_new = columns[name]
        positions = list(compress(indexes, map(not_, is_new)))
        fresh = [fetched[(name, rank, index)]
                 for rank, index in compress(zip(ranks, indexes, strict=True), is_new)]
        slots = list(compress(range(len(is_new)), is_new))
        heads = _interleave(_previous_heads(project, positions), list(map(_fresh_head, fresh)), slots)
        access = _interleave(list(map(project.previous_access.__getitem__, positions)),
                             [access_count(obs.get("access_count")) for obs in fresh], slots)
        contributors = table.contributors_of(rows)
        kept = list(map(table.keep.__contains__, rows))
        # a tail's keep flag and contributors repeat across the set: serialize each pair once
        tails = dict.fromkeys(zip(kept, contributors, strict=True))
        for pair in tails:
            tails[pair] = merge_tail_parts(*pair)
        frame = document_frame(build_envelope(project=name, exported_by=MERGE_EXPORTER, now_millis=now_millis,
                                              observations=[], package_version=__version__)
                               | {"observationCount": len(heads)})
        pieces, starts, head_ends = lay_out_document(
            frame, heads, plan.scores, list(map(tails.__getitem__, zip(kept, contributors, strict=True))))
        index = build_index(
            # what the envelope says (whole seconds), as a parse of the file would give
            digest="", exported_at_millis=now_millis // 1000 * 1000, keep_tags=keep_tags, secret_rules=secret_rules,
            keys=plan.survivors, type_weights=list(map(table.type_weight.__getitem__, rows)),
            kept=list(compress(range(len(kept)), kept)), access=access,
            contributors=contributors, starts=starts, head_ends=head_ends)
        outputs[name] = _Output(pieces, index)
    return outputs


def _interleave(previous: list[Any], new: list[Any], slots: list[int]) -> list[Any]:
    """``previous`` with ``new[j]`` placed at output position ``slots[j]`` (ascending): a run
    adds few observations to many, so whole slices of ``previous`` are copied at a time."""
    merged: list[Any] = []
    taken = 0
    for placed, (slot, item) in enumerate(zip(slots, new, strict=True)):
        merged += previous[taken:slot - placed]
        merged.append(item)
        taken = slot - placed
    merged += previous[taken:]
    return merged


def _fresh_head(obs: Observation) -> bytes:
    return observation_head({k: v for k, v in obs.items() if k not in MERGE_FIELDS})


def _previous_heads(project: _Project, positions: list[int]) -> list[Any]:
    """Heads of the previous latest.json's observations at ``positions``: views into its bytes
    when the index was trusted, else located by parsing (and re-serialized if need be)."""
    if not positions:
        return []
    assert project.previous_raw is not None
    if project.previous_spans is not None:
        view = memoryview(project.previous_raw)
        starts, ends = project.previous_spans
        return list(map(view.__getitem__, map(slice, map(starts.__getitem__, positions),
                                              map(ends.__getitem__, positions))))
    located = locate_observations(project.previous_raw)
    heads: list[Any] = []
    for index in positions:
        raw = bytes(located[index])
        head = merged_head(raw, project.previous_fields[index])
        heads.append(head if head is not None else _fresh_head(orjson.loads(raw)))
    return heads


def _record_processed(project: _Project, now_millis: int, plan: ProjectPlan, cap: int,
                      evicted: bool) -> None:
    now_seconds = now_millis // 1000
    for outcome in (*project.folded, *project.duplicates):
        assert outcome.sha256 is not None and outcome.records is not None
        project.state.processed_files[outcome.file.rel_path] = ProcessedFile(
            hash=outcome.sha256, processed_at=now_seconds,
            observations_count=outcome.records.observation_count)
    project.state.total_observations = len(plan.survivors)
    project.state.cap = cap
    if evicted:
        project.state.last_eviction_at = now_seconds


def _project_report(project: _Project, plan: ProjectPlan) -> ProjectReport:
    return ProjectReport(
        project=project.name,
        new_files=[o.file.rel_path for o in (*project.folded, *project.duplicates)],
        merged=len(plan.survivors),
        added=len(plan.added),
        evicted=len(plan.evicted),
        keep_protected=plan.keep_count,
        added_keys=plan.added,
        evicted_keys=plan.evicted,
        added_titles=[_truncate(key[1]) for key in plan.added[:REPORT_TITLE_LIMIT]],
        evicted_titles=[_truncate(key[1]) for key in heapq.nsmallest(REPORT_TITLE_LIMIT, plan.evicted)],
        previous_from=None if project.previous_raw is None else "index" if project.previous_spans else "parsed",
    )


def _count_problems(projects: dict[str, _Project], report: MergeReport) -> None:
    """Per-project quarantine and secret counts; a project whose input was all refused still shows."""
    for project in projects.values():
        quarantined = sum(1 for q in report.quarantined if q.project == project.name)
        withheld = sum(1 for s in report.secret_findings if s["project"] == project.name)
        if project.report is None and (quarantined or withheld):
            project.report = ProjectReport(project.name, merged=project.state.total_observations)
        if project.report is not None:
            project.report.quarantined_files = quarantined
            project.report.secret_findings = withheld


def _retention(repo: Path, options: MergeOptions, state: MergeState, now_millis: int,
               report: MergeReport) -> list[Path]:
    """Processed files older than the retention period, aged by the run's one "now"."""
    if options.retention_days == 0:
        return []
    cutoff = now_millis // 1000 - options.retention_days * SECONDS_PER_DAY
    deletions: list[Path] = []
    for name, project_state in sorted(state.projects.items()):
        if options.project is not None and name != options.project:
            continue
        for rel, info in sorted(project_state.processed_files.items()):
            if info.processed_at >= cutoff:
                continue
            path = _contribution_path(repo, options.contributions_dir, rel)
            if path is None:
                continue  # never delete anything the state names outside contributions/
            del project_state.processed_files[rel]
            deletions.append(path)
            report.retention_deleted.append(rel)
    return deletions


def _contribution_path(repo: Path, contributions_dir: str, rel: str) -> Path | None:
    parts = PurePosixPath(rel).parts
    base = PurePosixPath(contributions_dir).parts
    if len(parts) != len(base) + 3 or parts[: len(base)] != base:
        return None
    if not all(is_safe_name(part) for part in parts[len(base):]):
        return None
    current = repo
    for part in parts:
        current = current / part
        if current.is_symlink():
            return None
    return current


def _generate_profiles(repo: Path, options: MergeOptions, projects: list[_Project],
                       now_millis: int, report: MergeReport, pool: WorkerPool) -> None:
    if not projects:
        return
    from memsync.profiles.generate import generate_project_profiles

    for project in projects:
        try:
            run = generate_project_profiles(
                repo, project.name, now_millis=now_millis,
                contributions_dir=options.contributions_dir, merged_dir=options.output_dir,
                anonymize=options.anonymize, dry_run=options.dry_run, pool=pool)
        except MemSyncError as error:
            report.failures.append(f"profiles for {project.name}: {error}")
            continue
        report.profiles_written.extend(run.written)
        report.profiles_reused.extend(f"{project.name}/{dev}" for dev in run.reused)
        report.changed_paths.extend(run.written)


def _stage_output(repo: Path, path: Path, output: _Output, project: _Project, dry_run: bool,
                  staged: list[StagedWrite]) -> tuple[bool, bool]:
    """Write the new latest.json beside the old one, chunk by chunk (a thread writes, hashes and
    flushes while the next chunk is joined), then its index. Returns whether each changed;
    an unchanged file is dropped, and the index of an unchanged file stays unless it was not
    trusted."""
    hasher = digester()
    writer = None if dry_run else _stage(repo, path, hasher)
    try:
        for chunk in document_chunks(output.pieces):
            if writer is None:
                hasher.update(chunk)
            else:
                writer.write(chunk)
        if writer is not None:
            writer.drain()
    except BaseException as error:
        if writer is not None:
            writer.discard()  # also ends its thread, which would otherwise wait for chunks forever
        if isinstance(error, OSError):
            raise _write_error(repo, path, error) from None
        raise
    digest = digest_of(hasher)
    changed = digest != project.previous_digest
    index_changed = changed or project.previous_spans is None
    if writer is not None:
        if changed:
            staged.append(writer)
        else:
            writer.discard()
        if index_changed:  # renamed after its latest.json: a crash between leaves it stale, and known so
            output.index.digest = digest
            encoded = encode_index(output.index)
            staged.append(_stage(repo, path.parent / INDEX_NAME))
            staged[-1].write(encoded)
    return changed, index_changed


def _commit(repo: Path, staged: list[StagedWrite], while_flushing: Callable[[], object] | None) -> None:
    """Rename every staged file over its target, in staging order, once it is on disk."""
    if while_flushing is not None and staged:
        while_flushing()
    while staged:
        write = staged.pop(0)
        try:
            write.commit()
        except OSError as error:
            raise _write_error(repo, write.path, error) from None


def _stage(repo: Path, path: Path, hasher: Any = None) -> StagedWrite:
    try:
        return StagedWrite(path, hasher)
    except OSError as error:
        raise _write_error(repo, path, error) from None


def _write_error(repo: Path, path: Path, error: OSError) -> RepoError:
    return RepoError(
        f"cannot write {_rel(repo, path)} ({error.strerror}); the state was not updated, "
        "so fix the path or permissions and run again"
    )


def _write(repo: Path, path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        raise _write_error(repo, path, error) from None


def _rel(repo: Path, path: Path) -> str:
    return path.relative_to(repo).as_posix()


def _truncate(title: str) -> str:
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"
