"""The shared repository on disk: find contribution files, read them (in parallel), state I/O.

Nothing here decides anything about merging; it turns directories and bytes into the
plain data ``memsync.merge`` works on, and never follows a symlink.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from memsync.errors import MemSyncError, QuarantineReason, RepoError
from memsync.merge.assemble import locate_observations
from memsync.merge.ingest import FileRecords, ingest_contribution
from memsync.merge.report import Quarantined
from memsync.model import MergeState, parse_state
from memsync.safety.names import check_safe_name
from memsync.safety.shown import credential_rules, shown_path

if TYPE_CHECKING:
    from memsync.safety.secrets import SecretScanner

T = TypeVar("T")
R = TypeVar("R")

# Below this many bytes of new input, forking workers costs more than it saves.
PARALLEL_THRESHOLD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ContributionFile:
    project: str
    dev: str
    rel_path: str  # posix, relative to the repository root: the key in .merge-state.json
    abs_path: str
    size: int


@dataclass(frozen=True)
class ReadOutcome:
    file: ContributionFile
    sha256: str | None
    records: FileRecords | None
    reason: str | None  # set when the file is quarantined


def relative(repo: Path, path: Path) -> str:
    try:
        return path.relative_to(repo).as_posix()
    except ValueError:
        return path.as_posix()


def discover_contributions(
    repo: Path, contributions_dir: str, scanner: SecretScanner | None = None
) -> tuple[dict[str, list[ContributionFile]], list[Quarantined]]:
    """All ``<project>/<dev>/*.json`` files, sorted; unsafe names, names that carry a credential
    (found by ``scanner``, when given) and symlinks are quarantined."""
    root = repo / contributions_dir
    projects: dict[str, list[ContributionFile]] = {}
    quarantined: list[Quarantined] = []
    try:
        root_stat = os.lstat(root)
    except FileNotFoundError:
        return projects, quarantined
    if stat.S_ISLNK(root_stat.st_mode) or not stat.S_ISDIR(root_stat.st_mode):
        raise RepoError(f"{relative(repo, root)} must be a real directory (symlinks are never followed)")
    for project_entry in _entries(root):
        project = project_entry.name
        where = shown_path(relative(repo, Path(project_entry.path)), scanner)
        if not _is_directory(project_entry, where, None, quarantined):
            continue
        try:
            _check_name(project, "project", scanner)
        except QuarantineReason as error:
            quarantined.append(Quarantined(printable_path(where), None, str(error)))
            continue
        files = projects.setdefault(project, [])
        for dev_entry in _entries(Path(project_entry.path)):
            dev_where = shown_path(relative(repo, Path(dev_entry.path)), scanner)
            if not _is_directory(dev_entry, dev_where, project, quarantined):
                continue
            try:
                _check_name(dev_entry.name, "developer", scanner)
            except QuarantineReason as error:
                quarantined.append(Quarantined(printable_path(dev_where), project, str(error)))
                continue
            for file_entry in _entries(Path(dev_entry.path)):
                file_where = shown_path(relative(repo, Path(file_entry.path)), scanner)
                if file_entry.name.startswith(".") or not file_entry.name.endswith(".json"):
                    continue  # .gitkeep, notes: not contributions
                problem = file_name_problem(file_entry.name)
                if problem is not None:
                    quarantined.append(Quarantined(printable_path(file_where), project, problem))
                    continue
                rules = credential_rules(file_entry.name, scanner)
                if rules:
                    quarantined.append(Quarantined(file_where, project, _credential_reason("file", rules)))
                    continue
                if file_entry.is_symlink():
                    quarantined.append(Quarantined(
                        file_where, project,
                        "is a symlink; mem-sync never follows symlinks: commit the file itself"))
                    continue
                if not file_entry.is_file(follow_symlinks=False):
                    quarantined.append(Quarantined(
                        file_where, project, "is not a regular file; remove it"))
                    continue
                files.append(ContributionFile(
                    project=project,
                    dev=dev_entry.name,
                    rel_path=file_where,
                    abs_path=file_entry.path,
                    size=file_entry.stat(follow_symlinks=False).st_size,
                ))
    return projects, quarantined


def file_name_problem(name: str) -> str | None:
    """Why a contribution's file name cannot be recorded or reported, if it cannot: the state and
    reports are UTF-8 JSON and one line per problem."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir gave undecodable bytes back as lone surrogates
        return "the file name is not valid UTF-8; rename it (git mv) to a UTF-8 name"
    if any(not character.isprintable() for character in name):
        return "the file name holds a control character or another unprintable one; rename it (git mv) to a plain name"
    return None


def printable_path(path: str) -> str:
    """``path`` as it can be printed on one line and stored in JSON: bytes that are not UTF-8
    become U+FFFD, other unprintable characters a visible escape."""
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _check_name(name: str, what: str, scanner: SecretScanner | None) -> None:
    """A folder name must be safe on disk and carry no credential: the name would be echoed in
    reports and written into paths under profiles/, so one that does is refused unprinted."""
    rules = credential_rules(name, scanner)
    if rules:
        raise QuarantineReason(_credential_reason(what, rules))
    check_safe_name(name, what)


def _credential_reason(what: str, rules: list[str]) -> str:
    return (f"the {what} name carries a credential ({', '.join(rules)}); it is shown here only as a "
            f"digest (printf %s NAME | sha256sum): rename it, and rotate the credential, which is "
            "in this repository's history")


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as listing:
        return sorted(listing, key=lambda entry: entry.name)


def _is_directory(entry: os.DirEntry[str], where: str, project: str | None,
                  quarantined: list[Quarantined]) -> bool:
    if entry.is_symlink():
        quarantined.append(Quarantined(
            where, project, "is a symlink; mem-sync never follows symlinks: replace it with a real folder"))
        return False
    # files beside project and developer folders (.gitkeep, README.md) are not contributions
    return entry.is_dir(follow_symlinks=False)


def read_bytes_nofollow(path: str, max_bytes: int | None = None) -> bytes:
    """Read a file refusing symlinks at open time (no check-then-open race)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        if max_bytes is not None:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise QuarantineReason(
                    f"the file is {_megabytes(size)}, over the {_megabytes(max_bytes)} limit; "
                    "split the export or raise --max-file-size"
                )
        return handle.read()


def map_nofollow(path: str) -> mmap.mmap | bytes:
    """A read-only map of a file, refusing symlinks like ``read_bytes_nofollow``: a large file
    is then read straight from the page cache, and only where it is used."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        if os.fstat(fd).st_size == 0:
            return b""  # an empty file cannot be mapped
        try:
            return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # a filesystem that cannot map files: read it instead
            with os.fdopen(os.dup(fd), "rb") as handle:
                return handle.read()
    finally:
        os.close(fd)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def read_contribution(job: tuple[ContributionFile, int, tuple[str, ...], bool],
                      scanner: SecretScanner | None) -> ReadOutcome:
    """Worker: read, hash, scan (with ``scanner``, when given) and ingest one file. Top-level so
    a process pool can pickle it."""
    file, max_bytes, keep_tags, with_access = job
    try:
        raw = read_bytes_nofollow(file.abs_path, max_bytes)
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        records = ingest_contribution(raw, project=file.project, dev=file.dev, keep_tags=keep_tags,
                                      scanner=scanner, with_access=with_access)
    except QuarantineReason as error:
        return ReadOutcome(file, None, None, str(error))
    except OSError as error:
        return ReadOutcome(file, None, None, f"cannot be read ({error.strerror})")
    return ReadOutcome(file, digest, records, None)


def read_observations(job: tuple[str, list[int]]) -> list[tuple[int, dict[str, Any]]]:
    """Worker: the observations at ``indices`` of a file that already passed ingestion."""
    path, indices = job
    observations = locate_observations(read_bytes_nofollow(path))
    return [(index, orjson.loads(memoryview(observations[index]))) for index in indices]


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


class WorkerPool:
    """Worker processes shared by a whole run, forked before the merge grows its tables.

    Forking later would hand each child a copy-on-write view of a large parent, which
    the kernel counts in every child's resident memory. Small inputs never fork.
    ``scanner`` is handed to each worker once, when it starts (``map_scanning``).
    """

    def __init__(self, workers: int | None, *, scanner: SecretScanner | None = None) -> None:
        self._requested = workers
        # more processes than cores only share them (and each costs a fork and its memory)
        cores = usable_cores()
        self._count = min(workers, cores) if workers is not None else cores
        self._scanner = scanner
        self._pool: Any = None  # a ProcessPoolExecutor once needed

    def map(self, func: Callable[[T], R], jobs: list[T], *, total_bytes: int) -> Iterator[R]:
        """``map`` over the pool when the input is big enough to pay for it, else in-process."""
        if self._in_process(jobs, total_bytes):
            return map(func, jobs)
        return self._executor(len(jobs)).map(func, jobs)

    def map_scanning(self, func: Callable[[T, SecretScanner | None], R], jobs: list[T], *,
                     total_bytes: int) -> Iterator[R]:
        """``map`` of ``func(job, scanner)``, with the pool's scanner in whichever process runs it."""
        if self._in_process(jobs, total_bytes):
            return map(func, jobs, repeat(self._scanner))
        return self._executor(len(jobs)).map(_with_worker_scanner, repeat(func), jobs)

    def _in_process(self, jobs: list[Any], total_bytes: int) -> bool:
        small = self._requested is None and total_bytes < PARALLEL_THRESHOLD_BYTES  # explicit counts obeyed
        return self._count <= 1 or len(jobs) <= 1 or small

    def _executor(self, jobs: int) -> Any:
        if self._pool is None:
            # imported here: a merge small enough to run in-process never pays for them
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            # forked workers inherit the scanner as it is (a spawned one unpickles it once); the
            # first work is the largest (every new file): more processes than its jobs would idle
            self._pool = ProcessPoolExecutor(max_workers=min(self._count, jobs), mp_context=context,
                                             initializer=_adopt_scanner, initargs=(self._scanner,))
        return self._pool

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


# The scanner of a worker process, set once by the pool's initializer as the worker starts.
_worker_scanner: SecretScanner | None = None


def _adopt_scanner(scanner: SecretScanner | None) -> None:
    global _worker_scanner
    _worker_scanner = scanner


def _with_worker_scanner(func: Callable[[T, SecretScanner | None], R], job: T) -> R:
    return func(job, _worker_scanner)


def load_state(path: Path, source: str) -> MergeState:
    try:
        data = read_bytes_nofollow(str(path))
    except FileNotFoundError:
        return MergeState()
    except (OSError, QuarantineReason) as error:
        raise RepoError(f"cannot read {source}: {error}") from None
    return parse_state(data, source)


def delete_files(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise MemSyncError(f"cannot delete {path}: {error.strerror}") from None
