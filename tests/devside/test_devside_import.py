"""import: merged/<project>/latest.json into a real claude-mem database, once, consistently."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from builders import contribution, observation
from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import assert_db_consistent, configure, db_rows, fts_titles
from memsync.devside.config import state_dir
from memsync.devside.importer import import_merged

MERGED_BASE = 1_773_950_000_000


def _write_merged(repo: Path, observations: list[dict[str, Any]], project: str = "demo", **overrides: Any) -> Path:
    path = repo / "merged" / project / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = contribution(observations, dev="ci-merge", project=project, **overrides)
    doc["filters"] = {"types": [], "keywords": [], "tags": []}
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def _others(count: int, *, dev: str = "bob", start: int = 0) -> list[dict[str, Any]]:
    return [
        observation(
            f"{dev} finding {i}",
            session=f"{dev}-session-{i % 3}",
            type="discovery",
            narrative=f"{dev} learned that the zebra{i} cache must be warmed",
            created_at_epoch=MERGED_BASE + (start + i) * 1000,
            contributors=[dev],
            score=0.5,
        )
        for i in range(count)
    ]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_fills_columns_creates_sessions_and_is_searchable(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    merged = [
        observation(
            "Seconds epoch row",
            session="bob-s1",
            created_at_epoch=1_773_900_000,
            concepts="gotcha, pattern",
            facts=["one", "two"],
            files_read=None,
            narrative="imported narrative about flamingo migrations",
            subtitle="kept subtitle",
            prompt_number=7,
            synced_at=123,
            origin_device_id="bobs-laptop",
            score=0.9,
            contributors=["bob"],
            not_a_column="dropped",
        ),
        observation(
            None,
            session="bob-s2",
            type="bugfix",
            narrative="untitled but searchable heron",
            created_at_epoch=1_773_900_001_234,
        ),
    ]
    _write_merged(repo, merged)
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"), mem_project="carol-demo")
    out = mem_sync("import", "--repo-dir", str(repo)).stdout
    assert "added 2 of 2 observations (0 already present, 2 sessions created)" in out

    conn = sqlite3.connect(claude_mem_db)
    conn.row_factory = sqlite3.Row
    rows = {row["memory_session_id"]: dict(row) for row in conn.execute("SELECT * FROM observations")}
    first = rows["bob-s1"]
    assert first["project"] == "carol-demo"
    assert first["created_at_epoch"] == 1_773_900_000_000
    assert first["created_at"] == "2026-03-19T06:00:00.000Z"
    assert first["concepts"] == '["gotcha","pattern"]'
    assert first["facts"] == '["one","two"]'
    assert first["files_read"] is None
    assert first["subtitle"] == "kept subtitle" and first["prompt_number"] == 7
    assert first["synced_at"] is None and first["origin_device_id"] is None
    assert first["sync_rev"] == "1" and first["discovery_tokens"] == 0
    assert rows["bob-s2"]["title"] is None and rows["bob-s2"]["created_at"] == "2026-03-19T06:00:01.234Z"
    sessions = {row["memory_session_id"]: dict(row) for row in conn.execute("SELECT * FROM sdk_sessions")}
    assert set(sessions) == {"bob-s1", "bob-s2"}
    assert sessions["bob-s1"]["project"] == "carol-demo" and sessions["bob-s1"]["status"] == "completed"
    assert sessions["bob-s1"]["started_at_epoch"] == 1_773_900_000_000
    # claude-mem's own concept filter parses the arrays
    gotchas = conn.execute(
        "SELECT count(*) FROM observations o, json_each(o.concepts) c WHERE c.value = 'gotcha'"
    ).fetchone()[0]
    assert gotchas == 1
    conn.close()
    assert fts_titles(claude_mem_db, "flamingo migrations") == ["Seconds epoch row"]
    assert fts_titles(claude_mem_db, "searchable heron") == [None]
    assert_db_consistent(claude_mem_db)


def test_reimport_adds_nothing(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged(repo, _others(20))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    assert "added 20 of 20" in mem_sync("import", "--repo-dir", str(repo)).stdout
    assert "already imported" in mem_sync("import", "--repo-dir", str(repo)).stdout
    assert (
        "added 0 of 20 observations (20 already present"
        in mem_sync("import", "--repo-dir", str(repo), "--force").stdout
    )
    # a new merged file holding the old rows plus new ones adds only the new ones
    _write_merged(repo, _others(25))
    assert "added 5 of 25" in mem_sync("import", "--repo-dir", str(repo)).stdout
    assert db_rows(claude_mem_db, "SELECT count(*) FROM observations")[0][0] == 25
    assert_db_consistent(claude_mem_db)


def test_own_observations_never_come_back_twice(seeded_db, mem_sync, tmp_path: Path) -> None:
    db = seeded_db([seed_row(f"Mine {i}", session="carol-s", created_at_epoch=MERGED_BASE + i) for i in range(5)])
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    own = [dict(row) for row in conn.execute("SELECT * FROM observations")]
    conn.close()
    for row in own[:2]:  # the merge may have seen them with second epochs (older exporters)
        row["created_at_epoch"] //= 1000 if row["created_at_epoch"] % 1000 == 0 else 1
    repo = tmp_path / "shared"
    _write_merged(repo, [*own, *_others(3)])
    configure(mem_sync, dev="carol", db=db, url=str(tmp_path / "unused.git"))
    assert "added 3 of 8 observations (5 already present" in mem_sync("import", "--repo-dir", str(repo)).stdout
    titles = [row[0] for row in db_rows(db, "SELECT title FROM observations ORDER BY title")]
    assert titles == sorted([f"Mine {i}" for i in range(5)] + [f"bob finding {i}" for i in range(3)])
    assert_db_consistent(db)


def test_backup_is_taken_first_and_holds_the_old_rows(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged(repo, _others(4))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    out = mem_sync("import", "--repo-dir", str(repo)).stdout
    backups = sorted((state_dir() / "backups").glob("claude-mem.*.db"))
    assert len(backups) == 1 and str(backups[0]) in out
    assert db_rows(backups[0], "SELECT count(*) FROM observations")[0][0] == 0
    assert db_rows(claude_mem_db, "SELECT count(*) FROM observations")[0][0] == 4


def test_dry_run_counts_and_writes_nothing(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    repo = tmp_path / "shared"
    _write_merged(repo, _others(6))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    before = _file_digest(claude_mem_db)
    assert "would add 6 of 6" in mem_sync("import", "--repo-dir", str(repo), "--dry-run").stdout
    assert _file_digest(claude_mem_db) == before
    assert not (state_dir() / "import-log.json").exists()


def test_concurrent_writer_loses_nothing(claude_mem_db: Path, tmp_path: Path) -> None:
    merged_path = _write_merged(tmp_path / "shared", _others(3000))
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        # What claude-mem's worker does while the developer imports: short write transactions.
        conn = sqlite3.connect(claude_mem_db, timeout=10, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            conn.execute(
                "INSERT INTO sdk_sessions (content_session_id, memory_session_id, project, started_at, "
                "started_at_epoch) VALUES ('live', 'live-session', 'demo', '2026-03-19T00:00:00.000Z', 1)"
            )
            i = 0
            while not stop.is_set() or i < 50:
                conn.execute(
                    "INSERT INTO observations (memory_session_id, project, type, title, narrative, "
                    "created_at, created_at_epoch) VALUES ('live-session', 'demo', 'change', ?, 'live row', "
                    "'2026-03-19T00:00:00.000Z', ?)",
                    (f"live {i}", 1_773_800_000_000 + i),
                )
                written.append(i)
                i += 1
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 10 and thread.is_alive():
            pass
        report = import_merged(
            merged_path,
            project="demo",
            mem_project="demo",
            db_path=claude_mem_db,
            state_dir=tmp_path / "state",
        )
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert report.added == 3000
    live = db_rows(claude_mem_db, "SELECT count(*) FROM observations WHERE memory_session_id = 'live-session'")
    assert live[0][0] == len(written)
    imported = db_rows(claude_mem_db, "SELECT count(*) FROM observations WHERE memory_session_id LIKE 'bob-%'")
    assert imported[0][0] == 3000
    assert_db_consistent(claude_mem_db)


# --- bad input: one clear line, nothing written ------------------------------------------


def _assert_one_line(result, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b'{"version": 1, "observations": [', ("is not valid JSON", "re-run ci-merge")),
        (orjson.dumps(contribution([], dev="ci-merge", version=2)), ("format version 2", "upgrade mem-sync")),
        (
            orjson.dumps(contribution([observation("a")], dev="ci-merge", observationCount=5)),
            ("observationCount says 5",),
        ),
        (
            orjson.dumps(contribution([observation("a")], dev="ci-merge", project="other")),
            ("project is 'other'",),
        ),
    ],
)
def test_bad_merged_file_is_refused_whole(
    claude_mem_db: Path, mem_sync, tmp_path: Path, content: bytes, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "shared" / "merged" / "demo" / "latest.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    before = _file_digest(claude_mem_db)
    _assert_one_line(mem_sync("import", "--repo-dir", str(tmp_path / "shared"), check=False), *fragments)
    assert _file_digest(claude_mem_db) == before
    assert not state_dir().joinpath("backups").exists()


def test_nothing_merged_yet_is_nothing_to_do(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    result = mem_sync("import", "--repo-dir", str(tmp_path / "shared"))
    assert "demo: nothing merged yet" in result.stdout and result.stderr == ""
    missing = tmp_path / "elsewhere" / "latest.json"
    _assert_one_line(mem_sync("import", "--file", str(missing), check=False), "nothing merged yet")


def test_unreachable_remote_on_import_is_one_line(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "gone.git"))
    before = _file_digest(claude_mem_db)
    _assert_one_line(mem_sync("import", check=False), "cannot reach the shared repository")
    assert _file_digest(claude_mem_db) == before


def test_locked_database_is_refused_cleanly(
    claude_mem_db: Path, mem_sync, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_merged(tmp_path / "shared", _others(3))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    monkeypatch.setenv("MEM_SYNC_DB_TIMEOUT", "0.3")
    holder = sqlite3.connect(claude_mem_db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = mem_sync("import", "--repo-dir", str(tmp_path / "shared"), "--no-backup", check=False)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _assert_one_line(result, "is locked by another process", "MEM_SYNC_DB_TIMEOUT")
    assert db_rows(claude_mem_db, "SELECT count(*) FROM observations")[0][0] == 0
    assert not (state_dir() / "import-log.json").exists()


def test_database_of_an_unknown_claude_mem_version_is_refused(claude_mem_db: Path, mem_sync, tmp_path: Path) -> None:
    conn = sqlite3.connect(claude_mem_db)
    conn.execute("ALTER TABLE observations RENAME COLUMN created_at TO created_on")
    conn.commit()
    conn.close()
    _write_merged(tmp_path / "shared", _others(2))
    configure(mem_sync, dev="carol", db=claude_mem_db, url=str(tmp_path / "unused.git"))
    before = _file_digest(claude_mem_db)
    _assert_one_line(
        mem_sync("import", "--repo-dir", str(tmp_path / "shared"), check=False),
        "lacks observations.created_at",
        "schema version 52",
        "tested with claude-mem 13.25.3",
    )
    assert _file_digest(claude_mem_db) == before
    _assert_one_line(mem_sync("preview", check=False), "lacks observations.created_at")


def test_missing_or_garbage_database_is_one_line(mem_sync, tmp_path: Path) -> None:
    _write_merged(tmp_path / "shared", _others(2))
    missing = tmp_path / "none" / "claude-mem.db"
    configure(mem_sync, dev="carol", db=missing, url=str(tmp_path / "unused.git"))
    _assert_one_line(
        mem_sync("import", "--repo-dir", str(tmp_path / "shared"), check=False),
        "claude-mem database not found",
    )
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    _assert_one_line(
        mem_sync("import", "--repo-dir", str(tmp_path / "shared"), "--db", str(garbage), check=False),
        "is not a readable SQLite database",
    )
    assert garbage.read_bytes() == b"this is not sqlite" * 100
