import math

import pytest

from memsync.merge.scoring import (
    STRATEGY_WEIGHTS,
    Weights,
    access_weight,
    diffusion_weight,
    recency_weight,
    score,
    type_weight,
)

DAY = 86_400_000
NOW = 1_773_945_000_000


def test_type_weights_follow_the_spec_table_and_unknown_types_weigh_as_change():
    assert [type_weight(t) for t in ("decision", "bugfix", "feature", "discovery", "refactor", "change")] == [
        1.0, 0.9, 0.7, 0.5, 0.4, 0.3]
    assert type_weight("security_alert") == 0.3


def test_recency_is_one_today_and_one_over_one_plus_ln2_after_150_days():
    assert recency_weight(0) == 1.0
    assert recency_weight(150) == pytest.approx(1 / (1 + math.log(2)))
    assert recency_weight(150) == pytest.approx(0.5906161091496412)


def test_future_dates_count_as_today():
    assert recency_weight(-30) == 1.0


def test_diffusion_counts_developers_over_team_size():
    assert diffusion_weight(1, 4) == 0.25
    assert diffusion_weight(3, 3) == 1.0
    assert diffusion_weight(0, 0) == 0.0


def test_access_is_normalized_by_the_maximum():
    assert access_weight(5, 20) == 0.25
    assert access_weight(0, 0) == 0.0


def test_passive_score_of_a_fresh_decision_shared_by_half_the_team():
    # 0.4*1.0 + 0.3*1.0 + 0.3*0.5
    assert score(type_weight("decision"), NOW, 0.5, NOW, STRATEGY_WEIGHTS["passive"]) == pytest.approx(0.85)


def test_hook_score_of_a_150_day_old_bugfix_with_full_access():
    expected = 0.3 * 0.9 + 0.2 * (1 / (1 + math.log(2))) + 0.5 * 1.0
    assert score(type_weight("bugfix"), NOW - 150 * DAY, 1.0, NOW, STRATEGY_WEIGHTS["hook"]) == pytest.approx(expected)


def test_weights_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        Weights(type=0.5, recency=0.5, third=0.5)


def test_weights_must_not_be_negative():
    with pytest.raises(ValueError, match="negative"):
        Weights(type=1.2, recency=-0.2, third=0.0)
