"""Labelled corpora: every positive found with the right rule, zero false positives."""

from __future__ import annotations

import pytest
from secret_corpus import corpus_available, negatives, positives, read_jsonl

from memsync.safety import secrets

needs_corpus = pytest.mark.skipif(
    not corpus_available(), reason="../shared/corpora/secrets is not present in this checkout"
)


def test_own_corpus_is_large_enough():
    assert len(negatives()) >= 200
    assert {rule for rule, _, _ in positives()} == set(secrets.RULE_IDS)


def test_own_positives_found_with_the_right_rule_and_span(scanner):
    misses = []
    for rule_id, text, token in positives():
        found = scanner.scan_text(text)
        got = [(f.rule, text[f.start : f.end]) for f in found]
        if got != [(rule_id, token)]:
            misses.append((rule_id, [rule for rule, _ in got], text[:60]))
    assert misses == []


def test_own_negatives_have_no_findings(scanner):
    flagged = [(text[:80], [f.rule for f in scanner.scan_text(text)]) for text in negatives()]
    assert [item for item in flagged if item[1]] == []


@needs_corpus
def test_public_positives_each_found_with_the_right_rule(scanner):
    rows = read_jsonl("gitleaks_positives.jsonl")
    assert len(rows) == 251
    wrong = []
    for row in rows:
        rules = {f.rule for f in scanner.scan_text(row["text"])}
        if rules != {row["rule"]}:
            wrong.append((row["rule"], sorted(rules)))
    assert wrong == []


@needs_corpus
@pytest.mark.parametrize("name", ["gitleaks_negatives.jsonl", "realtext_negatives.jsonl"])
def test_public_negatives_have_no_findings(scanner, name):
    rows = read_jsonl(name)
    assert rows
    flagged = [(row["text"][:80], [f.rule for f in scanner.scan_text(row["text"])]) for row in rows]
    assert [item for item in flagged if item[1]] == []


@needs_corpus
def test_prefilter_passes_every_public_negative_file_without_a_full_scan(scanner):
    # Realistic notes without credentials should mostly not even need parsing.
    import orjson

    rows = read_jsonl("realtext_negatives.jsonl")
    observations = [{"title": "note", "narrative": row["text"]} for row in rows]
    raw = orjson.dumps({"observations": observations})
    assert scanner.may_contain_secret(raw) is False
