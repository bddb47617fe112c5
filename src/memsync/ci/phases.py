"""The phases of ``ci-merge``, in the order ``merge_job.merge`` calls them.

Each phase reads or writes the shared repository (or forks the worker pool) around a pure
step of ``memsync.merge``; the working state of one project through a run is ``ProjectRun``.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import Any

from memsync.atomic import StagedWrite, current_bytes
from memsync.ci.clock import RunClock, future_export_reason, run_now
from memsync.ci.merged_index import (
    INDEX_NAME,
    MergedIndex,
    build_index,
    check_layout,
    covers,
    digest_of,
    digester,
    encode_index,
    file_digest,
    index_records,
    load_matching,
)
from memsync.ci.repo import (
    ContributionFile,
    ReadOutcome,
    WorkerPool,
    delete_files,
    map_nofollow,
    read_bytes_nofollow,
    read_contribution,
    read_observations,
    relative,
)
from memsync.ci.retention import expired_files
from memsync.ci.retractions import ProjectRetractions
from memsync.ci.staging import stage, write_error, write_now
from memsync.errors import MemSyncError, QuarantineReason
from memsync.merge import access as team_access
from memsync.merge.assemble import PreviousFile, lay_out_project, survivors_of
from memsync.merge.dedup import CandidateTable
from memsync.merge.ingest import FileRecords, SecretHit, ingest_merged
from memsync.merge.plan import MergeSettings, ProjectPlan, plan_project
from memsync.merge.report import TITLE_CHARS, MergeReport, ProjectReport, Quarantined
from memsync.merge.scoring import Weights
from memsync.model import (
    CompositeKey,
    MergeState,
    Observation,
    ProcessedFile,
    ProjectState,
    composite_key,
    document_chunks,
    dump_state,
)
from memsync.safety.secrets import SecretScanner, rules_fingerprint
from memsync.text import shorten

REPORT_TITLE_LIMIT = 50


@dataclass
class ProjectRun:
    """Working state of one project during a run."""

    name: str
    files: list[ContributionFile]
    state: ProjectState
    table: CandidateTable = field(default_factory=CandidateTable)
    previous_rows: int = 0  # the table's first rows: the previous merged set
    previous: PreviousFile | None = None  # the previous latest.json, when there is one
    previous_export_millis: int = 0
    previous_digest: str | None = None  # file_digest of the previous latest.json
    devs: set[str] = field(default_factory=set)
    folded: list[ReadOutcome] = field(default_factory=list)
    duplicates: list[ReadOutcome] = field(default_factory=list)
    report: ProjectReport | None = None
    retractions: ProjectRetractions | None = None
    previous_secret_hits: list[SecretHit] = field(default_factory=list)  # withheld from the previous set
    # each developer's latest access counts (merged/<project>/access-counts.json), and that file's bytes
    access: team_access.TeamAccess = field(default_factory=team_access.TeamAccess)
    access_bytes: bytes | None = None

    @property
    def processed(self) -> bool:
        """Whether this run read new files of the project (folded, or copies of known ones)."""
        return bool(self.folded or self.duplicates)

    @property
    def replanned(self) -> bool:
        """Whether the merged set is planned again: new files, or retractions that change it."""
        return self.processed or (self.retractions is not None and self.retractions.changes_merged_set)

    @property
    def excluded(self) -> frozenset[int]:
        return self.retractions.excluded if self.retractions is not None else frozenset()


@dataclass
class Output:
    pieces: list[Any]  # their concatenation is the new latest.json
    index: MergedIndex  # its digest is filled in once the file is written


# --- load previous ------------------------------------------------------------------------------


def load_previous(repo: Path, output_dir: str, keep_tags: tuple[str, ...], scanner: SecretScanner | None,
                  project: ProjectRun, report: MergeReport, *, trust_index: bool = True) -> None:
    """The previous latest.json is an input: its observations, contributors and keep flags.

    When the index written beside it answers for this run and the file is still the one it
    describes, the file is neither parsed nor rescanned: the index gives the records, and the
    observations' bytes are reused from a map of the file."""
    load_team_access(repo, output_dir, project, report)
    path = repo / output_dir / project.name / "latest.json"
    rel = relative(repo, path)
    secret_rules = rules_fingerprint() if scanner is not None else ""
    spans: tuple[list[int], list[int]] | None = None
    fields: list[tuple[Any, Any, Any]] = []
    try:
        loaded = load_matching(path) if trust_index else None
        if loaded is not None and covers(loaded[0], keep_tags=keep_tags, secret_rules=secret_rules):
            index, raw = loaded
            records = index_records(index)
            spans = (index.starts, index.head_ends)
            project.previous_digest = index.digest
        else:
            raw = read_bytes_nofollow(str(path))
            records = ingest_merged(raw, project=project.name, keep_tags=keep_tags,
                                    scanner=scanner)
            fields = records.merge_fields or []
            project.previous_digest = file_digest(raw)
    except (FileNotFoundError, NotADirectoryError):
        return  # no previous merge (a file where the folder goes fails at write, loudly)
    except OSError as error:
        problem = f"cannot be read ({error.strerror})"
    except QuarantineReason as error:
        problem = str(error)
    else:
        for hit in records.secret_hits:
            report_secret(report, rel, project.name, hit)
        project.previous_secret_hits = list(records.secret_hits)
        project.table.add_previous(records)
        project.previous_rows = len(project.table)
        project.previous = PreviousFile(
            raw=raw, spans=spans, fields=fields,
            access=_by_position(records.access or [], records.indexes, records.observation_count))
        project.previous_export_millis = records.exported_at_millis
        contributors = records.contributors or []
        project.devs.update(chain.from_iterable(set(contributors)))
        return
    # Merging over an unreadable merged file would silently drop what it held.
    report.failures.append(
        f"{rel} {problem}; restore it from git history (git checkout -- {rel}) and run again"
    )
    project.files = []


def load_team_access(repo: Path, output_dir: str, project: ProjectRun, report: MergeReport) -> None:
    """Each developer's latest access counts, kept between runs beside latest.json. A damaged
    file is reported and started again: the developers' next exports bring their counts back."""
    path = repo / output_dir / project.name / team_access.ACCESS_COUNTS_NAME
    try:
        project.access_bytes = read_bytes_nofollow(str(path))
        project.access = team_access.decode(project.access_bytes, project.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as error:
        problem = f"cannot be read ({error.strerror})"
    except QuarantineReason as error:
        problem = str(error)
    else:
        return
    report.quarantined.append(Quarantined(relative(repo, path), project.name, (
        f"{problem}; it is written again from this run, and each developer's access counts come "
        "back with their next export")))


def _by_position(values: list[int], indexes: list[int] | None, count: int) -> list[int]:
    """A column over the kept positions spread back over every position of the file."""
    if indexes is None:
        return values
    spread = [0] * count
    for index, value in zip(indexes, values, strict=True):
        spread[index] = value
    return spread


# --- ingest -------------------------------------------------------------------------------------


def ingest_new_files(projects: dict[str, ProjectRun], report: MergeReport, pool: WorkerPool, *,
                     max_file_bytes: int, keep_tags: tuple[str, ...], with_access: bool,
                     clock: RunClock) -> None:
    """Read, validate, scan (with the pool's scanner) and fold every new contribution file into
    its project's table, on the worker pool; refused files (and files exported after ``clock``)
    are quarantined, credentials withheld and reported, and a file whose bytes were already
    processed under another name is recorded, not merged."""
    jobs = [
        (file, max_file_bytes, keep_tags, with_access)
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
    pending: dict[str, list[team_access.FileCounts]] = defaultdict(list)
    deferred: dict[str, list[tuple[int, ContributionFile, int]]] = defaultdict(list)
    for outcome in pool.map_scanning(read_contribution, jobs, total_bytes=total):
        file = outcome.file
        project = projects[file.project]
        reason = outcome.reason
        if reason is None and outcome.records is not None:
            reason = future_export_reason(outcome.records.exported_at_millis, clock)
        if reason is not None:
            report.quarantined.append(Quarantined(file.rel_path, file.project, reason))
            continue
        assert outcome.records is not None and outcome.sha256 is not None
        for hit in outcome.records.secret_hits:
            report_secret(report, file.rel_path, file.project, hit)
        records = outcome.records
        # keep only the header: once folded, the table holds all the merge needs of the copies
        header = ReadOutcome(file, outcome.sha256,
                             FileRecords(records.exported_at_millis, records.observation_count), None)
        if outcome.sha256 in seen_hashes[file.project]:
            project.duplicates.append(header)  # a renamed or copied file: processed, not re-merged
            continue
        seen_hashes[file.project].add(outcome.sha256)
        project.table.add_file(records, dev=file.dev, rank=ranks[file.rel_path])
        _note_access(project, file, records, pending[file.project], deferred[file.project])
        project.devs.add(file.dev)
        project.folded.append(header)
    for project in projects.values():
        _fold_access(project, pending[project.name], deferred[project.name])
        project.folded.sort(key=lambda o: o.file.rel_path)
        project.duplicates.sort(key=lambda o: o.file.rel_path)
    report.quarantined.sort(key=lambda q: q.file)
    report.secret_findings.sort(key=lambda s: (s["file"], s["key"]["memory_session_id"],
                                               s["key"]["created_at_epoch"], s["key"]["title"]))


def _note_access(project: ProjectRun, file: ContributionFile, records: FileRecords,
                 pending: list[team_access.FileCounts], deferred: list[tuple[int, ContributionFile, int]]) -> None:
    """Keep what the team's access counts need of a folded file. Its keys are kept only when it
    carries counts or its developer has some: a file without counts matters only if its
    developer turns out to have counts, and then it is read again (rare: see _fold_access)."""
    counts = records.access if records.access is not None and any(records.access) else None
    if counts is not None or file.dev in project.access.by_dev:
        pending.append((records.exported_at_millis, file.dev, records.keys(), counts))
    else:
        deferred.append((records.exported_at_millis, file, records.observation_count))


def _fold_access(project: ProjectRun, pending: list[team_access.FileCounts],
                 deferred: list[tuple[int, ContributionFile, int]]) -> None:
    """Fold the run's files into each developer's latest counts, oldest first. A file without
    counts from a developer who has counts elsewhere in this run is read again for its keys:
    it may be that developer's newest export, which sets their counts to 0."""
    active = {dev for _, dev, _, counts in pending if counts is not None}
    for exported_at, file, count in deferred:
        if file.dev in active:
            observations = read_observations((file.abs_path, list(range(count))))
            pending.append((exported_at, file.dev, [composite_key(obs) for _, obs in observations], None))
    team_access.fold_in_order(project.access, pending)


def report_secret(report: MergeReport, file: str, project: str, hit: SecretHit) -> None:
    session, title, epoch = hit.key
    report.secret_findings.append({
        "file": file,
        "project": project,
        "rules": list(hit.rules),
        "fields": list(hit.fields),
        "key": {"memory_session_id": session, "title": shorten(title, TITLE_CHARS), "created_at_epoch": epoch},
    })


def resolve_now(clock: RunClock, projects: dict[str, ProjectRun], state: MergeState) -> tuple[int, str | None]:
    """One "now" per run (docs/merge-semantics.md): flag, SOURCE_DATE_EPOCH, else the newest
    input, never past the real clock (see ci/clock.py); and the warning of a repaired state."""
    newest = [
        o.records.exported_at_millis
        for p in projects.values() for o in (*p.folded, *p.duplicates) if o.records
    ]
    newest += [p.previous_export_millis for p in projects.values()]
    processed = (info.processed_at * 1000 for project in state.projects.values()
                 for info in project.processed_files.values())
    return run_now(clock, newest, state.last_merged_at * 1000, processed)


# --- plan ---------------------------------------------------------------------------------------


def plan_projects(projects: dict[str, ProjectRun], contributions_dir: str, cap: int, weights: Weights,
                  strategy: str, now_millis: int) -> dict[str, ProjectPlan]:
    """What each project's merged set becomes: survivors in order, scores, evictions. Only
    projects that read new files or take retractions are planned; the others stay exactly as they are."""
    settings = MergeSettings(cap=cap, weights=weights, strategy=strategy, now_millis=now_millis)
    plans: dict[str, ProjectPlan] = {}
    for project in projects.values():
        if project.replanned:
            project.devs |= _state_devs(project.state, contributions_dir)
            # the team's count: each developer's latest, not a sum over every copy ever exported
            project.table.access = project.access.team_counts(project.table.keys())
            plans[project.name] = plan_project(project.table, project.previous_rows, len(project.devs), settings,
                                               project.excluded)
    return plans


def _state_devs(project_state: ProjectState, contributions_dir: str) -> set[str]:
    """Developers known from processed files: they count in diffusion's denominator."""
    devs = set()
    for path in project_state.processed_files:
        parts = PurePosixPath(path).parts
        if len(parts) >= 2:
            devs.add(parts[-2])
    return devs


# --- assemble -----------------------------------------------------------------------------------


def assemble(projects: dict[str, ProjectRun], plans: dict[str, ProjectPlan], now_millis: int, pool: WorkerPool,
             keep_tags: tuple[str, ...], secret_rules: str) -> dict[str, Output]:
    """Each merged file's pieces and its index. Only the winning copies of new observations are
    read again (the table holds no bodies), on the worker pool; ``merge.assemble`` lays out the rest."""
    chosen = {name: survivors_of(projects[name].table, plan) for name, plan in plans.items()}
    wanted: dict[tuple[str, int], list[int]] = defaultdict(list)
    for name, survivors in chosen.items():
        for rank, index in survivors.new_copies():
            wanted[(name, rank)].append(index)
    job_keys = sorted(wanted)
    jobs = [(projects[name].files[rank].abs_path, sorted(wanted[(name, rank)]))
            for name, rank in job_keys]
    total = sum(projects[name].files[rank].size for name, rank in job_keys)
    fetched: dict[tuple[str, int, int], Observation] = {}
    for (name, rank), rows in zip(job_keys, pool.map(read_observations, jobs, total_bytes=total), strict=True):
        for index, obs in rows:
            fetched[(name, rank, index)] = obs

    outputs: dict[str, Output] = {}
    for name, plan in plans.items():
        project = projects[name]
        survivors = chosen[name]
        fresh = [fetched[(name, rank, index)] for rank, index in survivors.new_copies()]
        layout = lay_out_project(name, project.table, plan, survivors, project.previous, fresh, now_millis)
        index = build_index(
            # what the envelope says (whole seconds), as a parse of the file would give
            digest="", exported_at_millis=now_millis // 1000 * 1000, keep_tags=keep_tags, secret_rules=secret_rules,
            keys=plan.survivors, type_weights=layout.type_weights, kept=layout.kept, access=layout.access,
            contributors=layout.contributors, starts=layout.starts, head_ends=layout.head_ends)
        outputs[name] = Output(layout.pieces, index)
    return outputs


# --- stage --------------------------------------------------------------------------------------


def stage_outputs(repo: Path, output_dir: str, cap: int, dry_run: bool, projects: dict[str, ProjectRun],
                  plans: dict[str, ProjectPlan], outputs: dict[str, Output], state: MergeState,
                  now_millis: int, report: MergeReport, staged: list[StagedWrite]) -> None:
    """Stage every planned project's latest.json and index, record its new files as processed in
    ``state``, and report it; then every project's quarantine and secret counts."""
    for project in projects.values():
        if project.name not in plans:
            continue
        plan = plans[project.name]
        path = repo / output_dir / project.name / "latest.json"
        output = outputs.pop(project.name)
        # heads placed on the index's word are checked in the file written, before it is used
        verify = plan.survivors if project.previous is not None and project.previous.spans is not None else None
        changed, index_changed = _stage_output(repo, path, output, project, dry_run, staged, verify)
        counts_path = path.parent / team_access.ACCESS_COUNTS_NAME
        counts_changed = _stage_team_access(repo, counts_path, project, plan, dry_run, staged)
        for written, was_changed in ((path, changed), (path.parent / INDEX_NAME, index_changed),
                                     (counts_path, counts_changed)):
            if was_changed:
                report.changed_paths.append(relative(repo, written))
        _record_processed(project, now_millis, plan, cap, bool(plan.evicted))
        state.projects[project.name] = project.state
        project.report = _project_report(project, plan)
        project.report.changed = True
    _count_problems(projects, report)
    report.projects = [p.report for p in projects.values() if p.report is not None]


def _stage_output(repo: Path, path: Path, output: Output, project: ProjectRun, dry_run: bool,
                  staged: list[StagedWrite], verify: list[CompositeKey] | None = None) -> tuple[bool, bool]:
    """Write the new latest.json beside the old one, chunk by chunk (a thread writes, hashes and
    flushes while the next chunk is joined), then its index. Returns whether each changed;
    an unchanged file is dropped, and the index of an unchanged file stays unless it was not
    trusted. ``verify``: the keys the written file must hold (``check_layout``), else
    ``UntrustedIndex`` is raised and nothing is staged."""
    hasher = digester()
    writer = None if dry_run else stage(repo, path, hasher)
    try:
        for chunk in document_chunks(output.pieces):
            if writer is None:
                hasher.update(chunk)
            else:
                writer.write(chunk)
        if writer is not None:
            writer.drain()
        if verify is not None:
            # while the writer's thread has the disk sync the file, read it back from the page cache
            check_layout(b"".join(output.pieces) if writer is None else map_nofollow(writer.temp_path), verify)
    except BaseException as error:
        if writer is not None:
            writer.discard()  # also ends its thread, which would otherwise wait for chunks forever
        if isinstance(error, OSError):
            raise write_error(repo, path, error) from None
        raise
    digest = digest_of(hasher)
    changed = digest != project.previous_digest
    index_changed = changed or project.previous is None or project.previous.spans is None
    if writer is not None:
        if changed:
            staged.append(writer)
        else:
            writer.discard()
        if index_changed:  # renamed after its latest.json: a crash between leaves it stale, and known so
            output.index.digest = digest
            encoded = encode_index(output.index)
            staged.append(stage(repo, path.parent / INDEX_NAME))
            staged[-1].write(encoded)
    return changed, index_changed


def _stage_team_access(repo: Path, path: Path, project: ProjectRun, plan: ProjectPlan, dry_run: bool,
                       staged: list[StagedWrite]) -> bool:
    """Stage access-counts.json (the merged set's keys only) when its bytes change; a project
    nobody sent counts for gets no file."""
    kept = project.access.restricted_to(plan.survivors)
    if not kept and project.access_bytes is None:
        return False
    encoded = team_access.encode(kept, project.name)
    if encoded == project.access_bytes:
        return False
    if not dry_run:
        staged.append(stage(repo, path))
        staged[-1].write(encoded)
    return True


def _record_processed(project: ProjectRun, now_millis: int, plan: ProjectPlan, cap: int,
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


def _project_report(project: ProjectRun, plan: ProjectPlan) -> ProjectReport:
    previous = project.previous
    return ProjectReport(
        project=project.name,
        new_files=[o.file.rel_path for o in (*project.folded, *project.duplicates)],
        merged=len(plan.survivors),
        added=len(plan.added),
        evicted=len(plan.evicted),
        keep_protected=plan.keep_count,
        retracted=len(plan.retracted),
        retraction_notes=project.retractions.notes[:REPORT_TITLE_LIMIT] if project.retractions else [],
        added_keys=plan.added,
        evicted_keys=plan.evicted,
        added_titles=[shorten(key[1], TITLE_CHARS) for key in plan.added[:REPORT_TITLE_LIMIT]],
        evicted_titles=[shorten(key[1], TITLE_CHARS) for key in heapq.nsmallest(REPORT_TITLE_LIMIT, plan.evicted)],
        previous_from=None if previous is None else "index" if previous.spans else "parsed",
    )


def _count_problems(projects: dict[str, ProjectRun], report: MergeReport) -> None:
    """Per-project quarantine and secret counts; a project whose input was all refused still shows."""
    for project in projects.values():
        quarantined = sum(1 for q in report.quarantined if q.project == project.name)
        withheld = sum(1 for s in report.secret_findings if s["project"] == project.name)
        if project.report is None and (quarantined or withheld):
            project.report = ProjectReport(project.name, merged=project.state.total_observations)
        if project.report is not None:
            project.report.quarantined_files = quarantined
            project.report.secret_findings = withheld


# --- profiles, retention, state -----------------------------------------------------------------


def generate_profiles(repo: Path, projects: list[ProjectRun], *, contributions_dir: str, output_dir: str,
                      anonymize: bool, dry_run: bool, now_millis: int, report: MergeReport,
                      pool: WorkerPool, scanner: SecretScanner | None) -> None:
    """Regenerate the profiles of ``projects`` from what passed the gate (``scanner``, the
    pool's; None when scanning is off); a project whose profiles fail fails the run, the others
    go on."""
    if not projects:
        return
    from memsync.profiles.generate import generate_project_profiles

    for project in projects:
        try:
            run = generate_project_profiles(
                repo, project.name, now_millis=now_millis,
                contributions_dir=contributions_dir, merged_dir=output_dir,
                anonymize=anonymize, dry_run=dry_run, pool=pool, scanner=scanner)
        except MemSyncError as error:
            report.failures.append(f"profiles for {project.name}: {error}")
            continue
        report.profiles_written.extend(run.written)
        report.profiles_reused.extend(f"{project.name}/{dev}" for dev in run.reused)
        report.changed_paths.extend(run.written)


def apply_retention(repo: Path, contributions_dir: str, state: MergeState, now_millis: int, retention_days: int,
                    project: str | None, dry_run: bool, report: MergeReport) -> bool:
    """Delete processed files older than the retention period (dropping them from the state);
    returns whether any expired."""
    expired = expired_files(repo, contributions_dir, state, now_millis, retention_days, project)
    report.retention_deleted.extend(rel for rel, _ in expired)
    if not dry_run:
        delete_files(path for _, path in expired)
    return bool(expired)


def save_state(repo: Path, state_file: str, state: MergeState, now_millis: int, dry_run: bool,
               report: MergeReport) -> None:
    """Write ``.merge-state.json``, last of all, when its bytes changed."""
    state.last_merged_at = now_millis // 1000
    state_path = repo / state_file
    state_bytes = dump_state(state)
    if current_bytes(state_path) == state_bytes:
        return
    if not dry_run:
        write_now(repo, state_path, state_bytes)
    report.changed_paths.append(state_file)
