"""Team access counts: each developer's latest count per key, summed over developers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memsync.errors import QuarantineReason
from memsync.merge.access import TeamAccess, changed_positions, decode, encode, fold_in_order

A = ("s1", "alpha", 1_000)
B = ("s1", "beta", 2_000)
C = ("s2", "", 3_000)


def test_a_re_export_replaces_the_developers_count() -> None:
    team = TeamAccess()
    team.fold("alice", 10, [A, B], [3, 0])
    team.fold("alice", 20, [A, B], [3, 0])
    team.fold("alice", 30, [A, B], [4, 0])
    team.fold("bob", 15, [A], [2])
    assert team.team_counts([A, B, C]) == [6, 0, 0]


def test_a_newer_export_without_a_count_sets_it_to_zero_for_good() -> None:
    team = TeamAccess()
    team.fold("alice", 10, [A], [5])
    team.fold("alice", 20, [A], None)  # a file without access data (claude-mem-sync, or no use)
    team.fold("alice", 15, [A], [5])  # an older file read late must not bring it back
    assert team.team_counts([A]) == [0]
    team.fold("alice", 25, [B], [1])  # a later export without A (filters changed) keeps A as it was
    assert team.team_counts([A, B]) == [0, 1]


def test_files_without_counts_cost_nothing() -> None:
    team = TeamAccess()
    team.fold("carol", 10, [A, B], None)
    team.fold("carol", 11, [A, B], [0, 0])
    assert team.by_dev == {} and not team


@given(st.permutations([("alice", 10, 1), ("alice", 20, 7), ("alice", 30, 2), ("bob", 5, 4), ("bob", 6, 0)]))
def test_the_order_files_are_read_in_does_not_matter(files: list[tuple[str, int, int]]) -> None:
    team = TeamAccess()
    fold_in_order(team, [(when, dev, [A], [count]) for dev, when, count in files])
    assert team.team_counts([A]) == [2 + 0]  # alice's newest says 2, bob's newest says 0


def test_restricted_to_the_merged_set_and_encoded_deterministically() -> None:
    team = TeamAccess()
    team.fold("bob", 7, [C, A], [1, 2])
    team.fold("alice", 9, [B, A], [5, 0])
    kept = team.restricted_to([A, C])
    raw = encode(kept, "demo")
    assert raw == (
        b'{\n  "version": 1,\n  "project": "demo",\n  "developers": {\n'
        b'    "bob": [\n      ["s1","alpha",1000,2,7],\n      ["s2","",3000,1,7]\n    ]\n  }\n}\n'
    )
    assert decode(raw, "demo").by_dev == kept.by_dev
    assert encode(TeamAccess(), "demo") == b'{\n  "version": 1,\n  "project": "demo",\n  "developers": {}\n}\n'
    assert decode(encode(TeamAccess(), "demo"), "demo").by_dev == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"version": 2, "project": "demo", "developers": {}}', "version 1"),
        (b'{"version": 1, "project": "other", "developers": {}}', "belongs to project 'other'"),
        (b'{"version": 1, "project": "demo"}', "no developers"),
        (b'{"version": 1, "project": "demo", "developers": {"a": {}}}', "must be an array"),
        (b'{"version": 1, "project": "demo", "developers": {"a": [["s", "t", 1, -2, 5]]}}', "malformed entry"),
    ],
)
def test_malformed_files_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(QuarantineReason, match=message):
        decode(raw, "demo")


def test_changed_positions() -> None:
    assert changed_positions([0, 3, 1], [0, 4, 1]) == [1]
    assert changed_positions([], []) == []
