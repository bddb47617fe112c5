"""Fixtures of the publishing tests (the loopback git server and forge are in tests/conftest.py)."""

from __future__ import annotations

import pytest


class SleepRecorder:
    """Stands in for time.sleep through the adapters' public ``sleep`` parameter."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
