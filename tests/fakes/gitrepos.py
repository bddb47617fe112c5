"""Helpers that drive real git in tests (no mocks): clones, commits, logs."""

from __future__ import annotations

import subprocess
from pathlib import Path

ENV = {
    "GIT_AUTHOR_NAME": "Test Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.test",
    "GIT_COMMITTER_NAME": "Test Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.test",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(cwd: Path | None, *args: str) -> str:
    import os

    env = {**os.environ, **ENV}
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def clone(url: str, dest: Path) -> Path:
    git(None, "clone", "--quiet", url, str(dest))
    return dest


def commit_file(repo: Path, relpath: str, text: str, message: str) -> str:
    target = repo / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(repo, "add", "--", relpath)
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def seed_remote(url: str, workdir: Path, files: dict[str, str], branch: str = "main") -> str:
    """Clone ``url`` (empty) into ``workdir``, commit ``files``, push ``branch``; return the sha."""
    clone(url, workdir)
    git(workdir, "checkout", "--quiet", "-B", branch)
    for relpath, text in files.items():
        target = workdir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(workdir, "add", "--all")
    git(workdir, "commit", "--quiet", "-m", "seed")
    git(workdir, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
    return git(workdir, "rev-parse", "HEAD")
