from memsync.merge.dedup import PREVIOUS_EXPORT, PREVIOUS_RANK, Candidate, add_copies
from memsync.merge.ingest import FileRecords

KEY = ("session", "title", 1_773_900_000_000)


def fold(table, dev, export, rank, kind="decision", keep=False, access=0, index=0):
    records = FileRecords(export, 1, keys=[KEY], types=[kind], indexes=[index],
                          kept={0} if keep else set(), access=[access])
    add_copies(table, records, dev=dev, rank=rank)


def test_newest_export_wins_and_contributors_are_counted_by_name():
    table = {}
    fold(table, "bob", 1000, 1, kind="change")
    fold(table, "alice", 2000, 0, kind="bugfix")
    fold(table, "alice", 500, 2)
    candidate = table[KEY]
    assert candidate.type == "bugfix" and candidate.dev == "alice"
    assert candidate.contributors() == ["alice", "bob"]
    assert candidate.contributor_count == 2


def test_equal_exports_break_by_developer_name_not_by_arrival_order():
    first, second = {}, {}
    fold(first, "zoe", 1000, 1, kind="change")
    fold(first, "adam", 1000, 0, kind="feature")
    fold(second, "adam", 1000, 0, kind="feature")
    fold(second, "zoe", 1000, 1, kind="change")
    assert first[KEY].type == second[KEY].type == "feature"


def test_keep_on_any_copy_protects_the_key_and_access_adds_up():
    table = {}
    fold(table, "bob", 1000, 1, keep=True, access=2)
    fold(table, "alice", 2000, 0, access=3)
    assert table[KEY].keep is True
    assert table[KEY].access == 5


def test_previously_merged_copy_keeps_its_content_and_gains_contributors():
    table = {KEY: Candidate("decision", False, "carol", 0, PREVIOUS_EXPORT, PREVIOUS_RANK, 4)}
    fold(table, "dave", 9_999_999_999_999, 0, kind="change")
    assert table[KEY].rank == PREVIOUS_RANK and table[KEY].type == "decision"
    assert table[KEY].contributors() == ["carol", "dave"]
