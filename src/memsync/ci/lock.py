"""One ci-merge at a time on a checkout.

Two runs on one checkout would read the same state and write the same files; nothing was
lost in trials, but nothing prevented it either. The lock is ``flock`` on the repository
folder itself: no lock file to commit, ignore or leave behind, and the kernel releases it when
its holder exits, even under ``kill -9``, so a crashed run never blocks the next one.

A second run waits rather than fails: it then starts from the first run's result and merges
whatever is still new, so overlapping triggers (a schedule and a push, two manual runs) need
no retry and do not show up as failures. A stuck first run is ended by the CI job's timeout.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from memsync.errors import RepoError


@contextlib.contextmanager
def merge_lock(repo: Path, waiting: Callable[[str], object]) -> Iterator[None]:
    """Hold the checkout's merge lock for the block; ``waiting`` gets one line if it must wait."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; a CI merge runs on Linux or macOS
        yield
        return
    try:
        fd = os.open(repo, os.O_RDONLY)
    except FileNotFoundError:
        raise RepoError(f"repository folder {repo} does not exist; pass --repo DIR") from None
    except OSError as error:
        raise RepoError(f"cannot open the repository folder {repo} ({error.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting(f"mem-sync: another mem-sync ci-merge is running on this checkout ({repo}); "
                    "waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
