"""The PostToolUse access hook, run as Claude Code runs it: a process with JSON on stdin."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from claude_mem.claude_mem_db import seed_row
from devside.hook_helpers import (
    GET,
    SEARCH,
    get_observations_answer,
    hook_log,
    logged,
    payload,
    run_hook,
    search_table,
)
from memsync.devside import access_hook, access_log

BASE = 1_773_900_000_000


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
