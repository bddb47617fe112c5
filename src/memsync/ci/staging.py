"""Writes of the merge job: staged beside their targets, renamed over them together at the end.

A staged file is complete and flushed before anything is renamed, so a failure leaves every
target as it was; an error names the file and says the state was not updated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from memsync.atomic import StagedWrite, atomic_write_bytes
from memsync.ci.repo import relative
from memsync.errors import RepoError


def refuse_symlinks(repo: Path, path: Path) -> None:
    """Raise ``RepoError`` when a folder between ``repo`` and ``path`` is a symlink: a committed
    link (merged/ -> /etc) would carry our writes out of the repository, as inputs never do."""
    current = repo
    for part in path.relative_to(repo).parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise RepoError(
                f"{relative(repo, current)} is a symlink; mem-sync never writes through symlinks (one could "
                "point out of the repository): replace it with a real folder and run again"
            )


def stage(repo: Path, path: Path, hasher: Any = None) -> StagedWrite:
    refuse_symlinks(repo, path)
    try:
        return StagedWrite(path, hasher)
    except OSError as error:
        raise write_error(repo, path, error) from None


def commit_staged(repo: Path, staged: list[StagedWrite], while_flushing: Callable[[], object] | None) -> None:
    """Rename every staged file over its target, in staging order, once it is on disk."""
    if while_flushing is not None and staged:
        while_flushing()
    while staged:
        write = staged.pop(0)
        try:
            write.commit()
        except OSError as error:
            raise write_error(repo, write.path, error) from None


def write_now(repo: Path, path: Path, data: bytes) -> None:
    refuse_symlinks(repo, path)
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        raise write_error(repo, path, error) from None


def write_error(repo: Path, path: Path, error: OSError) -> RepoError:
    return RepoError(
        f"cannot write {relative(repo, path)} ({error.strerror}); the state was not updated, "
        "so fix the path or permissions and run again"
    )

