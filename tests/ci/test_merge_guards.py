"""The smaller guards of ci-merge against odd flags, environments and repositories, each run
through the real command."""

from __future__ import annotations

import os
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
    import shutil
    import subprocess

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
