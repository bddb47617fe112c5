"""Rule table: coverage of the agreed rule ids, formats, placeholders, checksums, boundaries."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scanners import scanner_for
from secret_corpus import GENERATORS, corpus_available, read_jsonl

from memsync.safety.secret_rules import RULE_IDS, RULES, looks_like_placeholder
from memsync.scanner_cache import ENGINE_ENV, ScannerSetup, open_scanner, scanner_setup

# The 48 rule names of the shared public corpus (its `rule` field): the ids ci-merge reports.
CORPUS_RULE_IDS = {
    "anthropic", "anthropic-admin", "aws-access-key", "aws-access-key-abia",
    "aws-access-key-acca", "aws-access-key-asia", "azure-ad-client-secret", "databricks",
    "digitalocean", "digitalocean-oauth", "digitalocean-refresh", "gcp-api-key",
    "github-app-server", "github-app-user", "github-fine-grained-pat", "github-oauth",
    "github-pat", "github-refresh", "gitlab-deploy-token", "gitlab-pat", "gitlab-pat-routable",
    "gitlab-runner-auth", "gitlab-runner-auth-routable", "gitlab-runner-registration",
    "huggingface", "npm", "openai", "postman", "private-key-pgp", "private-key-pkcs8",
    "private-key-rsa", "pulumi", "pypi", "sendgrid", "shopify", "shopify-custom-app",
    "shopify-private-app", "shopify-shared-secret", "slack-app", "slack-bot",
    "slack-bot-legacy", "slack-user", "slack-webhook", "stripe-prod", "stripe-restricted-prod",
    "stripe-test", "terraform-cloud", "twilio",
}


def test_rule_ids_include_every_public_corpus_rule_name():
    assert CORPUS_RULE_IDS <= set(RULE_IDS)
    if corpus_available():
        assert {row["rule"] for row in read_jsonl("gitleaks_positives.jsonl")} == CORPUS_RULE_IDS


def test_rule_ids_are_unique_and_each_has_a_generator_in_the_labelled_corpus():
    assert len(RULE_IDS) == len(set(RULE_IDS))
    assert set(GENERATORS) == set(RULE_IDS)


def test_every_anchor_is_json_safe():
    # Anchors must appear verbatim in any JSON encoding: no quote, backslash-escape of a
    # character JSON would escape, slash, or line break may be part of what they match.
    for rule in RULES:
        pattern = re.sub(r"\\[.\-]", "", rule.anchor)  # regex escapes of . and -
        assert '"' not in pattern and "/" not in pattern, rule.id
        assert "\\" not in pattern, (rule.id, rule.anchor)
        assert not re.search(r"\\[sSwWdDbB]", rule.anchor), rule.id


@pytest.mark.parametrize("rule_id", sorted(GENERATORS))
def test_generated_token_is_found_alone_with_its_rule_and_exact_span(scanner, rule_id):
    rng = random.Random(rule_id)
    for _ in range(5):
        token = GENERATORS[rule_id](rng)
        text = f"note: {token} end"
        found = scanner.scan_text(text, "narrative")
        assert [(f.rule, f.field, text[f.start : f.end]) for f in found] == [
            (rule_id, "narrative", token)
        ]
        anchor = next(r.anchor for r in RULES if r.id == rule_id)
        assert re.search(anchor, token), "every match must contain its rule's anchor"


@pytest.mark.parametrize("prefix", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "npm_"])
def test_valid_checksum_marks_verified_and_a_typo_still_counts(scanner, prefix):
    rule_id = {"npm_": "npm"}.get(prefix) or next(
        r for r, g in GENERATORS.items() if g(random.Random(0)).startswith(prefix)
    )
    token = GENERATORS[rule_id](random.Random(42))
    [finding] = scanner.scan_text(token)
    assert finding.verified is True
    last = token[-1]
    typo = token[:-1] + ("a" if last != "a" else "b")
    [typo_finding] = scanner.scan_text(typo)
    assert typo_finding.rule == rule_id
    assert typo_finding.verified is False


def test_formats_without_checksum_are_never_verified(scanner):
    for rule_id in ("aws-access-key", "gitlab-pat", "slack-bot", "anthropic", "stripe-prod"):
        [finding] = scanner.scan_text(GENERATORS[rule_id](random.Random(1)))
        assert finding.verified is False


@pytest.mark.parametrize(
    ("rule_id", "glue"),
    [("aws-access-key", "X{}"), ("aws-access-key", "{}7"), ("huggingface", "{}z"),
     ("huggingface", "a{}"), ("gcp-api-key", "{}-"), ("twilio", "A{}"), ("pulumi", "vi{}"),
     ("stripe-test", "ta{}"), ("databricks", "{}0"), ("gitlab-pat", "{}_x")],
)
def test_token_glued_into_a_longer_word_is_not_a_finding(scanner, rule_id, glue):
    token = GENERATORS[rule_id](random.Random(3))
    assert scanner.scan_text(glue.format(token)) == []


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPLE", "ghp_" + "X" * 36, "ghp_" + "x" * 36,
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "glpat-" + "0" * 20,
        "xoxb-123456789012-" + "x" * 24, "sk_test_" + "placeholder", "hf_" + "a" * 34,
        "GR1348941" + "12" * 10, "npm_" + "abc" * 12, "AIza" + "a" * 35,
        "shpat_" + "0123456789abcdef" * 2,
    ],
)
def test_obvious_placeholders_are_not_findings(scanner, text):
    assert scanner.scan_text(f'token = "{text}"') == []


@settings(max_examples=200, deadline=None)
@given(rule_id=st.sampled_from(sorted(GENERATORS)), seed=st.integers(0, 2**32))
def test_random_token_bodies_are_never_taken_for_placeholders(rule_id, seed):
    token = GENERATORS[rule_id](random.Random(seed))
    assert len(scanner_for("python").scan_text(token)) == 1, (rule_id, seed)


def test_six_equal_digits_in_a_random_token_do_not_make_it_a_placeholder():
    # hypothesis found this one: a 12-digit group holds "555555" about once in 14,000 tokens
    token = GENERATORS["slack-legacy"](random.Random(1016))
    assert "555555" in token
    assert [finding.rule for finding in scanner_for("python").scan_text(token)] == ["slack-legacy"]


def test_placeholder_heuristic_on_plain_bodies():
    assert looks_like_placeholder("XXXXXXXXXXXXXXXXXXXX")
    assert looks_like_placeholder("your_token_goes_here_")
    assert looks_like_placeholder("0123456789abcdefghij")
    assert not looks_like_placeholder("q8Xf2LmP0zRt7VbN3cYw")


def test_findings_carry_location_not_the_secret(scanner):
    token = GENERATORS["github-pat"](random.Random(5))
    [finding] = scanner.scan_text(f"pasted {token} by mistake", "facts[0]")
    assert token not in repr(finding)
    assert (finding.rule, finding.field, finding.start, finding.end) == (
        "github-pat", "facts[0]", 7, 7 + len(token)
    )


def test_both_engines_agree_on_a_mixed_document():
    pytest.importorskip("hyperscan")
    rng = random.Random(9)
    text = "\n".join(
        f"{rule}: {GENERATORS[rule](rng)} and ghp_short AKIA1234 /u00e9 é—✓"
        for rule in sorted(GENERATORS)
    )
    results = {name: scanner_for(name).scan_text(text) for name in ("hyperscan", "python")}
    assert results["hyperscan"] == results["python"]
    assert {f.rule for f in results["python"]} == set(GENERATORS)


def test_unknown_engine_name_is_a_usage_error():
    from memsync.errors import UsageError

    with pytest.raises(UsageError, match="hyperscan, python or auto"):
        open_scanner(ScannerSetup(engine="re2"))


def test_a_valid_checksum_outweighs_a_placeholder_look(scanner):
    import zlib

    from secret_corpus import B62

    random_part = "your" + "Q7x" * 8 + "mZ"  # 30 characters that read like a stand-in
    crc = zlib.crc32(random_part.encode()) & 0xFFFFFFFF
    suffix = ""
    while crc:
        crc, rem = divmod(crc, 62)
        suffix = B62[rem] + suffix
    token = "ghp_" + random_part + suffix.rjust(6, "0")
    [finding] = scanner.scan_text(token)
    assert (finding.rule, finding.verified) == ("github-pat", True)
    assert scanner.scan_text(token[:-1] + ("A" if token[-1] != "A" else "B")) == []


def test_without_the_hyperscan_wheel_the_fallback_engine_is_chosen(tmp_path):
    import json
    import os
    import subprocess
    import sys

    token = GENERATORS["github-pat"](random.Random(8))
    script = (
        "import os, sys, json\n"
        "sys.modules['hyperscan'] = None  # as if the wheel were missing\n"
        "from memsync.scanner_cache import open_scanner, scanner_setup\n"
        "scanner = open_scanner(scanner_setup(os.environ))\n"
        f"found = scanner.scan_text('x {token}')\n"
        "print(json.dumps([scanner.engine_name, [f.rule for f in found]]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ENGINE_ENV}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, check=True, cwd=tmp_path)
    assert json.loads(out.stdout) == ["python", ["github-pat"]]


def test_engine_is_chosen_by_the_environment_the_entry_point_reads():
    assert scanner_setup({ENGINE_ENV: " Python "}).engine == "python"
    assert open_scanner(scanner_setup({ENGINE_ENV: "python"})).engine_name == "python"
    assert scanner_setup({}).engine == "auto"


def test_the_cache_folder_is_resolved_from_the_environment_given():
    from pathlib import Path

    assert scanner_setup({"MEM_SYNC_CACHE_DIR": "/c"}).cache_dir == Path("/c")
    assert scanner_setup({"XDG_CACHE_HOME": "/x", "HOME": "/h"}).cache_dir == Path("/x/mem-sync")
    assert scanner_setup({"HOME": "/h"}).cache_dir == Path("/h/.cache/mem-sync")
