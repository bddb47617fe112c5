"""Usage travels: hook -> export -> ci-merge --strategy hook -> import, on real claude-mem databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import clone, configure, db_rows
from devside.hook_helpers import GET, SEARCH, get_observations_answer, payload, run_hook, search_table
from memsync.devside.config import state_dir
from memsync.publish.git import run_git

BASE = 1_773_900_000_000


def _use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dev: str) -> Path:
    config = tmp_path / dev / ".claude-mem-sync" / "config.json"
    monkeypatch.setenv("MEM_SYNC_CONFIG", str(config))
    return config.parent


def _ids(db: Path) -> dict[str, int]:
    return {title: obs_id for obs_id, title in db_rows(db, "SELECT id, title FROM observations")}


def _ci_merge(mem_sync, bare_repo: Path, ci: Path, *extra: str) -> dict:
    if ci.exists():
        run_git(["pull", "--quiet", "origin", "main"], ci)
    else:
        clone(bare_repo, ci)
    out = mem_sync("ci-merge", "--repo", str(ci), "--format", "json", "--workers", "1", "--strategy", "hook",
                   *extra).stdout
    run_git(["add", "--all"], ci)
    run_git(["-c", "user.name=ci", "-c", "user.email=ci@x", "commit", "--quiet", "-m", "merge"], ci)
    run_git(["push", "--quiet", "origin", "HEAD:main"], ci)
    return orjson.loads(out)


def _team_counts(ci: Path) -> dict[str, int]:
    doc = orjson.loads((ci / "merged" / "demo" / "latest.json").read_bytes())
    return {obs["title"]: obs.get("access_count", 0) for obs in doc["observations"]}


def test_the_most_used_observation_survives_the_cap(
    seeded_db, bare_repo: Path, mem_sync, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # equally scored: same type, same creation time; only use tells them apart
    same = {"type": "decision", "created_at_epoch": BASE}
    alice_db = seeded_db([seed_row("Used pelican decision", session="alice-s1", narrative="pelican use", **same),
                          seed_row("Unused pelican decision", session="alice-s1", narrative="pelican idle", **same)],
                         name="alice")
    bob_db = seeded_db([seed_row("Bob walrus decision", session="bob-s1", narrative="walrus", **same)], name="bob")
    carol_db = seeded_db([seed_row("Carol note", session="carol-s1", type="change", created_at_epoch=BASE)],
                         name="carol")

    # alice's Claude searches claude-mem three times and gets the used one back each time
    alice_state = _use(monkeypatch, tmp_path, "alice")
    configure(mem_sync, dev="alice", db=alice_db, url=str(bare_repo))
    ids = _ids(alice_db)
    used = ids["Used pelican decision"]
    answer = get_observations_answer(alice_db, [used])  # claude-mem's own get_observations
    for response in (answer, [{"type": "text", "text": search_table([(used, "Used pelican decision")])}], answer):
        tool = GET if isinstance(response, dict) else SEARCH
        assert run_hook(alice_state, payload(tool, response)).returncode == 0
    export = mem_sync("export").stdout
    assert "exported 2 observations" in export

    bob_state = _use(monkeypatch, tmp_path, "bob")
    configure(mem_sync, dev="bob", db=bob_db, url=str(bare_repo))
    walrus = _ids(bob_db)["Bob walrus decision"]
    assert run_hook(bob_state, payload(SEARCH, search_table([(walrus, "Bob walrus decision")]))).returncode == 0
    mem_sync("export")

    ci = tmp_path / "ci"
    report = _ci_merge(mem_sync, bare_repo, ci, "--cap", "2")
    assert report["totals"]["evicted"] == 1
    assert _team_counts(ci) == {"Used pelican decision": 3, "Bob walrus decision": 1}
    exported = [orjson.loads(p.read_bytes()) for p in sorted((ci / "contributions" / "demo" / "alice").glob("*.json"))]
    assert {o["title"]: o.get("access_count") for o in exported[0]["observations"]} == {
        "Used pelican decision": 3, "Unused pelican decision": None}

    # alice exports twice more with the same use: the team's count does not grow
    _use(monkeypatch, tmp_path, "alice")
    mem_sync("export")
    mem_sync("export")
    _ci_merge(mem_sync, bare_repo, ci, "--cap", "2")
    assert _team_counts(ci) == {"Used pelican decision": 3, "Bob walrus decision": 1}

    # bob imports alice's observation, his Claude uses it twice: the team count is the sum
    _use(monkeypatch, tmp_path, "bob")
    mem_sync("import")
    imported = _ids(bob_db)["Used pelican decision"]
    for _ in range(2):
        run_hook(bob_state, payload(GET, get_observations_answer(bob_db, [imported])))
    mem_sync("export")
    _ci_merge(mem_sync, bare_repo, ci, "--cap", "2")
    assert _team_counts(ci) == {"Used pelican decision": 5, "Bob walrus decision": 1}
    counts = orjson.loads((ci / "merged" / "demo" / "access-counts.json").read_bytes())
    assert {dev: [row[3] for row in rows] for dev, rows in counts["developers"].items()} == {
        "alice": [3], "bob": [2, 1]}

    # carol imports the team's set: the used observation is there, the unused one was evicted
    _use(monkeypatch, tmp_path, "carol")
    configure(mem_sync, dev="carol", db=carol_db, url=str(bare_repo))
    assert "added 2 of 2" in mem_sync("import").stdout
    titles = sorted(row[0] for row in db_rows(carol_db, "SELECT title FROM observations"))
    assert titles == ["Bob walrus decision", "Carol note", "Used pelican decision"]
    assert state_dir() == tmp_path / "carol" / ".claude-mem-sync"


def test_without_usage_the_tie_goes_the_other_way(
    seeded_db, bare_repo: Path, mem_sync, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same two observations with no hook data: the cap keeps the other one, so the test
    above shows use deciding, not the tie-break."""
    same = {"type": "decision", "created_at_epoch": BASE}
    alice_db = seeded_db([seed_row("Used pelican decision", session="alice-s1", narrative="pelican use", **same),
                          seed_row("Unused pelican decision", session="alice-s1", narrative="pelican idle", **same)],
                         name="alice")
    _use(monkeypatch, tmp_path, "alice")
    configure(mem_sync, dev="alice", db=alice_db, url=str(bare_repo))
    mem_sync("export")
    ci = tmp_path / "ci"
    _ci_merge(mem_sync, bare_repo, ci, "--cap", "1")
    assert _team_counts(ci) == {"Unused pelican decision": 0}
    assert not (ci / "merged" / "demo" / "access-counts.json").exists()


def test_old_accesses_do_not_travel(seeded_db, bare_repo: Path, mem_sync, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    db = seeded_db([seed_row("Old favourite", session="a-s1", created_at_epoch=BASE)], name="alice")
    state = _use(monkeypatch, tmp_path, "alice")
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo))
    run_hook(state, payload(SEARCH, search_table([(_ids(db)["Old favourite"], "Old favourite")])))
    conn = sqlite3.connect(state / "access-log.sqlite")
    with conn:  # the access happened 200 days ago
        conn.execute("UPDATE accesses SET accessed_at = accessed_at - 200 * 86400000")
    conn.close()
    mem_sync("export")
    ci = clone(bare_repo, tmp_path / "ci")
    (exported,) = (ci / "contributions" / "demo" / "alice").glob("*.json")
    assert "access_count" not in orjson.loads(exported.read_bytes())["observations"][0]
