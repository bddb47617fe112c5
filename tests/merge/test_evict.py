from hypothesis import given, settings
from hypothesis import strategies as st

from memsync.merge.evict import select_survivors
from memsync.merge.keep import has_keep_tag


def keys(n):
    return [("s", f"t{i:02d}", 1000 + i) for i in range(n)]


def test_top_scored_survive_and_output_is_score_descending():
    k = keys(4)
    result = select_survivors(k, [0.1, 0.9, 0.5, 0.7], set(), cap=2)
    assert result.survivors == [k[1], k[3]]
    assert sorted(result.evicted) == [k[0], k[2]]


def test_keep_tagged_survive_even_when_they_alone_exceed_cap():
    k = keys(5)
    result = select_survivors(k, [0.9, 0.1, 0.2, 0.3, 0.8], {1, 2, 3}, cap=2)
    assert result.survivors == [k[1], k[2], k[3]]
    assert result.keep_count == 3
    assert sorted(result.evicted) == [k[0], k[4]]


def test_cap_zero_keeps_only_keep_tagged():
    k = keys(3)
    result = select_survivors(k, [0.9, 0.5, 0.1], {1}, cap=0)
    assert result.survivors == [k[1]]
    assert sorted(result.evicted) == [k[0], k[2]]


def test_empty_project_selects_nothing():
    result = select_survivors([], [], set(), cap=10)
    assert result.survivors == [] and result.evicted == [] and result.keep_count == 0


def test_ties_at_the_cap_break_by_key_whatever_the_input_order():
    k = keys(4)
    forward = select_survivors(k, [0.5] * 4, set(), cap=2)
    backward = select_survivors(k[::-1], [0.5] * 4, set(), cap=2)
    assert forward.survivors == backward.survivors == [k[0], k[1]]


def test_keep_tag_matches_whole_tags_only():
    tags = ("#keep",)
    assert has_keep_tag(("Remember this #keep",), tags)
    assert has_keep_tag((None, "#keep: always"), tags)
    assert not has_keep_tag(("#keeper of the flame",), tags)
    assert not has_keep_tag(("#keep-out",), tags)
    assert not has_keep_tag(("no tag here",), tags)
    assert has_keep_tag(("#pin it",), ("#keep", "#pin"))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), size=st.integers(min_value=0, max_value=30), cap=st.integers(min_value=0, max_value=35))
def test_selection_equals_ranking_everything(data, size, cap):
    k = keys(size)
    scores = data.draw(st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9]), min_size=size, max_size=size))
    keep = data.draw(st.sets(st.integers(min_value=0, max_value=max(size - 1, 0)), max_size=size)) if size else set()
    result = select_survivors(k, scores, keep, cap)
    ranked = sorted((i for i in range(size) if i not in keep), key=lambda i: (-scores[i], k[i]))
    expected = sorted(keep, key=k.__getitem__) + ranked[: max(cap - len(keep), 0)]
    assert result.survivor_rows == expected
    assert sorted(result.evicted) == sorted(k[i] for i in range(size) if i not in expected)
