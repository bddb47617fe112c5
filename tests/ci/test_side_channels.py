"""A credential the merge withholds must not leave by any other route.

Each test plants one token where the merge does not look for observations' text (the type,
concepts, file paths, the session id, a folder or file name, the envelope) and then reads
every file the run wrote (merged set, profiles, summaries, state) and every line it printed.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from builders import observation, read_json, write_contribution
from clirun import run_mem_sync
from safety.secret_corpus import checksummed

TOKEN = checksummed("ghp_", random.Random(18))
AWS = "AKIA" + "ZXCVBNMASDFGHJKL"


def written(repo: Path) -> str:
    """Every byte the run may have written (contributions are the input, not output)."""
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in repo.rglob("*")
                   if p.is_file() and "contributions" not in p.relative_to(repo).parts)


def leaked(token: str, *texts: str) -> list[str]:
    """Where ``token`` or any 12-character piece of it appears."""
    pieces = {token[i:i + 12] for i in range(len(token) - 11)}
    return [text[max(0, text.find(p) - 40):text.find(p) + 40]
            for text in texts for p in pieces if p in text][:3]


def team(repo: Path, leaky: dict) -> None:
    """alice has one clean and one leaky observation, bob a clean one: profiles for both."""
    write_contribution(repo, [observation("Clean decision", session="s1"),
                              observation("Innocent title", session="s2", **leaky)], dev="alice")
    write_contribution(repo, [observation("Bob's note", session="s3")], dev="bob")


@pytest.mark.parametrize("leaky", [
    {"type": f"decision {TOKEN}"},
    {"concepts": f'["pattern", "{TOKEN}"]'},
    {"concepts": ["pattern", f"key {AWS}"]},
    {"files_read": f'["src/{TOKEN}/app.py"]'},
    {"files_modified": [f"deploy/{AWS}.env"]},
], ids=["type", "concepts", "concepts-list", "files_read", "files_modified"])
def test_a_token_outside_the_text_fields_reaches_no_profile_summary_or_report(shared_repo: Path, leaky):
    team(shared_repo, leaky)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--format", "json"])
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert [f["key"]["memory_session_id"] for f in report["secretFindings"]] == ["s2"]
    assert (shared_repo / "profiles/demo/bob/profile.md").exists()
    assert (shared_repo / "profiles/demo/alice/.summary.msgpack").exists()
    token = TOKEN if TOKEN in orjson.dumps(leaky).decode() else AWS
    assert leaked(token, written(shared_repo), result.stdout, result.stderr) == []
    # the withheld observation is not counted either: alice's profile holds her clean one only
    assert read_json(shared_repo / "profiles/demo/alice/profile.json")["knowledgeSpectrum"]["total"] == 1


def test_the_profile_command_alone_builds_from_gated_observations_and_rebuilds_old_summaries(shared_repo: Path):
    team(shared_repo, {"concepts": f'["{TOKEN}"]'})
    # a merge with scanning off counts the token, as every summary stored before the gate did
    merged = run_mem_sync(["ci-merge", "--repo", shared_repo, "--secrets", "off"])
    assert merged.returncode == 0, merged.stderr
    summary = shared_repo / "profiles/demo/alice/.summary.msgpack"
    assert TOKEN.encode() in summary.read_bytes()

    result = run_mem_sync(["profile", "--repo", shared_repo])

    assert result.returncode == 0, result.stderr
    assert leaked(TOKEN, written(shared_repo).replace(
        (shared_repo / "merged/demo/latest.json").read_text(), ""), result.stdout, result.stderr) == []
    assert TOKEN.encode() not in summary.read_bytes()  # counted again, under the gate
    again = summary.read_bytes()
    assert run_mem_sync(["profile", "--repo", shared_repo]).returncode == 0
    assert summary.read_bytes() == again


def test_a_token_as_session_id_is_never_printed(shared_repo: Path):
    write_contribution(shared_repo, [observation("Deploy", session=TOKEN),
                                     observation("Fine", session="s1")])
    for fmt in ("text", "json"):
        result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--format", fmt, "--dry-run"])
        assert result.returncode == 0, result.stderr
        assert "withheld" in result.stdout or "secretFindings" in result.stdout
        assert leaked(TOKEN, result.stdout, result.stderr) == []
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--format", "json"])
    finding = orjson.loads(result.stdout)["secretFindings"][0]
    assert finding["key"]["memory_session_id"] == "[REDACTED:github-pat]"
    assert leaked(TOKEN, written(shared_repo), result.stdout) == []


@pytest.mark.parametrize("where", ["dev", "project", "file"])
def test_a_name_carrying_a_token_is_quarantined_without_being_printed(shared_repo: Path, where: str):
    names = {"dev": "bob", "project": "demo", "stamp": "2026-03-19T18-30-00"}
    names["stamp" if where == "file" else where] = TOKEN
    write_contribution(shared_repo, [observation("Clean")], dev=names["dev"], project=names["project"],
                       stamp=names["stamp"], exportedBy=names["dev"])
    write_contribution(shared_repo, [observation("Alice's", session="s9")], dev="alice")
    outputs = []
    for fmt in ("text", "json"):
        result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--format", fmt, "--dry-run"])
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--format", "json"])
    report = orjson.loads(result.stdout)
    assert len(report["quarantined"]) == 1
    assert "credential" in report["quarantined"][0]["reason"]
    assert report["quarantined"][0]["file"].startswith("contributions/")
    assert report["totals"]["merged"] == 1  # alice's observation merged as usual
    assert leaked(TOKEN, written(shared_repo), result.stdout, result.stderr, *outputs) == []
    profiled = run_mem_sync(["profile", "--repo", shared_repo])
    assert leaked(TOKEN, written(shared_repo), profiled.stdout, profiled.stderr) == []


def test_echoed_field_values_are_scanned_whole_not_cut_to_a_prefix(shared_repo: Path):
    # each problem makes the merge quote the offending value in the quarantine reason
    write_contribution(shared_repo, [observation("A", created_at_epoch=TOKEN)], dev="alice")
    write_contribution(shared_repo, [observation("B")], dev="bob", exportedBy=f"x {AWS}")
    carol = write_contribution(shared_repo, [observation("C")], dev="carol")
    carol.write_bytes(carol.read_bytes().replace(b'"project": "demo",\n  "packageVersion"',
                                                 f'"project": "demo {TOKEN}",\n  "packageVersion"'.encode()))
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--format", "json"])
    reasons = [q["reason"] for q in orjson.loads(result.stdout)["quarantined"]]
    assert len(reasons) == 3, reasons
    assert leaked(TOKEN, result.stdout) == [] and leaked(AWS[:16], result.stdout) == []
    assert TOKEN[:17] not in result.stdout
    text = run_mem_sync(["ci-merge", "--repo", shared_repo, "--dry-run"])
    assert TOKEN[:17] not in text.stdout and AWS not in text.stdout
