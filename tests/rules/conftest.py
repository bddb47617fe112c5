"""The loopback git server and fake forge of the publishing tests, for rules sync's PR mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.forge import FakeForge
from fakes.git_http import GitHttpServer


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    server = GitHttpServer(tmp_path_factory.mktemp("git-root")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    server = FakeForge().start()
    yield server
    server.stop()


@pytest.fixture
def clean_forge(forge: FakeForge) -> FakeForge:
    forge.reset()
    return forge
