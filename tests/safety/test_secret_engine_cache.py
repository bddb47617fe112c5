"""hyperscan's compiled anchor database is cached between runs, bound to the rule set it was
compiled from: a bad, stale or substituted cache only costs a compile, never a finding."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from secret_corpus import GENERATORS

from builders import observation, read_json, write_contribution
from clirun import run_mem_sync
from memsync.safety.secret_rules import RULES
from memsync.safety.secrets import (
    ANCHORS,
    DATABASE_PATTERNS,
    HyperscanEngine,
    SecretScanner,
    database_digest,
    load_database,
)
from memsync.scanner_cache import CACHE_MAGIC, cached_database

hyperscan = pytest.importorskip("hyperscan")
TOKEN = b"say ghp_" + b"a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + b" now"


def anchors_hit(db) -> set[int]:
    found: set[int] = set()
    db.scan(TOKEN, lambda anchor, *rest: found.add(anchor))
    return found


def the_cache_file(folder: Path) -> Path:
    [cached] = folder.glob("anchors-*.hsdb")
    return cached


def without_rule(rule_id: str) -> tuple[object, list[str]]:
    """A database compiled from every pattern but ``rule_id``'s anchor (ids kept), and its patterns."""
    [anchor] = {rule.anchor for rule in RULES if rule.id == rule_id}
    dropped = ANCHORS.index(anchor)
    kept = [(i, p) for i, p in enumerate(DATABASE_PATTERNS) if i != dropped]
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=[p.encode("ascii") for _, p in kept], ids=[i for i, _ in kept],
               elements=len(kept), flags=[0] * len(kept))
    return db, [p for _, p in kept]


def test_the_second_build_loads_what_the_first_compiled(tmp_path: Path):
    compiled = cached_database(hyperscan, tmp_path)
    cached = the_cache_file(tmp_path)
    stamp = cached.stat().st_mtime_ns
    loaded = cached_database(hyperscan, tmp_path)
    assert cached.stat().st_mtime_ns == stamp  # read, not rewritten
    assert anchors_hit(loaded) == anchors_hit(compiled) != set()


def test_the_cache_file_names_the_rule_set_it_was_compiled_from(tmp_path: Path):
    cached_database(hyperscan, tmp_path)
    data = the_cache_file(tmp_path).read_bytes()
    assert data.startswith(CACHE_MAGIC + database_digest(hyperscan.__version__).encode() + b"\n")


def test_a_corrupt_cache_is_compiled_over(tmp_path: Path):
    cached_database(hyperscan, tmp_path)
    cached = the_cache_file(tmp_path)
    cached.write_bytes(b"not a database")
    db = cached_database(hyperscan, tmp_path)
    assert anchors_hit(db) != set()
    assert cached.read_bytes().startswith(CACHE_MAGIC)


def test_an_unusable_cache_folder_still_gives_a_working_engine(tmp_path: Path):
    folder = tmp_path / "cache"
    folder.write_text("a file where the cache folder goes")
    assert anchors_hit(cached_database(hyperscan, folder)) != set()


@pytest.mark.parametrize("header", ["none", "own digest"])
def test_a_cache_compiled_from_other_patterns_is_ignored_and_the_gate_still_withholds(tmp_path: Path, header: str):
    token = GENERATORS["github-pat"](random.Random(5))
    forged, patterns = without_rule("github-pat")
    # the forgery is real: a scanner on it would let the token through
    assert SecretScanner(HyperscanEngine(forged)).scan_text(f"x {token}") == []
    cache = tmp_path / "cache"
    cache.mkdir()
    name = f"anchors-{database_digest(hyperscan.__version__)[:24]}.hsdb"  # where the real one goes
    serialized = hyperscan.dumpb(forged)
    if header == "own digest":  # what an honest writer of that other rule set would write
        import hashlib

        digest = hashlib.sha256("\0".join((hyperscan.__version__, *patterns)).encode()).hexdigest()
        serialized = CACHE_MAGIC + digest.encode() + b"\n" + serialized
    (cache / name).write_bytes(serialized)
    repo = tmp_path / "shared"
    write_contribution(repo, [observation("Leaky", narrative=f"the token is {token}"), observation("Clean")])

    result = run_mem_sync(["ci-merge", "--repo", repo, "--no-profiles", "--format", "json"],
                          env={"MEM_SYNC_CACHE_DIR": str(cache), "MEM_SYNC_SECRET_ENGINE": "hyperscan"})

    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert [f["rules"] for f in report["secretFindings"]] == [["github-pat"]]
    merged = (repo / "merged/demo/latest.json").read_bytes()
    assert token.encode() not in merged
    assert [o["title"] for o in read_json(repo / "merged/demo/latest.json")["observations"]] == ["Clean"]
    # and the forged file was compiled over with the real rule set
    rebuilt = (cache / name).read_bytes()
    expected = CACHE_MAGIC + database_digest(hyperscan.__version__).encode() + b"\n"
    assert rebuilt.startswith(expected)
    assert SecretScanner(HyperscanEngine(load_database(hyperscan, rebuilt[len(expected):]))).scan_text(
        f"x {token}") != []
