"""The PostToolUse access hook, run as Claude Code runs it: a process with JSON on stdin."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from claude_mem.claude_mem_db import REPO_ROOT, bun_binary, install_claude_mem, seed_row
from memsync.devside import access_hook, access_log

BASE = 1_773_900_000_000
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


@pytest.fixture
def real_db(seeded_db) -> Path:
    return seeded_db(
        [seed_row(f"Pelican note {i}", session="alice-s1", narrative=f"pelican {i}", created_at_epoch=BASE + i)
         for i in range(4)]
    )


def _ids(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM observations ORDER BY id")]
    finally:
        conn.close()


def test_search_and_get_observations_answers_are_logged(real_db: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    ids = _ids(real_db)
    result = run_hook(state, payload(SEARCH, [{"type": "text", "text": search_table([(ids[0], "A"), (ids[2], "C")])}]))
    assert result.returncode == 0 and result.stdout == b""
    # the session summary #S4 and the prompt number #3 are not observations
    assert logged(state) == [(ids[0], "sess-1", SEARCH, None), (ids[2], "sess-1", SEARCH, None)]

    answer = get_observations_answer(real_db, [ids[2], ids[3]])
    assert orjson.loads(answer["content"][0]["text"])[0]["project"] == "demo"  # claude-mem's own rows
    for response in (answer, answer["content"]):  # wrapped or as bare content blocks
        result = run_hook(state, payload(GET, response, tool_input={"ids": [ids[2], ids[3]]}))
        assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""
    rows = logged(state)[2:]
    assert rows == [(ids[2], "sess-1", GET, "demo"), (ids[3], "sess-1", GET, "demo")] * 2
    assert hook_log(state) == []
    conn = sqlite3.connect(access_log.access_log_path(state))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    stamps = [row[0] for row in conn.execute("SELECT accessed_at FROM accesses")]
    conn.close()
    assert all(abs(stamp - time.time() * 1000) < 60_000 for stamp in stamps)  # milliseconds


def test_older_tool_names_and_the_cli_command_log_too(tmp_path: Path) -> None:
    state = tmp_path / "state"
    text = orjson.dumps({"observations": [{"id": 7, "project": "web"}], "sessions": [{"id": 99}]}).decode()
    result = run_hook(state, payload("mcp__claude-mem__search", {"content": [{"type": "text", "text": text}]}),
                      cli=True)
    assert result.returncode == 0 and result.stdout == b""
    assert logged(state) == [(7, "sess-1", "mcp__claude-mem__search", "web")]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (None, "empty input"),
        (b"", "empty input"),
        (b"   \n", "empty input"),
        (b"{not json", "not JSON"),
        (b"[1, 2, 3]", "not an object"),
        (payload("Bash", {"stdout": "id=12 #13"}), "not a claude-mem search tool"),
        (payload("mcp__plugin_claude-mem_mcp-search__observation_add", [{"type": "text", "text": "#5"}]),
         "not a claude-mem search tool"),
        (payload(SEARCH, "#5", hook_event_name="PreToolUse"), "not PostToolUse"),
        (b'{"tool_name": "' + SEARCH.encode() + b'", "tool_response": "' + b"#1 " * (3 << 20) + b'"}',
         "larger than 8 MiB"),
    ],
    ids=["no-stdin", "empty", "blank", "not-json", "not-object", "other-tool", "writer-tool", "pre-tool",
         "huge"],
)
def test_bad_input_exits_0_silently_with_one_log_line(tmp_path: Path, data: bytes | None, why: str) -> None:
    state = tmp_path / "state"
    result = run_hook(state, data)
    assert result.returncode == 0
    assert result.stdout == b"" and result.stderr == b""
    lines = hook_log(state)
    assert len(lines) == 1 and why in lines[0], lines
    assert logged(state) == []


def test_a_locked_log_costs_one_line_not_a_hang(tmp_path: Path) -> None:
    state = tmp_path / "state"
    access_log.append_accesses(access_log.access_log_path(state), [access_log.Access(1, 1)])
    holder = sqlite3.connect(access_log.access_log_path(state), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = run_hook(state, payload(SEARCH, "| #8 | x |"))
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 0 and result.stdout == b""
    assert elapsed < access_hook.DEADLINE_SECONDS + 2
    assert "locked" in hook_log(state)[0]
    assert logged(state) == [(1, None, None, None)]


def test_unwritable_state_dir_still_exits_0(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    result = run_hook(blocker, payload(SEARCH, "| #8 | x |"))
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("| #12 | 6:00 AM | x | t | ~3 |\n| #15 | \" | x | u | ~4 |", {12: None, 15: None}),
        ("observation id=41 and id: 42; session #S3, User Prompt #9, &#38;", {41: None, 42: None}),
        ('[{"id": 5, "project": "p"', {5: None}),  # truncated JSON: the patterns still find it
        ([{"id": 3, "project": "p", "nested": {"id": 4}}], {3: "p", 4: "p"}),
        ({"content": [{"type": "text", "text": "#77"}], "isError": True}, {}),
        ({"results": {"observations": [{"id": 1}], "summaries": [{"id": 2}], "prompts": [{"id": 3}]}}, {1: None}),
        ([{"id": 0}, {"id": -4}, {"id": "7"}, {"id": True}], {}),
    ],
)
def test_observation_ids_in_answer_shapes(response: Any, expected: dict[int, str | None]) -> None:
    assert access_hook.observation_ids(response, orjson.loads) == expected


def test_project_asked_for_wins() -> None:
    doc = orjson.loads(payload(SEARCH, [{"type": "text", "text": '[{"id": 3, "project": "other"}]'}],
                               tool_input={"query": "x", "project": "demo"}))
    (access,) = access_hook.accesses_from_input(doc, 5, orjson.loads)
    assert (access.observation_id, access.accessed_at, access.project) == (3, 5, "demo")


def test_hook_log_rotates(tmp_path: Path) -> None:
    (tmp_path / access_hook.HOOK_LOG_NAME).write_bytes(b"x" * (access_hook.HOOK_LOG_MAX_BYTES + 1))
    access_hook.log_problem(tmp_path, "new problem", 0)
    assert hook_log(tmp_path) == ["1970-01-01T00:00:00.000Z post-tool-use: new problem"]
    assert (tmp_path / (access_hook.HOOK_LOG_NAME + ".1")).stat().st_size > access_hook.HOOK_LOG_MAX_BYTES
