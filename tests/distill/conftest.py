"""Distillation fixtures: a shared repository merged by the real ci-merge, a loopback model
server shaped like the real APIs, a configuration with distillation on. Helpers live in
distill_support.py (test modules import it by name; conftest modules share one name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from distill_support import DAY, DEVS, merge, themed_observations, write_config

from builders import BASE_MILLIS, observation, write_contribution
from fakes.llm import FakeLLM


@pytest.fixture
def merged_repo(tmp_path: Path) -> Path:
    """Three developers' contributions merged by the real ci-merge (some shared by several)."""
    repo = tmp_path / "shared"
    for dev in DEVS:
        write_contribution(repo, themed_observations(dev, 4), dev=dev)
    # the same observation exported by two developers: one key, two contributors
    common = observation("Pin the SQLite version in CI", session="s-common", type="decision",
                         concepts='["sqlite"]', created_at_epoch=BASE_MILLIS + 40 * DAY)
    write_contribution(repo, [common], dev="alice", stamp="2026-03-20T10-00-00")
    write_contribution(repo, [common], dev="bob", stamp="2026-03-20T10-00-00")
    merge(repo)
    return repo


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM().start()
    yield fake
    fake.stop()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "config.json"
    write_config(path, {"enabled": True, "minObservations": 1})
    return path
