"""`mem-sync distill` end to end: a real merged set (ci-merge), the real CLI, the official SDKs
talking HTTP to a loopback server shaped like the Messages API / chat completions."""

from __future__ import annotations

import json
from pathlib import Path

from distill_support import (
    DEVS,
    all_files,
    contains_word,
    distill,
    distilled,
    github_token,
    merge,
    themed_observations,
    write_config,
)

from builders import observation, write_contribution
from fakes.llm import FakeLLM, Recorded, Reply, honest_answer
from memsync.safety.secrets import python_scanner


def test_requests_carry_no_secret_and_no_developer_name(tmp_path: Path, fake_llm: FakeLLM,
                                                        config_file: Path) -> None:
    repo = tmp_path / "shared"
    token = github_token()
    leaky = observation("Deploy key for staging", session="s-leak", type="decision",
                        narrative=f"Use {token} to push from CI", concepts='["deploy"]')
    named = observation("Ask bob before touching the schema", session="s-named",
                        narrative="Bob and Alice own the migrations.", concepts='["sqlite"]')
    write_contribution(repo, [leaky, named, *themed_observations("alice", 3)], dev="alice")
    write_contribution(repo, [named, *themed_observations("bob", 3, offset=3)], dev="bob")
    # A merged set made without the scanner (or before it knew a rule) may still hold a secret.
    merge(repo, "--secrets", "off")

    result = distill(repo, fake_llm, config_file)

    assert result.returncode == 0, result.stderr
    (request,) = fake_llm.requests
    texts = request.texts
    scanner = python_scanner()
    assert texts and all(not scanner.scan_text(text) for text in texts)
    assert not any(token in text for text in texts)
    for dev in ("alice", "bob"):
        assert not contains_word(texts, dev), dev
    assert "[developer]" in request.user_text  # the names in the note were blanked, the note sent
    sent = [json.loads(line) for line in request.user_text.splitlines() if line.startswith('{"id"')]
    assert {tuple(sorted(o)) for o in sent} == {
        ("concepts", "contributors", "date", "facts", "id", "narrative", "title", "type")}
    assert {o["title"] for o in sent if o["contributors"] == 2} == {
        "Ask [developer] before touching the schema"}
    report = distilled(repo, "distillation-report.json")
    assert report["selection"]["withheldForSecrets"] == 1
    assert token not in result.stdout + result.stderr
    # dev diversity is ours, from the contributors we never sent
    rules = distilled(repo, "rules.json")["rules"]
    sqlite_rule = next(r for r in rules if "sqlite" in r["rule"])
    assert sqlite_rule["devDiversity"] == 2


def test_over_budget_input_is_split_by_concept_and_merged(tmp_path: Path, fake_llm: FakeLLM,
                                                          config_file: Path) -> None:
    repo = tmp_path / "shared"
    for dev in DEVS:
        write_contribution(repo, themed_observations(dev, 24, offset=DEVS.index(dev) * 24),
                           dev=dev)
    merge(repo, "--cap", "1000")
    write_config(config_file, {"enabled": True, "minObservations": 1, "maxTokenBudget": 3000})

    result = distill(repo, fake_llm, config_file)

    assert result.returncode == 0, result.stderr
    parts = [r for r in fake_llm.requests if r.kind == "part"]
    merges = [r for r in fake_llm.requests if r.kind == "merge"]
    assert len(parts) >= 3 and len(merges) >= 1
    assert fake_llm.requests[-1].kind == "merge"
    ids = [i for r in parts for i in r.observation_ids()]
    assert len(ids) == len(set(ids)) == 72  # every observation in exactly one part
    for request in fake_llm.requests:  # every call stays under the budget (our estimate)
        size = sum(len(t) for t in (request.json["system"], request.user_text)) / 3.5
        assert size <= 3000
    # parts follow concept clusters: each part holds one concept, cut by date when too big
    for request in parts:
        concepts = {json.loads(line)["concepts"][0] for line in request.user_text.splitlines()
                    if line.startswith('{"id"')}
        assert len(concepts) == 1, concepts
    report = distilled(repo, "distillation-report.json")
    assert report["parts"] == len(parts) and report["calls"] == len(parts) + len(merges)
    rules = distilled(repo, "rules.json")["rules"]
    # the merge joined the three concept rules' evidence back up across the parts
    assert sum(r["sourceCount"] for r in rules) >= 72
    assert {r["typeBreakdown"].get("decision", 0) for r in rules if "http" in r["rule"]} != {0}


def test_dry_run_prints_parts_tokens_and_cost_and_sends_nothing(tmp_path: Path, merged_repo: Path,
                                                               fake_llm: FakeLLM,
                                                               config_file: Path) -> None:
    write_config(config_file, {"enabled": True, "minObservations": 1, "maxTokenBudget": 2000})

    result = distill(merged_repo, fake_llm, config_file, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert fake_llm.requests == []
    assert not (merged_repo / "distilled").exists()
    assert "13 to send of 13 merged" in result.stdout
    assert "part 1:" in result.stdout and "merge" in result.stdout
    assert "cost ~$" in result.stdout and "claude-sonnet-4" in result.stdout

    as_json = distill(merged_repo, fake_llm, config_file, "--dry-run", "--format", "json")
    doc = json.loads(as_json.stdout)
    estimate = doc["projects"][0]["estimate"]
    assert estimate["inputTokens"] == sum(c["inputTokens"] for c in estimate["calls"])
    # one price table: $3 / $15 per million tokens for Sonnet 4
    expected = round((estimate["inputTokens"] * 3 + estimate["outputTokens"] * 15) / 1e6, 4)
    assert estimate["estimatedCost"] == expected
    assert "<observations>" in doc["sampleRequest"]["user"]


def test_max_cost_refuses_before_any_request(merged_repo: Path, fake_llm: FakeLLM,
                                             config_file: Path) -> None:
    result = distill(merged_repo, fake_llm, config_file, "--max-cost", "0.0001")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "exceeds --max-cost $0.0001" in result.stderr
    assert fake_llm.requests == [] and not (merged_repo / "distilled").exists()


def test_unknown_citation_drops_that_rule(merged_repo: Path, fake_llm: FakeLLM,
                                          config_file: Path) -> None:
    def answer(request: Recorded) -> dict:
        honest = honest_answer(request)
        honest["rules"][0]["sources"].append("O999")  # an id we never sent
        return honest

    fake_llm.answerer = answer
    result = distill(merged_repo, fake_llm, config_file)

    assert result.returncode == 0, result.stderr
    honest = honest_answer(fake_llm.requests[0])
    rules = distilled(merged_repo, "rules.json")["rules"]
    assert {r["rule"] for r in rules} == {r["rule"] for r in honest["rules"][1:]}
    assert len(honest["rules"]) == 3
    assert distilled(merged_repo, "distillation-report.json")["dropped"]["unknownCitation"] == 1


def test_statistics_come_from_the_citations_not_the_model(merged_repo: Path, fake_llm: FakeLLM,
                                                          config_file: Path) -> None:
    def answer(request: Recorded) -> dict:
        honest = honest_answer(request)
        for rule in honest["rules"]:  # claims the schema does not ask for are ignored
            rule.update(sourceCount=99, devDiversity=42, sourceTypes=["invented"])
        return honest

    fake_llm.answerer = answer
    assert distill(merged_repo, fake_llm, config_file).returncode == 0
    sent = {json.loads(line)["id"]: json.loads(line) for line in
            fake_llm.requests[0].user_text.splitlines() if line.startswith('{"id"')}
    for rule in distilled(merged_repo, "rules.json")["rules"]:
        assert rule["sourceCount"] == len(rule["evidence"]) < 99
        assert rule["devDiversity"] <= 3 and "invented" not in rule["sourceTypes"]
        assert sum(rule["typeBreakdown"].values()) == rule["sourceCount"]
        assert rule["files"] and all(f.startswith("src/") for f in rule["files"])
    assert len(sent) == 13


def test_second_run_with_nothing_changed_makes_no_request(merged_repo: Path, fake_llm: FakeLLM,
                                                          config_file: Path) -> None:
    first = distill(merged_repo, fake_llm, config_file)
    assert first.returncode == 0, first.stderr
    files = all_files(merged_repo)
    assert set(files) == {"rules.md", "rules.json", "knowledge-base.md",
                          "distillation-report.json", "feedback.json"}

    second = distill(merged_repo, fake_llm, config_file)

    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert len(fake_llm.requests) == 1
    assert all_files(merged_repo) == files


def test_same_answer_gives_byte_identical_files(merged_repo: Path, fake_llm: FakeLLM,
                                                config_file: Path) -> None:
    assert distill(merged_repo, fake_llm, config_file).returncode == 0
    first = all_files(merged_repo)
    for path in (merged_repo / "distilled" / "demo").iterdir():
        path.unlink()
    assert distill(merged_repo, fake_llm, config_file).returncode == 0
    assert all_files(merged_repo) == first
    assert len(fake_llm.requests) == 2


def test_a_rejected_rule_is_absent_next_time_and_listed_as_do_not_propose(
        merged_repo: Path, fake_llm: FakeLLM, config_file: Path) -> None:
    assert distill(merged_repo, fake_llm, config_file).returncode == 0
    rules = distilled(merged_repo, "rules.json")["rules"]
    target = next(r for r in rules if "sqlite" in r["rule"])

    verdict = distill(merged_repo, fake_llm, config_file, "reject", target["id"])
    assert verdict.returncode == 0, verdict.stderr
    feedback = distilled(merged_repo, "feedback.json")
    entry = next(e for e in feedback["entries"] if e["ruleId"] == target["id"])
    assert entry["status"] == "rejected" and entry["reviewedBy"] == "reviewer1"

    def stubborn(request: Recorded) -> dict:
        honest = honest_answer(request)  # proposes the same rule again, and a rephrasing of it
        twin = dict(next(r for r in honest["rules"] if "sqlite" in r["rule"]))
        twin["rule"] = twin["rule"].replace("Follow the team's", "Always follow our")
        honest["rules"].append(twin)
        return honest

    fake_llm.answerer = stubborn
    again = distill(merged_repo, fake_llm, config_file)  # the feedback changed: a new run

    assert again.returncode == 0, again.stderr
    prompt = fake_llm.requests[-1].user_text
    block = prompt.split("<do_not_propose>")[1].split("</do_not_propose>")[0]
    assert f"- {target['rule']}" in block
    new_rules = distilled(merged_repo, "rules.json")["rules"]
    assert all("sqlite practice" not in r["rule"] for r in new_rules)
    assert target["id"] not in {r["id"] for r in new_rules}
    report = distilled(merged_repo, "distillation-report.json")
    assert report["dropped"]["nearRejected"] == 2
    assert report["rejectedRules"] == [{"id": target["id"], "rule": target["rule"]}]
    assert target["rule"] not in distilled(merged_repo, "rules.md")

    # a third run still remembers the text, though rules.json no longer holds the rule
    (merged_repo / "distilled" / "demo" / "rules.md").unlink()
    third = distill(merged_repo, fake_llm, config_file)
    assert third.returncode == 0, third.stderr
    assert f"- {target['rule']}" in fake_llm.requests[-1].user_text


def test_accepted_and_modified_rules_are_kept_verbatim_with_their_ids(
        merged_repo: Path, fake_llm: FakeLLM, config_file: Path) -> None:
    assert distill(merged_repo, fake_llm, config_file).returncode == 0
    rules = {r["id"]: r for r in distilled(merged_repo, "rules.json")["rules"]}
    accepted, modified = sorted(rules)[:2]
    assert distill(merged_repo, fake_llm, config_file, "accept", accepted, "--paths",
                   "src/http/**").returncode == 0
    reworded = distill(merged_repo, fake_llm, config_file, "modify", modified, "--text",
                       "Keep one rule per team practice")
    assert reworded.returncode == 0, reworded.stderr

    fake_llm.answerer = lambda request: {"rules": [], "knowledgeSections": []}
    assert distill(merged_repo, fake_llm, config_file).returncode == 0

    kept = {r["id"]: r for r in distilled(merged_repo, "rules.json")["rules"]}
    assert kept == {accepted: rules[accepted], modified: rules[modified]}
    adopted = fake_llm.requests[-1].user_text.split("<adopted_rules>")[1]
    assert rules[accepted]["rule"] in adopted and "Keep one rule per team practice" in adopted
    entries = {e["ruleId"]: e for e in distilled(merged_repo, "feedback.json")["entries"]}
    assert set(entries) == {accepted, modified}  # proposals of the old run are gone
    assert entries[accepted]["paths"] == ["src/http/**"]
    assert entries[modified] | {"reviewedAt": "x"} == {
        "ruleId": modified, "status": "modified", "modifiedRule": "Keep one rule per team practice",
        "reviewedBy": "reviewer1", "reviewedAt": "x"}
    assert "Keep one rule per team practice" in distilled(merged_repo, "rules.md")


def test_429_then_200_succeeds(merged_repo: Path, fake_llm: FakeLLM, config_file: Path) -> None:
    fake_llm.script = [Reply(status=429, message="Number of requests has exceeded your rate limit",
                             headers={"retry-after": "0"})]
    result = distill(merged_repo, fake_llm, config_file)
    assert result.returncode == 0, result.stderr
    assert len(fake_llm.requests) == 2
    assert fake_llm.requests[1].headers.get("x-stainless-retry-count") == "1"
    assert distilled(merged_repo, "rules.json")["rules"]


def test_truncated_answer_is_retried_once_then_fails_with_nothing_written(
        merged_repo: Path, fake_llm: FakeLLM, config_file: Path) -> None:
    fake_llm.script = [Reply(truncated=True), Reply(truncated=True)]
    result = distill(merged_repo, fake_llm, config_file)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "truncated (stop reason max_tokens), twice; nothing was written" in result.stderr
    assert len(fake_llm.requests) == 2
    assert not (merged_repo / "distilled").exists()


def test_an_invalid_answer_is_retried_once(merged_repo: Path, fake_llm: FakeLLM,
                                           config_file: Path) -> None:
    fake_llm.script = [Reply(answer={"rules": [{"rule": "No sources"}]})]
    result = distill(merged_repo, fake_llm, config_file)
    assert result.returncode == 0, result.stderr
    assert len(fake_llm.requests) == 2


def test_provider_errors_are_one_line_each(merged_repo: Path, fake_llm: FakeLLM,
                                           config_file: Path) -> None:
    cases = [
        ({"ANTHROPIC_API_KEY": "wrong"}, [], "rejected the credentials (401"),
        ({}, [Reply(status=403, message="not allowed")], "refused access (403"),
        ({}, [Reply(status=429, headers={"retry-after": "0"})] * 3, "rate limiting (429) after 2"),
        ({}, [Reply(status=529, headers={"retry-after": "0"}, message="Overloaded")] * 3,
         "overloaded (529) after 2"),
    ]
    for env, script, expected in cases:
        fake_llm.script = list(script)
        result = distill(merged_repo, fake_llm, config_file, env=env)
        assert result.returncode == 1, expected
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "wrong" not in result.stderr
    fake_llm.models = {"claude-sonnet-4-20250514"}
    result = distill(merged_repo, fake_llm, config_file, "--model", "claude-nonexistent")
    assert result.returncode == 1 and "model 'claude-nonexistent' was not found" in result.stderr
    assert not (merged_repo / "distilled").exists()


def test_timeout_is_one_line(merged_repo: Path, fake_llm: FakeLLM, config_file: Path) -> None:
    import time

    def slow(request: Recorded) -> dict:
        time.sleep(2)
        return honest_answer(request)

    fake_llm.answerer = slow
    write_config(config_file, {"enabled": True, "minObservations": 1, "timeoutSeconds": 0.5})
    result = distill(merged_repo, fake_llm, config_file)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "(timeout)" in result.stderr


def test_openai_compatible_endpoint_uses_a_json_schema_response(
        merged_repo: Path, fake_llm: FakeLLM, config_file: Path) -> None:
    write_config(config_file, {"enabled": True, "minObservations": 1, "provider": "openai",
                               "model": "gpt-4o"})
    result = distill(merged_repo, fake_llm, config_file, env={"OPENAI_API_KEY": "test-key"},
                     base_url=f"{fake_llm.base_url}/v1")
    assert result.returncode == 0, result.stderr
    (request,) = fake_llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer test-key"
    schema = request.json["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["required"] == ["rules",
                                                                          "knowledgeSections"]
    assert not any(contains_word(request.texts, dev) for dev in DEVS)
    report = distilled(merged_repo, "distillation-report.json")
    assert report["provider"] == "openai" and report["model"] == "gpt-4o"
    assert report["tokenUsage"]["estimatedCost"] > 0
    assert distilled(merged_repo, "rules.json")["rules"]


def test_openai_truncation_fails_cleanly(merged_repo: Path, fake_llm: FakeLLM,
                                         config_file: Path) -> None:
    write_config(config_file, {"enabled": True, "minObservations": 1, "provider": "openai",
                               "model": "gpt-4o"})
    fake_llm.script = [Reply(truncated=True), Reply(truncated=True)]
    result = distill(merged_repo, fake_llm, config_file, env={"OPENAI_API_KEY": "test-key"},
                     base_url=f"{fake_llm.base_url}/v1")
    assert result.returncode == 1 and "stop reason length" in result.stderr
    assert not (merged_repo / "distilled").exists()


def test_double_opt_in_is_enforced_for_external_endpoints(merged_repo: Path, fake_llm: FakeLLM,
                                                         config_file: Path) -> None:
    write_config(config_file, {"enabled": False, "minObservations": 1})
    off = distill(merged_repo, fake_llm, config_file)
    assert off.returncode == 1 and "distillation is disabled" in off.stderr

    write_config(config_file, {"enabled": True, "minObservations": 1})
    external = distill(merged_repo, fake_llm, config_file,
                       base_url="https://api.anthropic.com")
    assert external.returncode == 1 and "allowExternalApi" in external.stderr
    # loopback counts as in-house: `enabled` alone was enough for every other test here
    assert fake_llm.requests == []


def test_too_few_observations_skips_without_a_call(merged_repo: Path, fake_llm: FakeLLM,
                                                   config_file: Path) -> None:
    write_config(config_file, {"enabled": True})  # claude-mem-sync's default minimum: 20
    result = distill(merged_repo, fake_llm, config_file)
    assert result.returncode == 0 and "below distillation.minObservations (20)" in result.stdout
    assert fake_llm.requests == []


def test_excluded_types_are_not_sent(merged_repo: Path, fake_llm: FakeLLM,
                                     config_file: Path) -> None:
    write_config(config_file, {"enabled": True, "minObservations": 1,
                               "excludeTypes": ["discovery"]})
    assert distill(merged_repo, fake_llm, config_file).returncode == 0
    assert '"type":"discovery"' not in fake_llm.requests[0].user_text
    report = distilled(merged_repo, "distillation-report.json")
    assert report["selection"]["excludedByType"] == 3  # one discovery per developer


def test_bedrock_signs_requests_and_gets_the_same_grounded_output(
        merged_repo: Path, fake_llm: FakeLLM, config_file: Path) -> None:
    fake_llm.keys = {"AKIDLOOPBACKTEST"}
    model = "anthropic.claude-sonnet-4-20250514-v1:0"
    write_config(config_file, {"enabled": True, "minObservations": 1, "provider": "bedrock",
                               "model": model, "region": "eu-west-1"})
    result = distill(merged_repo, fake_llm, config_file,
                     env={"AWS_ACCESS_KEY_ID": "AKIDLOOPBACKTEST",
                          "AWS_SECRET_ACCESS_KEY": "loopback-secret", "ANTHROPIC_API_KEY": ""})
    assert result.returncode == 0, result.stderr
    (request,) = fake_llm.requests
    assert request.path == f"/model/{model}/invoke"
    assert "/eu-west-1/bedrock/aws4_request" in request.headers["authorization"]
    assert request.json["tool_choice"] == {"type": "tool", "name": "record_distillation"}
    report = distilled(merged_repo, "distillation-report.json")
    assert report["provider"] == "bedrock"
    assert report["tokenUsage"]["estimatedCost"] > 0  # Bedrock's spelling is in the price table


def test_a_missing_key_for_an_external_endpoint_is_one_line(merged_repo: Path, fake_llm: FakeLLM,
                                                            config_file: Path) -> None:
    write_config(config_file, {"enabled": True, "allowExternalApi": True, "minObservations": 1})
    result = distill(merged_repo, fake_llm, config_file, env={"ANTHROPIC_API_KEY": ""},
                     base_url="https://api.anthropic.com")
    assert result.returncode == 1
    assert result.stderr == "mem-sync: error: no API key: set ANTHROPIC_API_KEY (or " \
        "distillation.apiKeyEnv to the variable that holds it)\n"


def test_a_wrong_distillation_setting_is_one_line_naming_the_field(
        merged_repo: Path, fake_llm: FakeLLM, config_file: Path) -> None:
    write_config(config_file, {"enabled": True, "maxTokenBudget": 500})
    result = distill(merged_repo, fake_llm, config_file)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "global.distillation.maxTokenBudget must be at least 2000, got 500" in result.stderr
    assert fake_llm.requests == []


def test_vertex_uses_google_credentials_and_the_raw_predict_endpoint(
        merged_repo: Path, fake_llm: FakeLLM, config_file: Path, tmp_path: Path) -> None:
    model = "claude-sonnet-4@20250514"
    write_config(config_file, {"enabled": True, "minObservations": 1, "provider": "vertex",
                               "model": model, "region": "europe-west1",
                               "vertexProject": "team-ml"})
    host = fake_llm.base_url.removeprefix("http://")
    result = distill(merged_repo, fake_llm, config_file, env={
        # google-auth finds no key file and asks the (loopback) metadata server for a token
        "GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, "HOME": str(tmp_path),
        "GOOGLE_APPLICATION_CREDENTIALS": "", "ANTHROPIC_API_KEY": ""})
    assert result.returncode == 0, result.stderr
    (request,) = fake_llm.requests  # GETs to the metadata server are not recorded
    assert request.path == (f"/projects/team-ml/locations/europe-west1/publishers/anthropic/"
                            f"models/{model}:rawPredict")
    assert request.headers["authorization"] == f"Bearer {fake_llm.vertex_token}"
    assert distilled(merged_repo, "distillation-report.json")["provider"] == "vertex"
