"""Loopback servers for the publishing tests, started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.git_http import GitHttpServer


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    server = GitHttpServer(tmp_path_factory.mktemp("git-root")).start()
    yield server
    server.stop()
