"""Invisible characters inside a token do not get it past the scanner."""

from __future__ import annotations

import random

import orjson
import pytest

from builders import observation, read_json, write_contribution
from clirun import run_mem_sync
from memsync.safety.ignorable import BYTE_PATTERN, IGNORABLE_RANGES, has_ignorable, strip_ignorable
from memsync.safety.secrets import redact
from safety.secret_corpus import GENERATORS, checksummed

TOKEN = checksummed("ghp_", random.Random(55))
INVISIBLE = {
    "zero-width-space": "\u200b", "zero-width-joiner": "\u200d", "zero-width-non-joiner": "\u200c",
    "word-joiner": "\u2060", "soft-hyphen": "\u00ad", "byte-order-mark": "\ufeff",
    "variation-selector": "\ufe0f", "tag-character": "\U000e0041", "hangul-filler": "\u3164",
}


def hidden(token: str, mark: str, every: int = 7) -> str:
    return mark.join(token[i:i + every] for i in range(0, len(token), every))


@pytest.mark.parametrize("mark", list(INVISIBLE.values()), ids=list(INVISIBLE))
@pytest.mark.parametrize("escaped", [False, True], ids=["utf8", "json-escape"])
def test_ci_merge_withholds_a_token_split_by_invisible_characters(shared_repo, mark, escaped):
    text = f"deploy with {hidden(TOKEN, mark)} today"
    path = write_contribution(shared_repo, [observation("Deploy", session="s1", narrative=text),
                                            observation("Clean", session="s2")])
    if escaped:  # what a writer with ensure_ascii (Python's json) produces
        import json
        path.write_text(json.dumps(orjson.loads(path.read_bytes()), ensure_ascii=True, indent=2))
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--format", "json"])
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert [(f["key"]["memory_session_id"], f["rules"]) for f in report["secretFindings"]] == [("s1", ["github-pat"])]
    assert [o["title"] for o in read_json(shared_repo / "merged/demo/latest.json")["observations"]] == ["Clean"]


@pytest.mark.parametrize("rule", ["github-pat", "aws-access-key", "slack-bot", "anthropic", "gitlab-pat"])
def test_every_engine_finds_and_redacts_a_token_whatever_invisible_characters_it_holds(scanner, rule):
    token = GENERATORS[rule](random.Random(3))
    for mark in INVISIBLE.values():
        text = f"key: {hidden(token, mark, 5)} end"
        findings = scanner.scan_text(text)
        assert [f.rule for f in findings] == [rule], (rule, repr(mark))
        redacted = redact(text, findings)
        assert redacted == f"key: [REDACTED:{rule}] end"  # the invisible characters inside go too
        assert scanner.may_contain_secret(orjson.dumps({"narrative": text}))
        obs = observation("t", narrative=text)
        assert [f.rule for f in scanner.scan_observation(obs)] == [rule]
        assert [[f.rule for f in found] for found in scanner.scan_observations([obs, observation("u")])] == [[rule], []]
        copy, found = scanner.redact_observation(obs)
        assert copy["narrative"] == f"key: [REDACTED:{rule}] end" and [f.rule for f in found] == [rule]


def test_text_without_invisible_characters_is_not_touched():
    for text in ("plain", "“curly” – dashes … and émojis 🙂", ""):
        assert not has_ignorable(text)
        assert strip_ignorable(text)[0] == text


def test_the_table_is_unicodes_default_ignorable_code_points() -> None:
    regex = pytest.importorskip("regex")
    unicode = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    ours = {point for low, high in IGNORABLE_RANGES for point in range(low, high + 1)}
    assert ours == {point for point in range(0x110000) if unicode.match(chr(point))}


def test_the_byte_pattern_finds_every_ignorable_raw_or_escaped_and_no_common_punctuation() -> None:
    import json
    import re

    pattern = re.compile(BYTE_PATTERN.encode("ascii"))
    for low, high in IGNORABLE_RANGES:
        for point in range(low, high + 1):
            assert pattern.search(chr(point).encode()), hex(point)
            assert pattern.search(json.dumps(chr(point)).encode()), hex(point)
    assert pattern.search("“curly” – dashes … ‘quotes’ • bullets → arrows é".encode()) is None
