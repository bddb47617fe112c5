"""publish(): push and pr modes end to end — real git over smart HTTP, the real merge engine,
the real PyGithub/python-gitlab clients against the loopback forge."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest

from builders import observation, write_contribution
from fakes.gitrepos import clone, git
from memsync.ci.merge_job import MergeOptions, run_merge
from memsync.errors import PushRejected, UsageError
from memsync.publish.flow import PublishOptions, publish
from memsync.publish.git import Identity

_names = itertools.count()
BOT = Identity(name="memory-bot", email="memory-bot@example.test")


def new_shared_repo(git_server, tmp_path: Path, contributions: dict[str, list[str]]) -> str:
    """A bare repo on the git server seeded with contributions {dev: [titles]}; returns its URL."""
    name = f"shared{next(_names)}.git"
    git_server.create_bare(name)
    url = git_server.url(name)
    seed = clone(url, tmp_path / f"seed-{name}")
    git(seed, "checkout", "--quiet", "-B", "main")
    (seed / "README.md").write_text("team memories\n")
    for dev, titles in contributions.items():
        write_contribution(seed, [observation(t, session=f"s-{dev}") for t in titles], dev=dev)
    git(seed, "add", "--all")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return url


def contribute(url: str, workdir: Path, dev: str, titles: list[str]) -> None:
    """Another developer exports: a real clone, commit and push of a contribution file."""
    if not workdir.exists():
        clone(url, workdir)
    git(workdir, "pull", "--quiet", "--rebase", "origin", "main")
    write_contribution(workdir, [observation(t, session=f"s-{dev}") for t in titles], dev=dev,
                       stamp=f"2026-03-19T19-00-0{len(titles)}")
    git(workdir, "add", "--all")
    git(workdir, "commit", "--quiet", "-m", f"export {dev}")
    git(workdir, "push", "--quiet", "origin", "HEAD:refs/heads/main")


def real_merge(work: Path):
    return lambda: run_merge(MergeOptions(repo=work))


def merged_titles(checkout: Path) -> list[str]:
    data = json.loads((checkout / "merged/demo/latest.json").read_text())
    return sorted(o["title"] for o in data["observations"])


# ------------------------------------------------------------------------ push mode
def test_push_mode_commits_as_the_bot_and_pushes(git_server, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "ci")
    result = publish(work, real_merge(work), PublishOptions(mode="push", identity=BOT))
    assert (result.mode, result.operation, result.attempts) == ("push", "pushed", 1)
    assert result.report.changed
    check = clone(url, tmp_path / "check")
    assert merged_titles(check) == ["Use WAL mode"]
    assert git(check, "log", "-1", "--format=%an <%ae>") == "memory-bot <memory-bot@example.test>"
    assert git(check, "rev-parse", "HEAD") == result.commit
    assert git(check, "log", "-1", "--format=%s").startswith("mem-sync: merge 1 new observation")


def test_push_mode_rerun_changes_nothing(git_server, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    first = clone(url, tmp_path / "ci1")
    publish(first, real_merge(first), PublishOptions(mode="push", identity=BOT))
    tip = git(first, "rev-parse", "HEAD")
    second = clone(url, tmp_path / "ci2")
    result = publish(second, real_merge(second), PublishOptions(mode="push", identity=BOT))
    assert result.operation == "unchanged" and result.commit is None
    assert git(second, "ls-remote", "origin", "refs/heads/main").split()[0] == tip
    assert git(second, "status", "--porcelain") == ""


def test_push_race_retries_on_the_new_tip_and_loses_no_contribution(git_server, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "ci")
    raced: list[str] = []

    def bob_pushes_first(path: str) -> None:
        # Bob's export lands after the job fetched and merged, right before its push.
        if not raced:
            raced.append(path)
            contribute(url, tmp_path / "bob", "bob", ["Pin the SQLite version"])

    git_server.before_receive = bob_pushes_first
    try:
        result = publish(work, real_merge(work), PublishOptions(mode="push", identity=BOT))
    finally:
        git_server.before_receive = None
    assert result.operation == "pushed" and result.attempts == 2
    check = clone(url, tmp_path / "check")
    assert merged_titles(check) == ["Pin the SQLite version", "Use WAL mode"]
    state = json.loads((check / ".merge-state.json").read_text())
    assert "contributions/demo/bob/2026-03-19T19-00-01.json" in json.dumps(state)
    authors = git(check, "log", "--format=%an|%s").splitlines()
    assert [a for a in authors if a.startswith("memory-bot|")] == [authors[0]]  # one merge commit
    assert authors[1] == "Test Dev|export bob"


def test_push_gives_up_after_bounded_attempts(git_server, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "ci")
    counter = itertools.count()
    busy: list[bool] = []

    def always_race(path: str) -> None:
        if busy:
            return
        busy.append(True)
        try:
            contribute(url, tmp_path / "bob", "bob", ["t"] * (next(counter) + 1))
        finally:
            busy.clear()

    merges: list[int] = []

    def counting_merge():
        merges.append(1)
        return run_merge(MergeOptions(repo=work))

    git_server.before_receive = always_race
    try:
        with pytest.raises(PushRejected, match="rejected 2 times"):
            publish(work, counting_merge, PublishOptions(mode="push", identity=BOT,
                                                         max_attempts=2))
    finally:
        git_server.before_receive = None
    assert len(merges) == 2


def test_publish_refuses_a_checkout_with_uncommitted_changes(git_server, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "ci")
    (work / "README.md").write_text("local edit\n")
    with pytest.raises(UsageError, match="uncommitted changes"):
        publish(work, real_merge(work), PublishOptions(mode="push"))
    assert (work / "README.md").read_text() == "local edit\n"


def test_none_mode_only_merges(git_server, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "ci")
    result = publish(work, real_merge(work), PublishOptions(mode="none"))
    assert (result.operation, result.attempts) == ("none", 0)
    assert (work / "merged/demo/latest.json").exists()
    assert git(work, "rev-parse", "HEAD") == git(work, "rev-parse", "origin/main")


# ------------------------------------------------------------------------ pr mode
def pr_options(forge, sleeps, **overrides):
    env = {"GITHUB_API_URL": f"{forge.base_url}/api/v3", "GITHUB_REPOSITORY": "acme/memories",
           "GITHUB_TOKEN": "good-token"}
    values = dict(mode="pr", provider="github", identity=BOT, env=env, sleep=sleeps,
                  backoff=(0.1,), polite=False, labels=("memory",))
    values.update(overrides)
    return PublishOptions(**values)


def test_pr_mode_lifecycle_create_unchanged_update_close(git_server, clean_forge, sleeps,
                                                         tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    options = pr_options(clean_forge, sleeps)

    # 1. first run: rolling branch built from main, PR created
    work = clone(url, tmp_path / "run1")
    first = publish(work, real_merge(work), options)
    assert (first.operation, first.attempts) == ("created", 1)
    (pr,) = clean_forge.open_prs("github")
    assert pr["head"] == "mem-sync/merge" and pr["base"] == "main"
    assert pr["labels"] == ["memory"]
    assert "Use WAL mode" in pr["body"] and "| demo | 1 | 1 | 0 |" in pr["body"]
    branch_tip = git(work, "ls-remote", "origin", "refs/heads/mem-sync/merge").split()[0]
    assert branch_tip == first.commit
    main_tip = git(work, "ls-remote", "origin", "refs/heads/main").split()[0]

    # 2. rerun with nothing new: no push, no PR call that writes
    clean_forge.requests.clear()
    work2 = clone(url, tmp_path / "run2")
    second = publish(work2, real_merge(work2), options)
    assert second.operation == "unchanged" and second.commit == branch_tip
    assert [r.method for r in clean_forge.requests if r.method != "GET"] == []
    assert git(work2, "ls-remote", "origin", "refs/heads/mem-sync/merge").split()[0] == branch_tip

    # 3. a new contribution on main: branch rebuilt, same PR updated in place
    contribute(url, tmp_path / "bob", "bob", ["Pin the SQLite version"])
    work3 = clone(url, tmp_path / "run3")
    third = publish(work3, real_merge(work3), options)
    assert third.operation == "updated" and third.url == first.url
    (pr,) = clean_forge.open_prs("github")
    assert "Pin the SQLite version" in pr["body"]
    assert clean_forge.calls("POST", r"/pulls$") == []  # no second PR since step 1
    assert len(clean_forge.prs["github"]) == 1
    rebuilt = clone(url, tmp_path / "rebuilt")
    git(rebuilt, "checkout", "--quiet", "mem-sync/merge")
    assert merged_titles(rebuilt) == ["Pin the SQLite version", "Use WAL mode"]
    assert git(rebuilt, "rev-parse", "HEAD~1") != main_tip  # based on the new main

    # 4. the team merges the branch into main: nothing left to propose -> PR closed, branch gone
    git(rebuilt, "push", "--quiet", "origin", "mem-sync/merge:refs/heads/main")
    work4 = clone(url, tmp_path / "run4")
    fourth = publish(work4, real_merge(work4), options)
    assert fourth.operation == "closed" and fourth.commit is None
    assert clean_forge.open_prs("github") == []
    assert git(work4, "ls-remote", "origin", "refs/heads/mem-sync/merge") == ""


def test_pr_mode_with_nothing_to_merge_opens_nothing(git_server, clean_forge, sleeps, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {})
    work = clone(url, tmp_path / "run")
    result = publish(work, real_merge(work), pr_options(clean_forge, sleeps))
    assert result.operation == "unchanged"
    assert clean_forge.calls("POST") == [] and clean_forge.open_prs("github") == []
    assert git(work, "ls-remote", "origin", "refs/heads/mem-sync/merge") == ""


def test_pr_mode_missing_token_fails_before_any_push(git_server, clean_forge, sleeps, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "run")
    options = pr_options(clean_forge, sleeps, env={"GITHUB_REPOSITORY": "acme/memories"})
    from memsync.errors import ProviderError

    with pytest.raises(ProviderError, match="GITHUB_TOKEN"):
        publish(work, real_merge(work), options)
    assert git(work, "ls-remote", "origin", "refs/heads/mem-sync/merge") == ""


def test_pr_mode_on_gitlab_opens_a_merge_request(git_server, clean_forge, sleeps, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "run")
    env = {"GITLAB_CI": "true", "CI_SERVER_URL": clean_forge.base_url,
           "CI_PROJECT_PATH": "team/memories", "GITLAB_TOKEN": "good-token"}
    result = publish(work, real_merge(work),
                     PublishOptions(mode="pr", provider="auto", identity=BOT, env=env,
                                    sleep=sleeps, draft=True))
    assert result.operation == "created"
    (mr,) = clean_forge.open_prs("gitlab")
    assert mr["title"].startswith("Draft: mem-sync: merge 1 new observation")
    assert "This merge request is maintained by mem-sync" in mr["body"]


def test_branch_equal_to_base_is_refused(git_server, clean_forge, sleeps, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["x"]})
    work = clone(url, tmp_path / "run")
    with pytest.raises(UsageError, match="--branch and --base"):
        publish(work, real_merge(work), pr_options(clean_forge, sleeps, branch="main"))


def test_dry_run_merge_is_never_committed(git_server, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "ci")
    result = publish(work, lambda: run_merge(MergeOptions(repo=work, dry_run=True)),
                     PublishOptions(mode="push", identity=BOT))
    assert result.operation == "unchanged" and result.report.changed_paths
    assert git(work, "rev-parse", "HEAD") == git(work, "rev-parse", "origin/main")


def test_pr_mode_retries_when_the_rolling_branch_changes_under_it(git_server, clean_forge,
                                                                  sleeps, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "run")
    other = clone(url, tmp_path / "other-job")
    raced: list[bool] = []

    def other_job_pushes_rolling_branch(path: str) -> None:
        if not raced:
            raced.append(True)
            git(other, "push", "--quiet", "origin", "HEAD:refs/heads/mem-sync/merge")

    git_server.before_receive = other_job_pushes_rolling_branch
    try:
        result = publish(work, real_merge(work), pr_options(clean_forge, sleeps))
    finally:
        git_server.before_receive = None
    assert result.operation == "created" and result.attempts == 2
    tip = git(work, "ls-remote", "origin", "refs/heads/mem-sync/merge").split()[0]
    assert tip == result.commit
    assert len(clean_forge.prs["github"]) == 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to hand the checkout to another user")
def test_push_from_a_checkout_owned_by_another_user(git_server, tmp_path):
    # The container case: the job runs as root over a workspace the runner's user checked out.
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "ci")
    subprocess.run(["chown", "-R", "65534:65534", str(work)], check=True)
    result = publish(work, real_merge(work), PublishOptions(mode="push", identity=BOT))
    assert result.operation == "pushed"
    assert merged_titles(clone(url, tmp_path / "check")) == ["Use WAL mode"]


def test_pr_mode_hands_the_checkout_back_so_a_rerun_in_it_works(git_server, clean_forge, sleeps, tmp_path):
    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    options = pr_options(clean_forge, sleeps)  # no --base: the checkout's current branch
    work = clone(url, tmp_path / "run")
    git(work, "checkout", "--quiet", "main")
    first = publish(work, real_merge(work), options)
    assert first.operation == "created"
    assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    second = publish(work, real_merge(work), options)
    assert second.operation == "unchanged" and second.url == first.url
    assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert len(clean_forge.prs["github"]) == 1
