"""The smaller guards of ci-merge against odd flags, environments and repositories, each run
through the real command."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from builders import observation, write_contribution
from clirun import run_mem_sync

NOW = "1773950000"

_COUNT_FORKS = '''
import atexit, os, sys
_forks = []
def _hook(event, args):
    if event == "os.fork":
        _forks.append(1)
sys.addaudithook(_hook)
_parent = os.getpid()
@atexit.register
def _report():
    if os.getpid() == _parent:
        with open(os.environ["FORK_COUNT_FILE"], "w") as handle:
            handle.write(str(len(_forks)))
'''


def test_workers_are_capped_at_the_files_and_the_cores(shared_repo: Path, tmp_path: Path):
    for dev in ("alice", "bob", "carol"):
        write_contribution(shared_repo, [observation(f"From {dev}", session=dev)], dev=dev)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_COUNT_FORKS)
    count_file = tmp_path / "forks"
    env = {"PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
           "FORK_COUNT_FILE": str(count_file)}

    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--workers", "64"], env=env)

    assert result.returncode == 0, result.stderr
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    forks = int(count_file.read_text())
    assert 0 < forks <= min(3, cores), forks  # 3 files: never 64 processes
    merged = orjson.loads((shared_repo / "merged/demo/latest.json").read_bytes())
    assert merged["observationCount"] == 3


@pytest.fixture
def unwritable(tmp_path: Path):
    """``unwritable(folder)``: a folder nothing can be created in, even by root (chattr +i),
    made writable again at teardown."""
    locked: list[Path] = []

    def lock(folder: Path) -> None:
        if os.geteuid() != 0:
            folder.chmod(0o555)
        elif shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True, check=False).returncode != 0:
            pytest.skip("running as root without chattr +i: no way to make a folder unwritable")
        locked.append(folder)

    yield lock
    for folder in locked:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


def test_permission_error_in_profiles_is_one_line_not_an_internal_error(shared_repo: Path, unwritable):
    write_contribution(shared_repo, [observation("Shared")])
    folder = shared_repo / "profiles" / "demo"
    folder.mkdir(parents=True)
    unwritable(folder)

    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--now", NOW])

    assert result.returncode == 1
    assert "internal error" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    errors = [line for line in result.stdout.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 1, result.stdout
    assert "profiles for demo: cannot write profiles/demo/" in errors[0] and "permission" in errors[0].lower()
    assert (shared_repo / "merged/demo/latest.json").is_file()


def test_a_second_run_on_the_same_checkout_waits_for_the_first(shared_repo: Path):
    write_contribution(shared_repo, [observation("Shared")])
    holder = os.open(shared_repo, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # what a running ci-merge holds
    try:
        env = {k: v for k, v in os.environ.items() if k != "MEM_SYNC_DEBUG"}
        second = subprocess.Popen([sys.executable, "-m", "memsync", "ci-merge", "--repo", str(shared_repo),
                                   "--no-profiles", "--now", NOW], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        waiting = second.stderr.readline()
        assert "another mem-sync ci-merge is running on this checkout" in waiting, waiting
        time.sleep(0.5)
        assert second.poll() is None and not (shared_repo / "merged").exists()
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert (shared_repo / "merged/demo/latest.json").is_file() and "Changed:" in out


def test_stale_temp_files_of_a_killed_run_are_removed_at_start(shared_repo: Path):
    write_contribution(shared_repo, [observation("Shared")])
    first = run_mem_sync(["ci-merge", "--repo", shared_repo, "--now", NOW])
    assert first.returncode == 0, first.stderr
    # what kill -9 leaves: our temp files beside their targets, and an old target being freed
    stale = [shared_repo / "merged/demo/.latest.json.k3j_9zq1.tmp",
             shared_repo / "merged/demo/.latest.json.k3j_9zq1.tmp.old",
             shared_repo / "merged/demo/..latest-index.msgpack.ab12cd34.tmp",
             shared_repo / ".merge-state.json.x1y2z3w4.tmp",
             shared_repo / "profiles/demo/alice/.profile.md.abcdefgh.tmp"]
    for path in stale:
        path.write_bytes(b"x" * 1000)
    theirs = [shared_repo / "merged/demo/notes.tmp", shared_repo / "contributions/demo/alice/.draft.json.abcdefgh.tmp",
              shared_repo / "merged/demo/.latest.json.tmp"]
    for path in theirs:
        path.write_bytes(b"keep me")

    again = run_mem_sync(["ci-merge", "--repo", shared_repo, "--now", NOW])

    assert again.returncode == 0, again.stderr
    assert [path for path in stale if path.exists()] == []
    assert all(path.read_bytes() == b"keep me" for path in theirs)


@pytest.mark.parametrize("args, env, message", [
    (["--keep-tag", ""], {}, "--keep-tag"),
    (["--keep-tag", "   "], {}, "--keep-tag"),
    (["--now", "253402300800"], {}, "--now"),
    (["--now", "253402300800000"], {}, "--now"),
    (["--now", str(2**64)], {}, "--now"),
    (["--max-file-size", "inf"], {}, "--max-file-size"),
    (["--max-file-size", "nan"], {}, "--max-file-size"),
    ([], {"SOURCE_DATE_EPOCH": str(2**70)}, "SOURCE_DATE_EPOCH"),
    ([], {"SOURCE_DATE_EPOCH": "253402300800"}, "SOURCE_DATE_EPOCH"),
])
def test_flags_past_what_the_merge_can_take_are_usage_errors(shared_repo: Path, args, env, message):
    write_contribution(shared_repo, [observation("Shared")])
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", *args], env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert message in result.stderr and "internal error" not in result.stderr
    assert not any("Traceback" in line for line in lines)
    assert not (shared_repo / "merged").exists()


def _hook_run(repo: Path) -> subprocess.CompletedProcess[str]:
    return run_mem_sync(["ci-merge", "--repo", repo, "--no-profiles", "--strategy", "hook", "--now", NOW])


def _two_exports(repo: Path, second: bool) -> None:
    write_contribution(repo, [observation("Read often", session="s", access_count=9),
                              observation("Read once", session="s", created_at_epoch=1_773_900_001_000,
                                          access_count=1)], dev="alice")
    if second:
        write_contribution(repo, [observation("Read often", session="s", access_count=4),
                                  observation("Bob's own", session="b", access_count=2)], dev="bob")


def test_hook_rerun_after_a_crash_before_the_state_changes_no_score(shared_repo: Path, tmp_path: Path, unwritable):
    reference = tmp_path / "reference"
    (reference / "contributions").mkdir(parents=True)
    for repo in (shared_repo, reference):
        _two_exports(repo, second=False)
        assert _hook_run(repo).returncode == 0
        _two_exports(repo, second=True)
    assert _hook_run(reference).returncode == 0  # the run that did not crash

    state = shared_repo / ".merge-state.json"
    state_before = state.read_bytes()
    unwritable(state)  # the run dies after latest.json is in place, before the state is
    crashed = _hook_run(shared_repo)
    assert crashed.returncode == 1 and "cannot write .merge-state.json" in crashed.stderr, crashed.stderr
    assert state.read_bytes() == state_before
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(state)], check=True)

    rerun = _hook_run(shared_repo)

    assert rerun.returncode == 0, rerun.stderr
    expected = orjson.loads((reference / "merged/demo/latest.json").read_bytes())
    got = orjson.loads((shared_repo / "merged/demo/latest.json").read_bytes())
    assert [(o["title"], o["score"]) for o in got["observations"]] == \
        [(o["title"], o["score"]) for o in expected["observations"]]
    assert orjson.loads(state.read_bytes())["projects"] == orjson.loads(
        (reference / ".merge-state.json").read_bytes())["projects"]
    assert not list(shared_repo.glob(".merge-state.json.*"))


@pytest.mark.parametrize("link", ["merged", "merged/demo"])
def test_writes_never_follow_a_merged_symlink_out_of_the_repository(shared_repo: Path, tmp_path: Path, link: str):
    write_contribution(shared_repo, [observation("Shared")])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".latest.json.abcdefgh.tmp").write_bytes(b"not ours to delete")
    (shared_repo / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, shared_repo / link)

    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--now", NOW])

    assert result.returncode == 1, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{link} is a symlink" in lines[0], result.stderr
    assert sorted(p.name for p in outside.iterdir()) == [".latest.json.abcdefgh.tmp"]
    assert not (shared_repo / ".merge-state.json").exists()


def test_profile_refuses_a_source_date_epoch_past_year_9999_as_ci_merge_does(shared_repo: Path):
    write_contribution(shared_repo, [observation("Shared")])
    result = run_mem_sync(["profile", "--repo", shared_repo], env={"SOURCE_DATE_EPOCH": "999999999999999999"})
    assert result.returncode == 2 and "SOURCE_DATE_EPOCH" in result.stderr, (result.stdout, result.stderr)
    assert not (shared_repo / "profiles").exists()
