"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

_FREE_LATER_BYTES = 8 * 1024 * 1024
_START_WRITEBACK_BYTES = 16 * 1024 * 1024


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, rename it over ``path``."""
    _write_batch([(path, data)])


class StagedWrite:
    """A file written beside its target by a thread, fed chunk by chunk and flushed to disk as
    it grows; ``commit`` renames it into place. A 100 MB merged file takes a fifth of a second
    to reach this machine's disk: written this way, that overlaps the building of the file.
    ``hasher`` (anything with ``update``) sees every chunk, on the same thread."""

    def __init__(self, path: Path, hasher: Any = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp_name = _temp_beside(path)
        self._hasher = hasher
        self._error: Exception | None = None  # met on the writing thread, raised on the caller's
        self._chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._finished = False
        self._written = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fd,))
        self._thread.start()

    def write(self, chunk: Any) -> None:
        self._chunks.put(chunk)

    @property
    def temp_path(self) -> str:
        """The file being written: after ``drain`` it holds every chunk (read it to check what
        is about to replace the target while the disk still syncs it)."""
        return self._tmp_name

    def drain(self) -> None:
        """Wait until every chunk is written (and seen by the hasher), not for the disk."""
        self._end_input()
        self._written.wait()
        if self._error is not None:
            raise self._error

    def finish(self) -> None:
        """Wait until every chunk is written and on disk; raises the first error met."""
        self.drain()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def commit(self, *, sync_folder: bool = True) -> None:
        """``finish``, then rename over the target. On failure the target is left as it was.
        ``sync_folder=False`` leaves fsyncing the folder (which makes the rename durable) to the
        caller, who may have many renames in it."""
        try:
            self.finish()
            os.chmod(self._tmp_name, 0o644)
            _replace(self._tmp_name, self.path)
        except BaseException:
            self._remove_temp()
            raise
        if sync_folder:
            _fsync_directory(self.path.parent)

    def discard(self) -> None:
        """Give up: the target is left as it was (the thread ends on its own)."""
        self._end_input()
        self._remove_temp()

    def _end_input(self) -> None:
        """Tell the thread no chunk follows (once)."""
        if not self._finished:
            self._finished = True
            self._chunks.put(None)

    def _run(self, fd: int) -> None:
        written = synced = 0
        try:
            while (chunk := self._chunks.get()) is not None:
                if self._error is not None:
                    continue  # keep draining, so that finish() returns
                try:
                    _write_fully(fd, chunk)
                    if self._hasher is not None:
                        self._hasher.update(chunk)
                    written += len(chunk)
                    if written - synced >= _START_WRITEBACK_BYTES:
                        _start_writeback(fd, synced, written - synced)
                        synced = written
                except Exception as error:  # noqa: BLE001 - an OSError, or a bug: the caller raises it
                    self._error = error
            self._written.set()
            if self._error is None:
                os.fsync(fd)
        except Exception as error:  # noqa: BLE001 - as above
            self._error = error
        finally:
            self._written.set()
            os.close(fd)

    def _remove_temp(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_name)


def _temp_beside(path: Path) -> tuple[int, str]:
    """An open temp file in ``path``'s folder, named after it (``.<name>.*.tmp``, which the
    scaffolded .gitignore ignores should a crash leave one behind)."""
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


# what _temp_beside names (mkstemp's eight random characters) and _replace's ".old" link
_OUR_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(?:\.old)?\Z")


def remove_stale_temps(root: Path, folders: tuple[str, ...]) -> list[Path]:
    """Delete the temp files our atomic writes leave when killed (a merged file's can be
    hundreds of MB) in ``root`` itself and under each of ``folders`` (symlinks not followed).
    Only run while no other writer of ours works there. Returns what was removed."""
    removed: list[Path] = []
    tops = [(root, False)] + [(root / folder, True) for folder in folders]
    for top, recursive in tops:
        if top.is_symlink():
            continue  # not ours to clean (and never followed out of the repository)
        walk = os.walk(top) if recursive else [(str(top), [], _names(top))]
        for folder, _, names in walk:
            for name in names:
                if _OUR_TEMP.match(name):
                    path = Path(folder) / name
                    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                        if path.is_file() and not path.is_symlink():
                            path.unlink()
                            removed.append(path)
    return removed


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _write_fully(fd: int, data: Any) -> None:
    view = memoryview(data)
    while view:  # os.write may write less than asked
        view = view[os.write(fd, view):]


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Let the disk start on what is written so far, without waiting for it. On Linux,
    POSIX_FADV_DONTNEED starts writeback of dirty pages and drops only clean ones, which
    these are not yet, so the file stays cached; elsewhere the final fsync does it all."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _replace(source: str, target: Path) -> None:
    """``os.replace``, with a large old target freed on a thread: freeing 100 MB of blocks costs
    as much as writing them. The thread is not a daemon, so the process waits for it at exit."""
    try:
        size = os.stat(target, follow_symlinks=False).st_size
    except OSError:
        size = 0
    if size < _FREE_LATER_BYTES:
        os.replace(source, target)
        return
    old = f"{source}.old"
    try:
        os.link(target, old)
    except OSError:  # a filesystem without hard links: free it here and now
        os.replace(source, target)
        return
    try:
        os.replace(source, target)
    finally:
        threading.Thread(target=_unlink_quietly, args=(old,)).start()


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_all_if_changed(items: list[tuple[Path, bytes]], batch: int = 256) -> list[bool]:
    """Atomically write each (path, data) whose file does not hold ``data`` yet. A batch is written
    to temp files whose writeback starts at once, then fsynced (by then mostly a wait already
    over), renamed, and each folder fsynced once: far quicker for many small files than one temp +
    fsync + rename after another. Returns, per item, whether it was written. On
    an error nothing not yet renamed is left behind."""
    changed = [current_bytes(path) != data for path, data in items]
    todo = [item for item, differs in zip(items, changed, strict=True) if differs]
    for start in range(0, len(todo), batch):
        _write_batch(todo[start:start + batch])
    return changed


def _write_batch(items: list[tuple[Path, bytes]]) -> None:
    staged: list[tuple[int | None, str, Path]] = []  # (open fd, temp name, target)
    folders = list(dict.fromkeys(path.parent for path, _ in items))  # ~3 files per folder: each made once
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for path, data in items:
            fd, tmp_name = _temp_beside(path)
            staged.append((fd, tmp_name, path))
            _write_fully(fd, data)
            _start_writeback(fd, 0, len(data))
        for number, (fd, tmp_name, path) in enumerate(staged):
            staged[number] = (None, tmp_name, path)
            try:
                os.fsync(fd)  # type: ignore[arg-type]
            finally:
                os.close(fd)  # type: ignore[arg-type]
        while staged:
            _, tmp_name, path = staged[0]
            os.chmod(tmp_name, 0o644)
            _replace(tmp_name, path)
            staged.pop(0)
    finally:
        for fd, tmp_name, _ in staged:
            if fd is not None:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
    for folder in folders:
        _fsync_directory(folder)


def current_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no file there."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is; some filesystems refuse, fine.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
