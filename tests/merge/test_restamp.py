"""Reusing the bytes of an already merged observation must equal serializing it afresh."""

from __future__ import annotations

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from memsync.model import ObservationsOnly, dump_document, restamp_merged_observation

names = st.text(min_size=1, max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
observations = st.dictionaries(st.text(max_size=10).filter(lambda k: k not in ("score", "keep", "contributors")),
                               json_values, max_size=6)
merge_fields = st.tuples(st.floats(min_value=0, max_value=1), st.booleans(), st.lists(names, max_size=4))


def document(obs_list):
    return {"version": 1, "observations": obs_list, "observationCount": len(obs_list)}


def with_fields(obs, fields):
    score, keep, contributors = fields
    return {**obs, "score": score, "keep": keep, "contributors": contributors}


@settings(max_examples=300, deadline=None)
@given(obs=observations, old=merge_fields, new=merge_fields, neighbour=observations)
def test_restamped_bytes_equal_a_fresh_dump(obs, old, new, neighbour):
    written = dump_document(document([with_fields(neighbour, old), with_fields(obs, old)]))
    raw = bytes(msgspec.json.decode(written, type=ObservationsOnly).observations[1])
    restamped = restamp_merged_observation(raw, old, *new)
    expected = dump_document(document([with_fields(neighbour, old), with_fields(obs, new)]))
    got = dump_document(document([with_fields(neighbour, old), orjson.Fragment(restamped)]))
    assert got == expected


def test_bytes_from_another_writer_are_not_restamped():
    pretty4 = orjson.loads(dump_document(with_fields({"a": 1}, (0.5, False, ["x"]))))
    import json

    other = json.dumps(pretty4, indent=4).encode()
    assert restamp_merged_observation(other, (0.5, False, ["x"]), 0.7, True, ["y"]) is None
    trailing_field = dump_document(document([{**with_fields({"a": 1}, (0.5, False, ["x"])), "zzz": 1}]))
    raw = bytes(msgspec.json.decode(trailing_field, type=ObservationsOnly).observations[0])
    assert restamp_merged_observation(raw, (0.5, False, ["x"]), 0.7, True, ["y"]) is None
    assert restamp_merged_observation(raw, (0.5, None, ["x"]), 0.7, True, ["y"]) is None
