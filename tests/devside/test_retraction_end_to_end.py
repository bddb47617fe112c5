"""Retraction on real repositories and real claude-mem databases: alice exports, bob imports,
alice takes an observation back, CI merges, bob imports again and no longer has it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import assert_db_consistent, clone, configure, db_rows, fts_titles
from memsync.publish.git import run_git

BASE = 1_773_900_000_000


def _use_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dev: str) -> None:
    monkeypatch.setenv("MEM_SYNC_CONFIG", str(tmp_path / dev / ".claude-mem-sync" / "config.json"))
    monkeypatch.setenv("HOME", str(tmp_path / dev))


def _ci_merge(mem_sync, bare_repo: Path, workdir: Path) -> dict:
    """The CI job: a fresh checkout, the real ci-merge, commit and push what it changed."""
    ci = clone(bare_repo, workdir)
    report = orjson.loads(mem_sync("ci-merge", "--repo", str(ci), "--format", "json", "--workers", "1").stdout)
    run_git(["add", "--all"], ci)
    run_git(["-c", "user.name=ci", "-c", "user.email=ci@x", "commit", "--quiet", "--allow-empty", "-m", "merge"], ci)
    run_git(["push", "--quiet", "origin", "HEAD:main"], ci)
    return report


def _titles(db: Path) -> list[str]:
    return sorted(row[0] for row in db_rows(db, "SELECT title FROM observations"))


def test_a_retraction_reaches_every_teammates_database(
    seeded_db, bare_repo: Path, mem_sync, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice_db = seeded_db(
        [seed_row("Use MongoDB for billing", session="alice-s1", narrative="the ledger kiwi plan",
                  created_at_epoch=BASE),
         seed_row("Use Postgres for search", session="alice-s1", narrative="the search mango plan",
                  created_at_epoch=BASE + 60_000)],
        name="alice",
    )
    bob_db = seeded_db([seed_row("Bob own decision", session="bob-s1", narrative="bob papaya",
                                 created_at_epoch=BASE + 5_000)], name="bob")

    _use_config(monkeypatch, tmp_path, "alice")
    configure(mem_sync, dev="alice", db=alice_db, url=str(bare_repo))
    mem_sync("export")
    _use_config(monkeypatch, tmp_path, "bob")
    configure(mem_sync, dev="bob", db=bob_db, url=str(bare_repo))
    mem_sync("export")
    _ci_merge(mem_sync, bare_repo, tmp_path / "ci1")
    assert "added 2 of 3" in mem_sync("import").stdout
    assert fts_titles(bob_db, "ledger kiwi") == ["Use MongoDB for billing"]

    # alice takes the MongoDB decision back, naming it by her local row id
    _use_config(monkeypatch, tmp_path, "alice")
    [(local_id,)] = db_rows(alice_db, "SELECT id FROM observations WHERE title = 'Use MongoDB for billing'")
    dry = mem_sync("forget", "--id", str(local_id), "--dry-run")
    assert "Use MongoDB for billing" in dry.stdout and "nothing written" in dry.stdout
    out = mem_sync("forget", "--id", str(local_id), "--reason", "we reverted to Postgres").stdout
    assert "retraction retractions/demo/alice/" in out and "pushed to" in out
    shared = clone(bare_repo, tmp_path / "look")
    [retraction] = sorted((shared / "retractions/demo/alice").glob("*.json"))
    assert "MongoDB" not in retraction.read_text() and "kiwi" not in retraction.read_text()

    report = _ci_merge(mem_sync, bare_repo, tmp_path / "ci2")
    assert report["totals"]["retracted"] == 1
    merged = orjson.loads((tmp_path / "ci2/merged/demo/latest.json").read_bytes())
    assert sorted(o["title"] for o in merged["observations"]) == ["Bob own decision", "Use Postgres for search"]

    # bob's next import deletes his imported copy, keeps his own rows, and leaves FTS consistent
    _use_config(monkeypatch, tmp_path, "bob")
    out = mem_sync("import").stdout
    assert "removed 1 retracted observation(s) (1 from team imports, 0 of your own)" in out
    assert _titles(bob_db) == ["Bob own decision", "Use Postgres for search"]
    assert fts_titles(bob_db, "ledger kiwi") == []
    assert fts_titles(bob_db, "bob papaya") == ["Bob own decision"]
    assert_db_consistent(bob_db)
    assert "removed" not in mem_sync("import").stdout  # nothing left to purge

    # alice keeps her own original unless she asks, and her exports no longer send it
    _use_config(monkeypatch, tmp_path, "alice")
    out = mem_sync("import").stdout
    assert "kept 1 of your own rows" in out
    assert "Use MongoDB for billing" in _titles(alice_db)
    mem_sync("export")
    shared = clone(bare_repo, tmp_path / "look2")
    newest = sorted((shared / "contributions/demo/alice").glob("*.json"))[-1]
    sent = [o["title"] for o in orjson.loads(newest.read_bytes())["observations"]]
    assert "Use Postgres for search" in sent and "Use MongoDB for billing" not in sent
    out = mem_sync("import", "--purge-own").stdout
    assert "removed 1 retracted observation(s) (0 from team imports, 1 of your own)" in out
    assert "Use MongoDB for billing" not in _titles(alice_db)
    assert_db_consistent(alice_db)


def test_undo_lets_the_observation_back_in(
    seeded_db, bare_repo: Path, mem_sync, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice_db = seeded_db([seed_row("Cache invalidation rule", session="alice-s9", created_at_epoch=BASE)],
                         name="alice")
    bob_db = seeded_db([seed_row("Bob note", session="bob-s9", created_at_epoch=BASE + 1)], name="bob")
    _use_config(monkeypatch, tmp_path, "alice")
    configure(mem_sync, dev="alice", db=alice_db, url=str(bare_repo))
    mem_sync("export")
    _ci_merge(mem_sync, bare_repo, tmp_path / "ci1")
    key = ("alice-s9", "Cache invalidation rule", str(BASE))
    mem_sync("forget", "--key", *key, "--reason", "not sure yet")
    _ci_merge(mem_sync, bare_repo, tmp_path / "ci2")
    mem_sync("forget", "--key", *key, "--undo", "--reason", "it was right after all")
    mem_sync("export")  # the undo lifts the key for her exports too
    report = _ci_merge(mem_sync, bare_repo, tmp_path / "ci3")
    merged = orjson.loads((tmp_path / "ci3/merged/demo/latest.json").read_bytes())
    assert [o["title"] for o in merged["observations"]] == ["Cache invalidation rule"], report
    _use_config(monkeypatch, tmp_path, "bob")
    configure(mem_sync, dev="bob", db=bob_db, url=str(bare_repo))
    mem_sync("import")
    assert "Cache invalidation rule" in _titles(bob_db)


def test_forget_refuses_unclear_requests(seeded_db, mem_sync, bare_repo: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    db = seeded_db([seed_row("Shared thing one", session="s1", created_at_epoch=BASE),
                    seed_row("Shared thing two", session="s1", created_at_epoch=BASE + 1)], name="alice")
    _use_config(monkeypatch, tmp_path, "alice")
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo))
    both = mem_sync("forget", "--search", "shared thing", "--key", "s1", "x", "1", check=False)
    assert both.returncode == 2 and "exactly one of --key" in both.stderr
    token = "ghp_" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
    leaky = mem_sync("forget", "--search", "shared", "--reason", f"leaked {token}", check=False)
    assert leaky.returncode == 2 and "carries a credential" in leaky.stderr and token not in leaky.stderr
    declined = mem_sync("forget", "--search", "shared thing", input="n\n")
    assert "would retract 2 observations" in declined.stdout and "nothing retracted" in declined.stdout
    assert run_git(["ls-remote", str(bare_repo)], None).stdout.strip() == ""  # nothing pushed
    missing = mem_sync("forget", "--id", "99999", check=False)
    assert missing.returncode == 2 and "no observation #99999" in missing.stderr
