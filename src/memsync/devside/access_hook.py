"""The PostToolUse hook: record which claude-mem observations a search returned to Claude.

Claude Code runs it after every matching tool call with one JSON object on stdin (``session_id``,
``transcript_path``, ``cwd``, ``hook_event_name``, ``tool_name``, ``tool_input``,
``tool_response``, ``tool_use_id``). For claude-mem's search tools it finds the observation ids in
the response and appends one access-log row per id (``access_log.py``).

The contract with Claude Code: nothing on stdout (a hook's stdout can reach Claude), exit 0
whatever happens (a failing hook must not fail the tool call), and no waiting: a deadline
alarm, a short busy timeout on the log, and a size cap on the input. A problem becomes one line
in ``<state_dir>/hook.log``. Standard library only, never the CLI: it runs after
every search (see bench/hook_bench.py for its cost).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from memsync.devside.access_log import Access, access_log_path, append_accesses
from memsync.devside.paths import state_dir

HOOK_LOG_NAME = "hook.log"
HOOK_LOG_MAX_BYTES = 1 << 20  # then rotated to hook.log.1: a misconfigured matcher must not fill the disk
MAX_INPUT_BYTES = 8 << 20  # far above any search answer; a bigger input is not claude-mem's
DEADLINE_SECONDS = 3
# claude-mem's MCP server as a plugin (server "mcp-search") and as a hand-added server (older setups).
TOOL_PREFIXES = ("mcp__plugin_claude-mem_mcp-search__", "mcp__claude-mem__")
# Tools that hand observations to Claude. Writers (observation_add, ...) and code tools
# (smart_outline, ...) return ids too, but nobody "used" a memory there.
READ_TOOLS = frozenset(
    {
        "search",
        "timeline",
        "get_observations",
        "smart_search",
        "observation_search",
        "observation_context",
        # names of older claude-mem releases
        "search_observations",
        "get_observation",
        "get_recent_context",
        "get_context_timeline",
        "get_timeline_by_query",
        "find_by_concept",
        "find_by_file",
        "find_by_type",
    }
)
# JSON subtrees that hold other records' ids (session summaries, user prompts), not observations'.
_NOT_OBSERVATIONS = frozenset({"sessions", "summaries", "session_summaries", "prompts", "user_prompts"})
# "| #123 | ..." (search and timeline tables), "#123", "id=123" / "id: 123", and "id": 123 in JSON
# that did not parse (a truncated answer). Not "#S12" (a session summary) nor the timeline's
# "User Prompt #3" (a prompt number), nor "&#123;".
_ID_PATTERNS = (
    re.compile(r"(?<!Prompt )(?<![\w#&])#(\d{1,18})\b"),
    re.compile(r"\bid\s*[=:]\s*(\d{1,18})\b"),
    re.compile(r'"id"\s*:\s*(\d{1,18})\b'),
)


class Skip(Exception):
    """Why this input records nothing; becomes the log line."""


class HookResult(NamedTuple):
    recorded: int
    problem: str | None = None


# --- the pure part -----------------------------------------------------------------------


def is_claude_mem_read_tool(tool_name: Any) -> bool:
    if not isinstance(tool_name, str):
        return False
    for prefix in TOOL_PREFIXES:
        if tool_name.startswith(prefix):
            return tool_name[len(prefix) :] in READ_TOOLS
    return False


def response_texts(response: Any) -> Iterator[Any]:
    """The parts of ``tool_response`` to search: text blocks of an MCP result, or the value itself.

    Claude Code hands an MCP tool's result over as its content blocks (``[{"type": "text",
    "text": ...}]``), possibly wrapped in ``{"content": [...]}``; a plain string or a structured
    value is searched as it is.
    """
    if isinstance(response, dict) and isinstance(response.get("content"), list):
        if response.get("isError") is True:
            return
        response = response["content"]
    if isinstance(response, list) and response and all(isinstance(b, dict) and "type" in b for b in response):
        for block in response:
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                yield block["text"]
        return
    if response is not None:
        yield response


def _walk_json(value: Any, found: dict[int, str | None], project: str | None) -> None:
    if isinstance(value, list):
        for item in value:
            _walk_json(item, found, project)
    elif isinstance(value, dict):
        own = value.get("id")
        here = value.get("project") if isinstance(value.get("project"), str) else project
        if type(own) is int and own > 0:
            found.setdefault(own, here)
        for key, item in value.items():
            if key not in _NOT_OBSERVATIONS and isinstance(item, (list, dict)):
                _walk_json(item, found, here)


def observation_ids(response: Any, loads: Any) -> dict[int, str | None]:
    """id -> project (when the answer names it) of every observation in a search answer."""
    found: dict[int, str | None] = {}
    for part in response_texts(response):
        if isinstance(part, str):
            stripped = part.lstrip()
            if stripped[:1] in ("{", "["):
                try:
                    part = loads(stripped)
                except ValueError:
                    pass  # truncated JSON: the patterns below still find its ids
        if isinstance(part, str):
            for pattern in _ID_PATTERNS:
                for match in pattern.finditer(part):
                    number = int(match.group(1))
                    if number > 0:
                        found.setdefault(number, None)
        else:
            _walk_json(part, found, None)
    return found


def accesses_from_input(payload: Any, now_ms: int, loads: Any) -> list[Access]:
    """The rows one PostToolUse input adds; raises ``Skip`` when it is not ours to record."""
    if not isinstance(payload, dict):
        raise Skip(f"input is JSON but not an object ({type(payload).__name__})")
    event = payload.get("hook_event_name")
    if event is not None and event != "PostToolUse":
        raise Skip(f"hook_event_name is {str(event)[:60]!r}, not PostToolUse: wire this hook to PostToolUse")
    tool = payload.get("tool_name")
    if not is_claude_mem_read_tool(tool):
        raise Skip(
            f"tool {str(tool)[:80]!r} is not a claude-mem search tool; set the hook's matcher to "
            "mcp__plugin_claude-mem_mcp-search__.*|mcp__claude-mem__.*"
        )
    tool_input = payload.get("tool_input")
    asked = tool_input.get("project") if isinstance(tool_input, dict) else None
    asked = asked if isinstance(asked, str) and asked else None
    session = payload.get("session_id")
    session = session if isinstance(session, str) else None
    ids = observation_ids(payload.get("tool_response"), loads)
    return [
        Access(obs_id, now_ms, session, tool, asked or project)
        for obs_id, project in sorted(ids.items())
    ]


# --- the edge ----------------------------------------------------------------------------


def log_problem(folder: Path, message: str, now_ms: int) -> None:
    """One line in hook.log; never raises (there is nowhere left to report to)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / HOOK_LOG_NAME
        try:
            if path.stat().st_size > HOOK_LOG_MAX_BYTES:
                os.replace(path, folder / (HOOK_LOG_NAME + ".1"))
        except FileNotFoundError:
            pass
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_ms / 1000)) + f".{now_ms % 1000:03d}Z"
        line = f"{stamp} post-tool-use: {' '.join(message.split())[:500]}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except Exception:  # noqa: BLE001 - a hook must not fail, not even at reporting
        pass


def read_input(stream: Any, limit: int = MAX_INPUT_BYTES) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        # Drain what is left so Claude Code's write side does not fail on a closed pipe.
        while stream.read(1 << 20):
            pass
        raise Skip(f"input larger than {limit >> 20} MiB; ignored")
    return data


def run_hook(raw: bytes, folder: Path, now_ms: int) -> HookResult:
    """Parse, extract, append. Every problem is returned (and logged), never raised."""
    try:
        if not raw.strip():
            raise Skip("empty input (Claude Code sends one JSON object on stdin)")
        # the standard library's parser: importing orjson (and the modules it pulls in) costs more
        # than parsing the few kilobytes Claude Code sends, on every search Claude makes
        import json  # noqa: PLC0415 - after the empty check: the cheapest path stays cheapest

        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise Skip(f"input is not JSON ({error})") from None
        accesses = accesses_from_input(payload, now_ms, json.loads)
        if accesses:
            append_accesses(access_log_path(folder), accesses)
        return HookResult(len(accesses))
    except Skip as skip:
        problem = str(skip)
    except Exception as error:  # noqa: BLE001 - a locked or unwritable log, a bug: never fail the tool call
        problem = f"{type(error).__name__}: {error}"
    log_problem(folder, problem, now_ms)
    return HookResult(0, problem)


def _deadline(signum: int, frame: Any) -> None:
    log_problem(state_dir(), f"gave up after {DEADLINE_SECONDS} s (stdin not closed, or the log locked)",
                time.time_ns() // 1_000_000)
    os._exit(0)


def main() -> int:
    """Console entry (``mem-sync-hook``): always exit 0, never a byte on stdout."""
    folder = None
    try:
        folder = state_dir()
        if hasattr(os, "fork"):  # POSIX: SIGALRM exists
            import signal

            signal.signal(signal.SIGALRM, _deadline)
            signal.alarm(DEADLINE_SECONDS)
        now_ms = time.time_ns() // 1_000_000
        stdin = sys.stdin.buffer if sys.stdin is not None else None
        if stdin is None or stdin.isatty():
            raise Skip("no input on stdin (Claude Code pipes the PostToolUse JSON to this hook)")
        try:
            raw = read_input(stdin)
        except Skip as skip:
            log_problem(folder, str(skip), now_ms)
            return 0
        run_hook(raw, folder, now_ms)
    except Skip as skip:
        if folder is not None:
            log_problem(folder, str(skip), time.time_ns() // 1_000_000)
    except BaseException as error:  # noqa: BLE001 - exit 0 even on KeyboardInterrupt / a bug
        if folder is not None:
            log_problem(folder, f"{type(error).__name__}: {error}", time.time_ns() // 1_000_000)
    return 0


def console_main() -> None:
    code = main()
    try:
        sys.stdout.flush()
    finally:
        os._exit(code)  # skip interpreter teardown: nothing left to flush, a few ms saved


if __name__ == "__main__":
    console_main()
