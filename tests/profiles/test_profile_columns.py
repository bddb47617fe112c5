"""The columnar fast path (profiles/columns.py) against the plain path it replaces (metrics.py).

Every fast step falls back to the plain functions when a value is not the common shape; these
tests feed both paths the odd shapes too and demand equal counts, equal team totals and, end to
end, equal bytes.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from itertools import chain
from pathlib import Path

import metrics_oracle as oracle
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import BASE_MILLIS, observation, write_contribution
from memsync.model import composite_key, to_millis, to_millis_column
from memsync.profiles import columns, metrics
from memsync.profiles.generate import ProjectInputs, build_outputs, generate_project_profiles
from memsync.profiles.summary_store import SUMMARY_NAME

NOW = 1_774_000_000_000
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Items that are clean, that the plain path strips, merges, normalizes or drops, or that break
# a comma split.
ITEMS = ["pattern", "gotcha", " pattern", "pattern ", "", " ", "src/a.py", "./src/a.py", "src\\a.py",
         "./", "a, b", "\u00e9t\u00e9", "x\ty", '"q"', "[", "]"]

json_arrays = st.lists(st.sampled_from(ITEMS), max_size=4).map(lambda items: orjson.dumps(items).decode())
list_values = st.one_of(
    json_arrays,
    json_arrays.map(lambda text: f"  {text}\n"),                          # JSON with whitespace around
    st.lists(st.sampled_from(ITEMS), max_size=4).map(", ".join),       # comma-separated
    st.lists(st.one_of(st.sampled_from(ITEMS), st.integers(-5, 5), st.none()), max_size=3),  # a real list
    st.sampled_from([None, "", "[]", "[1, 2]", '["a", 1]', '[["a"]]', '"a"', "{}", '["a",]', "[not json",
                     '["a"] ["b"]', '["\\ud800"]', '["a\\u0000b"]', "null", '["a", "a", "b"]']),
)

# Columns of JSON arrays only take the fast path unless an item is odd; mixed ones mostly fall back.
value_columns = st.one_of(st.lists(json_arrays, max_size=8), st.lists(list_values, max_size=8))


@SETTINGS
@given(value_columns)
def test_concept_counts_equal_the_plain_concept_list_counted(values: list) -> None:
    assert columns.concept_counts(values) == Counter(chain.from_iterable(map(metrics.concept_list, values)))


# A few values, each many times over: concepts are tags from a small vocabulary.
repeated_columns = st.lists(st.one_of(json_arrays, list_values), min_size=1, max_size=3).flatmap(
    lambda pool: st.lists(st.sampled_from(pool), min_size=2, max_size=30))


@SETTINGS
@given(repeated_columns)
def test_concept_counts_of_repeated_values_equal_the_plain_counts(values: list) -> None:
    assert columns.concept_counts(values) == Counter(chain.from_iterable(map(metrics.concept_list, values)))


@SETTINGS
@given(value_columns, st.data())
def test_path_counts_equal_the_plain_file_list_counted(read: list, data: st.DataObject) -> None:
    modified = data.draw(st.lists(st.one_of(json_arrays, st.none()) if data.draw(st.booleans()) else list_values,
                                  min_size=len(read), max_size=len(read)))
    expected = Counter(chain.from_iterable(map(metrics.file_list, read, modified)))
    assert columns.path_counts(read, modified) == expected


@given(st.lists(st.integers(min_value=0, max_value=2**63 - 1), max_size=20))
def test_packed_ints_come_back_in_the_narrowest_type_that_holds_them(values: list[int]) -> None:
    data = columns.pack_ints(values)
    assert columns.unpack_ints(data).tolist() == values
    top = max(values, default=0)
    assert data[:1] == (b"B" if top < 256 else b"H" if top < 65536 else b"I" if top < 2**32 else b"q")


@pytest.mark.parametrize("data", [b"", b"x\x00", b"H\x00", b"I\x00\x00"])
def test_a_buffer_pack_ints_cannot_have_made_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        columns.unpack_ints(data)


@SETTINGS
@given(st.lists(st.integers(min_value=1, max_value=10**18), max_size=8))
def test_day_counts_equal_the_plain_day_number_counted(epochs: list[int]) -> None:
    millis = to_millis_column(epochs)
    assert millis == [to_millis(epoch) for epoch in epochs]
    expected = Counter(day for day in map(metrics.day_number, epochs) if day is not None)
    assert columns.day_counts(millis) == expected


keys = st.tuples(st.sampled_from(["s", "s\x00", "\x00", "s\x001", ""]),
                 st.sampled_from([None, "", "t", "t\x00", "\x001", "1"]),
                 st.sampled_from([1, 10, 1_000, 1_773_900_000_000]))


@SETTINGS
@given(st.lists(keys, min_size=2, max_size=6))
def test_key_tokens_are_equal_exactly_when_keys_are(triples: list[tuple]) -> None:
    sessions, titles, millis = (list(column) for column in zip(*triples, strict=True))
    tokens = columns.key_tokens(sessions, titles, millis)
    assert tokens == [columns.key_token(*triple) for triple in triples]
    normalized = [(session, title or "", ms) for session, title, ms in triples]
    for one, key_one in zip(tokens, normalized, strict=True):
        for other, key_other in zip(tokens, normalized, strict=True):
            assert (one == other) == (key_one == key_other)


# --- whole developers and teams ---------------------------------------------------------------

@st.composite
def odd_observations(draw: st.DrawFn) -> dict:
    clean = draw(st.integers(min_value=0, max_value=3)) > 0  # mostly JSON arrays, as claude-mem writes
    millis = BASE_MILLIS + draw(st.integers(min_value=-60, max_value=60)) * 43_200_000
    return observation(
        draw(st.sampled_from(["t1", "t2", "t3", None, ""])),
        session=draw(st.sampled_from(["s1", "s2", "s3"])),
        type=draw(st.sampled_from(["decision", "bugfix", "feature", "custom"])),
        concepts=draw(json_arrays if clean else list_values),
        files_read=draw(json_arrays if clean else list_values),
        files_modified=draw(json_arrays if clean else list_values),
        created_at_epoch=draw(st.sampled_from([millis, millis // 1000, 253_402_400_000_000])),
    )


def _without_repeats(observations: list[dict]) -> list[dict]:
    """One file never repeats a composite key (the merge would quarantine it)."""
    return list({composite_key(obs): obs for obs in observations}.values())


dev_files = st.lists(st.lists(odd_observations(), max_size=6).map(_without_repeats), min_size=1, max_size=3)


def _packed_summary(files: list[list[dict]]) -> metrics.DevSummary:
    return columns.summarize_columns(columns.latest_rows(
        columns.observation_columns(
            [obs["memory_session_id"] for obs in file], [obs["title"] for obs in file],
            [obs["created_at_epoch"] for obs in file], [obs["type"] for obs in file],
            [obs["concepts"] for obs in file], [obs["files_read"] for obs in file],
            [obs["files_modified"] for obs in file],
        )
        for file in files
    ))


def _token(key: tuple) -> bytes:
    return columns.key_digest(*key)


@SETTINGS
@given(dev_files)
def test_packed_summary_counts_like_the_plain_summary(files: list[list[dict]]) -> None:
    plain = oracle.summarize(oracle.dev_facts(chain.from_iterable(files)))
    packed = _packed_summary(files)
    assert packed.total == plain.total
    assert sorted(packed.keys) == sorted(map(_token, plain.keys))
    for name in ("type_counts", "concept_counts", "day_counts", "directory_counts"):
        assert dict(getattr(packed, name)) == dict(+Counter(getattr(plain, name))), name
    assert (packed.distinct_files, packed.file_references) == (plain.distinct_files, plain.file_references)


@SETTINGS
@given(dev_files, st.data())
def test_packed_counts_of_rows_match_the_plain_facts(files: list[list[dict]], data: st.DataObject) -> None:
    plain = oracle.summarize(oracle.dev_facts(chain.from_iterable(files)))
    packed = _packed_summary(files)
    _, _, plain_keys = plain.keys_by_session()
    _, _, packed_keys = packed.keys_by_session()
    assert list(packed_keys) == [_token(key) for key in plain_keys]  # same grouping, same order
    rows = data.draw(st.lists(st.integers(min_value=0, max_value=max(len(plain_keys) - 1, 0)), unique=True)
                     if plain_keys else st.just([]))
    assert packed.counts_of(rows) == plain.counts_of(rows)


team_files = st.dictionaries(st.sampled_from(["ann", "bob", "cy", "dee"]), dev_files, min_size=1, max_size=4)


@SETTINGS
@given(team_files)
def test_team_tally_over_packed_summaries_equals_plain_team_stats(team: dict[str, list[list[dict]]]) -> None:
    plain = oracle.team_stats({dev: oracle.summarize(oracle.dev_facts(chain.from_iterable(files)))
                                for dev, files in team.items()})
    packed = oracle.team_stats({dev: _packed_summary(files) for dev, files in team.items()})
    assert packed.total == plain.total
    assert packed.devs == plain.devs
    for name in ("type_counts", "concept_counts", "concept_holders", "monthly"):
        assert dict(getattr(packed, name)) == dict(getattr(plain, name)), name


def test_team_tally_refuses_developers_out_of_name_order() -> None:
    summary = oracle.summarize(oracle.dev_facts([observation("a")]))
    tally = metrics.TeamTally()
    tally.add("bob", summary)
    with pytest.raises(ValueError, match="name order"):
        tally.add("ann", summary)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(team_files, st.booleans())
def test_generated_pages_equal_pages_built_on_the_plain_path(team: dict[str, list[list[dict]]],
                                                             anonymize: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        repo = Path(directory)
        for dev, files in team.items():
            for number, file in enumerate(files):
                write_contribution(repo, file, dev=dev, stamp=f"2026-03-{number + 1:02d}T00-00-00")
        merged = [obs for files in team.values() for file in files for obs in file][::3]
        write_contribution(repo, _without_repeats(merged), dev="ci-merge")  # only its keys are read
        (repo / "merged" / "demo").mkdir(parents=True)
        (repo / "contributions" / "demo" / "ci-merge" / "2026-03-19T18-30-00.json").rename(
            repo / "merged" / "demo" / "latest.json")
        (repo / "contributions" / "demo" / "ci-merge").rmdir()

        run = generate_project_profiles(repo, "demo", now_millis=NOW, anonymize=anonymize)
        fast = {path: (repo / path).read_bytes() for path in run.written if not path.endswith(SUMMARY_NAME)}
        # Pages made again from the stored summaries alone are the same pages.
        for path in fast:
            (repo / path).unlink()
        again = generate_project_profiles(repo, "demo", now_millis=NOW, anonymize=anonymize)
        assert {path: (repo / path).read_bytes() for path in again.written} == fast
        stored = {path.split("/")[2] for path in run.written if path.endswith(SUMMARY_NAME)}
        assert set(again.reused) == stored

        summaries = {dev: oracle.summarize(oracle.dev_facts(chain.from_iterable(files)))
                     for dev, files in sorted(team.items())}
        summaries = {dev: summary for dev, summary in summaries.items() if summary.total}
        inputs = ProjectInputs(
            project="demo", dev_summaries=summaries,
            merged_keys=frozenset(map(composite_key, _without_repeats(merged))),
            newest_export_millis=None, team=oracle.team_stats(summaries),
        )
        plain = build_outputs(inputs, now_millis=NOW, anonymize=anonymize) if summaries else {}
        assert fast == plain
