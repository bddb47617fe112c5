"""A forged cache is a cache: never trusted past what it can prove, never a reason to write a
merged file that does not parse, lose rows or crash the run.

``merged/<p>/.latest-index.msgpack`` and ``profiles/<p>/<dev>/.summary.msgpack`` are committed
files anyone with push access can replace, and their digests are of public bytes, so a forger
recomputes them. Each test forges one the way an attacker would and runs the real command.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from builders import read_json
from ci.test_merged_index import INDEX, LATEST, first_round, merge, second_round
from clirun import run_mem_sync
from memsync.ci.merged_index import decode_index, encode_index
from memsync.profiles import summary_store


def forge_index(shared_repo, change, honest_copy) -> None:
    """Merge, forge the index, add new contributions; ``honest_copy`` gets the same files
    without any index (a merge that parses latest.json: the reference)."""
    first_round(shared_repo)
    merge(shared_repo)
    shutil.copytree(shared_repo, honest_copy)
    (honest_copy / INDEX).unlink()
    index = decode_index((shared_repo / INDEX).read_bytes())
    change(index)
    (shared_repo / INDEX).write_bytes(encode_index(index))
    for repo in (shared_repo, honest_copy):
        second_round(repo)


def keys_of(doc) -> list:
    return [(o["memory_session_id"], o["title"], o["created_at_epoch"]) for o in doc["observations"]]


def cut_inside_a_string(index) -> None:
    # spans still in order and inside the file: a head now ends in the middle of its title
    index.head_ends[0] = index.starts[0] + 40


def start_inside_a_string(index) -> None:
    index.starts[1] = index.starts[1] + 30


def two_heads_as_one(index) -> None:
    # the first span swallows the second observation whole (ends where the second's head ends)
    index.head_ends[0] = index.head_ends[1]
    index.starts[1] = index.head_ends[1] - 1


def duplicate_keys(index) -> None:
    # every row claims the first row's key: folding would collapse them into one
    index.session_ids = [index.session_ids[0]] * len(index.session_ids)
    index.titles = [index.titles[0]] * len(index.titles)
    index.created = [index.created[0]] * len(index.created)


def keys_swapped(index) -> None:
    # every span a real head, every key a real key, keys unique: only which is which is a lie
    # (the copy of "Shared decision" the second round brings would credit the wrong head)
    shared = index.titles.index("Shared decision")
    other = next(i for i, title in enumerate(index.titles) if title not in ("Shared decision", ""))
    for column in (index.session_ids, index.titles, index.created):
        column[shared], column[other] = column[other], column[shared]


@pytest.mark.parametrize("change", [cut_inside_a_string, start_inside_a_string, two_heads_as_one, duplicate_keys,
                                    keys_swapped])
def test_a_forged_index_never_changes_what_the_merge_writes(shared_repo, tmp_path, change):
    honest = tmp_path / "honest"
    forge_index(shared_repo, change, honest)

    forged_run = merge(shared_repo)  # exit 0 asserted inside
    honest_run = merge(honest)

    assert forged_run["projects"][0]["previousFrom"] == "parsed"  # the forged index was not used
    doc = read_json(shared_repo / LATEST)  # parses
    keys = keys_of(doc)
    assert len(set(keys)) == len(keys) == doc["observationCount"] == forged_run["projects"][0]["merged"]
    for path in (LATEST, INDEX, Path(".merge-state.json")):
        assert (shared_repo / path).read_bytes() == (honest / path).read_bytes(), path
    assert forged_run["projects"] == honest_run["projects"]


def forged_summary(shared_repo, change) -> None:
    first_round(shared_repo)
    assert run_mem_sync(["profile", "--repo", shared_repo]).returncode == 0
    path = shared_repo / "profiles/demo/alice" / summary_store.SUMMARY_NAME
    stored = msgspec.msgpack.decode(path.read_bytes(), type=summary_store.StoredSummary)
    change(stored)
    path.write_bytes(msgspec.msgpack.encode(stored))


@pytest.mark.parametrize("change", [
    lambda s: s.day_counts.update({10**15: 1}),                          # a day no calendar has
    lambda s: s.day_counts.update({-(10**12): 1}),
    lambda s: setattr(s, "newest_export_millis", 2**62),                 # past year 9999
    lambda s: s.type_counts.update({k: -5 for k in s.type_counts}),      # counts below zero
    lambda s: setattr(s, "distinct_files", -1),
    lambda s: s.directory_counts.update({"src": 2**60}),                   # past what JSON readers carry
    lambda s: setattr(s.facts, "concept_ends", summary_store.columns.pack_ints(
        list(reversed(summary_store.columns.unpack_ints(s.facts.concept_ends))))),
    lambda s: setattr(s.facts, "keys", [s.facts.keys[0]] * len(s.facts.keys)),  # keys not unique
], ids=["day-huge", "day-negative", "newest-huge", "negative-counts", "negative-files", "huge-count",
        "concept-ends-reversed", "duplicate-keys"])
def test_a_forged_stored_summary_is_rebuilt_not_trusted(shared_repo, change):
    forged_summary(shared_repo, change)
    honest = {p: p.read_bytes() for p in (shared_repo / "profiles").rglob("*.json")}

    result = run_mem_sync(["profile", "--repo", shared_repo])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "internal error" not in result.stderr
    assert {p: p.read_bytes() for p in (shared_repo / "profiles").rglob("*.json")} == honest
