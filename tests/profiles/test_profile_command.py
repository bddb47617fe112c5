"""The real `mem-sync profile` on temp repositories: files written, dry run, reruns, bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from profile_team import NOW_MILLIS

from builders import observation, read_json, write_contribution
from memsync.cli import cli
from memsync.profiles.generate import generate_project_profiles

EXPECTED = [
    "profiles/demo/README.md",
    "profiles/demo/alice/.summary.msgpack",
    "profiles/demo/alice/profile.json",
    "profiles/demo/alice/profile.md",
    "profiles/demo/bob/.summary.msgpack",
    "profiles/demo/bob/profile.json",
    "profiles/demo/bob/profile.md",
    "profiles/demo/team-concepts.json",
    "profiles/demo/team-overview.json",
]


def _run(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["profile", "--repo", str(repo), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _snapshot(repo: Path) -> dict[str, bytes]:
    root = repo / "profiles"
    if not root.exists():
        return {}
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _mem_sync(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memsync", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=False)


def test_profile_writes_every_page_and_rerun_is_byte_identical(team: Path) -> None:
    output = _run(team, "--project", "demo", "--now", str(NOW_MILLIS))
    first = _snapshot(team)
    assert sorted(first) == EXPECTED
    assert "demo: 2 developers, 9 file(s) updated" in output
    mtimes = {path: (team / path).stat().st_mtime_ns for path in first}
    output = _run(team, "--project", "demo", "--now", str(NOW_MILLIS))
    assert "profiles up to date" in output
    assert _snapshot(team) == first
    assert {path: (team / path).stat().st_mtime_ns for path in first} == mtimes  # not even rewritten


def test_default_now_comes_from_the_data_so_reruns_do_not_churn(team: Path) -> None:
    _run(team)
    first = _snapshot(team)
    # newest exportedAtEpoch among the contributions (alice's second file)
    assert read_json(team / "profiles/demo/team-overview.json")["generatedAtEpoch"] == 1_775_811_600
    _run(team)
    assert _snapshot(team) == first


def test_dry_run_writes_nothing_but_lists_what_would_change(team: Path) -> None:
    output = _run(team, "--dry-run", "--now", str(NOW_MILLIS))
    assert _snapshot(team) == {}
    for path in EXPECTED:
        assert f"would write {path}" in output
    _run(team, "--now", str(NOW_MILLIS))
    before = _snapshot(team)
    write_contribution(team, [observation("new", session="s-n")], dev="carol")
    output = _run(team, "--dry-run", "--now", str(NOW_MILLIS))
    assert "would write profiles/demo/carol/profile.json" in output
    assert _snapshot(team) == before


def test_new_contribution_changes_only_affected_pages(team: Path) -> None:
    _run(team, "--now", str(NOW_MILLIS))
    before = _snapshot(team)
    write_contribution(team, [observation("late", session="s-l", type="refactor")], dev="bob",
                       stamp="2026-03-20T10-00-00")
    run = generate_project_profiles(team, "demo", now_millis=NOW_MILLIS)
    assert "profiles/demo/bob/profile.json" in run.written
    assert "profiles/demo/team-overview.json" in run.written
    assert _snapshot(team) != before


def test_format_json_writes_no_markdown(team: Path) -> None:
    _run(team, "--format", "json", "--now", str(NOW_MILLIS))
    assert sorted(_snapshot(team)) == [p for p in EXPECTED if not p.endswith(".md")]


def test_format_md_adds_markdown_to_json_like_claude_mem_sync(team: Path) -> None:
    _run(team, "--format", "md", "--now", str(NOW_MILLIS))
    assert sorted(_snapshot(team)) == EXPECTED


def test_dev_flag_writes_only_that_profile(team: Path) -> None:
    _run(team, "--project", "demo", "--dev", "alice", "--now", str(NOW_MILLIS))
    assert sorted(_snapshot(team)) == ["profiles/demo/alice/.summary.msgpack", "profiles/demo/alice/profile.json",
                                       "profiles/demo/alice/profile.md"]


def test_anonymized_pages_never_name_another_developer(team: Path) -> None:
    _run(team, "--now", str(NOW_MILLIS))
    files = _snapshot(team)
    for path, data in files.items():
        if "/alice/" in path:
            assert b"bob" not in data, path
        if "/bob/" in path:
            assert b"alice" not in data, path
        if path.startswith("profiles/demo/team") or path.endswith("README.md"):
            assert b"alice" not in data and b"bob" not in data, path


def test_no_anonymize_lists_profiles_and_holders(team: Path) -> None:
    _run(team, "--no-anonymize", "--now", str(NOW_MILLIS))
    readme = (team / "profiles/demo/README.md").read_text()
    assert "[alice](alice/profile.md)" in readme and "[bob](bob/profile.md)" in readme
    assert "bob" in (team / "profiles/demo/alice/profile.md").read_text()


def test_bad_contributions_are_skipped_quietly(team: Path) -> None:
    base = team / "contributions" / "demo"
    (base / "alice" / "broken.json").write_text("{not json")
    write_contribution(team, [observation("x")], dev="alice", stamp="wrong-dev", exportedBy="mallory")
    write_contribution(team, [{"title": "no session"}], dev="alice", stamp="bad-obs")
    write_contribution(team, [observation("x")], dev="alice", stamp="newer", version=99)
    (base / "..evil").mkdir()
    write_contribution(team, [observation("evil")], dev="..evil", stamp="x")
    (base / "linked").symlink_to(base / "alice", target_is_directory=True)
    (base / "alice" / "linked.json").symlink_to(base / "bob" / "2026-03-19T18-30-00.json")
    output = _run(team, "--now", str(NOW_MILLIS))
    assert "2 developers" in output
    alice = read_json(team / "profiles/demo/alice/profile.json")
    assert alice["knowledgeSpectrum"]["total"] == 3
    assert not (team / "profiles/demo/linked").exists()


def test_missing_or_broken_merged_file_means_nothing_survived(team: Path) -> None:
    (team / "merged/demo/latest.json").write_text('{"observations": [{"bad": 1}, 3]}')
    _run(team, "--now", str(NOW_MILLIS))
    assert read_json(team / "profiles/demo/alice/profile.json")["survivalRate"]["survived"] == 0
    (team / "merged/demo/latest.json").unlink()
    _run(team, "--now", str(NOW_MILLIS))
    assert read_json(team / "profiles/demo/bob/profile.json")["survivalRate"]["rate"] == 0.0


def test_never_writes_through_a_symlink(team: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (team / "profiles" / "demo").mkdir(parents=True)
    (team / "profiles" / "demo" / "alice").symlink_to(outside, target_is_directory=True)
    run = generate_project_profiles(team, "demo", now_millis=NOW_MILLIS)
    assert list(outside.iterdir()) == []
    assert "profiles/demo/alice/profile.json" in run.skipped
    assert "profiles/demo/bob/profile.json" in run.written


def test_empty_repository_is_nothing_to_do(shared_repo: Path) -> None:
    assert "nothing to profile" in _run(shared_repo)
    assert _snapshot(shared_repo) == {}


def test_subprocess_profile_with_source_date_epoch(team: Path) -> None:
    done = _mem_sync("profile", "--project", "demo", cwd=team, env={"SOURCE_DATE_EPOCH": "1774000000"})
    assert done.returncode == 0, done.stderr
    assert read_json(team / "profiles/demo/alice/profile.json")["generatedAt"] == "2026-03-20T09:46:40.000Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "demo", "--dev", "nobody"], "no readable contributions for developer 'nobody'"),
        (["--project", "../etc"], "project name '../etc'"),
        (["--project", "demo", "--dev", "a/b"], "developer name 'a/b'"),
        (["--now", "-5"], "--now must be a positive epoch"),
    ],
)
def test_user_errors_are_one_line_without_traceback(team: Path, args: list[str], message: str) -> None:
    done = _mem_sync("profile", *args, cwd=team)
    assert done.returncode in (1, 2)
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_file_the_typed_decoder_refuses_but_the_model_accepts_still_counts(team: Path) -> None:
    # access_count is not a field the model checks; the typed decoder wants an int there
    write_contribution(team, [observation("odd", session="s-o", access_count="many")], dev="carol")
    _run(team, "--now", str(NOW_MILLIS))
    assert read_json(team / "profiles/demo/carol/profile.json")["knowledgeSpectrum"]["total"] == 1


def test_file_repeating_a_composite_key_is_skipped_like_the_merge_does(team: Path) -> None:
    write_contribution(team, [observation("same", session="s-d"), observation("same", session="s-d"),
                              observation("other", session="s-d")], dev="carol")
    write_contribution(team, [observation("kept", session="s-k")], dev="carol", stamp="2026-03-20T00-00-00")
    _run(team, "--now", str(NOW_MILLIS))
    assert read_json(team / "profiles/demo/carol/profile.json")["knowledgeSpectrum"]["total"] == 1


def test_output_does_not_depend_on_hash_seed(team: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(team, copy)
    for repo, seed in ((team, "1"), (copy, "2")):
        done = _mem_sync("profile", "--now", str(NOW_MILLIS), cwd=repo, env={"PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr
    assert _snapshot(team) == _snapshot(copy)
    assert len(_snapshot(team)) == len(EXPECTED)


def test_profile_after_ci_merge_reproduces_what_the_merge_wrote(team: Path) -> None:
    (team / "merged").rename(team / "old-merged")  # start from an empty merged set
    result = CliRunner().invoke(cli, ["ci-merge", "--repo", str(team), "--now", "1776000000"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    after_merge = _snapshot(team)
    assert "profiles/demo/alice/profile.json" in after_merge
    assert read_json(team / "profiles/demo/alice/profile.json")["generatedAtEpoch"] == 1_776_000_000
    assert "profiles up to date" in _run(team)
    assert _snapshot(team) == after_merge


def test_unknown_project_is_a_usage_error_naming_the_projects_found(tmp_path):
    from builders import observation, write_contribution
    from clirun import run_mem_sync

    write_contribution(tmp_path, [observation("x")], dev="alice", project="web-app")
    result = run_mem_sync(["profile", "--repo", tmp_path, "--project", "web-ap"])
    assert result.returncode == 2
    assert "no contributions for project 'web-ap'" in result.stderr and "web-app" in result.stderr
    assert not (tmp_path / "profiles").exists()


def test_survival_read_through_the_merge_index_equals_parsing_latest_json(tmp_path: Path):
    repo = tmp_path / "team"
    write_contribution(repo, [observation("Kept", session="s1"), observation("Dropped", session="s1",
                                                                             type="change", created_at_epoch=1)],
                       dev="alice")
    write_contribution(repo, [observation("Bob's", session="s2")], dev="bob")
    merged = CliRunner().invoke(cli, ["ci-merge", "--repo", str(repo), "--cap", "2", "--no-profiles",
                                      "--now", "1776000000"])
    assert merged.exit_code == 0, merged.output
    assert (repo / "merged/demo/.latest-index.msgpack").exists()
    without_index = tmp_path / "copy"
    shutil.copytree(repo, without_index)
    (without_index / "merged/demo/.latest-index.msgpack").unlink()

    _run(repo, "--now", "1776000000")
    _run(without_index, "--now", "1776000000")

    assert _snapshot(repo) == _snapshot(without_index)
    assert read_json(repo / "profiles/demo/alice/profile.json")["survivalRate"]["survived"] == 1

    # a hand edit to latest.json makes the index stale: survival follows the file, not the index
    latest = repo / "merged/demo/latest.json"
    doc = read_json(latest)
    doc["observations"] = [o for o in doc["observations"] if o["title"] != "Kept"]
    doc["observationCount"] = len(doc["observations"])
    latest.write_text(__import__("json").dumps(doc, indent=2))
    _run(repo, "--now", "1776000000")
    assert read_json(repo / "profiles/demo/alice/profile.json")["survivalRate"]["survived"] == 0
