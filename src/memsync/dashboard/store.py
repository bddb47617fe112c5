"""Read-only queries over claude-mem's ``observations`` table (and its FTS5 index).

The same class serves the live dashboard (the developer's claude-mem database, opened
``mode=ro``) and the static build (an in-memory database holding the shared repository's
merged sets in claude-mem's own column layout), so both show the same pages.

Every list is paginated in SQL; whole-table aggregates are cached against
``PRAGMA data_version``, which changes exactly when another connection (claude-mem's
worker) commits, so a warm page never rescans 100k rows and a new memory still shows.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memsync.dashboard.cjk_index import CjkIndex, trigram_available
from memsync.errors import DatabaseError
from memsync.merge.scoring import MILLIS_PER_DAY, RECENCY_HALF_DAYS, STRATEGY_WEIGHTS, TYPE_WEIGHTS, UNKNOWN_TYPE_WEIGHT

# Columns a list row needs (never the long text fields: a page of 50 stays small).
LIST_COLUMNS = "id, type, title, subtitle, project, created_at_epoch, memory_session_id"
DETAIL_TEXT_FIELDS = ("subtitle", "narrative", "text")
DETAIL_LIST_FIELDS = ("facts", "concepts", "files_read", "files_modified")
# FTS5 snippet markers: control characters no observation text carries; the page escapes
# the text first and only then turns these into <mark>, so highlighting cannot inject markup.
MARK_START = "\x02"
MARK_END = "\x03"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_FTS_COLUMNS = ("title", "subtitle", "narrative", "text", "facts", "concepts")
RANK_LIMIT = 2000  # matches above which ranking by bm25 costs more than a page may (see search)


class SearchSyntaxError(ValueError):
    """A full-text query FTS5 cannot parse; the message is one line for the page."""


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True)
class SearchResult:
    page: Page
    mode: str  # "fts" or "like" (CJK: FTS5's unicode61 tokenizer does not split CJK words)


def readonly_uri(path: Path) -> str:
    # mode=ro, not immutable=1: immutable ignores what claude-mem's worker still holds in the WAL
    return "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"


def open_claude_mem(path: Path) -> sqlite3.Connection:
    """The developer's claude-mem database, read-only; one clear error when it is not one."""
    if not path.is_file():
        raise DatabaseError(
            f"no claude-mem database at {path}: pass --db FILE (claude-mem keeps it at "
            "~/.claude-mem/claude-mem.db), or build pages from the shared repository alone with --static OUT"
        )
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA query_only = 1")
        conn.execute("SELECT 1 FROM observations LIMIT 1").fetchall()
    except sqlite3.DatabaseError as error:
        raise DatabaseError(f"{path} is not a claude-mem database ({error}); pass the right --db FILE") from error
    return conn


def _ensure_ln(conn: sqlite3.Connection) -> None:
    # SQLite builds without SQLITE_ENABLE_MATH_FUNCTIONS have no ln(): supply Python's.
    try:
        conn.execute("SELECT ln(2)").fetchone()
    except sqlite3.OperationalError:
        conn.create_function("ln", 1, lambda x: math.log(x) if x and x > 0 else None, deterministic=True)


def _type_weight_sql() -> str:
    cases = " ".join(f"WHEN '{kind}' THEN {weight}" for kind, weight in TYPE_WEIGHTS.items())
    return f"(CASE o.type {cases} ELSE {UNKNOWN_TYPE_WEIGHT} END)"


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def fts_error_line(query: str, error: sqlite3.OperationalError) -> str:
    """FTS5's parser message turned into one line saying how to fix the query."""
    message = str(error)
    hint = ('put a term with punctuation in double quotes ("claude-mem"), close every quote and bracket, '
            "and write NOT between two terms (cache NOT redis)")
    if "no such column" in message:
        column = message.rsplit(":", 1)[-1].strip()
        return (f'search syntax: "{column}" was read as a column name ("-" and ":" are operators in full-text '
                f"queries); {hint}, or search one field with {', '.join(_FTS_COLUMNS)} before a colon")
    if "syntax error" in message or "unterminated" in message:
        near = message.split("syntax error", 1)[-1].strip(" :")
        where = f" {near}" if near else ""
        return f"search syntax error{where}: {hint}"
    return f"search could not run ({message}): {hint}"


_OPERATORS = ("AND", "OR", "NOT")


def normalize_query(query: str) -> str:
    """``a AND NOT b`` (what people type) is ``a NOT b`` in FTS5."""
    return re.sub(r"\bAND\s+NOT\b", "NOT", query.strip())


def quoted_terms(query: str) -> str:
    """Every term as an FTS5 phrase, operators kept: the literal reading of a query that did not parse."""
    out = []
    for token in re.findall(r'"[^"]*"?|\S+', query):
        if token in _OPERATORS:
            out.append(token)
            continue
        text = token.strip('"').replace('"', '""')
        if text:
            out.append(f'"{text}"')
    while out and out[-1] in _OPERATORS:
        out.pop()
    while out and out[0] in ("AND", "OR"):
        out.pop(0)
    return " ".join(out)


class ObservationStore:
    """Queries over an ``observations`` table shaped like claude-mem's."""

    def __init__(self, conn: sqlite3.Connection, *, path: Path | None = None,
                 has_score_column: bool = False, now_ms: Callable[[], int] | None = None) -> None:
        self.conn = conn
        self.conn.row_factory = sqlite3.Row
        self.path = path
        self.has_score_column = has_score_column  # the static build stores latest.json's score
        self._now_ms = now_ms
        self._cache: dict[Any, tuple[int, Any]] = {}
        self._cjk: CjkIndex | None = None  # built on the first CJK search, or by warm_cjk_index
        self._cjk_lock = threading.Lock()
        _ensure_ln(conn)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}
        self.has_fts = "observations_fts" in tables
        self.has_sessions = "sdk_sessions" in tables
        self.has_summaries = "session_summaries" in tables
        self.schema_version = None
        if "schema_versions" in tables:
            self.schema_version = conn.execute("SELECT MAX(version) FROM schema_versions").fetchone()[0]

    # --- caching -------------------------------------------------------------------------

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def cached(self, key: Any, compute: Callable[[], Any], extra_version: int = 0) -> Any:
        version = self._version() * 1_000_003 + extra_version
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute()
        self._cache[key] = (version, value)
        return value

    # --- totals --------------------------------------------------------------------------

    def totals(self) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            out: dict[str, Any] = {
                "observations": self.conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0],
                "sessions": None,
                "summaries": None,
            }
            if self.has_sessions:
                out["sessions"] = self.conn.execute("SELECT COUNT(*) FROM sdk_sessions").fetchone()[0]
            if self.has_summaries:
                out["summaries"] = self.conn.execute("SELECT COUNT(*) FROM session_summaries").fetchone()[0]
            row = self.conn.execute("SELECT MIN(created_at_epoch), MAX(created_at_epoch) FROM observations").fetchone()
            out["oldest"], out["newest"] = row[0], row[1]
            return out

        return self.cached("totals", compute)

    def projects(self) -> list[tuple[str, int]]:
        return self.cached("projects", lambda: [
            (row[0], row[1]) for row in self.conn.execute(
                "SELECT project, COUNT(*) FROM observations GROUP BY project ORDER BY COUNT(*) DESC, project")
        ])

    def type_distribution(self, project: str | None) -> list[tuple[str, int]]:
        def compute() -> list[tuple[str, int]]:
            sql = "SELECT type, COUNT(*) FROM observations"
            args: tuple[Any, ...] = ()
            if project:
                sql, args = sql + " WHERE project = ?", (project,)
            rows = self.conn.execute(sql + " GROUP BY type ORDER BY COUNT(*) DESC, type", args).fetchall()
            return [(row[0], row[1]) for row in rows]

        return self.cached(("types", project), compute)

    def monthly(self, project: str | None) -> list[tuple[str, int]]:
        def compute() -> list[tuple[str, int]]:
            # created_at_epoch is ms in claude-mem 13.x; older rows hold seconds (SPEC 3.1)
            month = ("strftime('%Y-%m', CASE WHEN created_at_epoch >= 1000000000000 "
                     "THEN created_at_epoch / 1000 ELSE created_at_epoch END, 'unixepoch')")
            sql = f"SELECT {month} AS m, COUNT(*) FROM observations"
            args: tuple[Any, ...] = ()
            if project:
                sql, args = sql + " WHERE project = ?", (project,)
            return [(row[0], row[1]) for row in self.conn.execute(sql + " GROUP BY m ORDER BY m", args)]

        return self.cached(("monthly", project), compute)

    # --- lists ---------------------------------------------------------------------------

    def list_page(self, *, project: str | None, type_: str | None, page: int, per_page: int = 50) -> Page:
        where, args = self._filters(project, type_)
        offset = (page - 1) * per_page
        extra = ", o.score AS stored_score, o.keep AS keep" if self.has_score_column else ""
        if not where:
            total = self.cached(("count", None, None), lambda: self.conn.execute(
                "SELECT COUNT(*) FROM observations").fetchone()[0])
            rows = self.conn.execute(
                f"SELECT {_prefixed(LIST_COLUMNS)}{extra} FROM observations o "
                "ORDER BY o.created_at_epoch DESC LIMIT ? OFFSET ?", (per_page, offset)).fetchall()
            return Page([dict(row) for row in rows], total, page, per_page)
        # A filter makes SQLite sort every matching row for each page (claude-mem has no
        # (project, created) index and the file is read-only to us): sort once, keep the ids.
        ids = self.cached(("ids", project, type_), lambda: [row[0] for row in self.conn.execute(
            f"SELECT o.id FROM observations o {where} ORDER BY o.created_at_epoch DESC", args)])
        self._trim_id_lists()
        wanted = ids[offset:offset + per_page]
        marks = ",".join("?" * len(wanted))
        found = {row["id"]: dict(row) for row in self.conn.execute(
            f"SELECT {_prefixed(LIST_COLUMNS)}{extra} FROM observations o WHERE o.id IN ({marks})", wanted)} \
            if wanted else {}
        return Page([found[i] for i in wanted if i in found], len(ids), page, per_page)

    def _trim(self, kind: str, keep: int) -> None:
        """Keep the ``keep`` newest cache entries of one kind (dicts keep insertion order)."""
        entries = [key for key in self._cache if isinstance(key, tuple) and key[0] == kind]
        for key in entries[:-keep]:
            del self._cache[key]

    def _trim_id_lists(self) -> None:
        # a filter's list is one int per matching row (~1 MB per 100k rows): keep the latest few
        self._trim("ids", 6)

    def get(self, obs_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM observations WHERE id = ?", (obs_id,)).fetchone()
        return None if row is None else dict(row)

    def titles(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(f"SELECT {LIST_COLUMNS} FROM observations WHERE id IN ({marks})", ids)
        return {row["id"]: dict(row) for row in rows}

    def top_scored(self, *, project: str | None, access_attached: bool, limit: int = 15) -> list[dict[str, Any]]:
        """Highest scores as mem-sync's eviction would rank them (stored scores in the static build)."""

        def compute() -> list[dict[str, Any]]:
            where, args = self._filters(project, None)
            if self.has_score_column:
                return [dict(row) for row in self.conn.execute(
                    f"SELECT {_prefixed(LIST_COLUMNS)}, o.score AS score, o.keep AS keep FROM observations o {where} "
                    "ORDER BY o.keep DESC, o.score DESC, o.id LIMIT ?", (*args, limit))]
            now = self.now_ms()
            weights = STRATEGY_WEIGHTS["hook"] if access_attached else STRATEGY_WEIGHTS["passive"]
            recency = (f"(1.0 / (1.0 + ln(1.0 + MAX({now} - (CASE WHEN o.created_at_epoch >= 1000000000000 "
                       "THEN o.created_at_epoch ELSE o.created_at_epoch * 1000 END), 0) "
                       f"/ {float(MILLIS_PER_DAY)} / {float(RECENCY_HALF_DAYS)})))")
            if access_attached:
                third = "(COALESCE(a.n, 0) * 1.0 / NULLIF((SELECT MAX(n) FROM acc_counts), 0))"
                join = "LEFT JOIN acc_counts a ON a.observation_id = o.id"
                with_ = ("WITH acc_counts AS (SELECT observation_id, COUNT(*) AS n FROM acc.accesses "
                         "GROUP BY observation_id) ")
            else:
                # one developer's own database: diffusion is 1 for every row (it is theirs)
                third, join, with_ = "1.0", "", ""
            score = (f"({weights.type} * {_type_weight_sql()} + {weights.recency} * {recency} "
                     f"+ {weights.third} * COALESCE({third}, 0))")
            sql = (f"{with_}SELECT {_prefixed(LIST_COLUMNS)}, {score} AS score FROM observations o {join} {where} "
                   "ORDER BY score DESC, o.id LIMIT ?")
            return [dict(row) for row in self.conn.execute(sql, (*args, limit))]

        return self.cached(("top", project, access_attached, self.now_ms() // 3_600_000), compute)

    def now_ms(self) -> int:
        if self._now_ms is not None:
            return self._now_ms()
        import time

        return int(time.time() * 1000)

    # --- search --------------------------------------------------------------------------

    def search(self, query: str, *, project: str | None, type_: str | None, page: int,
               per_page: int = 20) -> SearchResult:
        """claude-mem's FTS5 index with the user's own AND/OR/NOT/"phrase" syntax; CJK by LIKE.

        Raises SearchSyntaxError (one line) when FTS5 cannot parse the query.
        """
        query = normalize_query(query)
        if has_cjk(query) or not self.has_fts:
            return self._like_search(query, project=project, type_=type_, page=page, per_page=per_page)
        where, args = self._filters(project, type_, prefix=" AND ")
        offset = (page - 1) * per_page
        try:
            if where:
                count_sql = ("SELECT COUNT(*) FROM observations_fts f JOIN observations o ON o.id = f.rowid "
                             f"WHERE observations_fts MATCH ? {where}")
            else:  # the index alone counts 25k matches in about a millisecond; a join takes 40
                count_sql = "SELECT COUNT(*) FROM observations_fts WHERE observations_fts MATCH ?"
            total = self.cached(("fts-count", query, project, type_),
                                lambda: self.conn.execute(count_sql, (query, *args)).fetchone()[0])
            # bm25 ranks every match before LIMIT applies: past RANK_LIMIT matches that costs more
            # than a page may, so broad queries list the newest matches first (FTS5 walks its
            # index backwards by rowid for free) and the page says so.
            self._trim("fts-count", 256)  # one small entry per distinct query
            ranked = total <= RANK_LIMIT
            columns = (f"{_prefixed(LIST_COLUMNS)}, "
                       f"highlight(observations_fts, 0, '{MARK_START}', '{MARK_END}') AS title_marked, "
                       f"snippet(observations_fts, -1, '{MARK_START}', '{MARK_END}', ' … ', 24) AS snippet")
            source = "FROM observations_fts f JOIN observations o ON o.id = f.rowid WHERE observations_fts MATCH ?"
            if ranked:
                # rank once per data version (at most RANK_LIMIT ids), then each page fetches its
                # own ids: paging through a ranked result costs a millisecond, not a re-rank
                order = self.cached(("fts-ranked", query, project, type_), lambda: [row[0] for row in self.conn.execute(
                    f"SELECT f.rowid {source} {where} ORDER BY f.rank", (query, *args))])
                self._trim("fts-ranked", 32)  # at most RANK_LIMIT ids each
                wanted = order[offset:offset + per_page]
                found = {}
                if wanted:
                    marks = ",".join("?" * len(wanted))
                    found = {row["id"]: row for row in self.conn.execute(
                        f"SELECT {columns} {source} AND f.rowid IN ({marks})", (query, *wanted))}
                rows = [found[i] for i in wanted if i in found]
            else:
                rows = self.conn.execute(f"SELECT {columns} {source} {where} ORDER BY f.rowid DESC LIMIT ? OFFSET ?",
                                         (query, *args, per_page, offset)).fetchall()
        except sqlite3.OperationalError as error:
            raise SearchSyntaxError(fts_error_line(query, error)) from None
        return SearchResult(Page([dict(row) for row in rows], total, page, per_page), "fts" if ranked else "fts-recent")

    def _like_search(self, query: str, *, project: str | None, type_: str | None, page: int,
                     per_page: int) -> SearchResult:
        # As claude-mem does for CJK (FTS5's unicode61 tokenizer keeps a run of CJK characters as
        # one token): a substring match, here with instr() over the columns FTS indexes (twice
        # as fast as LIKE). Newest first through the date index, and no exact total: counting
        # would scan every row, so the page probes one row ahead to know there is a next page.
        # A CJK term can only sit in a row holding CJK characters: the side index (cjk_index.py)
        # narrows the scan to those rows' ids, and instr() still re-checks each against claude-mem's
        # current text, so results, order and highlighting are what the full scan gave.
        match = " OR ".join(f"instr(o.{column}, ?) > 0" for column in _FTS_COLUMNS)
        where, args = self._filters(project, type_, prefix=" AND ")
        full_args: tuple[Any, ...] = (*([query] * len(_FTS_COLUMNS)), *args)
        index = self.cjk_index() if has_cjk(query) else None
        if index is not None:
            ids = index.candidates(query)
            if not ids:
                return SearchResult(Page([], (page - 1) * per_page, page, per_page), "like")
            # one JSON parameter for any number of ids (a bound list would hit SQLite's variable limit)
            match = f"o.id IN (SELECT value FROM json_each(?))) AND ({match}"
            full_args = (json_ids(ids), *full_args)
        rows = self.conn.execute(
            f"SELECT {_prefixed(LIST_COLUMNS)}, o.narrative AS narrative, o.text AS body FROM observations o "
            f"WHERE ({match}){where} ORDER BY o.created_at_epoch DESC LIMIT ? OFFSET ?",
            (*full_args, per_page + 1, (page - 1) * per_page)).fetchall()
        more = len(rows) > per_page
        results = []
        for row in rows[:per_page]:
            item = dict(row)
            body = item.pop("narrative") or item.pop("body", None) or item.get("subtitle") or ""
            item.pop("body", None)
            item["title_marked"] = mark_substring(item.get("title") or "", query)
            item["snippet"] = mark_substring(excerpt(body, query), query)
            results.append(item)
        seen = (page - 1) * per_page + len(results)
        return SearchResult(Page(results, seen + (1 if more else 0), page, per_page), "like")

    def cjk_index(self) -> CjkIndex | None:
        """The side index of CJK rows, brought up to claude-mem's newest id; None without trigram."""
        with self._cjk_lock:
            if self._cjk is None:
                if not trigram_available():
                    return None
                self._cjk = CjkIndex()
        self._cjk.refresh(self.conn)
        return self._cjk

    def warm_cjk_index(self, conn: sqlite3.Connection) -> None:
        """Build the side index through ``conn`` (a second read-only connection, for a background thread)."""
        with self._cjk_lock:
            if self._cjk is None:
                if not trigram_available():
                    return
                self._cjk = CjkIndex()
        self._cjk.refresh(conn)

    @staticmethod
    def _filters(project: str | None, type_: str | None, prefix: str = "WHERE ") -> tuple[str, tuple[Any, ...]]:
        parts, args = [], []
        if project:
            parts.append("o.project = ?")
            args.append(project)
        if type_:
            parts.append("o.type = ?")
            args.append(type_)
        return (prefix + " AND ".join(parts) if parts else ""), tuple(args)


def json_ids(ids: list[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def _prefixed(columns: str) -> str:
    return ", ".join("o." + column.strip() for column in columns.split(","))


def excerpt(text: str, needle: str, width: int = 120) -> str:
    at = text.find(needle)
    if at < 0:
        return text[:width * 2]
    start = max(0, at - width)
    return ("… " if start else "") + text[start:at + len(needle) + width]


def mark_substring(text: str, needle: str) -> str:
    if not needle:
        return text
    return text.replace(needle, MARK_START + needle + MARK_END)
