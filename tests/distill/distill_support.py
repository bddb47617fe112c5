"""Helpers of the distillation tests: a team's themed observations, a runner of the real
``mem-sync distill``, and readers of its files."""

from __future__ import annotations

import json
import random
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from builders import BASE_MILLIS, observation
from clirun import run_mem_sync
from fakes.llm import FakeLLM

DEVS = ("alice", "bob", "chandra")
DAY = 86_400_000


def github_token() -> str:
    """A token our scanner flags (valid checksum), made at run time so none sits in the repo."""
    from safety.secret_corpus import checksummed

    return checksummed("ghp_", random.Random(21))


def themed_observations(dev: str, count: int, *, offset: int = 0) -> list[dict[str, Any]]:
    """Observations on three recurring concepts, as a team's notes would be."""
    themes = [("http", "decision", "Use httpx with explicit timeouts"),
              ("sqlite", "bugfix", "Open SQLite in WAL mode before concurrent writes"),
              ("testing", "discovery", "Build real git repos in tmp_path for tests")]
    out = []
    for index in range(offset, offset + count):
        concept, kind, title = themes[index % len(themes)]
        out.append(observation(
            f"{title} ({index})", session=f"s-{dev}-{index}", type=kind,
            created_at_epoch=BASE_MILLIS + index * DAY,
            narrative=f"We learnt this the hard way while working on {concept} (note {index}).",
            facts=json.dumps([f"{concept} fact {index}"]),
            concepts=json.dumps([concept, "team"]),
            files_read=json.dumps([f"src/{concept}/module{index % 2}.py"])))
    return out


def merge(repo: Path, *extra: str) -> None:
    result = run_mem_sync(["ci-merge", "--repo", repo, "--no-profiles", *extra])
    assert result.returncode == 0, result.stderr


def write_config(path: Path, distillation: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"global": {"devName": "reviewer1", "distillation": distillation},
                                "projects": {}}))


def distill(repo: Path, fake: FakeLLM, config: Path, *args: str | Path,
            env: dict[str, str] | None = None, base_url: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """The real CLI: ``mem-sync distill --repo REPO --project demo --base-url FAKE ...``."""
    full_env = {"MEM_SYNC_CONFIG": str(config), "ANTHROPIC_API_KEY": "test-key",
                **(env or {})}
    command: list[str | Path] = ["distill", "--repo", repo]
    if not args or args[0] not in ("accept", "reject", "modify"):
        command += ["--project", "demo", "--base-url", base_url or fake.base_url]
    return run_mem_sync([*command, *args], env=full_env)


def distilled(repo: Path, name: str) -> Any:
    data = (repo / "distilled" / "demo" / name).read_bytes()
    return json.loads(data) if name.endswith(".json") else data.decode()


def all_files(repo: Path) -> dict[str, bytes]:
    folder = repo / "distilled" / "demo"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def contains_word(texts: Sequence[str], word: str) -> bool:

    pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.IGNORECASE)
    return any(pattern.search(text) for text in texts)
