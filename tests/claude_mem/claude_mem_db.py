"""Real claude-mem databases for tests and benchmarks, made by claude-mem's own code.

``scripts/install-claude-mem.sh`` installs the pinned claude-mem npm package and Bun once into
a cache (``MEM_SYNC_CACHE_DIR`` or ~/.cache/mem-sync), so CI pays npm once. A pristine DB is
built once per session and copied per test; rows are seeded through claude-mem's own
SessionStore API (``scripts/make-claude-mem-db.cjs``), never through a schema of our own.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from memsync.model import parse_string_list

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-claude-mem.sh"
MAKE_DB_SCRIPT = REPO_ROOT / "scripts" / "make-claude-mem-db.cjs"
CLAUDE_MEM_VERSION = "13.25.3"


@functools.cache
def install_claude_mem() -> Path:
    """The install directory (holding node_modules/claude-mem and node_modules/@oven/bun-*)."""
    result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"install-claude-mem.sh failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def bun_binary(install: Path) -> Path:
    found = sorted((install / "node_modules" / "@oven").glob("bun-*/bin/bun"))
    if not found:
        raise RuntimeError(f"no bun binary under {install}/node_modules/@oven")
    return found[0]


def seed_row(
    title: str,
    *,
    session: str = "mem-session-1",
    project: str = "demo",
    type: str = "decision",
    narrative: str | None = "Why we chose this.",
    created_at_epoch: int = 1_773_900_000_000,
    subtitle: str | None = None,
    facts: Any = ("a fact",),
    concepts: Any = ("pattern",),
    files_read: Any = (),
    files_modified: Any = (),
    prompt_number: int = 1,
) -> dict[str, Any]:
    """One observation in the shape claude-mem's storeObservation takes (arrays, epoch ms)."""
    return {
        "memory_session_id": session,
        "project": project,
        "type": type,
        "title": title,
        "subtitle": subtitle,
        "narrative": narrative,
        "facts": parse_string_list(list(facts) if isinstance(facts, tuple) else facts),
        "concepts": parse_string_list(list(concepts) if isinstance(concepts, tuple) else concepts),
        "files_read": parse_string_list(list(files_read) if isinstance(files_read, tuple) else files_read),
        "files_modified": parse_string_list(
            list(files_modified) if isinstance(files_modified, tuple) else files_modified
        ),
        "prompt_number": prompt_number,
        "created_at_epoch": created_at_epoch,
    }


def make_db(dest: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    """Run claude-mem's own DB startup (and writer API for ``rows``); the DB ends up at ``dest``."""
    install = install_claude_mem()
    with tempfile.TemporaryDirectory(prefix="claude-mem-") as tmp:
        work = Path(tmp)
        data = work / "data"
        home = work / "home"
        data.mkdir()
        home.mkdir()
        (data / "settings.json").write_text('{"CLAUDE_MEM_CHROMA_ENABLED":"false"}')
        args = [str(bun_binary(install)), str(MAKE_DB_SCRIPT), str(install / "node_modules" / "claude-mem")]
        if rows:
            seed = work / "seed.json"
            seed.write_bytes(orjson.dumps({"observations": rows}))
            args.append(str(seed))
        env = {**os.environ, "HOME": str(home), "CLAUDE_MEM_DATA_DIR": str(data)}
        result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"make-claude-mem-db.cjs failed:\n{result.stderr[-4000:]}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data / "claude-mem.db", dest)
    return dest


def _require_npm() -> None:
    # In CI (CI=true, as every CI service sets it) a missing npm must fail, not skip quietly.
    required = os.environ.get("MEM_SYNC_REQUIRE_CLAUDE_MEM") or os.environ.get("CI", "").lower() == "true"
    if shutil.which("npm") is None and not required:
        pytest.skip("npm is not installed: cannot install the pinned claude-mem to build a real DB")


# --- fixtures (imported by the conftest.py files that need them) --------------------------


@pytest.fixture(scope="session")
def claude_mem_install() -> Path:
    _require_npm()
    return install_claude_mem()


@pytest.fixture(scope="session")
def pristine_claude_mem_db(claude_mem_install: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db(tmp_path_factory.mktemp("pristine") / "claude-mem.db")


@pytest.fixture
def claude_mem_db(pristine_claude_mem_db: Path, tmp_path: Path) -> Path:
    """A fresh copy of an empty real claude-mem DB for this test."""
    dest = tmp_path / "claude-mem" / "claude-mem.db"
    dest.parent.mkdir()
    shutil.copyfile(pristine_claude_mem_db, dest)
    return dest


@pytest.fixture(scope="session")
def _seeded_cache(claude_mem_install: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {}


@pytest.fixture
def seeded_db(
    _seeded_cache: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> Callable[..., Path]:
    """``seeded_db(rows, name="dev")``: a real DB holding ``rows`` written by claude-mem itself.

    Identical seeds are built once per session and copied.
    """

    def build(rows: list[dict[str, Any]], name: str = "dev") -> Path:
        digest = hashlib.sha256(orjson.dumps(rows)).hexdigest()[:16]
        cached = _seeded_cache.get(digest)
        if cached is None:
            cached = make_db(tmp_path_factory.mktemp(f"seed-{digest}") / "claude-mem.db", rows)
            _seeded_cache[digest] = cached
        dest = tmp_path / name / "claude-mem.db"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, dest)
        return dest

    return build
