"""The real `mem-sync ci-merge` on temp repositories: outputs, state, determinism, retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import observation, read_json, write_contribution
from clirun import run_mem_sync

DAY_MS = 86_400_000
NOW_S = 1_773_945_000


def three_devs(repo: Path) -> None:
    shared = observation("Shared decision", session="s1", created_at_epoch=1_773_900_000_000)
    write_contribution(repo, [shared, observation("Alice bugfix", session="s1", type="bugfix")], dev="alice")
    write_contribution(repo, [dict(shared, id=99, narrative="bob's words"),
                              observation("Bob change #keep", session="s2", type="change")], dev="bob",
                       exported_at_epoch=NOW_S - 10)
    write_contribution(repo, [observation("Carol seconds epoch", session="s3", created_at_epoch=1_773_800_000)],
                       dev="carol")


def test_merged_file_has_scores_keep_contributors_and_keeps_epochs_as_read(shared_repo: Path):
    three_devs(shared_repo)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--now", NOW_S])
    assert result.returncode == 0, result.stderr
    doc = read_json(shared_repo / "merged/demo/latest.json")
    assert doc["exportedBy"] == "ci-merge" and doc["observationCount"] == 4
    assert doc["filters"] == {"types": [], "keywords": [], "tags": []}
    by_title = {o["title"]: o for o in doc["observations"]}
    shared = by_title["Shared decision"]
    assert shared["contributors"] == ["alice", "bob"]
    # alice exported later than bob, so her copy wins
    assert shared["narrative"] == "Why we chose this."
    assert shared["score"] == pytest.approx(0.4 * 1.0 + 0.3 * (1 / (1 + __import__("math").log1p(
        (NOW_S * 1000 - 1_773_900_000_000) / DAY_MS / 150))) + 0.3 * 2 / 3)
    assert by_title["Carol seconds epoch"]["created_at_epoch"] == 1_773_800_000
    keep = by_title["Bob change #keep"]
    assert keep["keep"] is True and doc["observations"][0] is not None
    assert doc["observations"][0]["title"] == "Bob change #keep"


def test_cap_evicts_the_lowest_scores_but_never_keep_tagged(shared_repo: Path):
    three_devs(shared_repo)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--cap", "2",
                           "--format", "json"])
    assert result.returncode == 0
    titles = [o["title"] for o in read_json(shared_repo / "merged/demo/latest.json")["observations"]]
    assert titles == ["Bob change #keep", "Shared decision"]
    import orjson

    report = orjson.loads(result.stdout)
    assert report["projects"][0]["evicted"] == 2 and report["projects"][0]["keepProtected"] == 1
    assert report["totals"]["merged"] == 2


def test_second_run_writes_nothing_and_says_so(shared_repo: Path):
    three_devs(shared_repo)
    run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    stamps = {p: p.stat().st_mtime_ns for p in shared_repo.rglob("*") if p.is_file()}
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 0
    assert "Nothing to do" in result.stdout
    assert {p: p.stat().st_mtime_ns for p in shared_repo.rglob("*") if p.is_file()} == stamps


def test_dry_run_prints_the_plan_and_writes_nothing(shared_repo: Path):
    three_devs(shared_repo)
    before = sorted(shared_repo.rglob("*"))
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--dry-run", "--cap", "3"])
    assert result.returncode == 0
    assert "dry run" in result.stdout
    assert "demo: 3 new file(s), 3 added, 1 evicted, 1 keep-protected" in result.stdout
    assert sorted(shared_repo.rglob("*")) == before


def test_same_repo_state_gives_identical_bytes_whatever_the_hash_seed(tmp_path: Path):
    outputs = []
    for seed in ("0", "1", "12345"):
        repo = tmp_path / f"r{seed}"
        (repo / "contributions").mkdir(parents=True)
        three_devs(repo)
        result = run_mem_sync(["ci-merge", "--repo", repo, "--no-profiles"], env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0
        outputs.append(((repo / "merged/demo/latest.json").read_bytes(),
                        (repo / ".merge-state.json").read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]


def test_incremental_run_reads_only_new_files_and_keeps_previous_contributors(shared_repo: Path):
    three_devs(shared_repo)
    run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    # a processed file that changes afterwards is not re-read (path already in the state)
    (shared_repo / "contributions/demo/carol/2026-03-19T18-30-00.json").write_text("{broken")
    write_contribution(shared_repo, [observation("Shared decision", session="s1",
                                                 created_at_epoch=1_773_900_000_000)],
                       dev="dave", stamp="2026-03-21T09-00-00", exported_at_epoch=NOW_S + 100)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 0 and "quarantined contributions" not in result.stdout
    doc = read_json(shared_repo / "merged/demo/latest.json")
    shared = next(o for o in doc["observations"] if o["title"] == "Shared decision")
    assert shared["contributors"] == ["alice", "bob", "dave"]
    state = read_json(shared_repo / ".merge-state.json")["projects"]["demo"]
    assert len(state["processedFiles"]) == 4 and state["totalObservations"] == 4


def test_renamed_copy_of_a_processed_file_is_recognized_by_hash(shared_repo: Path):
    path = write_contribution(shared_repo, [observation("Only once")], dev="alice")
    run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    copy = path.with_name("2026-03-22T00-00-00.json")
    copy.write_bytes(path.read_bytes())
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 0
    state = read_json(shared_repo / ".merge-state.json")["projects"]["demo"]["processedFiles"]
    assert state[copy.relative_to(shared_repo).as_posix()]["hash"] == state[
        path.relative_to(shared_repo).as_posix()]["hash"]
    assert read_json(shared_repo / "merged/demo/latest.json")["observationCount"] == 1


def test_retention_deletes_processed_files_aged_by_the_runs_now(shared_repo: Path):
    old = write_contribution(shared_repo, [observation("Old")], dev="alice", stamp="2026-01-01T00-00-00",
                             exported_at_epoch=NOW_S)
    run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--now", NOW_S])
    new = write_contribution(shared_repo, [observation("New", created_at_epoch=1_776_000_000_000)],
                             dev="bob", stamp="2026-04-20T00-00-00")
    later = NOW_S + 31 * 86_400
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--now", later,
                           "--retention-days", "30"])
    assert result.returncode == 0
    assert "retention: deleted contributions/demo/alice/2026-01-01T00-00-00.json" in result.stdout
    assert not old.exists() and new.exists()
    files = read_json(shared_repo / ".merge-state.json")["projects"]["demo"]["processedFiles"]
    assert list(files) == ["contributions/demo/bob/2026-04-20T00-00-00.json"]
    titles = {o["title"] for o in read_json(shared_repo / "merged/demo/latest.json")["observations"]}
    assert titles == {"Old", "New"}


def test_retention_never_deletes_outside_contributions(shared_repo: Path, tmp_path: Path):
    victim = shared_repo / "precious.txt"
    victim.write_text("mine")
    write_contribution(shared_repo, [observation("x")], dev="alice")
    state = {"lastMergedAt": 0, "schemaVersion": 1, "projects": {"demo": {
        "processedFiles": {"precious.txt": {"hash": "sha256:0", "processedAt": 1, "observationsCount": 0},
                           "contributions/demo/../../precious.txt": {"hash": "sha256:1", "processedAt": 1,
                                                                    "observationsCount": 0}},
        "totalObservations": 0, "cap": 500, "lastEvictionAt": None}}}
    import orjson

    (shared_repo / ".merge-state.json").write_bytes(orjson.dumps(state))
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--retention-days", "1"])
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "mine"


def test_project_flag_limits_the_merge(shared_repo: Path):
    write_contribution(shared_repo, [observation("A")], dev="alice", project="one")
    write_contribution(shared_repo, [observation("B")], dev="alice", project="two")
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--project", "two"])
    assert result.returncode == 0
    assert (shared_repo / "merged/two/latest.json").exists()
    assert not (shared_repo / "merged/one").exists()


def test_custom_directories_and_state_file(shared_repo: Path):
    target = shared_repo / "inbox/demo/alice"
    target.mkdir(parents=True)
    path = write_contribution(shared_repo, [observation("A")], dev="alice")
    path.rename(target / path.name)
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--contributions-dir", "inbox",
                           "--output-dir", "out", "--state-file", "state.json"])
    assert result.returncode == 0, result.stderr
    assert (shared_repo / "out/demo/latest.json").exists()
    assert "inbox/demo/alice/2026-03-19T18-30-00.json" in read_json(shared_repo / "state.json")["projects"]["demo"][
        "processedFiles"]


def test_no_contributions_folder_is_nothing_to_do(tmp_path: Path):
    result = run_mem_sync(["ci-merge", "--repo", tmp_path, "--no-profiles"])
    assert result.returncode == 0 and "Nothing to do" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_state_untouched_so_nothing_is_lost(shared_repo: Path):
    write_contribution(shared_repo, [observation("First")], dev="alice")
    run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    state_before = (shared_repo / ".merge-state.json").read_bytes()
    merged_before = (shared_repo / "merged/demo/latest.json").read_bytes()
    write_contribution(shared_repo, [observation("Second")], dev="bob", project="other")
    (shared_repo / "merged/other").write_text("a file where a folder must be")
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])
    assert result.returncode == 1
    assert result.stderr.startswith("mem-sync: error: cannot write merged/other/latest.json")
    assert "Traceback" not in result.stderr
    assert (shared_repo / ".merge-state.json").read_bytes() == state_before
    assert (shared_repo / "merged/demo/latest.json").read_bytes() == merged_before
    assert not list(shared_repo.rglob("*.tmp"))


def test_profiles_follow_the_merge_and_only_for_projects_that_changed(shared_repo: Path):
    write_contribution(shared_repo, [observation("A")], dev="alice", project="one")
    write_contribution(shared_repo, [observation("B")], dev="bob", project="two")
    run_mem_sync(["ci-merge", "--repo", shared_repo, "--now", NOW_S])
    profile = shared_repo / "profiles/one/alice/profile.json"
    assert read_json(profile)["generatedAt"] == "2026-03-19T18:30:00.000Z"  # the merge's one "now"
    before = (shared_repo / "profiles/two/bob/profile.json").stat().st_mtime_ns
    write_contribution(shared_repo, [observation("C")], dev="carol", project="one", stamp="2026-03-20T00-00-00")
    (shared_repo / "contributions/two/bob/broken.json").write_text("{")  # quarantined: two did not change
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--now", NOW_S + 60, "--format", "json"])
    import orjson

    written = orjson.loads(result.stdout)["profiles"]["written"]
    assert "profiles/one/carol/profile.json" in written
    assert not any(path.startswith("profiles/two/") for path in written)
    assert (shared_repo / "profiles/two/bob/profile.json").stat().st_mtime_ns == before
