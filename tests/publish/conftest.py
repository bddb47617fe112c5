"""Loopback servers for the publishing tests, started once per module."""

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


class SleepRecorder:
    """Stands in for time.sleep through the adapters' public ``sleep`` parameter."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
