"""`ci-merge --publish push` through the real CLI, against a real bare repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from builders import observation, write_contribution
from clirun import run_mem_sync


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def checkout_with_origin(tmp_path: Path) -> tuple[Path, Path]:
    origin = tmp_path / "origin.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(origin), cwd=tmp_path)
    work = tmp_path / "work"
    git("clone", "--quiet", str(origin), str(work), cwd=tmp_path)
    git("checkout", "--quiet", "-B", "main", cwd=work)
    write_contribution(work, [observation("Shared via CI")], dev="alice")
    git("add", "-A", cwd=work)
    git("-c", "user.name=alice", "-c", "user.email=a@example.com", "commit", "--quiet", "-m", "export", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    return origin, work


def test_publish_push_commits_once_and_a_rerun_changes_nothing(tmp_path: Path):
    origin, work = checkout_with_origin(tmp_path)
    first = run_mem_sync(["ci-merge", "--repo", work, "--publish", "push", "--bot-name", "merge-bot"])
    assert first.returncode == 0, first.stderr
    assert "published (push): pushed" in first.stdout
    assert git("log", "-1", "--format=%an %s", "main", cwd=origin).startswith("merge-bot mem-sync: merge 1 new")
    tree = git("ls-tree", "-r", "--name-only", "main", cwd=origin)
    assert "merged/demo/latest.json" in tree and ".merge-state.json" in tree
    head = git("rev-parse", "main", cwd=origin)

    second = run_mem_sync(["ci-merge", "--repo", work, "--publish", "push"])
    assert second.returncode == 0, second.stderr
    assert "published (push): unchanged" in second.stdout
    assert git("rev-parse", "main", cwd=origin) == head


def test_json_report_carries_the_publish_result(tmp_path: Path):
    _, work = checkout_with_origin(tmp_path)
    result = run_mem_sync(["ci-merge", "--repo", work, "--publish", "push", "--format", "json"])
    import orjson

    assert orjson.loads(result.stdout)["publish"]["operation"] == "pushed"


def test_dry_run_cannot_publish(tmp_path: Path):
    _, work = checkout_with_origin(tmp_path)
    result = run_mem_sync(["ci-merge", "--repo", work, "--publish", "push", "--dry-run"])
    assert result.returncode == 2 and "cannot --publish" in result.stderr


def test_publish_outside_a_git_checkout_is_one_clear_line(shared_repo: Path):
    write_contribution(shared_repo, [observation("x")])
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--publish", "push"])
    assert result.returncode == 2
    assert "is not a git checkout" in result.stderr and "Traceback" not in result.stderr
