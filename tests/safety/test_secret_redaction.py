"""Redaction and whole-observation scanning: the secret never comes back out."""

from __future__ import annotations

import random

import orjson
from secret_corpus import GENERATORS

from builders import observation
from memsync.safety.secrets import redact


def _token(rule_id: str, seed: int = 11) -> str:
    return GENERATORS[rule_id](random.Random(seed))


def test_redact_replaces_each_match_with_its_rule_name(scanner):
    gh, aws = _token("github-pat"), _token("aws-access-key")
    text = f"GITHUB_TOKEN={gh}\nAWS_ACCESS_KEY_ID={aws}\nregion=eu-west-1"
    out = redact(text, scanner.scan_text(text))
    assert out == (
        "GITHUB_TOKEN=[REDACTED:github-pat]\nAWS_ACCESS_KEY_ID=[REDACTED:aws-access-key]\n"
        "region=eu-west-1"
    )
    assert scanner.scan_text(out) == []


def test_redact_removes_a_whole_multiline_private_key(scanner):
    key = _token("private-key-rsa")
    text = f"old bastion key:\n{key}\nthat's it"
    out = redact(text, scanner.scan_text(text))
    assert out == "old bastion key:\n[REDACTED:private-key-rsa]\nthat's it"


def test_redact_with_no_findings_returns_the_text_unchanged():
    assert redact("nothing here", []) == "nothing here"


def test_scan_observation_covers_every_string_field_and_names_it(scanner):
    tokens = {name: _token(name, seed) for seed, name in enumerate(
        ["github-pat", "slack-bot", "npm", "stripe-prod", "openai", "pulumi", "anthropic"])}
    obs = observation(
        title=f"Deploy with {tokens['github-pat']}",
        narrative="clean",
        facts=["first fact", f"bot token {tokens['slack-bot']}"],
        concepts=f'["how-it-works", "{tokens["npm"]}"]',  # JSON-array string, as claude-mem stores it
        text=None,
        meta={"note": f"key {tokens['stripe-prod']}", "nested": [[f"x {tokens['openai']}"]]},
        subtitle=f"{tokens['pulumi']}",
    )
    obs[f"{tokens['anthropic']}"] = "a field named like a secret"
    found = scanner.scan_observation(obs)
    assert {(f.rule, f.field) for f in found} == {
        ("github-pat", "title"),
        ("slack-bot", "facts[1]"),
        ("npm", "concepts"),
        ("stripe-prod", "meta.note"),
        ("openai", "meta.nested[0][0]"),
        ("pulumi", "subtitle"),
        ("anthropic", "[REDACTED:anthropic]#key"),
    }
    dumped = repr(found)
    assert not any(token in dumped for token in tokens.values())


def test_scan_observations_batch_equals_one_by_one(scanner):
    rng = random.Random(4)
    rules = sorted(GENERATORS) * 3  # several chunks, hits near chunk edges
    batch = [
        observation(title=f"t{i}", narrative=f"n {GENERATORS[rule](rng)}" if i % 3 else "clean")
        for i, rule in enumerate(rules)
    ]
    one_by_one = [scanner.scan_observation(o) for o in batch]
    assert scanner.scan_observations(batch) == one_by_one
    assert sum(1 for found in one_by_one if found) == len(rules) - len(range(0, len(rules), 3))
    assert scanner.scan_observations([]) == []


def test_redact_observation_redacts_everywhere_and_keeps_the_rest(scanner):
    gh, aws, key = _token("github-pat"), _token("aws-access-key"), _token("gitlab-pat")
    obs = observation(
        title=f"Rotate {gh}", narrative="keep me", facts=["ok", f"aws {aws}"], extra={key: [1, 2]}
    )
    copy, found = scanner.redact_observation(obs)
    assert obs["title"] == f"Rotate {gh}", "the input is not modified"
    assert copy["title"] == "Rotate [REDACTED:github-pat]"
    assert copy["facts"] == ["ok", "aws [REDACTED:aws-access-key]"]
    assert copy["extra"] == {"[REDACTED:gitlab-pat]": [1, 2]}
    assert copy["narrative"] == "keep me"
    assert {f.rule for f in found} == {"github-pat", "aws-access-key", "gitlab-pat"}
    raw = orjson.dumps(copy)
    assert all(t.encode() not in raw for t in (gh, aws, key))
    assert scanner.scan_observation(copy) == []


def test_subclassed_strings_and_tuples_are_scanned_like_plain_ones(scanner):
    class Text(str):
        pass

    gh = _token("github-pat")
    obs = observation(narrative=Text(f"see {gh}"), facts=("a", Text(gh)))
    assert {(f.rule, f.field) for f in scanner.scan_observation(obs)} == {
        ("github-pat", "narrative"), ("github-pat", "facts[1]")
    }
    copy, _ = scanner.redact_observation(obs)
    assert gh not in repr(copy)


def test_text_with_lone_surrogates_is_scanned(scanner):
    # json.loads accepts "\ud800", so parsed notes can hold lone surrogates
    gh = _token("github-pat")
    text = f"broken \ud800 emoji, then {gh}"
    [finding] = scanner.scan_text(text)
    assert text[finding.start : finding.end] == gh
    obs = observation(narrative=text)
    assert [(f.rule, f.field) for f in scanner.scan_observation(obs)] == [("github-pat", "narrative")]
    assert scanner.scan_observations([obs]) == [scanner.scan_observation(obs)]


def test_malformed_observations_are_still_scanned(scanner):
    gh = _token("github-pat")
    assert [f.field for f in scanner.scan_observation([f"x {gh}"])] == ["[0]"]
    assert [f.field for f in scanner.scan_observation(gh)] == [""]
    assert scanner.scan_observation(42) == []
    assert scanner.scan_observations([{"ok": "x"}, [gh]])[1][0].rule == "github-pat"


def test_concurrent_scans_from_threads_agree(scanner):
    from concurrent.futures import ThreadPoolExecutor

    gh = _token("github-pat")
    big = ("The worker retries idempotent writes. " * 20000).encode()
    jobs = [big, big + gh.encode(), f"note {gh}".encode()] * 20
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(scanner.may_contain_secret, jobs))
    assert answers == [False, True, True] * 20
