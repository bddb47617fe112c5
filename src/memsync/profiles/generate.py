"""The I/O edge of profiles: read a project's contributions and merged set, write its profiles.

Reads ``contributions/<project>/<dev>/*.json`` and ``merged/<project>/latest.json``; writes
``profiles/<project>/<dev>/profile.json|profile.md`` and ``profiles/<project>/team-overview.json``,
``team-concepts.json`` and ``README.md``, plus each developer's ``.summary.msgpack``
(``summary_store``: their files counted, so a later run re-reads only developers whose files
changed). A file whose bytes would not change is not rewritten, so an unchanged repository
gives no commit.

Contribution files the merge would quarantine (unreadable, invalid, wrong folder, a folder name
that carries a credential) are skipped here without a word: the merge report is where they are
reported. Observations the merge withholds for credentials are left out too (whatever field holds
the credential: a type, a concept or a file path would otherwise reach every page of the team).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from memsync.allocation import bulk_allocation
from memsync.atomic import current_bytes, write_all_if_changed
from memsync.ci.merged_index import load_matching
from memsync.ci.repo import WorkerPool, read_bytes_nofollow
from memsync.errors import MemSyncError, QuarantineReason, RepoError, UsageError
from memsync.merge.ingest import withheld_positions
from memsync.merge.retraction import (
    RETRACTED_NAME,
    RetractedKey,
    parse_retracted,
    retracted_digest,
    retracted_matcher,
)
from memsync.model import (
    TYPED_DECODE_ERRORS,
    check_envelope,
    check_observation,
    check_writable,
    decode_contribution_fields,
    dump_document,
    fields_match_path,
    to_millis,
)
from memsync.profiles import columns, metrics, summary_store
from memsync.safety.names import check_safe_name, is_safe_name
from memsync.safety.secrets import SecretScanner, rules_fingerprint
from memsync.safety.shown import credential_rules

FORMATS = ("json", "md")
# Same ceiling as the merge's default: a bigger file is quarantined there, so it is ignored here.
MAX_FILE_BYTES = 20 * 1024 * 1024
# A stored summary is ~60 bytes per observation; anything far bigger is not one of ours.
MAX_STORED_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ProfileRun:
    written: list[str]        # repo-relative posix paths whose bytes changed (dry-run: would change)
    devs: list[str]           # developers profiled
    skipped: list[str] = field(default_factory=list)  # outputs refused (a symlink in the way)
    reused: list[str] = field(default_factory=list)   # developers counted from their stored summary


@dataclass(frozen=True)
class ProjectInputs:
    """A project's readable contributions, per developer, and the keys of its merged set."""

    project: str
    dev_summaries: dict[str, metrics.DevSummary]  # sorted by dev; observations deduplicated per dev
    merged_keys: frozenset[Hashable]  # columns.key_digest of each merged observation
    newest_export_millis: int | None  # newest exportedAt of a contribution or of the merged set
    team: metrics.TeamStats
    stored: dict[str, bytes] = field(default_factory=dict)  # dev -> a summary_store file to (re)write
    reused: tuple[str, ...] = ()  # developers whose stored summary matched their files


@dataclass(frozen=True)
class _Loaded:
    """One developer's folder, counted: read by a worker, or taken from their stored summary."""

    newest_export_millis: int
    summary: metrics.DevSummary
    stored: bytes | None  # a new summary_store file, or None (the stored one matched, or none kept)
    reused: bool


# --- reading ------------------------------------------------------------------------------

def list_projects(repo: Path, contributions_dir: str = "contributions",
                  scanner: SecretScanner | None = None) -> list[str]:
    """Projects with a (safe, real) folder under the contributions directory, sorted (with
    ``scanner``: none whose name carries a credential)."""
    return [entry.name for entry in _safe_subdirs(repo / contributions_dir, scanner)]


def load_project(
    repo: Path, project: str, *, contributions_dir: str = "contributions", merged_dir: str = "merged",
    profiles_dir: str | None = "profiles", pool: WorkerPool | None = None, scanner: SecretScanner | None = None,
) -> ProjectInputs:
    """Read every developer's contributions, one developer per job on ``pool`` (one worker
    process per core for a big project when none is given). A developer whose stored summary
    (``summary_store``, under ``profiles_dir``; None: not kept) matches their files is not re-read.
    ``scanner`` withholds what the merge withholds; it must be ``pool``'s scanner (the workers
    use that one). None counts every observation, as ``ci-merge --secrets off`` merges them."""
    check_safe_name(project, "project")
    per_dev: dict[str, metrics.DevSummary] = {}
    stored: dict[str, bytes] = {}
    reused: list[str] = []
    tally = metrics.TeamTally()
    newest: int | None = None
    retracted = _retracted_keys(repo / merged_dir / project / RETRACTED_NAME)
    gate = rules_fingerprint() if scanner is not None else ""
    if retracted:  # a summary counted before a retraction is counted again
        gate += " retracted " + retracted_digest(retracted)
    jobs = [
        (dev_dir.path, project, dev_dir.name, _stored_summary_path(repo, profiles_dir, project, dev_dir.name), gate,
         retracted)
        for dev_dir in _safe_subdirs(repo / contributions_dir / project, scanner)
    ]
    # Checking a stored summary costs a few ms (hashing the files): done here, so only the
    # developers whose files changed go to the workers (none forked when few did).
    reusable = [_reuse_stored(job, scanner) for job in jobs]
    to_read = [job for job, found in zip(jobs, reusable, strict=True) if found is None]
    total = sum(_folder_bytes(job[0]) for job in to_read)
    with WorkerPool(None, scanner=scanner) if pool is None else contextlib.nullcontext(pool) as workers:
        # Results come back in job (= name) order, so the team totals grow while workers still read.
        read = workers.map_scanning(_load_developer, to_read, total_bytes=total)
        for job, found in zip(jobs, reusable, strict=True):
            dev = job[2]
            loaded = found if found is not None else next(read)
            if loaded is None:
                continue
            per_dev[dev] = loaded.summary
            tally.add(dev, loaded.summary)
            if loaded.stored is not None:
                stored[dev] = loaded.stored
            if loaded.reused:
                reused.append(dev)
            exported_at = loaded.newest_export_millis
            newest = exported_at if newest is None else max(newest, exported_at)
    merged_keys, merged_at = _read_merged(repo / merged_dir / project / "latest.json")
    # The merge stamps latest.json with its "now", so this default reproduces what CI wrote.
    stamps = [stamp for stamp in (newest, merged_at) if stamp is not None]
    return ProjectInputs(
        project=project,
        dev_summaries=per_dev,
        merged_keys=merged_keys,
        newest_export_millis=max(stamps) if stamps else None,
        team=tally.stats(),
        stored=stored,
        reused=tuple(reused),
    )


def _stored_relative(profiles_dir: str, project: str, dev: str) -> str:
    """Where a developer's stored summary lives, repo-relative."""
    return f"{profiles_dir}/{project}/{dev}/{summary_store.SUMMARY_NAME}"


def _stored_summary_path(repo: Path, profiles_dir: str | None, project: str, dev: str) -> str | None:
    if profiles_dir is None:
        return None
    relative = _stored_relative(profiles_dir, project, dev)
    return None if _crosses_symlink(repo, relative) else str(repo / relative)


# folder, project, dev, stored summary path, the gate (the secret rules observations are withheld
# by, "" when scanning is off, and the retracted set's digest): part of a stored summary's
# fingerprint, so a summary counted under other rules or retractions is counted again; and the
# retracted keys, which count for nobody
_DevJob = tuple[str, str, str, str | None, str, frozenset[RetractedKey]]


def _reuse_stored(job: _DevJob, scanner: SecretScanner | None) -> _Loaded | None:
    """The developer's stored summary, if it describes exactly their files now (and, being a
    committed file anyone may have forged, holds nothing the scanner finds)."""
    path, project, dev, stored_path, gate, _ = job
    stored = None if stored_path is None else _read_limited(stored_path, MAX_STORED_BYTES)
    if stored is None or (scanner is not None and scanner.may_contain_secret(stored)):
        return None
    fingerprint = summary_store.Fingerprint(project=project, dev=dev, max_file_bytes=MAX_FILE_BYTES, gate=gate)
    for file in _contribution_files(Path(path), scanner):
        fingerprint.add_file(file.name, _read_limited(file))
    found = summary_store.decode_summary(stored, fingerprint=fingerprint.digest())
    return None if found is None else _Loaded(found[0], found[1], None, reused=True)


def _load_developer(job: _DevJob, scanner: SecretScanner | None) -> _Loaded | None:
    """Worker: one developer's readable files, counted (see ``_Loaded``), or None when none is
    readable. Parsed file by file, so no narrative is kept; fingerprinted as read, so the new
    summary describes exactly what was counted."""
    path, project, dev, stored_path, gate, retracted = job
    fingerprint = summary_store.Fingerprint(project=project, dev=dev, max_file_bytes=MAX_FILE_BYTES, gate=gate)
    parsed: list[columns.ObservationColumns] = []
    newest: int | None = None
    for file in _contribution_files(Path(path), scanner):
        raw = _read_limited(file)
        fingerprint.add_file(file.name, raw)
        loaded = None if raw is None else _parse_contribution(raw, project=project, dev=dev, scanner=scanner,
                                                              retracted=retracted)
        if loaded is None:
            continue
        exported_at, rows = loaded
        parsed.append(rows)  # files are in stamp order: the newest export wins
        newest = exported_at if newest is None else max(newest, exported_at)
    if newest is None or not any(rows.tokens for rows in parsed):
        return None
    summary = columns.summarize_columns(columns.latest_rows(parsed))
    encoded = None
    if stored_path is not None:
        encoded = summary_store.encode_summary(summary, fingerprint=fingerprint.digest(), newest_export_millis=newest)
    return _Loaded(newest, summary, encoded, reused=False)


def _folder_bytes(path: str) -> int:
    return sum(file.stat().st_size for file in _contribution_files(Path(path)))


def _safe_subdirs(directory: Path, scanner: SecretScanner | None = None) -> Iterator[os.DirEntry[str]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        # Names come from whoever pushed to the shared repo: never follow a link, never escape,
        # never write a name that carries a credential into profiles/ (the merge quarantines it)
        if is_safe_name(entry.name) and entry.is_dir(follow_symlinks=False) \
                and not credential_rules(entry.name, scanner):
            yield entry


def _contribution_files(dev_dir: Path, scanner: SecretScanner | None = None) -> list[Path]:
    try:
        entries = sorted(os.scandir(dev_dir), key=lambda entry: entry.name)
    except OSError:
        return []
    return [
        Path(entry.path)
        for entry in entries
        if entry.name.endswith(".json")
        and not entry.name.startswith(".")
        and entry.is_file(follow_symlinks=False)
        and not credential_rules(entry.name, scanner)
    ]


def _read_limited(path: Path | str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The file's bytes, or None when it cannot be read or is over ``limit``."""
    try:
        return read_bytes_nofollow(str(path), limit)
    except (OSError, QuarantineReason):
        return None


def _parse_contribution(
    raw: bytes, *, project: str, dev: str, scanner: SecretScanner | None,
    retracted: frozenset[RetractedKey] = frozenset(),
) -> tuple[int, columns.ObservationColumns] | None:
    """(exportedAt in ms, the observations as columns) of a file the merge would accept, else None;
    with ``scanner``, without the observations the merge withholds for credentials; never the
    ``retracted`` keys."""
    try:
        doc = decode_contribution_fields(raw)
    except TYPED_DECODE_ERRORS:
        doc = None
    except MemSyncError:  # a value the merge cannot write back: it quarantines the file
        return None
    if doc is not None and fields_match_path(doc, project, dev):
        # Typed decoding validated every field in C; only the list fields remain to be read.
        exported_at = to_millis(doc.exportedAtEpoch)
        observations = doc.observations
        rows = columns.observation_columns(
            [obs.memory_session_id for obs in observations],
            [obs.title for obs in observations],
            [obs.created_at_epoch for obs in observations],
            [obs.type for obs in observations],
            [obs.concepts for obs in observations],
            [obs.files_read for obs in observations],
            [obs.files_modified for obs in observations],
        )
    else:
        # The decoder is stricter than the model's checks; they decide what the merge accepts.
        try:
            loose = orjson.loads(raw)
            exported_at = to_millis(check_envelope(loose, project=project, dev=dev).exported_at_epoch)
            for index, obs in enumerate(loose["observations"]):
                check_observation(obs, index)
            check_writable(raw)
        except (orjson.JSONDecodeError, MemSyncError):
            return None
        observations = loose["observations"]
        rows = columns.observation_columns(
            [obs["memory_session_id"] for obs in observations],
            [obs.get("title") for obs in observations],
            [obs["created_at_epoch"] for obs in observations],
            [obs["type"] for obs in observations],
            [obs.get("concepts") for obs in observations],
            [obs.get("files_read") for obs in observations],
            [obs.get("files_modified") for obs in observations],
        )
    if len(set(rows.tokens)) != len(rows.tokens):
        return None  # the merge quarantines a file that repeats a composite key
    withheld = withheld_positions(scanner, raw) if scanner is not None else set()
    if retracted:
        withheld |= retracted_positions(observations, retracted)
    if withheld:
        rows = rows.take([row for row in range(len(rows.tokens)) if row not in withheld])
    return exported_at, rows


def _retracted_keys(path: Path) -> frozenset[RetractedKey]:
    """The project's retracted keys; a missing or unreadable file retracts nothing here (the merge
    fails loudly on an unreadable one)."""
    try:
        return frozenset(parse_retracted(read_bytes_nofollow(str(path)), str(path)).entries)
    except (OSError, QuarantineReason):
        return frozenset()


def retracted_positions(observations: Sequence[object], retracted: frozenset[RetractedKey]) -> set[int]:
    """Positions of a file's observations (typed or plain dicts) whose key is retracted."""
    is_retracted = retracted_matcher(retracted)
    found = set()
    for position, obs in enumerate(observations):
        if isinstance(obs, dict):
            session, title, epoch = obs["memory_session_id"], obs.get("title"), obs["created_at_epoch"]
        else:
            session, title, epoch = obs.memory_session_id, obs.title, obs.created_at_epoch  # type: ignore[attr-defined]
        if is_retracted((session, title or "", to_millis(epoch))):
            found.add(position)
    return found


def _read_merged(path: Path) -> tuple[frozenset[Hashable], int | None]:
    """Keys of the merged set and its exportedAt (ms); a missing or broken file means nothing
    survived (yet). The merge's index gives them without parsing the file, while it matches."""
    loaded = load_matching(path)
    if loaded is not None:
        index = loaded[0]
        keys = columns.key_tokens(index.sessions(), index.titles, index.created)
        return frozenset(columns.digests(keys)), index.exported_at_millis
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return frozenset(), None
    if not isinstance(doc, dict):
        return frozenset(), None
    epoch = doc.get("exportedAtEpoch")
    exported_at = to_millis(epoch) if type(epoch) is int and epoch > 0 else None
    observations = doc.get("observations")
    if not isinstance(observations, list):
        return frozenset(), exported_at
    keys = set()
    for index, obs in enumerate(observations):
        try:
            check_observation(obs, index)
        except MemSyncError:
            continue
        keys.add(columns.key_digest(obs["memory_session_id"], obs.get("title"), to_millis(obs["created_at_epoch"])))
    return frozenset(keys), exported_at


# --- building -----------------------------------------------------------------------------

def build_outputs(
    inputs: ProjectInputs,
    *,
    now_millis: int,
    anonymize: bool = True,
    devs: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
    profiles_dir: str = "profiles",
) -> dict[str, bytes]:
    """Every output file of a project, repo-relative posix path -> bytes (pure but for jinja2)."""
    from memsync.profiles import render

    project = inputs.project
    team = inputs.team
    profiles = {
        dev: metrics.developer_profile(
            dev, project, summary, team, inputs.merged_keys,
            now_millis=now_millis, anonymize=anonymize,
        )
        for dev, summary in inputs.dev_summaries.items()
    }
    selected = sorted(profiles) if devs is None else sorted(set(devs))
    base = f"{profiles_dir}/{project}"
    outputs: dict[str, bytes] = {}
    for dev in selected:
        if "json" in formats:
            outputs[f"{base}/{dev}/profile.json"] = dump_document(profiles[dev])
        if "md" in formats:
            outputs[f"{base}/{dev}/profile.md"] = render.render_profile(profiles[dev]).encode("utf-8")
    if devs is None:
        # Team pages describe everyone, so they are (re)written only when everyone is profiled.
        overview = metrics.team_overview(
            project, list(profiles.values()), team,
            now_millis=now_millis, merged_count=len(inputs.merged_keys),
        )
        concepts = metrics.team_concepts(project, team, now_millis=now_millis, anonymize=anonymize)
        if "json" in formats:
            outputs[f"{base}/team-overview.json"] = dump_document(overview)
            outputs[f"{base}/team-concepts.json"] = dump_document(concepts)
        if "md" in formats:
            readme = render.render_team_readme(
                overview, concepts, devs=sorted(profiles), anonymize=anonymize, formats=formats
            )
            outputs[f"{base}/README.md"] = readme.encode("utf-8")
    return outputs


# --- writing ------------------------------------------------------------------------------

def generate_project_profiles(
    repo: Path,
    project: str,
    *,
    now_millis: int | None,
    contributions_dir: str = "contributions",
    merged_dir: str = "merged",
    profiles_dir: str = "profiles",
    anonymize: bool = True,
    devs: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
    dry_run: bool = False,
    pool: WorkerPool | None = None,
    scanner: SecretScanner | None = None,
) -> ProfileRun:
    """Regenerate one project's profiles; return the paths whose bytes changed.

    ``now_millis`` stamps ``generatedAt`` (seconds are accepted too); None takes the newest
    ``exportedAtEpoch`` among the project's readable contributions and its merged set (which the
    merge stamps with its own "now"), so regenerating an unchanged repository changes nothing.
    ``devs`` limits the profiles written (the team pages are then left alone); naming a
    developer without readable contributions is a usage error. ``scanner`` (``pool``'s, when
    both are given) leaves out what the merge withholds for credentials, and names that carry
    one; None counts everything (``ci-merge --secrets off``).
    """
    check_safe_name(project, "project")
    unknown_formats = sorted(set(formats) - set(FORMATS))
    if unknown_formats or not formats:
        raise UsageError(f"unknown profile format {unknown_formats or formats!r}; use json and/or md")
    with bulk_allocation():
        inputs = load_project(repo, project, contributions_dir=contributions_dir, merged_dir=merged_dir,
                              profiles_dir=profiles_dir, pool=pool, scanner=scanner)
    if devs is not None:
        for dev in devs:
            check_safe_name(dev, "developer")
        missing = sorted(set(devs) - set(inputs.dev_summaries))
        if missing:
            raise UsageError(
                f"no readable contributions for developer {missing[0]!r} in project {project!r} "
                f"(under {contributions_dir}/{project}/); check the name or export first"
            )
    if not inputs.dev_summaries:
        return ProfileRun(written=[], devs=[])
    if now_millis is None:
        now_millis = inputs.newest_export_millis or 0
    outputs = build_outputs(
        inputs,
        now_millis=to_millis(now_millis) if now_millis > 0 else 0,
        anonymize=anonymize,
        devs=devs,
        formats=formats,
        profiles_dir=profiles_dir,
    )
    for dev in sorted(inputs.stored) if devs is None else sorted(set(devs) & set(inputs.stored)):
        outputs[_stored_relative(profiles_dir, project, dev)] = inputs.stored[dev]
    links: dict[str, bool] = {}  # ~300 outputs share ~100 folders: each path looked at once
    skipped = sorted(relative for relative in outputs if _crosses_symlink(repo, relative, links))
    pending = [(relative, data) for relative, data in sorted(outputs.items()) if relative not in skipped]
    if dry_run:
        written = [relative for relative, data in pending if current_bytes(repo / relative) != data]
    else:
        written = _write_all(repo, pending)
    profiled = sorted(inputs.dev_summaries) if devs is None else sorted(set(devs))
    reused = [dev for dev in inputs.reused if dev in profiled]
    return ProfileRun(written=written, devs=profiled, skipped=skipped, reused=reused)


def _write_all(repo: Path, pending: list[tuple[str, bytes]]) -> list[str]:
    """Write (if changed) every output; return the paths written, in the order given. A project
    of 100 developers writes ~200 files: their fsyncs overlap (see ``write_all_if_changed``)."""
    try:
        changed = write_all_if_changed([(repo / relative, data) for relative, data in pending])
    except OSError as error:
        raise RepoError(
            f"cannot write {_shown(repo, error.filename)} ({error.strerror}); check the permissions of that "
            "path (or remove what is in the way) and run again"
        ) from None
    return [relative for (relative, _), did in zip(pending, changed, strict=True) if did]


def _shown(repo: Path, filename: object) -> str:
    """An OSError's path, relative to the repository when inside it."""
    if not isinstance(filename, str):
        return "the profiles"
    try:
        return Path(filename).relative_to(repo).as_posix()
    except ValueError:
        return filename


def _crosses_symlink(repo: Path, relative: str, seen: dict[str, bool] | None = None) -> bool:
    # A link committed at profiles/<project>/<dev> could point anywhere; never write through one.
    seen = {} if seen is None else seen
    prefix = str(repo)
    for part in relative.split("/"):
        prefix = os.path.join(prefix, part)
        is_link = seen.get(prefix)
        if is_link is None:
            is_link = seen[prefix] = os.path.islink(prefix)
        if is_link:
            return True
    return False
