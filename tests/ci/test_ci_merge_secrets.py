"""ci-merge withholds observations carrying credentials and never prints them."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from builders import observation, read_json, write_contribution
from clirun import run_mem_sync
from safety.secret_corpus import checksummed

TOKEN = checksummed("ghp_", random.Random(5))
AWS = "AKIA" + "QWERTYUIOPASDFGH"


def leaky_repo(repo: Path) -> None:
    write_contribution(repo, [
        observation("Clean decision", session="s1"),
        observation("Deploy notes", session="s2", narrative=f"curl -H 'Authorization: token {TOKEN}' https://api"),
        observation(f"Key {AWS} in title", session="s3", type="bugfix"),
    ], dev="alice")
    write_contribution(repo, [observation("Bob's clean note", session="s4")], dev="bob")


def everything_written(repo: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in repo.rglob("*")
                   if p.is_file() and "contributions" not in p.parts)


def test_observations_with_credentials_are_withheld_and_reported_without_the_secret(shared_repo: Path):
    leaky_repo(shared_repo)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--format", "json"])
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    findings = report["secretFindings"]
    assert [(f["key"]["memory_session_id"], f["rules"]) for f in findings] == [
        ("s2", ["github-pat"]), ("s3", ["aws-access-key"])]
    assert findings[1]["key"]["title"] == "Key [REDACTED:aws-access-key] in title"
    assert findings[0]["file"] == "contributions/demo/alice/2026-03-19T18-30-00.json"
    titles = [o["title"] for o in read_json(shared_repo / "merged/demo/latest.json")["observations"]]
    assert sorted(titles) == ["Bob's clean note", "Clean decision"]
    for text in (result.stdout, result.stderr, everything_written(shared_repo)):
        assert TOKEN not in text and AWS not in text
    # the file is processed: the clean observations merged, the secret stays out for good
    assert "contributions/demo/alice/2026-03-19T18-30-00.json" in read_json(
        shared_repo / ".merge-state.json")["projects"]["demo"]["processedFiles"]


def test_text_report_tells_the_team_to_rotate(shared_repo: Path):
    leaky_repo(shared_repo)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert "secret withheld: contributions/demo/alice/2026-03-19T18-30-00.json" in result.stdout
    assert "Rotate these credentials" in result.stdout
    assert TOKEN not in result.stdout


def test_fail_policy_exits_1_and_writes_nothing(shared_repo: Path):
    leaky_repo(shared_repo)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--secrets", "fail"])
    assert result.returncode == 1
    assert "carry credentials" in result.stdout and TOKEN not in result.stdout
    assert not (shared_repo / "merged").exists() and not (shared_repo / ".merge-state.json").exists()


def test_off_policy_merges_everything(shared_repo: Path):
    leaky_repo(shared_repo)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--secrets", "off", "--no-profiles"])
    assert result.returncode == 0
    assert read_json(shared_repo / "merged/demo/latest.json")["observationCount"] == 4


def test_a_secret_already_in_the_merged_set_is_removed_on_the_next_merge(shared_repo: Path):
    leaky_repo(shared_repo)
    run_mem_sync(["ci-merge", "--repo", shared_repo, "--secrets", "off", "--no-profiles"])
    write_contribution(shared_repo, [observation("Later", session="s9")], dev="carol")
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--format", "json"])
    assert result.returncode == 0
    merged = (shared_repo / "merged/demo/latest.json").read_text()
    assert TOKEN not in merged and AWS not in merged
    files = {f["file"] for f in orjson.loads(result.stdout)["secretFindings"]}
    assert files == {"merged/demo/latest.json"}
