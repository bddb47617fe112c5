"""What ``mem-sync status`` reports, gathered read-only; each part says what it could not read.

The hook is "wired" only when Claude Code will really run it: the plugin enabled in Claude Code's
user settings with ``mem-sync-hook`` on PATH, or a PostToolUse entry in those settings whose command
runs our hook and whose matcher matches claude-mem's search tools. A file existing proves nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from memsync.devside.access_hook import TOOL_PREFIXES
from memsync.devside.access_log import access_log_path, summarize
from memsync.devside.history import HistoryEvent, read_events
from memsync.errors import MemSyncError
from memsync.model import iso_from_millis

HOOK_SCRIPT = "mem-sync-hook"
PLUGIN_NAME = "mem-sync"
# mem-sync-hook (any path), mem-sync hook post-tool-use, python -m memsync[.devside.access_hook]
_OUR_COMMAND = re.compile(
    r"(^|[\s/\\\"'])mem-sync-hook(\.exe)?([\s\"']|$)"
    r"|mem-sync(\.exe)?[\"']?\s+hook\s+post-tool-use"
    r"|-m\s+memsync(\.devside\.access_hook|\s+hook\s+post-tool-use)"
)


def claude_settings_path() -> Path:
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".claude") / "settings.json"


def _event(event: HistoryEvent | None) -> dict[str, Any] | None:
    return None if event is None else event.to_dict()


def hook_wiring(settings_path: Path | None = None) -> dict[str, Any]:
    """{"wired": bool, "how": "plugin"|"settings"|None, "detail": one line}."""
    path = settings_path or claude_settings_path()
    try:
        settings = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {"wired": False, "how": None, "detail": f"no Claude Code settings at {path}: install the plugin "
                "(/plugin marketplace add ..., /plugin install mem-sync@mem-sync)"}
    except (OSError, orjson.JSONDecodeError) as error:
        return {"wired": False, "how": None, "detail": f"{path} cannot be read ({error})"}
    if not isinstance(settings, dict):
        return {"wired": False, "how": None, "detail": f"{path} is not a JSON object"}
    on_path = shutil.which(HOOK_SCRIPT)
    enabled = settings.get("enabledPlugins")
    if isinstance(enabled, dict) and any(
        name.split("@")[0] == PLUGIN_NAME and value is True for name, value in enabled.items()
    ):
        if on_path:
            return {"wired": True, "how": "plugin", "detail": f"plugin enabled; {HOOK_SCRIPT} is {on_path}"}
        return {"wired": False, "how": "plugin", "detail": f"plugin enabled, but {HOOK_SCRIPT} is not on PATH: "
                "install the CLI (pipx install ... or uv tool install ...)"}
    hooks = settings.get("hooks")
    entries = hooks.get("PostToolUse") if isinstance(hooks, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        commands = [h.get("command") for h in entry.get("hooks", []) if isinstance(h, dict)]
        ours = [c for c in commands if isinstance(c, str) and _OUR_COMMAND.search(c)]
        if not ours:
            continue
        matcher = entry.get("matcher") or ""
        if not _matches_claude_mem(matcher):
            return {"wired": False, "how": "settings", "detail": f"a PostToolUse hook runs {ours[0]!r}, but its "
                    f"matcher {matcher!r} does not match claude-mem's search tools"}
        return {"wired": True, "how": "settings", "detail": f"PostToolUse hook in {path}: {ours[0]}"}
    return {"wired": False, "how": None, "detail": f"neither the mem-sync plugin nor a PostToolUse hook running "
            f"{HOOK_SCRIPT} in {path}"}


def _matches_claude_mem(matcher: str) -> bool:
    if matcher in ("", "*"):
        return True
    try:
        pattern = re.compile(matcher)
    except re.error:
        return False
    return all(pattern.fullmatch(prefix + "search") for prefix in TOOL_PREFIXES[:1])


def database_status(db_path: Path) -> dict[str, Any]:
    from memsync.devside.claude_mem import open_read_only, read_schema

    info: dict[str, Any] = {"path": str(db_path), "exists": db_path.is_file(), "sizeBytes": None,
                            "schemaVersion": None, "observations": None, "problem": None}
    if not info["exists"]:
        info["problem"] = "not found"
        return info
    info["sizeBytes"] = sum(p.stat().st_size for p in (db_path, Path(f"{db_path}-wal")) if p.exists())
    try:
        conn = open_read_only(db_path)
        try:
            schema = read_schema(conn, db_path)
            info["schemaVersion"] = schema.version
            info["observations"] = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
        finally:
            conn.close()
    except MemSyncError as error:
        info["problem"] = str(error)
    return info


def access_status(state_dir: Path) -> dict[str, Any]:
    path = access_log_path(state_dir)
    info: dict[str, Any] = {"path": str(path), "exists": path.exists(), "rows": 0, "observations": 0,
                            "lastAccess": None, "problem": None}
    try:
        summary = summarize(path)
    except sqlite3.Error as error:
        info["problem"] = str(error)
        return info
    if summary is not None:
        info.update(rows=summary.rows, observations=summary.observations,
                    lastAccess=None if summary.last_access is None else iso_from_millis(summary.last_access))
    return info


def project_status(config: Any, name: str, state_dir: Path, db_ok: bool) -> dict[str, Any]:
    from memsync.publish.git import scrub

    settings = config.project(name)
    info: dict[str, Any] = {
        "name": name,
        "enabled": settings.enabled,
        "memProject": settings.mem_project,
        "remote": scrub(settings.remote.clone_url),
        "branch": settings.remote.branch,
        "publish": "push" if settings.remote.auto_merge else "pull request",
        "lastExport": _event(_last(state_dir, "export", name)),
        "lastImport": _event(_last(state_dir, "import", name)),
        "lastMaintenance": _event(_last(state_dir, "maintain", name)),
        "exportableNow": None,
    }
    if db_ok and settings.enabled:
        info["exportableNow"] = _exportable(config.db_path, settings)
    return info


def _last(state_dir: Path, kind: str, project: str) -> HistoryEvent | None:
    events = read_events(state_dir, kind=kind, project=project)
    return max(events, key=lambda e: e.at_epoch) if events else None


def _exportable(db_path: Path, settings: Any) -> int | None:
    """What an export would select now (before the secret gate, which may refuse some)."""
    from memsync.devside.claude_mem import open_read_only, select_observations
    from memsync.devside.exporter import keyword_match

    filters = settings.export
    try:
        conn = open_read_only(db_path)
        try:
            return len(select_observations(
                conn, settings.mem_project, db_path, types=filters.types, tags=filters.tags,
                keyword_match=keyword_match(filters.keywords) if filters.keywords else None))
        finally:
            conn.close()
    except MemSyncError:
        return None
