"""may_contain_secret is sound: False on a file's raw bytes means no observation in it has a
finding, whichever JSON encoder wrote the file and however it escaped characters."""

from __future__ import annotations

import json
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scanners import scanner_for
from secret_corpus import GENERATORS, everyday_notes, positives

from builders import contribution, observation
from memsync.model import parse_string_list
from memsync.safety.secrets import SecretScanner

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Text around tokens: anything, including quotes, backslashes, slashes, control characters,
# non-ASCII and lookalike prefixes that exercise escaping and the anchors' edges.
_noise = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list('"\\/\n\t\x00~-_.=:') + ["ghp_", "xoxb-", "AKIA", "sk-ant-", "\u2014"]),
    ),
    max_size=30,
).map("".join)


@st.composite
def _token(draw) -> str:
    rule_id = draw(st.sampled_from(sorted(GENERATORS)))
    token = GENERATORS[rule_id](random.Random(draw(st.integers(0, 2**32))))
    if draw(st.booleans()):  # sometimes damage it: it may or may not still be a finding
        cut = draw(st.integers(0, len(token) - 1))
        token = token[:cut] + draw(st.sampled_from(["", "X", "\\", "/", "\u00e9"])) + token[cut + 1 :]
    return token


_piece = st.one_of(_noise, _token())
_string = st.lists(_piece, max_size=4).map("".join)


@st.composite
def _observation(draw) -> dict:
    facts = draw(st.lists(_string, max_size=3))
    return observation(
        title=draw(_string),
        narrative=draw(_string),
        text=draw(st.one_of(st.none(), _string)),
        facts=json.dumps(facts) if draw(st.booleans()) else facts,
        concepts=draw(st.lists(_string, max_size=2)),
        **({draw(_string) or "k": {"deep": [draw(_string)]}} if draw(st.booleans()) else {}),
    )


def _escape_all(value, rng: random.Random) -> str:
    """A hostile but valid JSON encoder: escapes '/' and random characters as \\uXXXX."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_escape_all(k, rng)}:{_escape_all(v, rng)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_escape_all(v, rng) for v in value) + "]"
    if isinstance(value, str):
        out = []
        for ch in value:
            if ch == "/":
                out.append("\\/")
            elif ch in '"\\' or ord(ch) < 0x20 or rng.random() < 0.05:
                code = ord(ch)
                if code > 0xFFFF:
                    code -= 0x10000
                    out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
                else:
                    out.append(f"\\u{code:04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    return json.dumps(value)


def _encodings(doc: dict, seed: int) -> list[bytes]:
    return [
        orjson.dumps(doc),
        orjson.dumps(doc, option=orjson.OPT_INDENT_2),
        json.dumps(doc, ensure_ascii=True).encode(),
        json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass"),
        _escape_all(doc, random.Random(seed)).encode("utf-8", "surrogatepass"),
    ]


def _all_findings(scanner: SecretScanner, observations: list[dict]) -> bool:
    for obs in observations:
        if scanner.scan_observation(obs):
            return True
        # the merge may normalise JSON-array strings into lists before scanning
        normalised = dict(obs, facts=parse_string_list(obs.get("facts")))
        if scanner.scan_observation(normalised):
            return True
    return False


@_SETTINGS
@given(observations=st.lists(_observation(), min_size=1, max_size=3), seed=st.integers(0, 999))
def test_prefilter_false_implies_no_finding_in_any_parsed_observation(scanner, observations, seed):
    doc = contribution(observations)
    for raw in _encodings(doc, seed):
        parsed = json.loads(raw)["observations"]
        if _all_findings(scanner, parsed):
            assert scanner.may_contain_secret(raw), raw[:200]


@settings(max_examples=25, deadline=None)
@given(observations=st.lists(_observation(), min_size=1, max_size=70))
def test_engines_agree_on_generated_observations(observations):
    pytest.importorskip("hyperscan")
    results = {}
    for name in ("hyperscan", "python"):
        scanner = scanner_for(name)
        results[name] = (
            [scanner.scan_observation(o) for o in observations],
            scanner.scan_observations(observations),
            [scanner.redact_observation(o) for o in observations],
        )
    assert results["hyperscan"] == results["python"]
    one_by_one, batched, _ = results["python"]
    assert batched == one_by_one


def test_prefilter_says_yes_for_every_labelled_positive_in_every_encoding(scanner):
    for number, (rule_id, text, _) in enumerate(positives()):
        doc = contribution([observation(title="t", narrative=text, facts=[text])])
        for raw in _encodings(doc, number):
            assert scanner.may_contain_secret(raw), rule_id


def test_prefilter_says_no_for_clean_notes_written_by_the_usual_encoders(scanner):
    texts = everyday_notes()
    assert len(texts) > 100
    notes = [observation(title=f"note {i}", narrative=text) for i, text in enumerate(texts)]
    doc = contribution(notes)
    assert scanner.may_contain_secret(orjson.dumps(doc)) is False
    assert scanner.may_contain_secret(json.dumps(doc, ensure_ascii=True).encode()) is False
    assert scanner.may_contain_secret(json.dumps(doc, ensure_ascii=False).encode()) is False


def test_prefilter_is_conservative_on_escaped_ascii_and_utf16(scanner):
    assert scanner.may_contain_secret(b'{"t": "\\u0067hp_"}') is True
    assert scanner.may_contain_secret('{"t": "x"}'.encode("utf-16")) is True
    assert scanner.may_contain_secret(b'{"t": "caf\\u00e9 \\u2014 ok"}') is False
