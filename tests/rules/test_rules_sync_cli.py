"""`mem-sync rules sync --publish none` on real git repositories, run as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rules_support import (
    HUMAN_FILES,
    PROJECT,
    RULES_PAGE,
    STANDARD_RULES,
    check_generated,
    code_repo,
    front_matter,
    matches,
    memory_repo,
    rule,
    snapshot,
    write_distilled,
)

from clirun import run_mem_sync
from fakes.gitrepos import git

ACCEPTED = {"R-0000000a": "accepted", "R-0000000b": "accepted", "R-0000000c": "accepted",
            "R-0000000d": "proposed"}
GENERATED_PREFIXES = (".claude/rules/", ".cursor/rules/", ".github/instructions/")


def sync(memory: Path, code: Path, *extra: str):
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--repo-dir", memory, "--format", "json", *extra])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    memory = memory_repo(tmp_path)
    write_distilled(memory, STANDARD_RULES, ACCEPTED)
    return memory, code_repo(tmp_path)


def generated(code: Path) -> dict[str, str]:
    return {path: data.decode() for path, data in snapshot(code).items()
            if path.startswith(GENERATED_PREFIXES)}


def test_blocks_appear_and_everything_outside_them_is_byte_identical(repos):
    memory, code = repos
    report = sync(memory, code)
    files = snapshot(code)
    # Files nobody asked us to touch keep every byte.
    for path in ("CLAUDE.md", "docs/architecture.md", "README.md", "src/api/client.py"):
        assert files[path] == HUMAN_FILES[path].encode()
    for path in ("AGENTS.md", ".github/copilot-instructions.md"):
        original = HUMAN_FILES[path].encode()
        text = files[path]
        assert text.startswith(original), path  # the people's part, untouched
        added = text[len(original):]
        eol = b"\r\n" if b"\r\n" in original else b"\n"
        assert added.startswith(eol + b"<!-- BEGIN mem-sync team-memory")
        assert added.endswith(b"<!-- END mem-sync team-memory -->" + eol)
        if eol == b"\r\n":  # a CRLF file gets a CRLF block
            assert added.count(b"\n") == added.count(b"\r\n")
    assert sorted(report["written"]) == sorted([
        ".claude/rules/team-memory-src-api.md", ".claude/rules/team-memory-src-db-store-py.md",
        ".claude/rules/team-memory.md", ".cursor/rules/team-memory-src-api.mdc",
        ".cursor/rules/team-memory-src-db-store-py.mdc", ".cursor/rules/team-memory.mdc",
        ".github/copilot-instructions.md",
        ".github/instructions/team-memory-src-api.instructions.md",
        ".github/instructions/team-memory-src-db-store-py.instructions.md", "AGENTS.md"])


def test_only_accepted_rules_arrive_each_with_its_id_and_evidence_link(repos):
    memory, code = repos
    sync(memory, code)
    agents = (code / "AGENTS.md").read_text()
    for rule_id in ("R-0000000a", "R-0000000b", "R-0000000c"):
        assert f"[{rule_id}]({RULES_PAGE}#{rule_id.lower()})" in agents
    everything = "".join(generated(code).values()) + agents
    assert "R-0000000d" not in everything and "nobody reviewed" not in everything
    # the everywhere rule is always on; scoped rules stay out of the always-on files
    always = (code / ".claude/rules/team-memory.md").read_text()
    assert "WAL mode" in always and "backoff" not in always
    copilot = (code / ".github/copilot-instructions.md").read_text()
    assert "WAL mode" in copilot and "backoff" not in copilot


def test_scoped_rule_lands_in_the_scoped_file_with_the_right_globs(repos):
    memory, code = repos
    sync(memory, code)
    # R-b's evidence: two files of src/api (one recorded as an absolute path) -> src/api/**
    claude = front_matter((code / ".claude/rules/team-memory-src-api.md").read_text())
    assert claude == {"paths": ["src/api/**"]}
    cursor = front_matter((code / ".cursor/rules/team-memory-src-api.mdc").read_text())
    assert cursor["globs"] == "src/api/**" and cursor["alwaysApply"] is False
    copilot = front_matter(
        (code / ".github/instructions/team-memory-src-api.instructions.md").read_text())
    assert copilot["applyTo"] == "src/api/**"
    for path in ("src/api/client.py", "src/api/retry.py", "src/api/v2/new.py"):
        assert matches("src/api/**", path)
    assert not matches("src/api/**", "src/db/store.py")
    # one file of evidence stays that file
    single = front_matter((code / ".claude/rules/team-memory-src-db-store-py.md").read_text())
    assert single == {"paths": ["src/db/store.py"]}
    assert "backoff" in (code / ".claude/rules/team-memory-src-api.md").read_text()
    assert "backoff" not in (code / ".claude/rules/team-memory-src-db-store-py.md").read_text()
    agents = (code / "AGENTS.md").read_text()
    assert agents.index("### When working on `src/api/**`") < agents.index("jittered")


def test_every_generated_file_matches_its_format(repos):
    memory, code = repos
    sync(memory, code)
    files = generated(code)
    assert len(files) == 8
    modes = {}
    for path, text in files.items():
        data = check_generated(path, text)
        if path.endswith(".mdc"):
            modes[path] = data["alwaysApply"]
    assert modes == {".cursor/rules/team-memory.mdc": True,
                     ".cursor/rules/team-memory-src-api.mdc": False,
                     ".cursor/rules/team-memory-src-db-store-py.mdc": False}
    # The always-on Claude file has no front matter: Claude Code loads it in every session.
    assert not files[".claude/rules/team-memory.md"].startswith("---")


def test_a_rerun_changes_nothing(repos):
    memory, code = repos
    sync(memory, code)
    git(code, "add", "--all")
    git(code, "commit", "--quiet", "-m", "rules")
    before = snapshot(code)
    report = sync(memory, code)
    assert report["written"] == [] and report["removed"] == []
    assert snapshot(code) == before
    assert git(code, "status", "--porcelain") == ""


def test_a_rule_rejected_after_acceptance_disappears_everywhere(repos):
    memory, code = repos
    sync(memory, code)
    write_distilled(memory, STANDARD_RULES, {**ACCEPTED, "R-0000000b": "rejected"})
    report = sync(memory, code)
    assert ".claude/rules/team-memory-src-api.md" in report["removed"]
    everything = "".join(generated(code).values())
    everything += (code / "AGENTS.md").read_text() + (code / ".github/copilot-instructions.md").read_text()
    assert "R-0000000b" not in everything and "backoff" not in everything
    assert not any("src-api" in path for path in generated(code))
    assert "R-0000000a" in everything  # the others stay


def test_withdrawing_every_rule_restores_the_human_files_byte_for_byte(repos):
    memory, code = repos
    sync(memory, code)
    write_distilled(memory, STANDARD_RULES, {k: "rejected" for k in ACCEPTED})
    sync(memory, code)
    files = snapshot(code)
    assert generated(code) == {}
    for path, text in HUMAN_FILES.items():
        assert files[path] == text.encode(), path


def test_modified_rule_delivers_the_reviewers_text_and_paths(repos):
    memory, code = repos
    write_distilled(memory, STANDARD_RULES, {
        "R-0000000a": {"status": "modified", "modifiedRule": "Open SQLite in WAL mode, always.",
                       "paths": ["src/db/**", "migrations/*.sql"]},
        "R-0000000b": "accepted"})
    sync(memory, code)
    scoped = front_matter((code / ".claude/rules/team-memory-migrations-sql-and-1-more.md").read_text())
    assert scoped == {"paths": ["migrations/*.sql", "src/db/**"]}
    everything = "".join(generated(code).values())
    assert "Open SQLite in WAL mode, always." in everything
    assert "Open every SQLite connection" not in everything
    # no rule applies everywhere now: no always-on file, and no block in copilot-instructions
    assert not (code / ".claude/rules/team-memory.md").exists()
    assert (code / ".github/copilot-instructions.md").read_bytes() == HUMAN_FILES[
        ".github/copilot-instructions.md"].encode()


def test_budget_keeps_the_highest_confidence_rules_and_names_the_rest(tmp_path):
    memory = memory_repo(tmp_path)
    many = [rule(f"R-{i:08x}", f"Rule number {i}: " + "spell it out in full. " * 8,
                 round(0.5 + i / 100, 2)) for i in range(40)]
    write_distilled(memory, many, {r["id"]: "accepted" for r in many})
    code = code_repo(tmp_path)
    report = sync(memory, code, "--budget", "2048")
    always = (code / ".claude/rules/team-memory.md").read_bytes()
    assert len(always) <= 2048
    text = always.decode()
    kept = [r["id"] for r in many if f"[{r['id']}]" in text]
    assert kept and len(kept) < 40
    # the kept ones are exactly the highest-confidence ones
    assert sorted(kept) == sorted(r["id"] for r in many[-len(kept):])
    left = report["omitted"][".claude/rules/team-memory.md"]
    assert len(left) == 40 - len(kept)
    assert "left out to keep this within 2048 bytes" in text and RULES_PAGE in text.split("left out")[1]
    for rule_id in left[:20]:
        assert rule_id in text.split("left out")[1]
    block = (code / "AGENTS.md").read_bytes()[len(HUMAN_FILES["AGENTS.md"]):]
    assert len(block) <= 2048 + 200  # the block's body within budget (+ the two marker lines)


def test_target_selection_leaves_other_targets_alone(repos):
    memory, code = repos
    sync(memory, code, "--target", "cursor,agents")
    assert sorted(generated(code)) == [".cursor/rules/team-memory-src-api.mdc",
                                       ".cursor/rules/team-memory-src-db-store-py.mdc",
                                       ".cursor/rules/team-memory.mdc"]
    assert (code / ".github/copilot-instructions.md").read_bytes() == HUMAN_FILES[
        ".github/copilot-instructions.md"].encode()


def test_dry_run_writes_nothing(repos):
    memory, code = repos
    before = snapshot(code)
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--repo-dir", memory, "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert "would write AGENTS.md" in result.stdout and "dry run" in result.stdout
    assert snapshot(code) == before


# --------------------------------------------------------------------------- bad input
def test_a_human_file_with_our_name_is_never_overwritten(repos):
    memory, code = repos
    mine = code / ".claude/rules/team-memory.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own notes\n")
    before = snapshot(code)
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--repo-dir", memory])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not written by mem-sync" in result.stderr
    assert snapshot(code) == before  # nothing half-written


def test_broken_markers_stop_the_sync_before_anything_is_written(repos):
    memory, code = repos
    (code / "AGENTS.md").write_text(HUMAN_FILES["AGENTS.md"] + "<!-- BEGIN mem-sync team-memory -->\n")
    before = snapshot(code)
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--repo-dir", memory])
    assert result.returncode == 1 and "AGENTS.md has 1 mem-sync BEGIN and 0 END" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(code) == before


@pytest.mark.parametrize(("args", "message", "code_"), [
    (["--target", "claude,emacs"], "unknown --target emacs", 2),
    (["--project", "nope"], "no distilled/nope/rules.json", 1),
])
def test_bad_input_is_one_line(repos, args, message, code_):
    memory, code = repos
    base = ["rules", "sync", "--project", PROJECT, "--code-repo", code, "--repo-dir", memory]
    result = run_mem_sync([*base, *args])
    assert result.returncode == code_
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_an_invalid_reviewer_path_names_the_rule(repos):
    memory, code = repos
    write_distilled(memory, STANDARD_RULES, {"R-0000000a": {"status": "accepted",
                                                            "paths": ["/etc/passwd"]}})
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--repo-dir", memory])
    assert result.returncode == 1
    assert "R-0000000a" in result.stderr and "absolute" in result.stderr


def test_a_scope_with_many_globs_is_still_recognised_as_ours_on_the_next_run(repos):
    memory, code = repos
    many = [f"pkg{i:02d}/**" for i in range(15)]  # front matter longer than any fixed window
    write_distilled(memory, STANDARD_RULES, {"R-0000000a": {"status": "accepted", "paths": many}})
    first = sync(memory, code)
    (path,) = [p for p in first["written"] if p.startswith(".claude/rules/")]
    assert front_matter((code / path).read_text()) == {"paths": many}
    second = sync(memory, code)
    assert second["written"] == [] and second["removed"] == []


def test_a_local_memory_remote_is_not_written_into_the_code_repository(tmp_path):
    memory = memory_repo(tmp_path)
    git(memory, "remote", "set-url", "origin", str(tmp_path / "somewhere" / "memories.git"))
    write_distilled(memory, STANDARD_RULES, ACCEPTED)
    code = code_repo(tmp_path)
    sync(memory, code)
    text = (code / ".claude/rules/team-memory.md").read_text()
    assert str(tmp_path) not in text and "somewhere" not in text
    assert "`R-0000000a`" in text  # no web page to link: the id stays, as code


def test_without_repo_dir_the_configured_memory_repository_is_fetched(repos, tmp_path):
    memory, code = repos
    bare = tmp_path / "memories.git"
    git(None, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    git(memory, "push", "--quiet", str(bare), "HEAD:refs/heads/main")
    env = {"MEM_SYNC_CONFIG": str(tmp_path / "config.json")}
    init = run_mem_sync(["init", "--dev-name", "alice", "--db-path", tmp_path / "claude-mem.db",
                         "--project", PROJECT, "--url", bare, "--types", "decision",
                         "--keywords", "", "--tags", "#shared", "--force"], env=env)
    assert init.returncode == 0, init.stderr
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--format", "json"], env=env)
    assert result.returncode == 0, result.stderr
    assert "AGENTS.md" in json.loads(result.stdout)["written"]
    assert "R-0000000a" in (code / "AGENTS.md").read_text()


def github_token(seed: int) -> str:
    """A classic GitHub token with a valid CRC32 checksum (built here, not stored in the tree)."""
    import random
    import string
    import zlib

    alphabet = string.digits + string.ascii_uppercase + string.ascii_lowercase
    body = "".join(random.Random(seed).choice(string.ascii_letters + string.digits) for _ in range(30))
    value, digits = zlib.crc32(body.encode()), ""
    while value:
        value, rest = divmod(value, 62)
        digits = alphabet[rest] + digits
    return f"ghp_{body}{digits.rjust(6, '0')}"


def test_a_rule_carrying_a_credential_is_withheld_and_never_printed(repos):
    memory, code = repos
    token = github_token(3)
    write_distilled(memory, STANDARD_RULES, {
        "R-0000000a": {"status": "modified", "modifiedRule": f"Deploy with {token} as the key."},
        "R-0000000c": "accepted"})
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--repo-dir", memory])
    assert result.returncode == 0, result.stderr
    assert "withheld R-0000000a" in result.stdout and "github" in result.stdout
    assert token not in result.stdout + result.stderr
    everything = b"".join(snapshot(code).values())
    assert token.encode() not in everything and b"R-0000000a" not in everything
    assert b"R-0000000c" in everything


@pytest.mark.parametrize("link", ["AGENTS.md", ".claude"])
def test_a_symbolic_link_on_the_way_is_refused(repos, tmp_path, link):
    memory, code = repos
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("runner secret\n")
    target = code / link
    if target.exists():
        target.unlink()
    target.symlink_to(outside / "secret.txt" if link == "AGENTS.md" else outside)
    before = snapshot(code)
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--repo-dir", memory])
    assert result.returncode == 1 and f"{link} in the code repository is a symbolic link" in result.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "runner secret\n"
    assert snapshot(code) == before
