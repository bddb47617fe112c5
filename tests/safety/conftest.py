"""Every secret-scanner test runs on both anchor engines: their findings must be identical."""

from __future__ import annotations

import pytest
from scanners import scanner_for

from memsync.safety.secrets import SecretScanner


@pytest.fixture(params=["hyperscan", "python"])
def scanner(request: pytest.FixtureRequest) -> SecretScanner:
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")
    return scanner_for(request.param)
