"""The pure part of import: merged observations -> rows, checked against model's definitions."""

from __future__ import annotations

import datetime as dt

import orjson
from hypothesis import given
from hypothesis import strategies as st

from builders import observation
from memsync.devside.claude_mem import Column
from memsync.devside.importer import json_array_text, prepare_rows
from memsync.model import iso_from_millis, parse_string_list

COLUMNS = {
    name: Column(name, False, False)
    for name in (
        "id",
        "memory_session_id",
        "project",
        "type",
        "title",
        "subtitle",
        "narrative",
        "text",
        "facts",
        "concepts",
        "files_read",
        "files_modified",
        "created_at",
        "created_at_epoch",
        "synced_at",
        "origin_device_id",
        "merged_into_project",
        "metadata",
    )
}


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_iso_from_millis_matches_datetime_as_far_as_datetime_reaches(millis: int) -> None:
    moment = dt.datetime.fromtimestamp(millis // 1000, tz=dt.UTC)
    assert iso_from_millis(millis) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


@given(st.sampled_from([(253_402_300_800_000, "+010000-01-01T00:00:00.000Z"),
                        (8_640_000_000_000_000, "+275760-09-13T00:00:00.000Z")]))
def test_iso_from_millis_writes_years_past_9999_as_javascript_does(case: tuple[int, str]) -> None:
    # new Date(ms).toISOString() for each
    millis, iso = case
    assert iso_from_millis(millis) == iso


_items = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)


@given(
    st.one_of(
        st.none(),
        st.lists(_items, max_size=4),
        st.lists(_items, max_size=4).map(lambda items: orjson.dumps(items).decode()),
        st.lists(_items, max_size=4).map(", ".join),
        st.text(max_size=12),
    )
)
def test_json_array_text_is_parse_string_list_as_json(value) -> None:
    assert orjson.loads(json_array_text(value)) == parse_string_list(value)


def test_prepare_rows_keeps_first_of_equal_keys_and_drops_local_columns() -> None:
    first = observation(
        "Same",
        session="s",
        created_at_epoch=1_773_900_000,
        narrative="first",
        synced_at=5,
        origin_device_id="laptop",
        merged_into_project="x",
        metadata={"k": 1},
        score=0.3,
        contributors=["bob"],
    )
    again = observation("Same", session="s", created_at_epoch=1_773_900_000_000, narrative="second")
    other = observation(None, session="s", created_at_epoch=1_773_900_000_000, concepts="a, b")
    rows, keys = prepare_rows([first, again, other], mem_project="mine", columns=COLUMNS)
    assert keys == [("s", "Same", 1_773_900_000_000), ("s", "", 1_773_900_000_000)]
    assert rows[0]["narrative"] == "first"
    assert rows[0]["project"] == "mine" and rows[0]["created_at"] == "2026-03-19T06:00:00.000Z"
    assert rows[0]["metadata"] == '{"k":1}'
    for dropped in ("id", "synced_at", "origin_device_id", "merged_into_project", "score", "contributors"):
        assert dropped not in rows[0]
    assert rows[1]["concepts"] == '["a","b"]' and rows[1]["title"] is None
