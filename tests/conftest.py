"""Fixtures every test area shares. Area-specific fixtures live in that area's conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def shared_repo(tmp_path: Path) -> Path:
    """An empty shared-repository working tree (no git) with a contributions/ folder."""
    root = tmp_path / "shared"
    (root / "contributions").mkdir(parents=True)
    return root
