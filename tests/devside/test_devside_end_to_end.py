"""Two developers export, the real ci-merge merges, a third developer (and the first) import."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import assert_db_consistent, clone, configure, db_rows, fts_titles
from memsync.publish.git import run_git

BASE = 1_773_900_000_000


def _use_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dev: str) -> None:
    monkeypatch.setenv("MEM_SYNC_CONFIG", str(tmp_path / dev / ".claude-mem-sync" / "config.json"))


def test_export_merge_import_round_trip(
    seeded_db, bare_repo: Path, mem_sync, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice_db = seeded_db(
        [
            seed_row(
                f"Alice decision {i}",
                session="alice-s1",
                narrative=f"alice explains the pelican{i} layout",
                created_at_epoch=BASE + i * 60_000,
            )
            for i in range(4)
        ]
        + [
            seed_row(
                "Alice private scratch",
                session="alice-s1",
                type="change",
                narrative="not for sharing",
                created_at_epoch=BASE + 999_000,
            )
        ],
        name="alice",
    )
    # bob's claude-mem calls the project "backend"; the shared repo calls it "demo"
    bob_db = seeded_db(
        [
            seed_row(
                f"Bob bugfix {i}",
                session=f"bob-s{i % 2}",
                project="backend",
                type="bugfix",
                narrative=f"bob fixed the walrus{i} race",
                concepts=["gotcha"],
                created_at_epoch=BASE + 500_000 + i * 1000,
            )
            for i in range(3)
        ],
        name="bob",
    )
    carol_db = seeded_db([seed_row("Carol own note", session="carol-s1", created_at_epoch=BASE)], name="carol")

    _use_config(monkeypatch, tmp_path, "alice")
    configure(mem_sync, dev="alice", db=alice_db, url=str(bare_repo))
    assert "exported 4 observations" in mem_sync("export").stdout
    _use_config(monkeypatch, tmp_path, "bob")
    configure(mem_sync, dev="bob", db=bob_db, url=str(bare_repo), mem_project="backend")
    assert "exported 3 observations" in mem_sync("export").stdout

    # the CI job: checkout, the real ci-merge command, commit and push its changes
    ci = clone(bare_repo, tmp_path / "ci")
    merge = mem_sync("ci-merge", "--repo", str(ci), "--format", "json", "--workers", "1")
    report = orjson.loads(merge.stdout)
    assert report["totals"]["merged"] == 7 and report["quarantined"] == []
    run_git(["add", "--all"], ci)
    run_git(["-c", "user.name=ci", "-c", "user.email=ci@x", "commit", "--quiet", "-m", "merge"], ci)
    run_git(["push", "--quiet", "origin", "HEAD:main"], ci)

    # carol imports everything, cloning the shared repo herself
    _use_config(monkeypatch, tmp_path, "carol")
    configure(mem_sync, dev="carol", db=carol_db, url=str(bare_repo))
    out = mem_sync("import").stdout
    assert "added 7 of 7 observations (0 already present, 3 sessions created)" in out
    assert fts_titles(carol_db, "pelican2 layout") == ["Alice decision 2"]
    assert fts_titles(carol_db, "walrus1 race") == ["Bob bugfix 1"]
    assert fts_titles(carol_db, "not for sharing") == []
    sessions = {row[0] for row in db_rows(carol_db, "SELECT memory_session_id FROM sdk_sessions")}
    assert {"alice-s1", "bob-s0", "bob-s1", "carol-s1"} <= sessions
    assert db_rows(carol_db, "SELECT count(*) FROM observations")[0][0] == 8
    assert_db_consistent(carol_db)
    assert "already imported" in mem_sync("import").stdout
    assert "added 0 of 7" in mem_sync("import", "--force").stdout
    assert db_rows(carol_db, "SELECT count(*) FROM observations")[0][0] == 8

    # alice gets only bob's observations; her own are already there
    _use_config(monkeypatch, tmp_path, "alice")
    assert "added 3 of 7 observations (4 already present" in mem_sync("import").stdout
    titles = [row[0] for row in db_rows(alice_db, "SELECT title FROM observations WHERE title LIKE 'Alice%'")]
    assert sorted(titles) == [
        "Alice decision 0",
        "Alice decision 1",
        "Alice decision 2",
        "Alice decision 3",
        "Alice private scratch",
    ]
    assert fts_titles(alice_db, "walrus2 race") == ["Bob bugfix 2"]
    assert_db_consistent(alice_db)

    # bob's imported copies of alice's rows land in his own claude-mem project name
    _use_config(monkeypatch, tmp_path, "bob")
    mem_sync("import")
    projects = {row[0] for row in db_rows(bob_db, "SELECT DISTINCT project FROM observations")}
    assert projects == {"backend"}
    conn = sqlite3.connect(bob_db)
    assert conn.execute("SELECT count(*) FROM observations").fetchone()[0] == 7
    conn.close()
    assert_db_consistent(bob_db)
