from memsync.merge.dedup import CandidateTable
from memsync.merge.ingest import FileRecords

KEY = ("session", "title", 1_773_900_000_000)
OTHER = ("session", "other", 1_773_900_000_000)


def fold(table, dev, export, rank, weight=1.0, keep=False, access=0, index=0, key=KEY):
    records = FileRecords(export, 1, sessions=[key[0]], titles=[key[1]], created=[key[2]],
                          type_weights=[weight], indexes=[index], kept=[0] if keep else [], access=[access])
    table.add_file(records, dev=dev, rank=rank)


def test_newest_export_wins_and_contributors_are_counted_by_name():
    table = CandidateTable()
    fold(table, "bob", 1000, 1, weight=0.3)
    fold(table, "alice", 2000, 0, weight=0.9)
    fold(table, "alice", 500, 2)
    row = table.rows[KEY]
    assert table.type_weight[row] == 0.9 and table.dev[row] == "alice"
    assert table.contributors_of([row]) == [("alice", "bob")]


def test_equal_exports_break_by_developer_name_not_by_arrival_order():
    first, second = CandidateTable(), CandidateTable()
    fold(first, "zoe", 1000, 1, weight=0.3)
    fold(first, "adam", 1000, 0, weight=0.7)
    fold(second, "adam", 1000, 0, weight=0.7)
    fold(second, "zoe", 1000, 1, weight=0.3)
    assert first.type_weight[0] == second.type_weight[0] == 0.7


def test_keep_on_any_copy_protects_the_key_and_access_adds_up():
    table = CandidateTable()
    fold(table, "bob", 1000, 1, keep=True, access=2)
    fold(table, "alice", 2000, 0, access=3)
    assert table.rows[KEY] in table.keep
    assert table.access[table.rows[KEY]] == 5


def test_a_file_mixing_new_and_known_keys_keeps_rows_aligned():
    table = CandidateTable()
    fold(table, "bob", 1000, 0, key=OTHER)
    records = FileRecords(2000, 2, sessions=[KEY[0], OTHER[0]], titles=[KEY[1], OTHER[1]],
                          created=[KEY[2], OTHER[2]], type_weights=[0.5, 0.4], kept=[0])
    table.add_file(records, dev="alice", rank=1)
    assert table.keys() == [OTHER, KEY]
    assert table.rows[KEY] == 1 and table.type_weight[1] == 0.5 and 1 in table.keep
    assert table.contributors_of([0]) == [("alice", "bob")] and table.type_weight[0] == 0.4


def test_previously_merged_copy_keeps_its_content_and_gains_contributors():
    table = CandidateTable()
    table.add_previous(FileRecords(1000, 5, sessions=[KEY[0]], titles=[KEY[1]], created=[KEY[2]],
                                   type_weights=[1.0], indexes=[4], contributors=[("carol",)]))
    fold(table, "dave", 9_999_999_999_999, 0, weight=0.3)
    row = table.rows[KEY]
    assert table.rank[row] == -1 and table.type_weight[row] == 1.0
    assert table.contributors_of([row]) == [("carol", "dave")]
