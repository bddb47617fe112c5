"""Feeding the access hook what Claude Code sends it (import as ``devside.hook_helpers``)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from claude_mem.claude_mem_db import REPO_ROOT, bun_binary, install_claude_mem
from memsync.devside import access_hook, access_log

SEARCH = "mcp__plugin_claude-mem_mcp-search__search"
GET = "mcp__plugin_claude-mem_mcp-search__get_observations"
GET_SCRIPT = REPO_ROOT / "scripts" / "claude-mem-get-observations.cjs"


def run_hook(state: Path, data: bytes | None, *, cli: bool = False) -> subprocess.CompletedProcess[bytes]:
    """The hook as its own process (``python -m``: the ``mem-sync-hook`` script's code), or through the CLI."""
    args = [sys.executable, "-m", "memsync", "hook", "post-tool-use"] if cli else [
        sys.executable, "-m", "memsync.devside.access_hook"]
    env = {**os.environ, "MEM_SYNC_CONFIG": str(state / "config.json")}
    return subprocess.run(
        args,
        input=data,
        stdin=subprocess.DEVNULL if data is None else None,
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )


def payload(tool: str, response: Any, **extra: Any) -> bytes:
    doc = {
        "session_id": "sess-1",
        "transcript_path": "/home/dev/.claude/projects/demo/sess-1.jsonl",
        "cwd": "/home/dev/demo",
        "permission_mode": "default",
        "hook_event_name": "PostToolUse",
        "tool_name": tool,
        "tool_input": {"query": "pelican"},
        "tool_response": response,
        "tool_use_id": "toolu_01",
        **extra,
    }
    return orjson.dumps(doc)


def logged(state: Path) -> list[tuple]:
    path = access_log.access_log_path(state)
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT observation_id, session_id, tool_name, project FROM accesses ORDER BY rowid"
        ).fetchall()
    finally:
        conn.close()


def hook_log(state: Path) -> list[str]:
    path = state / access_hook.HOOK_LOG_NAME
    return path.read_text().splitlines() if path.exists() else []


def search_table(rows: list[tuple[int, str]]) -> str:
    """claude-mem's search answer as its formatter prints it (one table per file group)."""
    lines = ["Found 2 result(s) matching \"pelican\"", "", "### Mar 19, 2026", "", "**General**",
             "| ID | Time | T | Title | Tokens |", "|----|------|---|-------|--------|"]
    lines += [f"| #{obs_id} | 6:00 AM | \N{LARGE BROWN CIRCLE} | {title} | ~12 |" for obs_id, title in rows]
    lines += ["", "**\N{DIRECT HIT} #S4** Session summary (Mar 19, 6:05 AM)", "",
              "**\N{SPEECH BALLOON} User Prompt #3** (Mar 19, 6:06 AM)", "> find the pelican notes"]
    return "\n".join(lines)


def get_observations_answer(db: Path, ids: list[int]) -> dict[str, Any]:
    """What claude-mem's get_observations returns, made by claude-mem's own code."""
    install = install_claude_mem()
    with tempfile.TemporaryDirectory(prefix="claude-mem-get-") as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        (work / "home").mkdir()
        (work / "data" / "settings.json").write_text('{"CLAUDE_MEM_CHROMA_ENABLED":"false"}')
        (work / "data" / "claude-mem.db").write_bytes(db.read_bytes())
        (work / "ids.json").write_text(orjson.dumps(ids).decode())
        env = {**os.environ, "HOME": str(work / "home"), "CLAUDE_MEM_DATA_DIR": str(work / "data")}
        result = subprocess.run(
            [str(bun_binary(install)), str(GET_SCRIPT), str(install / "node_modules" / "claude-mem"),
             str(work / "ids.json")],
            env=env, capture_output=True, text=True, check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return orjson.loads(result.stdout)


