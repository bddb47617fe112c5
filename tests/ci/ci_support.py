"""Helpers for the CI-artefact tests: paths, YAML loading, external linters."""

from __future__ import annotations

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
