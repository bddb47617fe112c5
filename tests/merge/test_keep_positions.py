"""Keep tags found from the file's bytes equal a check of every observation."""

from __future__ import annotations

import json
import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from memsync.merge.ingest import _kept_positions
from memsync.merge.keep import has_keep_tag
from memsync.model import decode_contribution_fields

texts = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["#keep", "note #keep", "#keeper", "x#keep-y", "ünïcode #keep", '"memory_session_id": "x"',
                     'quote \\" #keep', "#pin it", "see #keep/now", "#garde-é ici", 'say "#q" too']),
)
observation = st.fixed_dictionaries({
    "memory_session_id": st.text(min_size=1, max_size=8),
    "type": st.sampled_from(["decision", "change"]),
    "created_at_epoch": st.integers(min_value=1, max_value=2**40),
    "title": texts,
    "narrative": texts,
    "text": texts,
    "facts": st.sampled_from([None, '["#keep in facts does not count"]']),
    "metadata": st.sampled_from([None, {"memory_session_id": "nested"}, {"note": "#keep"}]),
})


def encode(doc, encoding: str) -> bytes:
    """Every way a writer may spell the same JSON: raw UTF-8, ASCII with \\u escapes, printable
    ASCII escaped too (\\u0023 for "#"), or slashes escaped (PHP's default)."""
    if encoding == "orjson":
        return orjson.dumps(doc)
    ascii_json = json.dumps(doc, ensure_ascii=True)
    if encoding == "ascii":
        return ascii_json.encode()
    if encoding == "hash-escaped":  # "#" only ever occurs inside strings
        return ascii_json.replace("#", "\\u0023").encode()
    return ascii_json.replace("/", "\\/").encode()


@settings(max_examples=400, deadline=None)
@given(observations=st.lists(observation, max_size=8), seed=st.integers(0, 2**16),
       tags=st.sampled_from([("#keep",), ("#keep", "#pin"), (), ("#keep/now",), ("#garde-é",), ('"#q"',)]),
       encoding=st.sampled_from(["orjson", "ascii", "hash-escaped", "slash-escaped"]))
def test_keep_positions_from_bytes_equal_checking_every_observation(observations, seed, tags, encoding):
    rng = random.Random(seed)
    shuffled = []
    for obs in observations:  # field order must not matter
        items = list(obs.items())
        rng.shuffle(items)
        shuffled.append(dict(items))
    doc = {"version": 1, "exportedBy": "a", "project": "p", "exportedAtEpoch": 1,
           "observations": shuffled, "observationCount": len(shuffled)}
    raw = encode(doc, encoding)
    decoded = decode_contribution_fields(raw).observations
    expected = [i for i, o in enumerate(decoded) if has_keep_tag((o.title, o.narrative, o.text), tags)]
    assert _kept_positions(raw, decoded, tags) == expected
