"""Readers for everything the dashboard shows besides claude-mem's table.

The access log and the sync history follow the formats agreed for this release (see
docs/dashboard.md, "Data sources"); their writers live elsewhere, so these readers depend
on the formats only. A missing file means "not turned on yet", never an error. The shared
repository is read from a checkout: merged sets, merge state, profiles, distilled output
and the merge bot's commits.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from memsync.dashboard.store import readonly_uri
from memsync.safety.names import is_safe_name

ACCESS_LOG_NAME = "access-log.sqlite"
SYNC_HISTORY_NAME = "sync-history.jsonl"


def _file_signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


# --- access log (written by the access hook) ---------------------------------------------


class AccessLog:
    """``<state_dir>/access-log.sqlite``: one row per observation Claude retrieved.

    One read-only connection, opened when the file appears; aggregates are cached against
    ``PRAGMA data_version`` (it moves when the hook commits), so warm pages cost no scan.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._cache: dict[Any, tuple[int, Any]] = {}

    def exists(self) -> bool:
        return self.path.is_file()

    def attach_to(self, conn: sqlite3.Connection) -> bool:
        """ATTACH read-only to the claude-mem connection (scores join on it); False when absent."""
        if not self.exists():
            return False
        attached = {row[1] for row in conn.execute("PRAGMA database_list")}
        if "acc" in attached:
            return True
        try:
            conn.execute("ATTACH DATABASE ? AS acc", (readonly_uri(self.path),))
            conn.execute("SELECT 1 FROM acc.accesses LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            return False
        return True

    def _connect(self) -> sqlite3.Connection | None:
        if not self.exists():
            return None
        if self._conn is None:
            try:
                conn = sqlite3.connect(readonly_uri(self.path), uri=True, check_same_thread=False)
                conn.execute("SELECT 1 FROM accesses LIMIT 1").fetchall()
            except sqlite3.DatabaseError:
                return None
            self._conn = conn
        return self._conn

    def version(self) -> int:
        conn = self._connect()
        return -1 if conn is None else int(conn.execute("PRAGMA data_version").fetchone()[0])

    def _cached(self, key: Any, compute: Any, default: Any) -> Any:
        conn = self._connect()
        if conn is None:
            return default
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute(conn)
        self._cache[key] = (version, value)
        return value

    def summary(self) -> dict[str, Any] | None:
        def compute(conn: sqlite3.Connection) -> dict[str, Any]:
            total, last, distinct = conn.execute(
                "SELECT COUNT(*), MAX(accessed_at), COUNT(DISTINCT observation_id) FROM accesses").fetchone()
            return {"events": total, "last": last, "observations": distinct}

        return self._cached("summary", compute, None)

    def heatmap(self, now_ms: int, days: int = 182) -> dict[str, int]:
        since = now_ms - days * 86_400_000
        since -= since % 86_400_000  # a stable key for the whole day

        def compute(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT date(accessed_at / 1000, 'unixepoch') AS d, COUNT(*) FROM accesses "
                "WHERE accessed_at >= ? GROUP BY d", (since,)).fetchall()
            return {row[0]: row[1] for row in rows}

        return self._cached(("heatmap", since), compute, {})

    def top(self, limit: int = 20, project: str | None = None) -> list[dict[str, Any]]:
        def compute(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = "SELECT observation_id, COUNT(*), MAX(accessed_at) FROM accesses"
            args: tuple[Any, ...] = ()
            if project:
                sql, args = sql + " WHERE project = ?", (project,)
            rows = conn.execute(sql + " GROUP BY observation_id ORDER BY COUNT(*) DESC, observation_id LIMIT ?",
                                (*args, limit)).fetchall()
            return [{"id": row[0], "accesses": row[1], "last": row[2]} for row in rows]

        return [dict(row) for row in self._cached(("top", limit, project), compute, [])]

    def counts_for(self, ids: list[int]) -> dict[int, tuple[int, int]]:
        conn = self._connect()
        if conn is None or not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT observation_id, COUNT(*), MAX(accessed_at) FROM accesses "
                            f"WHERE observation_id IN ({marks}) GROUP BY observation_id", ids).fetchall()
        return {row[0]: (row[1], row[2]) for row in rows}

    def by_tool(self) -> list[tuple[str, int]]:
        return self._cached("tools", lambda conn: [(row[0], row[1]) for row in conn.execute(
            "SELECT COALESCE(tool_name, '?'), COUNT(*) FROM accesses GROUP BY 1 ORDER BY 2 DESC LIMIT 10")], [])


def heatmap_weeks(counts: dict[str, int], now_ms: int, days: int = 182) -> list[list[dict[str, Any]]]:
    """GitHub-style grid: columns are weeks (Monday first), cells carry a level 0..4."""
    end = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    start = end - timedelta(days=days)
    start -= timedelta(days=start.weekday())
    peak = max(counts.values(), default=0)
    weeks: list[list[dict[str, Any]]] = []
    day = start
    while day <= end:
        week = []
        for _ in range(7):
            key = day.isoformat()
            count = counts.get(key, 0) if day <= end else 0
            level = 0 if count == 0 or peak == 0 else min(4, 1 + (count * 4 - 1) // peak)
            week.append({"date": key, "count": count, "level": level, "future": day > end})
            day += timedelta(days=1)
        weeks.append(week)
    return weeks


# --- sync history (written by export, import and maintain) ------------------------------


@dataclass(frozen=True)
class SyncEvent:
    at_ms: int
    kind: str
    project: str
    result: str
    count: int
    detail: str


class SyncHistory:
    """``<state_dir>/sync-history.jsonl``: one JSON object a line; a damaged line is skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[Any, list[SyncEvent]] | None = None

    def exists(self) -> bool:
        return self.path.is_file()

    def events(self) -> list[SyncEvent]:
        """Newest first."""
        signature = _file_signature(self.path)
        if signature is None:
            return []
        if self._cache is not None and self._cache[0] == signature:
            return self._cache[1]
        events = []
        with open(self.path, "rb") as handle:
            for line in handle:
                event = _parse_event(line)
                if event is not None:
                    events.append(event)
        events.sort(key=lambda event: event.at_ms, reverse=True)
        self._cache = (signature, events)
        return events


def _parse_event(line: bytes) -> SyncEvent | None:
    try:
        doc = orjson.loads(line)
        at = doc.get("atEpoch")
        if not isinstance(at, int):
            at = int(datetime.fromisoformat(str(doc["at"]).replace("Z", "+00:00")).timestamp() * 1000)
        return SyncEvent(at, str(doc.get("kind", "?")), str(doc.get("project", "")), str(doc.get("result", "")),
                         int(doc.get("count") or 0), str(doc.get("detail") or ""))
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None


# --- the shared repository ---------------------------------------------------------------


@dataclass(frozen=True)
class MergeCommit:
    commit: str
    author: str
    at_ms: int
    subject: str
    projects: list[dict[str, Any]] = field(default_factory=list)  # project, added, evicted, merged
    quarantined: int = 0
    withheld_rules: list[str] = field(default_factory=list)
    retention_deleted: int = 0
    contributions: list[str] = field(default_factory=list)  # contribution files this commit brought


_MERGE_SUBJECT = re.compile(r"^mem-sync: merge ")
_PROJECT_LINE = re.compile(r"^- (?P<project>\S+): (?P<added>\d+) added, (?P<evicted>\d+) evicted, "
                           r"(?P<merged>\d+) merged in total$")
_QUARANTINE_LINE = re.compile(r"^- (?P<n>\d+) contribution file\(s\) quarantined$")
_WITHHELD_LINE = re.compile(r"^- observations withheld for credentials \((?P<rules>[^)]*)\)$")
_RETENTION_LINE = re.compile(r"^- (?P<n>\d+) old contribution file\(s\) removed by retention$")


def parse_merge_message(commit: str, author: str, at_ms: int, message: str) -> MergeCommit | None:
    """A merge bot commit (templates/commit_message.txt.j2) read back; None for any other commit."""
    lines = message.strip().splitlines()
    if not lines or not _MERGE_SUBJECT.match(lines[0]):
        return None
    projects, quarantined, withheld, retention = [], 0, [], 0
    for line in lines[1:]:
        line = line.strip()
        if match := _PROJECT_LINE.match(line):
            projects.append({"project": match["project"], "added": int(match["added"]),
                             "evicted": int(match["evicted"]), "merged": int(match["merged"])})
        elif match := _QUARANTINE_LINE.match(line):
            quarantined = int(match["n"])
        elif match := _WITHHELD_LINE.match(line):
            withheld = [rule.strip() for rule in match["rules"].split(",") if rule.strip()]
        elif match := _RETENTION_LINE.match(line):
            retention = int(match["n"])
    return MergeCommit(commit, author, at_ms, lines[0], projects, quarantined, withheld, retention)


class SharedRepo:
    """A checkout of the shared repository (read only)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._json_cache: dict[Path, tuple[Any, Any]] = {}
        self._log_cache: tuple[Any, list[MergeCommit]] | None = None

    def _json(self, path: Path) -> Any:
        signature = _file_signature(path)
        if signature is None:
            return None
        hit = self._json_cache.get(path)
        if hit is not None and hit[0] == signature:
            return hit[1]
        try:
            value = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            value = None
        self._json_cache[path] = (signature, value)
        return value

    def _text(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def _names(self, folder: Path) -> list[str]:
        try:
            return sorted(entry.name for entry in os.scandir(folder)
                          if entry.is_dir(follow_symlinks=False) and is_safe_name(entry.name))
        except OSError:
            return []

    def projects(self) -> list[str]:
        names: set[str] = set()
        for folder in ("merged", "contributions", "profiles", "distilled"):
            names.update(self._names(self.root / folder))
        return sorted(names)

    def merged(self, project: str) -> dict[str, Any] | None:
        doc = self._json(self.root / "merged" / project / "latest.json")
        return doc if isinstance(doc, dict) else None

    def merged_observations(self, project: str) -> list[dict[str, Any]]:
        doc = self.merged(project)
        observations = doc.get("observations") if doc else None
        return [obs for obs in observations if isinstance(obs, dict)] if isinstance(observations, list) else []

    def state(self) -> dict[str, Any]:
        doc = self._json(self.root / ".merge-state.json")
        return doc if isinstance(doc, dict) else {}

    def project_state(self, project: str) -> dict[str, Any]:
        projects = self.state().get("projects")
        entry = projects.get(project) if isinstance(projects, dict) else None
        return entry if isinstance(entry, dict) else {}

    def contributions_by_dev(self, project: str) -> dict[str, dict[str, int]]:
        """Files and observations each developer contributed, from the merge state (survives retention)."""
        out: dict[str, dict[str, int]] = {}
        processed = self.project_state(project).get("processedFiles")
        if isinstance(processed, dict):
            for path, info in processed.items():
                parts = str(path).split("/")
                if len(parts) < 4:
                    continue
                dev = parts[-2]
                entry = out.setdefault(dev, {"files": 0, "observations": 0})
                entry["files"] += 1
                if isinstance(info, dict) and isinstance(info.get("observationsCount"), int):
                    entry["observations"] += info["observationsCount"]
        for dev in self._names(self.root / "contributions" / project):
            out.setdefault(dev, {"files": 0, "observations": 0})
        return dict(sorted(out.items()))

    def profile_devs(self, project: str) -> list[str]:
        return [dev for dev in self._names(self.root / "profiles" / project)
                if (self.root / "profiles" / project / dev / "profile.json").is_file()]

    def profile(self, project: str, dev: str) -> dict[str, Any] | None:
        if not (is_safe_name(project) and is_safe_name(dev)):
            return None
        doc = self._json(self.root / "profiles" / project / dev / "profile.json")
        return doc if isinstance(doc, dict) else None

    def team_overview(self, project: str) -> dict[str, Any] | None:
        doc = self._json(self.root / "profiles" / project / "team-overview.json")
        return doc if isinstance(doc, dict) else None

    def team_concepts(self, project: str) -> dict[str, Any] | None:
        doc = self._json(self.root / "profiles" / project / "team-concepts.json")
        return doc if isinstance(doc, dict) else None

    def distilled(self, project: str) -> dict[str, Any] | None:
        folder = self.root / "distilled" / project
        if not folder.is_dir():
            return None
        rules = self._json(folder / "rules.json")
        feedback = self._json(folder / "feedback.json")
        report = self._json(folder / "distillation-report.json")
        return {
            "rules": rules if isinstance(rules, dict) else None,
            "feedback": feedback if isinstance(feedback, dict) else None,
            "report": report if isinstance(report, dict) else None,
            "rules_md": self._text(folder / "rules.md"),
            "kb_md": self._text(folder / "knowledge-base.md"),
        }

    def is_git(self) -> bool:
        return (self.root / ".git").exists()

    def merge_history(self, limit: int = 200) -> list[MergeCommit]:
        """The merge bot's commits, newest first, with the contribution files each brought in."""
        if not self.is_git():
            return []
        git_dir = self.root / ".git"
        # HEAD, the reflog (appended by every commit, pull and checkout) and packed refs: a
        # changed history changes one of them, so a warm page runs no git process
        head = tuple(_file_signature(git_dir / name) for name in ("HEAD", "logs/HEAD", "packed-refs", "FETCH_HEAD"))
        if self._log_cache is not None and self._log_cache[0] == head and git_dir.is_dir():
            return self._log_cache[1]
        commits = list(self._read_log(limit))
        self._log_cache = (head, commits)
        return commits

    def _read_log(self, limit: int) -> Iterator[MergeCommit]:
        # \x1e between commits, \x1f between fields; --name-status lists what each commit touched
        result = subprocess.run(
            ["git", "-C", str(self.root), "log", f"-{limit}", "--no-color", "--name-status",
             "--format=%x1e%H%x1f%an%x1f%at%x1f%B%x1f"],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return
        for chunk in result.stdout.split("\x1e")[1:]:
            parts = chunk.split("\x1f")
            if len(parts) < 5:
                continue
            commit, author, at, message, names = parts[0], parts[1], parts[2], parts[3], parts[4]
            parsed = parse_merge_message(commit, author, int(at) * 1000, message)
            if parsed is None:
                continue
            files = [line.split("\t", 1)[1] for line in names.strip().splitlines()
                     if "\t" in line and line.split("\t", 1)[1].startswith("contributions/")]
            yield MergeCommit(parsed.commit, parsed.author, parsed.at_ms, parsed.subject, parsed.projects,
                              parsed.quarantined, parsed.withheld_rules, parsed.retention_deleted, files)
