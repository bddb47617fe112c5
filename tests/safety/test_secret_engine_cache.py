"""hyperscan's compiled anchor database is cached between runs; a bad cache only costs a compile."""

from __future__ import annotations

from pathlib import Path

import pytest

from memsync.safety import secrets

hyperscan = pytest.importorskip("hyperscan")
PATTERNS = (*secrets.ANCHORS, secrets._ASCII_ESCAPE)
TOKEN = b"say ghp_" + b"a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + b" now"


def anchors_hit(db) -> set[int]:
    found: set[int] = set()
    db.scan(TOKEN, lambda anchor, *rest: found.add(anchor))
    return found


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEM_SYNC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_second_build_loads_what_the_first_compiled(cache: Path):
    compiled = secrets._cached_database(hyperscan, PATTERNS)
    [cached] = cache.glob("anchors-*.hsdb")
    stamp = cached.stat().st_mtime_ns
    loaded = secrets._cached_database(hyperscan, PATTERNS)
    assert cached.stat().st_mtime_ns == stamp  # read, not rewritten
    assert anchors_hit(loaded) == anchors_hit(compiled) != set()


def test_a_corrupt_cache_is_compiled_over(cache: Path):
    secrets._cached_database(hyperscan, PATTERNS)
    [cached] = cache.glob("anchors-*.hsdb")
    cached.write_bytes(b"not a database")
    db = secrets._cached_database(hyperscan, PATTERNS)
    assert anchors_hit(db) != set()
    assert hyperscan.loadb(cached.read_bytes(), mode=hyperscan.HS_MODE_BLOCK) is not None


def test_an_unusable_cache_folder_still_gives_a_working_engine(cache: Path):
    cache.parent.mkdir(exist_ok=True)
    cache.write_text("a file where the cache folder goes")
    assert anchors_hit(secrets._cached_database(hyperscan, PATTERNS)) != set()
