"""``mem-sync dashboard --static OUT``: the dashboard's pages from the shared repository alone.

The merged sets are loaded into an in-memory SQLite table in claude-mem's column layout,
so every tab runs the same queries as the live dashboard. Pages are found by following
links from the overview (``StaticLinks`` records them). Search runs in the browser over
``search-index.js``, a script rather than JSON fetched at run time, so the pages work from
file:// as well as from GitHub or GitLab Pages. The output folder is replaced whole.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from memsync.dashboard.links import TABS, StaticLinks
from memsync.dashboard.pages import Site, _date
from memsync.dashboard.sources import SharedRepo
from memsync.dashboard.store import ObservationStore
from memsync.errors import UsageError
from memsync.model import parse_string_list

MARKER = ".mem-sync-dashboard"
STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS = ("dashboard.css", "dashboard.js", "static-search.js", "chart.umd.min.js", "chart.js-LICENSE.md")
_COLUMNS = ("id INTEGER PRIMARY KEY, memory_session_id TEXT, project TEXT NOT NULL, type TEXT, title TEXT, "
            "subtitle TEXT, narrative TEXT, text TEXT, facts TEXT, concepts TEXT, files_read TEXT, "
            "files_modified TEXT, prompt_number INTEGER, created_at_epoch INTEGER, score REAL, keep INTEGER, "
            "contributors TEXT, access_count INTEGER")
_TEXT_LISTS = ("facts", "concepts", "files_read", "files_modified")


@dataclass(frozen=True)
class StaticBuild:
    out: Path
    pages: int
    observations: int
    projects: int


def merged_store(repo: SharedRepo, now_ms: int) -> ObservationStore:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute(f"CREATE TABLE observations ({_COLUMNS})")
    conn.execute("CREATE VIRTUAL TABLE observations_fts USING fts5(title, subtitle, narrative, text, facts, "
                 "concepts, content='observations', content_rowid='id')")
    rows = []
    for project in repo.projects():
        for obs in repo.merged_observations(project):
            rows.append((
                _text(obs.get("memory_session_id")), project, _text(obs.get("type")) or "change",
                _text(obs.get("title")), _text(obs.get("subtitle")), _text(obs.get("narrative")),
                _text(obs.get("text")), *(_list_text(obs.get(name)) for name in _TEXT_LISTS),
                obs.get("prompt_number") if isinstance(obs.get("prompt_number"), int) else None,
                obs.get("created_at_epoch") if isinstance(obs.get("created_at_epoch"), int) else 0,
                float(obs["score"]) if isinstance(obs.get("score"), (int, float)) else 0.0,
                1 if obs.get("keep") is True else 0,
                orjson.dumps([c for c in obs.get("contributors") or [] if isinstance(c, str)]).decode(),
                obs.get("access_count") if isinstance(obs.get("access_count"), int) else 0,
            ))
    conn.executemany(
        "INSERT INTO observations (memory_session_id, project, type, title, subtitle, narrative, text, facts, "
        "concepts, files_read, files_modified, prompt_number, created_at_epoch, score, keep, contributors, "
        "access_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("INSERT INTO observations_fts(observations_fts) VALUES ('rebuild')")
    conn.execute("CREATE INDEX idx_created ON observations(created_at_epoch DESC)")
    conn.execute("CREATE INDEX idx_project ON observations(project)")
    return ObservationStore(conn, has_score_column=True, now_ms=lambda: now_ms)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list_text(value: Any) -> str | None:
    items = parse_string_list(value)
    return orjson.dumps(items).decode() if items else None


def search_index(store: ObservationStore, links: StaticLinks) -> bytes:
    entries = []
    for row in store.conn.execute("SELECT id, type, project, title, subtitle, narrative, text, facts, concepts, "
                                  "created_at_epoch FROM observations ORDER BY id"):
        body = "\n".join(part for part in (
            row["subtitle"], row["narrative"], row["text"],
            " · ".join(parse_string_list(row["facts"])), " · ".join(parse_string_list(row["concepts"]))) if part)
        entries.append({"id": row["id"], "type": row["type"], "project": row["project"], "title": row["title"] or "",
                        "body": body, "date": _date(row["created_at_epoch"]),
                        "href": links.page("observation", id=row["id"])})
    # a script assigning a global: loads from file://, where fetch() of a JSON file is refused
    return b"window.MEMSYNC_SEARCH = " + orjson.dumps(entries) + b";\n"


def build_static(repo_dir: Path, out: Path, *, now_ms: int, default_cap: int = 500) -> StaticBuild:
    if not repo_dir.is_dir():
        raise UsageError(f"--repo-dir {repo_dir} is not a directory; point it at a checkout of the shared repository")
    _check_out(out)
    repo = SharedRepo(repo_dir)
    links = StaticLinks()
    store = merged_store(repo, now_ms)
    site = Site(links=links, store=store, repo=repo, generated_at_ms=now_ms, default_cap=default_cap)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, _ in TABS:
            links.page(name)
        done: set[str] = set()
        while len(done) < len(links.wanted):
            for file_name, (tab, params) in list(links.wanted.items()):
                if file_name in done:
                    continue
                (staging / file_name).write_text(site.render(tab, params), encoding="utf-8")
                done.add(file_name)
        (staging / "search-index.js").write_bytes(search_index(store, links))
        (staging / "static").mkdir()
        for asset in ASSETS:
            shutil.copyfile(STATIC_DIR / asset, staging / "static" / asset)
        (staging / MARKER).write_text("built by mem-sync dashboard --static; replaced whole on each build\n")
        (staging / ".nojekyll").write_text("")  # GitHub Pages: serve files as they are
        os.chmod(staging, 0o755)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    count = store.conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
    return StaticBuild(out, len(done), count, len(repo.projects()))


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--static {out} is a file; give a folder to write the pages into")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UsageError(f"--static {out} is a non-empty folder that is not a dashboard build; "
                         "give an empty or new folder (a build replaces its folder whole)")


def _swap_in(staging: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
