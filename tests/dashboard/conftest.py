"""Fixtures for the dashboard tests: one world (real claude-mem DB, merged shared repo) per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from claude_mem.claude_mem_db import claude_mem_install  # noqa: F401 - fixture found by name
from dashboard.world import World, build_world


@pytest.fixture(scope="session")
def world_template(claude_mem_install: Path,  # noqa: F811 - the fixture imported above
                   tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("dashboard-world"))


@pytest.fixture
def world(world_template: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A private copy (tests may review rules or touch files), with MEM_SYNC_CONFIG pointing into it."""
    root = tmp_path / "world"
    shutil.copytree(world_template.db.parent.parent, root, symlinks=True)
    base = world_template.db.parent.parent
    moved = World(db=root / world_template.db.relative_to(base), repo=root / world_template.repo.relative_to(base),
                  origin=root / world_template.origin.relative_to(base),
                  state=root / world_template.state.relative_to(base),
                  config=root / world_template.config.relative_to(base))
    monkeypatch.setenv("MEM_SYNC_CONFIG", str(moved.config))
    return moved
