"""Fixtures every test area shares. Area-specific fixtures live in that area's conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.forge import FakeForge
from fakes.git_http import GitHttpServer


@pytest.fixture
def shared_repo(tmp_path: Path) -> Path:
    """An empty shared-repository working tree (no git) with a contributions/ folder."""
    root = tmp_path / "shared"
    (root / "contributions").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    """git smart HTTP on 127.0.0.1 (publishing, rules sync and distillation's PR mode)."""
    server = GitHttpServer(tmp_path_factory.mktemp("git-root")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    """The loopback forge answering like GitHub, GitLab and Bitbucket."""
    server = FakeForge().start()
    yield server
    server.stop()


@pytest.fixture
def clean_forge(forge: FakeForge) -> FakeForge:
    forge.reset()
    return forge
