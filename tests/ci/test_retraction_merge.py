"""ci-merge honours retractions: retracted keys leave the merged set and never come back, unless undone."""

from __future__ import annotations

import random
from pathlib import Path

from builders import BASE_MILLIS, observation, read_json, write_contribution, write_retraction
from clirun import run_mem_sync
from safety.secret_corpus import checksummed

NOW = ["--now", str(BASE_MILLIS // 1000 + 10 * 86_400)]
WRONG = ("s-alice", "Use MongoDB for billing", BASE_MILLIS)
RIGHT = ("s-alice", "Use Postgres for billing", BASE_MILLIS + 1000)


def _obs(key: tuple[str, str, int], **extra) -> dict:
    return observation(key[1], session=key[0], created_at_epoch=key[2], **extra)


def _merge(repo: Path, *extra: str):
    result = run_mem_sync(["ci-merge", "--repo", repo, "--format", "json", *NOW, *extra])
    assert result.returncode == 0, result.stderr
    import orjson

    return orjson.loads(result.stdout)


def _titles(repo: Path) -> list[str]:
    return sorted(obs["title"] for obs in read_json(repo / "merged/demo/latest.json")["observations"])


def test_a_contributor_retracts_and_the_key_leaves_the_merged_set(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(WRONG), _obs(RIGHT)], dev="alice")
    _merge(tmp_path)
    assert _titles(tmp_path) == ["Use MongoDB for billing", "Use Postgres for billing"]
    assert read_json(tmp_path / "profiles/demo/alice/profile.json")["knowledgeSpectrum"]["total"] == 2

    write_retraction(tmp_path, [WRONG], dev="alice", reason="we reverted this decision")
    report = _merge(tmp_path)

    assert _titles(tmp_path) == ["Use Postgres for billing"]
    assert report["totals"]["retracted"] == 1
    retracted = read_json(tmp_path / "merged/demo/retracted.json")
    [entry] = retracted["retracted"]
    assert entry["session"] == "s-alice" and entry["createdAtEpoch"] == BASE_MILLIS
    assert entry["reason"] == "we reverted this decision" and entry["retractedBy"] == "alice"
    assert "MongoDB" not in (tmp_path / "merged/demo/retracted.json").read_text()
    # the profiles count it for nobody any more
    profile = read_json(tmp_path / "profiles/demo/alice/profile.json")
    assert profile["knowledgeSpectrum"]["total"] == 1
    # a rerun changes nothing
    again = run_mem_sync(["ci-merge", "--repo", tmp_path, *NOW])
    assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stdout


def test_an_older_export_of_a_retracted_key_does_not_bring_it_back_until_undone(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(WRONG)], dev="alice")
    _merge(tmp_path)
    write_retraction(tmp_path, [WRONG], dev="alice")
    _merge(tmp_path)
    # bob's export of the same observation, made before the retraction, arrives late
    write_contribution(tmp_path, [_obs(WRONG), _obs(RIGHT)], dev="bob", stamp="2026-03-19T10-00-00")
    _merge(tmp_path)
    assert _titles(tmp_path) == ["Use Postgres for billing"]

    write_retraction(tmp_path, [WRONG], dev="alice", undo=True, stamp="2026-03-21T09-00-00",
                     created_at_epoch=BASE_MILLIS + 2 * 86_400_000)
    write_contribution(tmp_path, [_obs(WRONG)], dev="bob", stamp="2026-03-21T10-00-00")
    _merge(tmp_path)
    assert _titles(tmp_path) == ["Use MongoDB for billing", "Use Postgres for billing"]
    assert read_json(tmp_path / "merged/demo/retracted.json")["retracted"] == []


def test_a_retraction_by_someone_who_never_contributed_it_is_quarantined(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(WRONG)], dev="alice")
    _merge(tmp_path)
    write_retraction(tmp_path, [WRONG], dev="mallory")
    report = _merge(tmp_path)

    assert _titles(tmp_path) == ["Use MongoDB for billing"]
    [refused] = [q for q in report["quarantined"] if q["file"].startswith("retractions/")]
    assert refused["file"] == "retractions/demo/mallory/2026-03-20T09-00-00.json"
    assert "mallory may not retract 1 of its 1 keys" in refused["reason"]
    assert "MAINTAINERS" in refused["reason"]


def test_a_maintainer_may_retract_what_others_contributed(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(WRONG), _obs(RIGHT)], dev="alice")
    _merge(tmp_path)
    (tmp_path / "MAINTAINERS").write_text("# who may retract anything\ncarol\n")
    write_retraction(tmp_path, [WRONG], dev="carol", reason="confidential customer name")
    report = _merge(tmp_path)

    assert _titles(tmp_path) == ["Use Postgres for billing"]
    assert not [q for q in report["quarantined"] if q["file"].startswith("retractions/")]
    assert read_json(tmp_path / "merged/demo/retracted.json")["retracted"][0]["retractedBy"] == "carol"


def test_a_malformed_retraction_file_is_quarantined_and_the_rest_merges(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(WRONG)], dev="alice")
    broken = tmp_path / "retractions/demo/alice/2026-03-20T09-00-00.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"version": 1, "kind": "retraction", "keys": "everything"')
    report = _merge(tmp_path)

    assert _titles(tmp_path) == ["Use MongoDB for billing"]
    [refused] = [q for q in report["quarantined"] if q["file"].startswith("retractions/")]
    assert "not valid JSON" in refused["reason"]


def test_a_credential_found_by_newer_rules_is_withheld_and_retracted(tmp_path: Path) -> None:
    token = checksummed("ghp_", random.Random(23))
    leaky = ("s-alice", "Deploy notes", BASE_MILLIS + 5000)
    write_contribution(tmp_path, [_obs(RIGHT), _obs(leaky, narrative=f"push with {token}")], dev="alice")
    _merge(tmp_path, "--secrets", "off")  # merged before any rule knew this token
    assert "Deploy notes" in _titles(tmp_path)

    write_contribution(tmp_path, [_obs(WRONG)], dev="bob")
    report = _merge(tmp_path)

    assert "Deploy notes" not in _titles(tmp_path)
    assert token not in (tmp_path / "merged/demo/latest.json").read_text()
    [entry] = read_json(tmp_path / "merged/demo/retracted.json")["retracted"]
    assert entry["source"].startswith("secret-rule:github") and entry["retractedBy"] == "ci-merge"
    assert token not in (tmp_path / "merged/demo/retracted.json").read_text()
    assert report["secretFindings"]
