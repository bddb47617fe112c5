"""Invariants of run_merge over generated repositories (hypothesis)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import observation, write_contribution
from memsync.ci.merge_job import MergeOptions, run_merge

DEVS = ["alice", "bob", "carol", "dave"]
TYPES = ["decision", "bugfix", "feature", "discovery", "refactor", "change", "security_note"]

# A small pool of observation identities so that developers share some of them.
identity = st.tuples(
    st.sampled_from(["s1", "s2", "s3"]),
    st.sampled_from(["Use WAL", "Retry pushes", "Pin images", "Cache npm", None, "Ship #keep"]),
    st.integers(min_value=1_700_000_000, max_value=1_700_000_050).map(lambda s: s * 1000),
)
dev_file = st.tuples(
    st.sampled_from(DEVS),
    st.lists(st.tuples(identity, st.sampled_from(TYPES)), min_size=0, max_size=8,
             unique_by=lambda item: (item[0][0], item[0][1] or "", item[0][2])),
    st.integers(min_value=1_700_000_100, max_value=1_700_000_200),
)
repos = st.lists(dev_file, min_size=1, max_size=6)


def build(root: Path, files, order=None) -> list[tuple]:
    """Write one contribution per entry of ``files``; ``order`` permutes only the writing sequence."""
    keys = []
    for number in order if order is not None else range(len(files)):
        dev, items, exported = files[number]
        observations = []
        for position, ((session, title, created), kind) in enumerate(items):
            observations.append(observation(title, session=session, type=kind, created_at_epoch=created,
                                            narrative=f"{kind} by {dev}", id=position))
            keys.append((session, title or "", created))
        write_contribution(root, observations, dev=dev, stamp=f"2026-01-01T00-00-{number:02d}",
                           exported_at_epoch=exported)
    return keys


def merged_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and "contributions" not in p.parts}


def fresh(tmp: Path, name: str) -> Path:
    root = tmp / name
    shutil.rmtree(root, ignore_errors=True)
    (root / "contributions").mkdir(parents=True)
    return root


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(files=repos, cap=st.integers(min_value=0, max_value=12))
def test_every_input_key_ends_up_exactly_once_in_merged_or_evicted(files, cap):
    with tempfile.TemporaryDirectory() as tmp:
        root = fresh(Path(tmp), "r")
        keys = set(build(root, files))
        report = run_merge(MergeOptions(repo=root, cap=cap, profiles=False, secrets="off"))
        doc = orjson.loads((root / "merged/demo/latest.json").read_bytes())
        merged = [(o["memory_session_id"], o["title"] or "", o["created_at_epoch"]) for o in doc["observations"]]
        evicted = report.projects[0].evicted_keys
        assert len(merged) == len(set(merged))
        assert set(merged).isdisjoint(evicted)
        assert set(merged) | set(evicted) == keys
        assert len(merged) == min(len(keys), max(cap, sum(1 for o in doc["observations"] if o["keep"])))


@SETTINGS
@given(files=repos, data=st.data())
def test_output_is_independent_of_creation_order_and_worker_count(files, data):
    order = data.draw(st.permutations(range(len(files))))
    with tempfile.TemporaryDirectory() as tmp:
        first = fresh(Path(tmp), "a")
        build(first, files)
        second = fresh(Path(tmp), "b")
        build(second, files, order)
        run_merge(MergeOptions(repo=first, cap=5, profiles=False, secrets="off", now=1_700_001_000, workers=1))
        run_merge(MergeOptions(repo=second, cap=5, profiles=False, secrets="off", now=1_700_001_000, workers=2))
        assert merged_bytes(first) == merged_bytes(second)


@SETTINGS
@given(files=repos, cap=st.integers(min_value=0, max_value=10))
def test_rerun_on_an_unchanged_repo_changes_nothing(files, cap):
    with tempfile.TemporaryDirectory() as tmp:
        root = fresh(Path(tmp), "r")
        build(root, files)
        run_merge(MergeOptions(repo=root, cap=cap, profiles=False, secrets="off"))
        before = merged_bytes(root)
        again = run_merge(MergeOptions(repo=root, cap=cap, profiles=False, secrets="off"))
        assert not again.changed
        assert merged_bytes(root) == before


@SETTINGS
@given(files=repos)
def test_incremental_merges_match_a_cold_merge_when_nothing_is_evicted(files):
    with tempfile.TemporaryDirectory() as tmp:
        cold = fresh(Path(tmp), "cold")
        build(cold, files)
        run_merge(MergeOptions(repo=cold, cap=1000, profiles=False, secrets="off", now=1_700_001_000))
        warm = fresh(Path(tmp), "warm")
        for number in range(len(files)):
            build_one(warm, files, number)
            run_merge(MergeOptions(repo=warm, cap=1000, profiles=False, secrets="off", now=1_700_001_000))
        def summary(root):
            path = root / "merged/demo/latest.json"
            if not path.exists():
                return []
            return sorted((o["memory_session_id"], o["title"] or "", o["created_at_epoch"], tuple(o["contributors"]))
                          for o in orjson.loads(path.read_bytes())["observations"])

        assert summary(cold) == summary(warm)


def build_one(root: Path, files, number: int) -> None:
    dev, items, exported = files[number]
    observations = [observation(title, session=session, type=kind, created_at_epoch=created,
                                narrative=f"{kind} by {dev}")
                    for (session, title, created), kind in items]
    write_contribution(root, observations, dev=dev, stamp=f"2026-01-01T00-00-{number:02d}",
                       exported_at_epoch=exported)
