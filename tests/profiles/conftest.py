"""Fixtures of the profiles tests; the data itself is built in profile_team.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from profile_team import team_repo


@pytest.fixture
def team(shared_repo: Path) -> Path:
    return team_repo(shared_repo)
