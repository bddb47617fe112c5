"""Helpers for the CI-artefact tests: paths, YAML loading, external linters."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "ci-templates"
GITHUB_WORKFLOW = TEMPLATES / "github" / "merge-memories.yml"
GITLAB_CI = TEMPLATES / "gitlab" / ".gitlab-ci.yml"
BITBUCKET_PIPELINES = TEMPLATES / "bitbucket" / "bitbucket-pipelines.yml"
ACTION_YML = ROOT / "action.yml"
DOCKERFILE = ROOT / "Dockerfile"


def load_yaml(path: Path) -> Any:
    # ruamel (YAML 1.2) keeps `on:` a string and resolves `<<:` merge keys like the forges do.
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def tool(name: str) -> str:
    """Path of a linter installed with the test extras; skip with the install hint if absent."""
    scripts = Path(sys.executable).parent
    for candidate in (scripts / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.skip(f"{name} is not installed (pip install 'mem-sync[test]')")


def run_tool(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


GITLAB_CI_LOCAL_VERSION = "4.73.0"  # 4.74+ needs node 22 (Set.prototype.union)


def _cache_dir() -> Path:
    base = os.environ.get("MEM_SYNC_TEST_CACHE") or os.environ.get("XDG_CACHE_HOME") \
        or str(Path.home() / ".cache")
    return Path(base) / "mem-sync-tests"


# Fixed at import: tests that point HOME at a temp dir must still share the one install.
CACHE_DIR = _cache_dir()


def install_gitlab_ci_local() -> Path:
    """Install the pinned gitlab-ci-local under the cache (once; safe under pytest-xdist).

    Returns the path of its executable. Raises RuntimeError saying why when it cannot.
    """
    prefix = CACHE_DIR / f"gitlab-ci-local-{GITLAB_CI_LOCAL_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "gitlab-ci-local"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("node and npm are needed to install gitlab-ci-local")
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            result = subprocess.run(
                [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                 "--no-save", f"gitlab-ci-local@{GITLAB_CI_LOCAL_VERSION}"],
                capture_output=True, text=True, check=False)
            if result.returncode != 0 or not binary.exists():
                raise RuntimeError("npm install gitlab-ci-local failed: "
                                   + (result.stderr.strip().splitlines() or ["no output"])[-1])
    return binary


def gitlab_ci_local() -> str:
    """The gitlab-ci-local executable, or skip naming what is missing."""
    if shutil.which("rsync") is None:
        pytest.skip("gitlab-ci-local's shell executor needs rsync (apt-get install rsync)")
    try:
        return str(install_gitlab_ci_local())
    except RuntimeError as error:
        pytest.skip(str(error))


if __name__ == "__main__":  # python tests/ci/ci_support.py: warm the cache before a CI run
    print(install_gitlab_ci_local())
