"""Fixtures for the developer-side tests: real claude-mem DBs, a config, a shared bare repo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from claude_mem.claude_mem_db import (  # noqa: F401 - fixtures are found by name
    _seeded_cache,
    claude_mem_db,
    claude_mem_install,
    pristine_claude_mem_db,
    seeded_db,
)
from memsync.git import run_git


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's mem-sync config lives (MEM_SYNC_CONFIG); not created yet."""
    path = tmp_path / "home" / ".claude-mem-sync" / "config.json"
    monkeypatch.setenv("MEM_SYNC_CONFIG", str(path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return path


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """An empty shared repository (no commits yet), as a new team would start with."""
    path = tmp_path / "shared.git"
    run_git(["init", "--quiet", "--bare", "--initial-branch=main", str(path)], None)
    return path


@pytest.fixture
def mem_sync(config_file: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``mem-sync`` CLI in a subprocess (stderr shows what a user would see)."""

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "memsync", *args],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"mem-sync {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run
