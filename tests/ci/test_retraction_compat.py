"""Mixed teams: claude-mem-sync's own ci-merge still runs on a repository with retractions/.

claude-mem-sync is not on the public npm registry, so this runs where a checkout of it (with its
node_modules) and Bun are available: MEM_SYNC_CLAUDE_MEM_SYNC_SRC, else ~/.cache/mem-sync/
claude-mem-sync-src (the benchmarks' copy), and the Bun of the pinned claude-mem install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from builders import BASE_MILLIS, observation, read_json, write_contribution, write_retraction
from clirun import run_mem_sync

SOURCE = Path(os.environ.get("MEM_SYNC_CLAUDE_MEM_SYNC_SRC", Path.home() / ".cache/mem-sync/claude-mem-sync-src"))


def _bun() -> Path | None:
    found = sorted((Path.home() / ".cache/mem-sync").glob("claude-mem-*/node_modules/@oven/bun-*/bin/bun"))
    return found[0] if found else None


@pytest.mark.skipif(not (SOURCE / "src/cli.ts").exists() or _bun() is None,
                    reason="no claude-mem-sync checkout with node_modules, or no Bun (see module docstring)")
def test_claude_mem_sync_merges_a_repository_that_has_retractions(tmp_path: Path) -> None:
    write_contribution(tmp_path, [observation("Kept", session="s1"),
                                  observation("Taken back", session="s1", created_at_epoch=BASE_MILLIS + 1)])
    assert run_mem_sync(["ci-merge", "--repo", tmp_path, "--now", "1774000000"]).returncode == 0
    write_retraction(tmp_path, [("s1", "Taken back", BASE_MILLIS + 1)])
    write_contribution(tmp_path, [observation("New", session="s2")], dev="bob")
    assert run_mem_sync(["ci-merge", "--repo", tmp_path, "--now", "1774000000"]).returncode == 0
    assert (tmp_path / "merged/demo/retracted.json").exists()

    theirs = tmp_path / "theirs"
    shutil.copytree(tmp_path, theirs, ignore=shutil.ignore_patterns("theirs"))
    (theirs / ".merge-state.json").unlink()  # a team that switches back starts from its own state
    done = subprocess.run(
        [str(_bun()), str(SOURCE / "src/cli.ts"), "ci-merge", "--contributions-dir", "contributions",
         "--output-dir", "merged", "--state-file", ".merge-state.json"],
        cwd=theirs, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    titles = sorted(o["title"] for o in read_json(theirs / "merged/demo/latest.json")["observations"])
    # it ignores retractions/ (it does not know them) and merges the contributions as before
    assert titles == ["Kept", "New", "Taken back"]
    assert (theirs / "retractions/demo/alice").is_dir()
