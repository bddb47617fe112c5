"""A side index for Chinese/Japanese/Korean searches, owned by the dashboard process.

claude-mem's ``observations_fts`` uses the unicode61 tokenizer, which keeps a run of CJK
characters as one token, so a CJK word inside a sentence cannot be found through it; claude-mem
falls back to a substring scan of every row (625 ms on 100k rows when nothing matches). We may not
write claude-mem's database, so this module keeps its own: a private temporary SQLite database
(``sqlite3.connect("")``: an on-disk file SQLite deletes on close, so its page cache, not its size,
is what the server holds in memory) with an FTS5 table using the trigram tokenizer, holding only
the rows whose indexed text contains CJK characters, keyed by observation id.

Only those rows can contain a CJK query as a substring, so:
- a term of 3+ characters is a trigram phrase MATCH (an index lookup);
- a shorter term (trigram cannot match 1-2 characters) is a substring test over these rows only.
Either way the result is a list of candidate ids; the caller re-checks them against claude-mem's
current rows, so a row claude-mem deleted or rewrote since is never shown by mistake.
"""

from __future__ import annotations

import re
import sqlite3
import threading

# the same ranges as store._CJK; kept here so the scan needs no import from the store
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK = re.compile(f"[{CJK_RANGES}]")
INDEXED_COLUMNS = ("title", "subtitle", "narrative", "text", "facts", "concepts")
TRIGRAM = 3  # the trigram tokenizer cannot match a shorter phrase
_CHUNK = 5000  # rows per fetch while scanning: bounded memory, few round trips


def trigram_available() -> bool:
    try:
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram case_sensitive 1')")
        finally:
            probe.close()
    except sqlite3.OperationalError:
        return False
    return True


class CjkIndex:
    """Observation ids whose text holds CJK characters, searchable by substring.

    Thread-safe: the dashboard may build it in a background thread (with its own read-only
    connection to claude-mem's database) while the event loop answers pages.
    """

    def __init__(self) -> None:
        # case_sensitive 1: the substring scan it replaces (instr) is case-sensitive too
        self._side = sqlite3.connect("", check_same_thread=False)
        columns = ", ".join(INDEXED_COLUMNS)
        self._side.execute(f"CREATE VIRTUAL TABLE cjk USING fts5({columns}, tokenize='trigram case_sensitive 1')")
        self._lock = threading.Lock()
        self.max_id: int | None = None  # highest claude-mem id scanned so far; None: never built
        self.rows = 0

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Index what claude-mem added since the last call (ids are AUTOINCREMENT: only grow)."""
        with self._lock:
            top = conn.execute("SELECT MAX(id) FROM observations").fetchone()[0] or 0
            if self.max_id is not None and top == self.max_id:
                return
            if self.max_id is not None and top < self.max_id:
                # the table was replaced (a restored backup): start again
                self._side.execute("DELETE FROM cjk")
                self.max_id, self.rows = None, 0
            start = self.max_id or 0
            self._scan(conn, start, top)
            self.max_id = top

    def _scan(self, conn: sqlite3.Connection, after: int, upto: int) -> None:
        columns = ", ".join(INDEXED_COLUMNS)
        cursor = conn.execute(f"SELECT id, {columns} FROM observations WHERE id > ? AND id <= ? ORDER BY id",
                              (after, upto))
        placeholders = ", ".join("?" * (len(INDEXED_COLUMNS) + 1))
        with self._side:
            while True:
                chunk = cursor.fetchmany(_CHUNK)
                if not chunk:
                    break
                keep = [tuple(row) for row in chunk if any(value and _CJK.search(value) for value in row[1:])]
                if keep:
                    self._side.executemany(f"INSERT INTO cjk (rowid, {columns}) VALUES ({placeholders})", keep)
                    self.rows += len(keep)

    def candidates(self, term: str) -> list[int]:
        """Ids of indexed rows holding ``term`` as a substring of one column."""
        with self._lock:
            if len(term) >= TRIGRAM:
                phrase = '"' + term.replace('"', '""') + '"'
                return [row[0] for row in self._side.execute("SELECT rowid FROM cjk WHERE cjk MATCH ?", (phrase,))]
            match = " OR ".join(f"instr({column}, ?) > 0" for column in INDEXED_COLUMNS)
            return [row[0] for row in self._side.execute(f"SELECT rowid FROM cjk WHERE {match}",
                                                         (term,) * len(INDEXED_COLUMNS))]

    def close(self) -> None:
        with self._lock:
            self._side.close()
