"""Every kind of bad contribution is quarantined with one clear line; the rest still merges."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from builders import contribution, observation, read_json, write_contribution
from clirun import run_mem_sync

GOOD_TITLE = "Good observation"


def good_file(repo: Path) -> Path:
    return write_contribution(repo, [observation(GOOD_TITLE, session="good")], dev="alice")


def write_raw(repo: Path, rel: str, data: bytes) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def doc_bytes(**overrides) -> bytes:
    return orjson.dumps(contribution([observation("Bad one", session="bad")], dev="bob", **overrides))


def bad_observation_bytes(**fields) -> bytes:
    obs = observation("Bad one", session="bad")
    obs.update(fields)
    for name, value in list(obs.items()):
        if value is ...:
            del obs[name]
    return orjson.dumps(contribution([obs], dev="bob"))


BAD_INPUTS = {
    "invalid-json": (b'{"version": 1, "observations": [', "not valid JSON"),
    "not-utf8": (b'{"version": 1, "exportedBy": "bob\xff\xfe"}', "not UTF-8"),
    "empty": (b"", "empty"),
    "whitespace-only": (b"  \n", "empty"),
    "json-array": (b"[1, 2]", "JSON object"),
    "wrong-type-epoch": (bad_observation_bytes(created_at_epoch="yesterday"), "created_at_epoch must be"),
    "wrong-type-title": (bad_observation_bytes(title=42), "title must be"),
    "bool-epoch": (bad_observation_bytes(created_at_epoch=True), "created_at_epoch must be"),
    "missing-session": (bad_observation_bytes(memory_session_id=...), "memory_session_id is missing"),
    "missing-type": (bad_observation_bytes(type=...), "type is missing"),
    "missing-observations": (orjson.dumps({k: v for k, v in orjson.loads(doc_bytes()).items()
                                           if k != "observations"}), "observations is missing"),
    "newer-version": (doc_bytes(version=2), "upgrade mem-sync"),
    "count-mismatch": (doc_bytes(observationCount=5), "observationCount says 5"),
    "exported-by-mismatch": (doc_bytes(exportedBy="mallory"), "exportedBy is 'mallory'"),
    "project-mismatch": (doc_bytes(project="other"), "project is 'other'"),
    "duplicate-keys": (orjson.dumps(contribution(
        [observation("Twice", session="dup"), observation("Twice", session="dup")], dev="bob")),
        "share the composite key"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_contribution_is_quarantined_untouched_and_the_rest_merges(shared_repo: Path, case: str):
    data, expected = BAD_INPUTS[case]
    good_file(shared_repo)
    bad = write_raw(shared_repo, "contributions/demo/bob/2026-03-20T10-00-00.json", data)

    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stdout.splitlines() if "quarantined contributions/demo/bob" in line]
    assert len(lines) == 1 and expected in lines[0], result.stdout
    assert bad.read_bytes() == data
    state = read_json(shared_repo / ".merge-state.json")
    assert list(state["projects"]["demo"]["processedFiles"]) == ["contributions/demo/alice/2026-03-19T18-30-00.json"]
    merged = read_json(shared_repo / "merged/demo/latest.json")
    assert [o["title"] for o in merged["observations"]] == [GOOD_TITLE]


def test_strict_turns_a_quarantine_into_exit_1_but_still_merges_the_rest(shared_repo: Path):
    good_file(shared_repo)
    write_raw(shared_repo, "contributions/demo/bob/x.json", b"{")
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--strict"])
    assert result.returncode == 1
    assert (shared_repo / "merged/demo/latest.json").exists()


def test_file_over_the_size_limit_is_quarantined(shared_repo: Path):
    good_file(shared_repo)
    big = write_raw(shared_repo, "contributions/demo/bob/big.json", doc_bytes() + b" " * 2_000_000)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--max-file-size", "1"])
    assert result.returncode == 0
    assert "contributions/demo/bob/big.json: the file is 1.9 MB, over the 1.0 MB limit" in result.stdout
    assert big.exists()


@pytest.mark.parametrize("name, problem", [
    (".hidden", "starts with a dot"),
    ("a..b", "contains '..'"),
    ("back\\slash", "path separator"),
    ("x" * 65, "65 characters"),
    ("sp ace", "characters outside"),
])
def test_unsafe_developer_folder_is_quarantined(shared_repo: Path, name: str, problem: str):
    good_file(shared_repo)
    write_raw(shared_repo, f"contributions/demo/{name}/x.json", doc_bytes(exportedBy=name))
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 0
    assert problem in result.stdout
    assert "Good observation" in (shared_repo / "merged/demo/latest.json").read_text()


def test_unsafe_project_folder_is_quarantined(shared_repo: Path):
    good_file(shared_repo)
    write_raw(shared_repo, "contributions/.secret-project/bob/x.json", doc_bytes(project=".secret-project"))
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 0
    expected = "quarantined contributions/.secret-project: project name '.secret-project' starts with a dot"
    assert expected in result.stdout
    assert not (shared_repo / "merged/.secret-project").exists()


def test_symlinks_are_never_followed(shared_repo: Path, tmp_path: Path):
    good_file(shared_repo)
    outside = tmp_path / "outside.json"
    outside.write_bytes(doc_bytes())
    (shared_repo / "contributions/demo/bob").mkdir(parents=True)
    os.symlink(outside, shared_repo / "contributions/demo/bob/link.json")
    os.symlink(tmp_path, shared_repo / "contributions/demo/eve")
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 0
    assert "contributions/demo/bob/link.json: is a symlink" in result.stdout
    assert "contributions/demo/eve: is a symlink" in result.stdout
    assert "Bad one" not in (shared_repo / "merged/demo/latest.json").read_text()


def test_quarantined_file_is_merged_once_fixed(shared_repo: Path):
    good_file(shared_repo)
    bad = write_raw(shared_repo, "contributions/demo/bob/x.json", b"{")
    run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    bad.write_bytes(doc_bytes())
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 0
    titles = [o["title"] for o in read_json(shared_repo / "merged/demo/latest.json")["observations"]]
    assert sorted(titles) == ["Bad one", GOOD_TITLE]


def test_corrupt_previous_merged_file_fails_the_project_without_overwriting_it(shared_repo: Path):
    good_file(shared_repo)
    merged = write_raw(shared_repo, "merged/demo/latest.json", b'{"version": 1, "observ')
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 1
    assert "merged/demo/latest.json the file is not valid JSON" in result.stdout
    assert "git checkout" in result.stdout
    assert merged.read_bytes() == b'{"version": 1, "observ'
    assert not (shared_repo / ".merge-state.json").exists()


def test_corrupt_state_file_is_one_clear_line(shared_repo: Path):
    good_file(shared_repo)
    write_raw(shared_repo, ".merge-state.json", b"not json")
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and ".merge-state.json is not a valid merge state" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--cap", "-1"], "--cap"),
    (["--strategy", "magic"], "--strategy"),
    (["--type-weight", "0.9"], "sum to 1"),
    (["--project", "nope"], "no contributions for project 'nope'"),
    (["--output-dir", "../elsewhere"], "inside the repository"),
])
def test_bad_flags_are_usage_errors(shared_repo: Path, args, message):
    good_file(shared_repo)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, *args])
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
