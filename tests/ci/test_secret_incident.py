"""A credential merged before any rule knew it: the next merge withholds and retracts it, and
``mem-sync incident`` prints commands that, run as printed on a copy, leave no commit carrying it."""

from __future__ import annotations

import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builders import BASE_MILLIS, observation, read_json, write_contribution
from clirun import run_mem_sync
from memsync.publish.git import run_git
from safety.secret_corpus import checksummed

NOW = ["--now", str(BASE_MILLIS // 1000 + 86_400)]


def _commit_all(repo: Path, message: str) -> None:
    run_git(["add", "--all"], repo)
    run_git(["-c", "user.name=ci", "-c", "user.email=ci@x", "commit", "--quiet", "-m", message], repo)
    run_git(["push", "--quiet", "origin", "HEAD:main"], repo)


def _run_printed(commands: list[str], cwd: Path) -> None:
    """Run the procedure's command lines exactly as a person would paste them."""
    for line in commands:
        argv = shlex.split(line)
        if argv[0] == "cd":
            cwd = (cwd / argv[1]).resolve()
            continue
        if argv[0] == "mem-sync":
            argv = [sys.executable, "-m", "memsync", *argv[1:]]
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"


@pytest.mark.skipif(shutil.which("git-filter-repo") is None, reason="git-filter-repo is not installed")
def test_incident_procedure_removes_the_secret_from_every_commit(tmp_path: Path) -> None:
    token = checksummed("ghp_", random.Random(7))
    bare = tmp_path / "shared.git"
    run_git(["init", "--quiet", "--bare", "--initial-branch=main", str(bare)], None)
    work = tmp_path / "work"
    run_git(["clone", "--quiet", str(bare), str(work)], None)
    write_contribution(work, [observation("Deploy notes", narrative=f"push with {token}"),
                              observation("Keep me", created_at_epoch=BASE_MILLIS + 1)])
    assert run_mem_sync(["ci-merge", "--repo", work, "--secrets", "off", *NOW]).returncode == 0
    _commit_all(work, "merge before the rule existed")

    write_contribution(work, [observation("Later note", created_at_epoch=BASE_MILLIS + 2)], dev="bob")
    merged = run_mem_sync(["ci-merge", "--repo", work, *NOW])
    assert merged.returncode == 0, merged.stderr
    assert token not in (work / "merged/demo/latest.json").read_text()
    assert read_json(work / "merged/demo/retracted.json")["retracted"][0]["retractedBy"] == "ci-merge"
    _commit_all(work, "merge with the rule")

    printed = run_mem_sync(["incident", "--project", "demo", "--repo", work])
    assert printed.returncode == 0, printed.stderr
    text = printed.stdout
    assert token not in text
    assert "contributions/demo/alice/2026-03-19T18-30-00.json" in text and "merged/demo/latest.json" in text
    assert "Rotate the credential" in text and "github" in text

    history = subprocess.run(["git", "log", "-p", "--all"], cwd=bare, capture_output=True, text=True).stdout
    assert token in history  # the leak is real before the procedure
    commands = [line.strip() for line in text.splitlines()
                if line.startswith("     ") and line.strip().split(" ", 1)[0] in ("mem-sync", "git", "cd")
                and "reset --hard" not in line]
    _run_printed(commands, tmp_path)

    history = subprocess.run(["git", "log", "-p", "--all"], cwd=bare, capture_output=True, text=True).stdout
    assert token not in history
    assert "Keep me" in history  # the rest of the history is still there
    fresh = tmp_path / "fresh"
    run_git(["clone", "--quiet", str(bare), str(fresh)], None)
    assert (fresh / "merged/demo/retracted.json").exists()


def test_incident_on_a_clean_repository_says_so(tmp_path: Path) -> None:
    run_git(["init", "--quiet", "--initial-branch=main", str(tmp_path)], None)
    write_contribution(tmp_path, [observation("Fine")])
    run_git(["add", "--all"], tmp_path)
    run_git(["-c", "user.name=a", "-c", "user.email=a@x", "commit", "--quiet", "-m", "x"], tmp_path)
    out = run_mem_sync(["incident", "--project", "demo", "--repo", tmp_path])
    assert out.returncode == 0 and "No file in any commit" in out.stdout
    bad = run_mem_sync(["incident", "--project", "demo", "--repo", tmp_path / "nope"])
    assert bad.returncode == 2 and "not a git repository" in bad.stderr
