"""Every secret-scanner test runs on both anchor engines: their findings must be identical."""

from __future__ import annotations

import pytest

from memsync.safety import secrets


@pytest.fixture(params=["hyperscan", "python"])
def engine(request: pytest.FixtureRequest):
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")
    previous = secrets.active_engine()
    secrets.select_engine(request.param)
    yield request.param
    secrets.select_engine(previous)
