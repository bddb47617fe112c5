"""Staged writes: fed chunk by chunk on a thread, renamed into place only on commit."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from memsync.atomic import StagedWrite, atomic_write_bytes, write_all_if_changed


def background_threads_done() -> None:
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(timeout=30)


def test_chunks_land_in_order_and_the_hasher_sees_exactly_them(tmp_path: Path):
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    hasher = hashlib.sha256()
    chunks = [bytes([i]) * (i * 1000) for i in range(1, 40)]
    staged = StagedWrite(target, hasher)
    for chunk in chunks:
        staged.write(memoryview(chunk))
    staged.drain()
    assert hasher.digest() == hashlib.sha256(b"".join(chunks)).digest()
    assert target.read_bytes() == b"old"  # nothing is visible before the commit
    staged.commit()
    assert target.read_bytes() == b"".join(chunks)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_discard_leaves_the_target_as_it_was(tmp_path: Path):
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    staged = StagedWrite(target)
    staged.write(b"new")
    staged.discard()
    background_threads_done()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_large_old_file_is_replaced_and_freed_without_leftovers(tmp_path: Path):
    target = tmp_path / "latest.json"
    target.write_bytes(b"x" * (9 * 1024 * 1024))
    atomic_write_bytes(target, b"small now")
    background_threads_done()
    assert target.read_bytes() == b"small now"
    assert [p.name for p in tmp_path.iterdir()] == ["latest.json"]


def test_a_failure_on_the_writing_thread_surfaces_at_commit_and_changes_nothing(tmp_path: Path):
    class FailingHasher:
        def update(self, chunk: bytes) -> None:
            raise OSError(28, "No space left on device")

    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    staged = StagedWrite(target, FailingHasher())
    staged.write(b"new")
    staged.write(b"more")
    with pytest.raises(OSError, match="No space left"):
        staged.commit()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_all_if_changed_writes_only_what_differs_and_says_which(tmp_path: Path):
    same, other, new = tmp_path / "a" / "same.json", tmp_path / "a" / "other.json", tmp_path / "b" / "new.json"
    same.parent.mkdir()
    same.write_bytes(b"same")
    other.write_bytes(b"before")
    stamp = same.stat().st_mtime_ns

    flags = write_all_if_changed([(same, b"same"), (other, b"after"), (new, b"created")], batch=2)

    assert flags == [False, True, True]
    assert (same.read_bytes(), other.read_bytes(), new.read_bytes()) == (b"same", b"after", b"created")
    assert same.stat().st_mtime_ns == stamp
    assert not list(tmp_path.rglob("*.tmp"))


def test_write_all_if_changed_leaves_nothing_half_written_when_one_target_cannot_be(tmp_path: Path):
    good = tmp_path / "good.json"
    good.write_bytes(b"old")
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    with pytest.raises(OSError):
        write_all_if_changed([(good, b"new"), (blocked / "page.json", b"data")])
    assert good.read_bytes() == b"old"
    background_threads_done()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file-not-folder", "good.json"]
