"""Fixtures for the developer-side tests: real claude-mem DBs, a config, a shared bare repo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from claude_mem.claude_mem_db import (  # noqa: F401 - fixtures are found by name
    _seeded_cache,
    claude_mem_db,
    claude_mem_install,
    pristine_claude_mem_db,
    seeded_db,
)
from memsync.cli import main
from memsync.publish.git import run_git


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
    """Run the real ``mem-sync`` entry point (``memsync.cli.main``) in this process.

    In-process keeps the suite fast (no interpreter start per call); stdout and stderr are
    captured separately so tests see exactly what a user's terminal shows.
    """

    def run(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        runner = CliRunner()
        code = 0
        with runner.isolation(input=input) as (out, err, _):
            try:
                main(list(args))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            stdout = out.getvalue().decode()
            stderr = err.getvalue().decode()
        result = subprocess.CompletedProcess(["mem-sync", *args], code, stdout, stderr)
        if check and code != 0:
            raise AssertionError(f"mem-sync {' '.join(args)} failed ({code}):\n{stderr}")
        return result

    return run


@pytest.fixture
def mem_sync_process(config_file: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The CLI as a user runs it: a separate ``python -m memsync`` process."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "memsync", *args],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            check=False,
        )

    return run
