"""memsync.publish.git against real repositories served over smart HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from fakes.git_http import GitHttpServer
from fakes.gitrepos import clone, commit_file, git, seed_remote
from memsync.errors import GitError, PushRejected
from memsync.publish import git as mgit

_names = itertools.count()


def _new_remote(server: GitHttpServer, tmp_path: Path) -> tuple[str, Path]:
    name = f"r{next(_names)}.git"
    server.create_bare(name)
    url = server.url(name)
    seed_remote(url, tmp_path / f"seed-{name}", {"README.md": "shared\n"})
    return url, clone(url, tmp_path / f"work-{name}")


def _other_push(url: str, workdir: Path, relpath: str) -> None:
    if not workdir.exists():
        clone(url, workdir)
    git(workdir, "pull", "--quiet", "--rebase", "origin", "main")
    commit_file(workdir, relpath, f"{relpath}\n", f"other: {relpath}")
    git(workdir, "push", "--quiet", "origin", "HEAD:refs/heads/main")


def test_push_succeeds_first_time_when_nobody_raced(git_server, tmp_path):
    url, work = _new_remote(git_server, tmp_path)
    sha = commit_file(work, "merged/a.json", "{}\n", "merge")
    calls: list[int] = []
    used = mgit.push_with_retry(work, "origin", "main", on_rejected=lambda: calls.append(1))
    assert used == 1 and calls == []
    assert git(work, "ls-remote", "origin", "refs/heads/main").split()[0] == sha


def test_push_racing_another_push_retries_on_new_tip_and_keeps_both(git_server, tmp_path):
    url, work = _new_remote(git_server, tmp_path)
    other = tmp_path / "other"
    raced = []

    def race_once(path: str) -> None:
        # Another contributor's push lands after our fetch, just before our push is applied.
        if not raced:
            raced.append(path)
            _other_push(url, other, "contributions/bob.json")

    def redo() -> None:
        mgit.reset_to_remote(work, "origin", "main")
        commit_file(work, "merged/a.json", "{}\n", "merge")

    commit_file(work, "merged/a.json", "{}\n", "merge")
    git_server.before_receive = race_once
    try:
        used = mgit.push_with_retry(work, "origin", "main", on_rejected=redo)
    finally:
        git_server.before_receive = None
    assert used == 2
    fresh = clone(url, tmp_path / "check")
    assert (fresh / "contributions/bob.json").exists()
    assert (fresh / "merged/a.json").exists()
    subjects = git(fresh, "log", "--format=%s").splitlines()
    assert subjects.count("merge") == 1
    assert subjects[:2] == ["merge", "other: contributions/bob.json"]


def test_push_gives_up_with_a_clear_message_when_the_branch_keeps_moving(git_server, tmp_path):
    url, work = _new_remote(git_server, tmp_path)
    other = tmp_path / "other"
    counter = itertools.count()
    busy: list[bool] = []

    def always_race(path: str) -> None:
        if busy:  # the racing push itself goes through this server too
            return
        busy.append(True)
        try:
            _other_push(url, other, f"contributions/x{next(counter)}.json")
        finally:
            busy.clear()

    redos: list[int] = []

    def redo() -> None:
        redos.append(1)
        mgit.reset_to_remote(work, "origin", "main")
        commit_file(work, "merged/a.json", f"{len(redos)}\n", "merge")

    commit_file(work, "merged/a.json", "{}\n", "merge")
    git_server.before_receive = always_race
    try:
        with pytest.raises(PushRejected) as caught:
            mgit.push_with_retry(work, "origin", "main", on_rejected=redo, attempts=3)
    finally:
        git_server.before_receive = None
    assert len(redos) == 2
    assert "rejected 3 times" in str(caught.value) and "origin/main" in str(caught.value)


def test_push_refused_by_a_server_hook_is_not_retried(git_server, tmp_path):
    url, work = _new_remote(git_server, tmp_path)
    bare = git_server.root / url.rsplit("/", 1)[1]
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    commit_file(work, "merged/a.json", "{}\n", "merge")
    calls: list[int] = []
    with pytest.raises(GitError) as caught:
        mgit.push_with_retry(work, "origin", "main", on_rejected=lambda: calls.append(1))
    assert not isinstance(caught.value, PushRejected)
    assert calls == []


def test_force_with_lease_refuses_when_rolling_branch_was_rewritten(git_server, tmp_path):
    url, work = _new_remote(git_server, tmp_path)
    commit_file(work, "merged/a.json", "1\n", "rolling 1")
    mgit.push_force_with_lease(work, "origin", "mem-sync/merge", expected=None)
    first = mgit.fetch(work, "origin", ["mem-sync/merge"])["mem-sync/merge"]
    assert first == git(work, "rev-parse", "HEAD")
    # Creating it again "from scratch" must fail: it exists now.
    commit_file(work, "merged/a.json", "1b\n", "rolling 1b")
    with pytest.raises(PushRejected):
        mgit.push_force_with_lease(work, "origin", "mem-sync/merge", expected=None)
    git(work, "reset", "--quiet", "--hard", "HEAD~2")
    commit_file(work, "merged/a.json", "2\n", "rolling 2")
    mgit.push_force_with_lease(work, "origin", "mem-sync/merge", expected=first)
    assert mgit.fetch(work, "origin", ["mem-sync/merge"])["mem-sync/merge"] != first


def test_fetch_reports_absent_branch_as_none(git_server, tmp_path):
    url, work = _new_remote(git_server, tmp_path)
    tips = mgit.fetch(work, "origin", ["main", "does-not-exist"])
    assert tips["does-not-exist"] is None
    assert tips["main"] == git(work, "rev-parse", "origin/main")


def test_http_credentials_travel_in_environment_not_argv(tmp_path):
    server = GitHttpServer(tmp_path / "auth-root", credentials=("x-access-token", "s3cr3t-tok")).start()
    try:
        server.create_bare("auth.git")
        url = server.url("auth.git")
        with pytest.raises(GitError) as caught:
            mgit.clone(url, tmp_path / "denied")
        assert "s3cr3t-tok" not in str(caught.value)
        env = mgit.http_auth_env(url, "x-access-token", "s3cr3t-tok")
        assert all("s3cr3t-tok" not in value for value in env.values())  # only base64 inside
        mgit.clone(url, tmp_path / "ok", env=env)
        assert mgit.is_repository(tmp_path / "ok")
        assert any(r.authorization for r in server.requests)
    finally:
        server.stop()


def test_config_env_keeps_existing_git_config_entries(monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.autocrlf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "false")
    env = mgit.config_env([("safe.directory", "/w")])
    assert env["GIT_CONFIG_COUNT"] == "2"
    assert env["GIT_CONFIG_KEY_0"] == "core.autocrlf"
    assert (env["GIT_CONFIG_KEY_1"], env["GIT_CONFIG_VALUE_1"]) == ("safe.directory", "/w")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to hand the work tree to another user")
def test_workspace_owned_by_another_user_is_trusted_for_this_process_only(tmp_path):
    repo = tmp_path / "ws"
    repo.mkdir()
    git(repo, "init", "--quiet")
    subprocess.run(["chown", "-R", "65534:65534", str(repo)], check=True)
    with pytest.raises(GitError, match="dubious ownership"):
        mgit.current_branch(repo)
    env = mgit.safe_directory_env(repo)
    assert mgit.has_changes(repo, env=env) is False
    home_config = Path(os.environ.get("HOME", "/root")) / ".gitconfig"
    assert str(repo) not in (home_config.read_text() if home_config.exists() else "")


def test_large_push_arrives_chunked_and_intact(git_server, tmp_path):
    # git switches to Transfer-Encoding: chunked above http.postBuffer (1 MiB): the fake
    # server must decode it, exactly as a forge does.
    url, work = _new_remote(git_server, tmp_path)
    blob = os.urandom(1536 * 1024)
    (work / "big.bin").write_bytes(blob)
    git(work, "add", "big.bin")
    git(work, "commit", "--quiet", "-m", "big")
    git_server.requests.clear()
    assert mgit.push_with_retry(work, "origin", "main", on_rejected=lambda: None) == 1
    assert any(r.chunked for r in git_server.requests if r.path.endswith("git-receive-pack"))
    fresh = clone(url, tmp_path / "fresh")
    assert (fresh / "big.bin").read_bytes() == blob
