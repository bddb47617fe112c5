import pytest

from memsync.merge.dedup import CandidateTable
from memsync.merge.ingest import FileRecords
from memsync.merge.plan import MergeSettings, plan_project, score_rows
from memsync.merge.scoring import STRATEGY_WEIGHTS, access_weight, diffusion_weight, score

NOW = 1_780_000_000_000
DAY = 86_400_000


def records(export, rows, access=None):
    return FileRecords(export, len(rows), sessions=[r[0] for r in rows], titles=[r[1] for r in rows],
                       created=[r[2] for r in rows], type_weights=[r[3] for r in rows], access=access)


def table_of_two_devs() -> CandidateTable:
    table = CandidateTable()
    table.add_previous(FileRecords(NOW, 1, sessions=["p"], titles=["old"], created=[NOW - 90 * DAY],
                                   type_weights=[0.7], contributors=[()]))
    table.add_file(records(NOW, [("s", "a", NOW - 3 * DAY, 1.0), ("s", "b", NOW - 400 * DAY, 0.3)],
                           access=[4, 0]), dev="alice", rank=0)
    table.add_file(records(NOW - 1, [("s", "a", NOW - 3 * DAY, 0.9), ("s", "c", NOW + DAY, 0.5)],
                           access=[2, 8]), dev="bob", rank=1)
    return table


@pytest.mark.parametrize("strategy", ["passive", "hook"])
def test_column_scores_equal_the_scalar_formula(strategy):
    table = table_of_two_devs()
    settings = MergeSettings(cap=10, weights=STRATEGY_WEIGHTS[strategy], strategy=strategy, now_millis=NOW)
    keys = table.keys()
    got = score_rows(table, 3, settings)
    for row, key in enumerate(keys):
        if strategy == "passive":
            third = diffusion_weight(len(table.contributors_of([row])[0]), 3)
        else:
            third = access_weight(table.access[row], max(table.access))
        assert got[row] == pytest.approx(score(table.type_weight[row], key[2], third, NOW, settings.weights))


def test_plan_reports_added_keys_against_the_previous_set():
    table = table_of_two_devs()
    settings = MergeSettings(cap=2, weights=STRATEGY_WEIGHTS["passive"], strategy="passive", now_millis=NOW)
    plan = plan_project(table, 1, 2, settings)  # row 0 is the previous merged set
    # "a" is shared by both developers and newest: it leads; "c" (future date = today) follows
    assert plan.survivors == [("s", "a", NOW - 3 * DAY), ("s", "c", NOW + DAY)]
    assert plan.added == sorted(plan.survivors)
    assert sorted(plan.evicted) == [("p", "old", NOW - 90 * DAY), ("s", "b", NOW - 400 * DAY)]
