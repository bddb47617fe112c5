"""Run the real ``mem-sync`` command in a subprocess, as a user or a CI job would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_mem_sync(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "MEM_SYNC_DEBUG"}
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "memsync", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        input=input_text,
        timeout=300,
        check=False,
    )
