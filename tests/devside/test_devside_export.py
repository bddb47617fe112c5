"""preview / export against real claude-mem databases and a real bare shared repository."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from claude_mem.claude_mem_db import seed_row
from devside.devside_helpers import clone, configure
from memsync.publish.git import run_git

# A GitHub-PAT-shaped credential assembled at run time, so this file holds no token literal.
FAKE_PAT = "ghp_" + "q7Zr2LmX9pKd4TwB8nVc3HyF6sJa1GuE5oRi"

FILTER_ROWS = [
    seed_row("Use WAL mode", type="decision", created_at_epoch=1_773_900_000_000),
    seed_row("Cache layout", type="discovery", narrative="An ARCHITECTURE note", created_at_epoch=1_773_900_100_000),
    seed_row("Minor tweak", type="change", narrative="worth sharing #shared", created_at_epoch=1_773_900_200_000),
    seed_row("Loud tag", type="change", narrative="not ours #SHARED", created_at_epoch=1_773_900_300_000),
    seed_row("Elsewhere", type="decision", project="other", session="s-other", created_at_epoch=1_773_900_400_000),
]


def _contribution_files(bare: Path, tmp: Path, branch: str = "main") -> list[Path]:
    checkout = tmp / f"verify-{branch.replace('/', '_')}"
    run_git(["clone", "--quiet", "--branch", branch, str(bare), str(checkout)], None)
    return sorted(checkout.glob("contributions/*/*/*.json"))


def _has_branch(bare: Path, branch: str) -> bool:
    return bool(run_git(["ls-remote", "--heads", str(bare), branch], None).stdout.strip())


def test_preview_applies_types_or_keywords_or_tags(seeded_db, bare_repo: Path, mem_sync) -> None:
    db = seeded_db(FILTER_ROWS)
    configure(
        mem_sync,
        dev="alice",
        db=db,
        url=str(bare_repo),
        types="decision",
        keywords="architecture",
        tags="#shared",
    )
    out = mem_sync("preview", "--project", "demo").stdout
    assert "demo: 3 of 4 observations" in out
    assert "Use WAL mode" in out and "Cache layout" in out and "Minor tweak" in out
    assert "Loud tag" not in out and "Elsewhere" not in out
    assert "change 1, decision 1, discovery 1" in out
    assert "2026-03-19 .. 2026-03-19" in out
    assert "KiB" in out or " B " in out
    assert not _has_branch(bare_repo, "main")


def test_all_filters_empty_exports_nothing(seeded_db, bare_repo: Path, mem_sync) -> None:
    db = seeded_db(FILTER_ROWS)
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo), types="", keywords="", tags="")
    assert "no filters configured" in mem_sync("preview").stdout
    out = mem_sync("export").stdout
    assert "nothing to export" in out
    assert not _has_branch(bare_repo, "main")


def test_unknown_project_lists_the_projects_in_the_db(seeded_db, bare_repo: Path, mem_sync) -> None:
    db = seeded_db(FILTER_ROWS)
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo), mem_project="my-app")
    result = mem_sync("preview", check=False)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no observations for claude-mem project 'my-app'" in result.stderr
    assert "demo (4), other (1)" in result.stderr
    assert "--mem-project" in result.stderr


def test_export_pushes_every_column_as_stored(seeded_db, bare_repo: Path, mem_sync, tmp_path: Path) -> None:
    db = seeded_db(FILTER_ROWS)
    configure(
        mem_sync,
        dev="alice",
        db=db,
        url=str(bare_repo),
        types="decision",
        keywords="architecture",
        tags="#shared",
    )
    out = mem_sync("export", "--project", "demo").stdout
    assert "exported 3 observations -> contributions/demo/alice/" in out and "pushed to" in out
    files = _contribution_files(bare_repo, tmp_path)
    assert len(files) == 1
    doc = orjson.loads(files[0].read_bytes())
    assert (doc["version"], doc["exportedBy"], doc["project"]) == (1, "alice", "demo")
    assert doc["filters"] == {"types": ["decision"], "keywords": ["architecture"], "tags": ["#shared"]}
    assert doc["observationCount"] == 3
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    stored = {row["id"]: dict(row) for row in conn.execute("SELECT * FROM observations")}
    for obs in doc["observations"]:
        assert obs == stored[obs["id"]]
        assert obs["created_at_epoch"] >= 10**12
    author = run_git(["log", "-1", "--format=%an", "main"], bare_repo).stdout.strip()
    assert author == "alice"
    # a second export lands beside the first, on top of the branch it now finds
    mem_sync("export", "--project", "demo")
    assert len(_contribution_files(bare_repo, tmp_path / "again")) == 2


def test_export_dry_run_shows_and_writes_nothing(seeded_db, bare_repo: Path, mem_sync) -> None:
    db = seeded_db(FILTER_ROWS)
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo))
    out = mem_sync("export", "--dry-run").stdout
    assert "demo: 2 of 4 observations" in out and "(dry run: nothing written)" in out
    assert not _has_branch(bare_repo, "main")


def test_export_refuses_secrets_and_redacts_on_request(seeded_db, bare_repo: Path, mem_sync, tmp_path: Path) -> None:
    db = seeded_db(
        [
            *FILTER_ROWS,
            seed_row("Deploy notes", narrative=f"use token {FAKE_PAT} for CI", created_at_epoch=1_773_900_500_000),
        ]
    )
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo))
    result = mem_sync("export", check=False)
    assert result.returncode == 1
    assert FAKE_PAT not in result.stderr + result.stdout
    assert "Deploy notes" in result.stderr and "github" in result.stderr
    assert not _has_branch(bare_repo, "main")
    preview = mem_sync("preview", check=False)
    assert preview.returncode == 1 and FAKE_PAT not in preview.stdout + preview.stderr

    mem_sync("export", "--redact")
    (contribution,) = _contribution_files(bare_repo, tmp_path)
    text = contribution.read_text()
    assert FAKE_PAT not in text and "[REDACTED:github-pat]" in text


def test_export_into_an_existing_checkout(seeded_db, bare_repo: Path, mem_sync, tmp_path: Path) -> None:
    db = seeded_db(FILTER_ROWS)
    configure(mem_sync, dev="alice", db=db, url="/nonexistent/not-used.git")
    seed = clone(bare_repo, tmp_path / "seed")
    (seed / "README.md").write_text("shared memories\n")
    run_git(["add", "README.md"], seed)
    run_git(["-c", "user.name=t", "-c", "user.email=t@x", "commit", "--quiet", "-m", "init"], seed)
    run_git(["push", "--quiet", "origin", "HEAD:main"], seed)
    checkout = clone(bare_repo, tmp_path / "mine")
    mem_sync("export", "--repo-dir", str(checkout))
    files = _contribution_files(bare_repo, tmp_path)
    assert len(files) == 1 and files[0].parent.name == "alice"


def test_export_without_auto_merge_opens_a_pull_request(
    seeded_db, bare_repo: Path, mem_sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.forge import FakeForge

    forge = FakeForge().start()
    try:
        monkeypatch.setenv("GITHUB_API_URL", f"{forge.base_url}/api/v3")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/memories")
        monkeypatch.setenv("GITHUB_TOKEN", "good-token")
        db = seeded_db(FILTER_ROWS)
        configure(mem_sync, dev="alice", db=db, url=str(bare_repo), auto_merge=False)
        out = mem_sync("export").stdout
        (pr,) = forge.open_prs("github")
    finally:
        forge.stop()
    assert pr["head"].startswith("mem-sync/export/alice/demo/") and pr["base"] == "main"
    assert "alice export for demo (2 observations)" in pr["title"]
    assert "pull request" in out
    assert not _has_branch(bare_repo, "main")
    heads = run_git(["ls-remote", "--heads", str(bare_repo)], None).stdout
    assert f"refs/heads/{pr['head']}" in heads


def test_unreachable_remote_is_one_line_and_writes_nothing(seeded_db, mem_sync, tmp_path: Path) -> None:
    db = seeded_db(FILTER_ROWS)
    configure(mem_sync, dev="alice", db=db, url=str(tmp_path / "no-such-repo.git"))
    result = mem_sync("export", check=False)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach the shared repository" in result.stderr


def test_missing_database_is_one_line(bare_repo: Path, mem_sync, mem_sync_process, tmp_path: Path) -> None:
    configure(mem_sync, dev="alice", db=tmp_path / "nope" / "claude-mem.db", url=str(bare_repo))
    result = mem_sync_process("preview")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"mem-sync: error: claude-mem database not found at {tmp_path / 'nope' / 'claude-mem.db'}; "
        "run Claude Code with claude-mem once, or point to it with --db PATH "
        "(or global.claudeMemDbPath in the config)"
    ]


def test_export_reads_committed_wal_rows_while_a_writer_holds_the_lock(
    seeded_db, bare_repo: Path, mem_sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = seeded_db(FILTER_ROWS)
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo))
    monkeypatch.setenv("MEM_SYNC_DB_TIMEOUT", "0.5")
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        columns = "memory_session_id, project, type, title, created_at, created_at_epoch"
        writer.execute(
            f"INSERT INTO observations ({columns}) VALUES ('mem-session-1', 'demo', 'decision', "
            "'Committed in the WAL', '2026-03-19T07:00:00.000Z', 1773903600000)"
        )
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            f"INSERT INTO observations ({columns}) VALUES ('mem-session-1', 'demo', 'decision', "
            "'Not committed yet', '2026-03-19T07:00:01.000Z', 1773903601000)"
        )
        assert Path(str(db) + "-wal").stat().st_size > 0
        out = mem_sync("preview").stdout
        assert "Committed in the WAL" in out and "Not committed yet" not in out
        writer.execute("ROLLBACK")
    finally:
        writer.close()


VARIED_ROWS = [
    seed_row("Straße layout", type="decision", narrative="Grüße aus KÖLN #Shared", created_at_epoch=1_773_900_000_001),
    seed_row(
        "KELVIN scale", type="discovery", narrative="the \u212a sign folds to k", created_at_epoch=1_773_900_000_002
    ),
    seed_row("İstanbul notes", type="change", narrative=None, created_at_epoch=1_773_900_000_003),
    seed_row(
        "plain", type="bugfix", narrative="tagged #shared here, Architecture too", created_at_epoch=1_773_900_000_004
    ),
    seed_row("spaces", type="feature", narrative="foo", created_at_epoch=1_773_900_000_005),
    seed_row("bar tail", type="refactor", narrative="100% done_ok", created_at_epoch=1_773_900_000_006),
]
_VOCAB = [
    "decision",
    "bugfix",
    "#shared",
    "#Shared",
    "köln",
    "KÖLN",
    "straße",
    "k",
    "kelvin",
    "i̇stanbul",
    "architecture",
    "foo bar",
    "%",
    "_",
    "done_ok",
    "x",
]


def test_sql_selection_is_exactly_the_filter_rule(seeded_db) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from memsync.devside.claude_mem import open_read_only, select_observations
    from memsync.devside.config import ExportFilters
    from memsync.devside.exporter import keyword_match, matches_filter

    db = seeded_db(VARIED_ROWS)
    conn = open_read_only(db)
    conn.row_factory = sqlite3.Row
    every = [dict(row) for row in conn.execute("SELECT * FROM observations ORDER BY created_at_epoch, id")]
    conn.row_factory = None

    @settings(max_examples=200, deadline=None)
    @given(
        types=st.lists(st.sampled_from(_VOCAB), max_size=2),
        keywords=st.lists(st.sampled_from(_VOCAB), max_size=2),
        tags=st.lists(st.sampled_from(_VOCAB), max_size=2),
    )
    def check(types, keywords, tags) -> None:
        filters = ExportFilters(tuple(types), tuple(keywords), tuple(tags))
        chosen = select_observations(
            conn,
            "demo",
            db,
            types=filters.types,
            tags=filters.tags,
            keyword_match=keyword_match(filters.keywords) if keywords else None,
        )
        expected = [
            row for row in every if matches_filter(row["type"], row["title"], row["narrative"], row["text"], filters)
        ]
        assert [row["id"] for row in chosen] == [row["id"] for row in expected]
        assert chosen == expected

    check()
    conn.close()


def test_export_retries_when_another_developer_pushed_first(seeded_db, mem_sync, tmp_path: Path) -> None:
    from fakes.git_http import GitHttpServer

    server = GitHttpServer(tmp_path / "git-root").start()
    try:
        server.create_bare("shared.git")
        url = server.url("shared.git")
        seed = clone(url, tmp_path / "seed")
        run_git(["checkout", "--quiet", "-B", "main"], seed)
        (seed / "README.md").write_text("team memories\n")
        run_git(["add", "README.md"], seed)
        run_git(["-c", "user.name=t", "-c", "user.email=t@x", "commit", "--quiet", "-m", "seed"], seed)
        run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], seed)
        raced: list[str] = []

        def bob_pushes_first(path: str) -> None:
            if raced:
                return
            raced.append(path)
            bob = clone(url, tmp_path / "bob")
            target = bob / "contributions" / "demo" / "bob" / "2026-03-19T18-00-00.json"
            target.parent.mkdir(parents=True)
            target.write_text("{}\n")
            run_git(["add", "--all"], bob)
            run_git(["-c", "user.name=bob", "-c", "user.email=b@x", "commit", "--quiet", "-m", "bob"], bob)
            run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], bob)

        server.before_receive = bob_pushes_first
        db = seeded_db(FILTER_ROWS)
        configure(mem_sync, dev="alice", db=db, url=url)
        assert "pushed to" in mem_sync("export").stdout
        server.before_receive = None
        check = clone(url, tmp_path / "check")
        devs = sorted(path.parent.name for path in check.glob("contributions/demo/*/*.json"))
        assert raced and devs == ["alice", "bob"]
        assert (check / "README.md").exists()
    finally:
        server.stop()


def test_export_keeps_the_newest_of_rows_sharing_a_key_and_the_merge_takes_the_file(
        seeded_db, bare_repo: Path, mem_sync, tmp_path: Path) -> None:
    """claude-mem stamps a batch with one Date.now(): two same-titled rows of one batch share the
    composite key. Export keeps the newest (highest id) and says so; the merge, which would
    quarantine a file repeating a key, takes it."""
    batch = 1_773_900_500_000
    db = seeded_db([
        seed_row("Same title", narrative="first of the batch", created_at_epoch=batch),
        seed_row("Same title", narrative="second of the batch", created_at_epoch=batch),
        seed_row("Other", created_at_epoch=batch),
    ])
    configure(mem_sync, dev="alice", db=db, url=str(bare_repo), types="decision")

    preview = mem_sync("preview", "--project", "demo").stdout
    out = mem_sync("export", "--project", "demo").stdout

    for printed in (preview, out):
        assert "1 observation shares its (memory_session_id, title, created_at_epoch) key with a newer one" \
            in printed, printed
    assert "exported 2 observations" in out
    files = _contribution_files(bare_repo, tmp_path)
    doc = orjson.loads(files[0].read_bytes())
    same = [obs for obs in doc["observations"] if obs["title"] == "Same title"]
    assert [obs["narrative"] for obs in same] == ["second of the batch"]
    checkout = files[0].parents[3]
    merged = mem_sync_ci_merge(checkout)
    assert merged["quarantined"] == [] and merged["totals"]["added"] == 2


def mem_sync_ci_merge(repo: Path) -> dict:
    from clirun import run_mem_sync

    result = run_mem_sync(["ci-merge", "--repo", repo, "--no-profiles", "--format", "json"])
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_a_real_export_is_fully_typed_by_the_merges_fast_decoder(seeded_db, bare_repo: Path, mem_sync,
                                                                  tmp_path: Path) -> None:
    """Every column claude-mem writes is known to the merge's typed decoder, so a real export is
    validated in one decode; a column it does not know costs a second, full check (correct, but
    slower): when claude-mem adds columns, this says to declare them."""
    import msgspec

    from memsync.model import KnownContributionFields

    configure(mem_sync, dev="alice", db=seeded_db(FILTER_ROWS), url=str(bare_repo), types="decision")
    mem_sync("export", "--project", "demo")
    (exported,) = _contribution_files(bare_repo, tmp_path)
    doc = msgspec.json.decode(exported.read_bytes(), type=KnownContributionFields)
    assert doc.observationCount == 2 and doc.observations[0].sync_rev == "1"
