"""A merged file assembled from heads and tails must equal serializing it afresh, byte for byte.

An incremental merge reuses the bytes of observations it wrote last time (their *head*) and
writes only a new tail (score, keep, contributors); these properties pin that to
``dump_document`` of the same observations.
"""

from __future__ import annotations

import json

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from memsync.model import (
    ObservationsOnly,
    build_envelope,
    document_chunks,
    document_frame,
    dump_document,
    lay_out_document,
    merge_tail,
    merge_tail_parts,
    merged_head,
    observation_head,
)

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


def envelope(obs_list):
    return build_envelope(project="p", exported_by="ci-merge", now_millis=1_780_000_000_000,
                          observations=obs_list, package_version="0.1.0")


@settings(max_examples=300, deadline=None)
@given(obs=observations, old=merge_fields, new=merge_fields, neighbour=observations)
def test_a_reused_head_with_a_new_tail_equals_a_fresh_dump(obs, old, new, neighbour):
    written = dump_document(document([with_fields(neighbour, old), with_fields(obs, old)]))
    raw = bytes(msgspec.json.decode(written, type=ObservationsOnly).observations[1])
    head = merged_head(raw, old)
    assert head is not None
    restamped = head + merge_tail(*new)
    expected = dump_document(document([with_fields(neighbour, old), with_fields(obs, new)]))
    got = dump_document(document([with_fields(neighbour, old), orjson.Fragment(restamped)]))
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(observations, merge_fields), max_size=6), st.data())
def test_assembled_documents_equal_a_fresh_dump_and_locate_every_head(items, data):
    expected = dump_document(envelope([with_fields(obs, fields) for obs, fields in items]))
    # heads come fresh from dicts, or as views into a file written before with other tails
    before = dump_document(envelope([with_fields(obs, (0.25, False, [])) for obs, _ in items]))
    located = msgspec.json.decode(before, type=ObservationsOnly).observations
    heads = []
    for (obs, _), raw in zip(items, located, strict=True):
        reuse = data.draw(st.booleans())
        heads.append(memoryview(merged_head(bytes(raw), (0.25, False, []))) if reuse else observation_head(obs))
    scores = [fields[0] for _, fields in items]
    parts = [merge_tail_parts(keep, contributors) for _, (_, keep, contributors) in items]
    frame = document_frame(envelope([]) | {"observationCount": len(items)})

    pieces, starts, head_ends = lay_out_document(frame, heads, scores, parts)
    got = b"".join(document_chunks(pieces, per_chunk=7))

    assert got == expected
    for (obs, fields), start, end, head in zip(items, starts, head_ends, heads, strict=True):
        assert got[start:end] == bytes(head)
        assert got[end:].startswith(b'\n      "score": ')
        closing = got.index(b"\n    }", end) + len(b"\n    }")
        assert orjson.loads(got[start:closing]) == with_fields(obs, fields)


def test_bytes_from_another_writer_give_no_head():
    pretty4 = orjson.loads(dump_document(with_fields({"a": 1}, (0.5, False, ["x"]))))
    other = json.dumps(pretty4, indent=4).encode()
    assert merged_head(other, (0.5, False, ["x"])) is None
    trailing_field = dump_document(document([{**with_fields({"a": 1}, (0.5, False, ["x"])), "zzz": 1}]))
    raw = bytes(msgspec.json.decode(trailing_field, type=ObservationsOnly).observations[0])
    assert merged_head(raw, (0.5, False, ["x"])) is None
    assert merged_head(raw, (0.5, None, ["x"])) is None
