"""Property: whatever one contributor commits beside a good file, the real ``mem-sync ci-merge``
merges the good file, never reports an internal error, and a rerun is a no-op.

Generated contributions are arbitrary bytes, or JSON documents (written by our own emitter, so
they can hold what no JSON library writes: numbers past a double, integers past 64 bits, invalid
UTF-8, lone surrogates, raw control characters, arrays nested past every parser's limit) whose
envelope is usually right, so that the observations reach every check behind it. File and
folder names carry newlines, control characters and bytes that are not UTF-8.

A generated credential (plain, or split by zero-width spaces) is among the strings and names
drawn: no piece of it may appear in any file the runs write or any line they print.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import contribution, observation, write_contribution
from clirun import run_mem_sync
from safety.secret_corpus import checksummed

GOOD_TITLE = "Good observation from alice"
NOW = "1773950000"
FIXED = ("exportedBy", "project", "version", "observationCount")


@dataclass(frozen=True)
class Raw:
    """JSON text emitted as it is."""

    text: bytes


def emit(value: Any) -> bytes:
    """JSON bytes of ``value``, where ``Raw`` pieces go in verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return b"{" + b",".join(emit(str(k)) + b":" + emit(v) for k, v in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(emit(item) for item in value) + b"]"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return str(value).encode()
    if isinstance(value, str):  # a name read from disk may hold undecodable bytes: write them back
        return orjson.dumps(value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")).replace(
            "\ufffd".encode(), b"\xff") if _has_surrogates(value) else orjson.dumps(value)
    return orjson.dumps(value)


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= character <= "\udfff" for character in text)


# a credential as a contributor could paste one (generated: no key-shaped literal in the tree)
CREDENTIAL = checksummed("ghp_", random.Random(1818))
HIDDEN = "\u200b".join(CREDENTIAL[i:i + 7] for i in range(0, len(CREDENTIAL), 7))

# text without lone surrogates (orjson cannot write them; the Raw tokens below can), with every
# control character and line break in reach
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", "\n", "a\r\nb", "\x00", "\x1b[31mred", "\u2028", "::error::forged", "\ufeff", "#keep",
     CREDENTIAL, f"token {CREDENTIAL}", HIDDEN, f"src/{CREDENTIAL}/app.py"])

_raw_tokens = st.sampled_from([
    Raw(b"1e400"), Raw(b"-1e400"), Raw(b"1" + b"0" * 400), Raw(b"0." + b"0" * 400 + b"1"), Raw(b"NaN"),
    Raw(b"Infinity"), Raw(b'"\xff\xfe invalid"'), Raw(b'"\\ud800"'), Raw(b'"\\udfff tail"'),
    Raw(b'"raw\nnewline"'), Raw(b'"tab\there"'), Raw(b"-0"), Raw(b"1E+2"), Raw(b"[]"), Raw(b"{}"),
])

_integers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 5,
                     253_402_300_799_999, 253_402_300_800_000, 8_640_000_000_000_000, 8_640_000_000_000_001,
                     1_773_900_000_000, 1_773_900_000]),
)

_scalars = st.one_of(st.none(), st.booleans(), _integers, st.floats(allow_nan=False, allow_infinity=False),
                     _text, _raw_tokens)


def _deep(inner: Any, depth: int) -> Raw:
    return Raw(b"[" * depth + emit(inner) + b"]" * depth)


_values = st.recursive(_scalars, lambda children: st.lists(children, max_size=3)
                       | st.dictionaries(_text, children, max_size=3), max_leaves=8)
_hostile_values = _values | st.builds(_deep, _scalars, st.sampled_from([2, 250, 252, 253, 254, 255, 300, 1100]))

_FIELDS = ("memory_session_id", "type", "created_at_epoch", "title", "narrative", "text", "subtitle", "facts",
           "concepts", "files_read", "files_modified", "access_count", "id", "project", "prompt_number",
           "created_at", "metadata", "score", "keep", "contributors")


@st.composite
def observations(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible observation with some fields replaced by anything, and some unknown ones."""
    obs = observation(draw(_text) or "t", session=draw(st.sampled_from(["bob-s", "good", "x"])))
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=4, unique=True)):
        obs[name] = draw(_hostile_values)
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        obs[draw(_text)] = draw(_hostile_values)
    if draw(st.booleans()):
        del obs[draw(st.sampled_from(sorted(obs)))]
    return obs


@st.composite
def documents(draw: st.DrawFn, dev: str) -> bytes:
    """One contribution file's bytes from ``dev``."""
    kind = draw(st.sampled_from(["document", "document", "document", "bytes", "mangled"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    obs = draw(st.lists(observations(), min_size=0, max_size=3))
    doc: dict[str, Any] = contribution(obs, dev=dev, project="demo",
                                       exported_at_epoch=draw(st.sampled_from([1_773_945_000, 1_773_900_000_000])))
    for name in draw(st.lists(st.sampled_from([*sorted(doc), "extra"]), max_size=2, unique=True)):
        if name not in FIXED or draw(st.booleans()):
            doc[name] = draw(_hostile_values)
    data = emit(doc)
    if kind == "mangled" and data:
        at = draw(st.integers(min_value=0, max_value=len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\x00", b"\n", b'"', b"\\u", b"]", b""])) + data[at:]
    return data


_name_text = st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
                     min_size=1, max_size=10)
file_names = st.one_of(
    st.builds(lambda stem: os.fsencode(stem) + b".json", _name_text),
    st.sampled_from([b"x\xff\xfe.json", b"new\nline.json", b"\x1b[2J.json", b"2026-03-20T10-00-00.json", b".json",
                     b"no-suffix", b"::warning::x.json", CREDENTIAL.encode() + b".json"]),
)
dev_names = st.sampled_from([b"bob", b"bob\nnext", b"b\xffb", b"::error::", b"carol", CREDENTIAL.encode()])


def leaked(texts: list[str]) -> list[str]:
    """Pieces of the credential (plain or split) found in ``texts``."""
    pieces = {form[i:i + 14] for form in (CREDENTIAL, HIDDEN) for i in range(len(form) - 13)}
    return [piece for piece in pieces if any(piece in text for text in texts)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(dev=dev_names, name=file_names, data=st.data())
def test_any_contribution_beside_a_good_file_never_wedges_the_merge(dev: bytes, name: bytes, data: st.DataObject):
    payload = data.draw(documents(os.fsdecode(dev)))
    with tempfile.TemporaryDirectory() as directory:
        repo = Path(directory) / "shared"
        write_contribution(repo, [observation(GOOD_TITLE, session="good-session")], dev="alice")
        folder = os.path.join(os.fsencode(repo), b"contributions", b"demo", dev)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(payload)

        first = run_mem_sync(["ci-merge", "--repo", repo, "--now", NOW, "--format", "json"])

        assert first.returncode == 0, (first.stdout, first.stderr)
        assert "internal error" not in first.stderr and "Traceback" not in first.stderr, first.stderr
        report = orjson.loads(first.stdout)
        merged = orjson.loads((repo / "merged/demo/latest.json").read_bytes())
        assert GOOD_TITLE in [obs.get("title") for obs in merged["observations"]]
        for quarantined in report["quarantined"]:
            assert "\n" not in quarantined["file"] + quarantined["reason"], quarantined
        outputs = {path: path.read_bytes() for path in repo.rglob("*") if path.is_file()}

        again = run_mem_sync(["ci-merge", "--repo", repo, "--now", NOW])

        assert again.returncode == 0, (again.stdout, again.stderr)
        assert "internal error" not in again.stderr and "Traceback" not in again.stderr, again.stderr
        assert "Nothing to do" in again.stdout, again.stdout
        assert {path: path.read_bytes() for path in repo.rglob("*") if path.is_file()} == outputs
        written = [data.decode("utf-8", "replace") for path, data in outputs.items()
                   if "contributions" not in path.relative_to(repo).parts]
        assert leaked([*written, first.stdout, first.stderr, again.stdout, again.stderr]) == []
