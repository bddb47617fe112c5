"""rules sync delivered like code: one rolling PR/MR on the code repository (real git over smart
HTTP, the real PyGithub / python-gitlab clients against the loopback forge), or a push.

The command runs as the memory repository's CI job runs it, with that CI's variables set: they
name the memory repository, and the PR must still land on the code repository.
"""

from __future__ import annotations

import json
from pathlib import Path

from rules_support import (
    HUMAN_FILES,
    PROJECT,
    STANDARD_RULES,
    code_on_server,
    memory_repo,
    seed_code,
    write_distilled,
)

from clirun import run_mem_sync
from fakes.gitrepos import clone, git

ACCEPTED = {"R-0000000a": "accepted", "R-0000000b": "accepted", "R-0000000c": "proposed"}


def memory_ci_env(forge) -> dict[str, str]:
    """GitHub Actions in the memory repository, with a token for the code repository."""
    return {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/memories",
            "GITHUB_REF_NAME": "main", "GITHUB_API_URL": f"{forge.base_url}/api/v3",
            "CODE_REPO_TOKEN": "good-token", "GITHUB_TOKEN": "memory-repo-token"}


def sync(memory: Path, code: str, env: dict[str, str], *extra: str) -> dict:
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", code,
                           "--repo-dir", memory, "--format", "json", *extra], env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def remote_tip(url: str, branch: str, tmp_path: Path) -> str:
    return git(tmp_path, "ls-remote", url, f"refs/heads/{branch}").split("\t")[0]


def test_pr_mode_one_pull_request_updated_in_place_and_closed_when_nothing_differs(
        git_server, clean_forge, tmp_path):
    memory = memory_repo(tmp_path)
    write_distilled(memory, STANDARD_RULES, ACCEPTED)
    url = code_on_server(git_server, tmp_path, "acme")
    repo_path = url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1].removesuffix(".git")
    env = memory_ci_env(clean_forge)
    args = ("--publish", "pr", "--provider", "github", "--token-env", "CODE_REPO_TOKEN",
            "--labels", "team-memory")

    # 1. first sync: the rolling branch and one PR on the *code* repository
    first = sync(memory, url, env, *args)
    assert first["publish"]["operation"] == "created"
    (pr,) = clean_forge.open_prs("github")
    assert (pr["head"], pr["base"], pr["labels"]) == ("mem-sync/rules", "main", ["team-memory"])
    assert "`R-0000000a`" in pr["body"] and "`R-0000000b`" in pr["body"]
    assert "R-0000000c" not in pr["body"]
    assert pr["title"] == "mem-sync: team memory for billing-api (2 reviewed rules)"
    writes = [r.path for r in clean_forge.requests if r.method != "GET"]
    assert writes and all(path.startswith(f"/api/v3/repos/{repo_path}/") for path in writes)
    tip = remote_tip(url, "mem-sync/rules", tmp_path)
    assert tip == first["publish"]["commit"]
    branch = clone(url, tmp_path / "branch1")
    git(branch, "checkout", "--quiet", "mem-sync/rules")
    assert (branch / ".claude/rules/team-memory.md").is_file()
    assert (branch / "CLAUDE.md").read_bytes() == HUMAN_FILES["CLAUDE.md"].encode()
    assert git(branch, "log", "-1", "--format=%an") == "mem-sync[bot]"

    # 2. same rules again: nothing pushed, nothing written on the forge
    clean_forge.requests.clear()
    second = sync(memory, url, env, *args)
    assert second["publish"]["operation"] == "unchanged"
    assert [r.method for r in clean_forge.requests if r.method != "GET"] == []
    assert remote_tip(url, "mem-sync/rules", tmp_path) == tip

    # 3. a reviewer modifies a rule: the same PR is updated in place
    write_distilled(memory, STANDARD_RULES, {**ACCEPTED, "R-0000000b": {
        "status": "modified", "modifiedRule": "Retry with backoff, at most five times."}})
    third = sync(memory, url, env, *args)
    assert third["publish"]["operation"] == "updated"
    assert third["publish"]["url"] == first["publish"]["url"]
    (pr,) = clean_forge.open_prs("github")
    assert "at most five times" in pr["body"]
    assert len(clean_forge.prs["github"]) == 1
    assert remote_tip(url, "mem-sync/rules", tmp_path) != tip

    # 4. every rule rejected: the branch would not differ from main -> PR closed, branch gone
    write_distilled(memory, STANDARD_RULES, {k: "rejected" for k in ACCEPTED})
    fourth = sync(memory, url, env, *args)
    assert fourth["publish"]["operation"] == "closed"
    assert clean_forge.open_prs("github") == []
    assert remote_tip(url, "mem-sync/rules", tmp_path) == ""


def test_pr_closed_once_the_team_merged_it(git_server, clean_forge, tmp_path):
    memory = memory_repo(tmp_path)
    write_distilled(memory, STANDARD_RULES, ACCEPTED)
    url = code_on_server(git_server, tmp_path, "acme")
    env = memory_ci_env(clean_forge)
    args = ("--publish", "pr", "--provider", "github", "--token-env", "CODE_REPO_TOKEN")
    assert sync(memory, url, env, *args)["publish"]["operation"] == "created"
    merged = clone(url, tmp_path / "merge")
    git(merged, "push", "--quiet", "origin", "refs/remotes/origin/mem-sync/rules:refs/heads/main")
    assert sync(memory, url, env, *args)["publish"]["operation"] == "closed"
    assert clean_forge.open_prs("github") == []


def test_gitlab_merge_request_lands_on_the_code_project(git_server, clean_forge, tmp_path):
    memory = memory_repo(tmp_path)
    write_distilled(memory, STANDARD_RULES, ACCEPTED)
    url = code_on_server(git_server, tmp_path, "team")
    project = url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1].removesuffix(".git")
    env = {"GITLAB_CI": "true", "CI_SERVER_URL": clean_forge.base_url,
           "CI_PROJECT_PATH": "team/memories", "CI_PROJECT_ID": "7", "CI_COMMIT_BRANCH": "main",
           "GITLAB_TOKEN": "good-token"}
    result = sync(memory, url, env, "--publish", "pr", "--provider", "gitlab")
    assert result["publish"]["operation"] == "created"
    (mr,) = clean_forge.open_prs("gitlab")
    assert mr["head"] == "mem-sync/rules" and "merge request is maintained by mem-sync" in mr["body"]
    assert project in clean_forge.gitlab_projects and "team/memories" not in clean_forge.gitlab_projects


def test_push_mode_commits_once_and_a_rerun_pushes_nothing(git_server, tmp_path):
    memory = memory_repo(tmp_path)
    write_distilled(memory, STANDARD_RULES, ACCEPTED)
    url = code_on_server(git_server, tmp_path, "acme")
    work = clone(url, tmp_path / "work")
    first = sync(memory, str(work), {}, "--publish", "push")
    assert first["publish"]["operation"] == "pushed"
    tip = remote_tip(url, "main", tmp_path)
    assert tip == first["publish"]["commit"]
    subject = git(work, "log", "-1", "--format=%s")
    assert subject == "mem-sync: team memory for billing-api (2 reviewed rules)"
    second = sync(memory, str(work), {}, "--publish", "push")
    assert second["publish"]["operation"] == "unchanged" and second["written"] == []
    assert remote_tip(url, "main", tmp_path) == tip


def test_none_mode_refuses_a_url(tmp_path):
    memory = memory_repo(tmp_path)
    write_distilled(memory, STANDARD_RULES, ACCEPTED)
    result = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo",
                           "https://example.invalid/acme/app.git", "--repo-dir", memory])
    assert result.returncode == 2 and "--publish none writes a work tree" in result.stderr


def test_bitbucket_pull_request_lands_on_the_code_repository(git_server, clean_forge, tmp_path):
    memory = memory_repo(tmp_path)
    write_distilled(memory, STANDARD_RULES, ACCEPTED)
    url = code_on_server(git_server, tmp_path, "acme")
    slug = url.rsplit("/", 1)[-1].removesuffix(".git")
    # Bitbucket Pipelines in the memory repository: these name the memory repository.
    env = {"BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_WORKSPACE": "team",
           "BITBUCKET_REPO_SLUG": "memories", "BITBUCKET_BRANCH": "main",
           "MEM_SYNC_BITBUCKET_API_URL": clean_forge.base_url, "RULES_TOKEN": "good-token"}
    args = ("--publish", "pr", "--provider", "bitbucket", "--token-env", "RULES_TOKEN")
    first = sync(memory, url, env, *args)
    assert first["publish"]["operation"] == "created"
    (pr,) = clean_forge.open_prs("cloud")
    assert pr["head"] == "mem-sync/rules" and pr["base"] == "main"
    writes = [r.path for r in clean_forge.requests if r.method != "GET"]
    assert writes and all(p.startswith(f"/2.0/repositories/acme/{slug}/") for p in writes)
    write_distilled(memory, STANDARD_RULES, {k: "rejected" for k in ACCEPTED})
    assert sync(memory, url, env, *args)["publish"]["operation"] == "closed"
    assert clean_forge.open_prs("cloud") == []


def test_a_url_that_needs_the_token_is_cloned_and_pushed_with_it(tmp_path):
    from fakes.git_http import GitHttpServer

    server = GitHttpServer(tmp_path / "auth-root",
                           credentials=("x-access-token", "code-secret")).start()
    try:
        server.create_bare("acme/private.git")
        url = server.url("acme/private.git")
        seed = tmp_path / "seed"
        git(None, "init", "--quiet", "--initial-branch=main", str(seed))
        seed_code(seed)
        auth = f"http://x-access-token:code-secret@{url.removeprefix('http://')}"
        git(seed, "push", "--quiet", auth, "HEAD:refs/heads/main")
        memory = memory_repo(tmp_path)
        write_distilled(memory, STANDARD_RULES, ACCEPTED)
        denied = run_mem_sync(["rules", "sync", "--project", PROJECT, "--code-repo", url,
                               "--repo-dir", memory, "--publish", "push"])
        assert denied.returncode == 1 and "code-secret" not in denied.stderr
        pushed = sync(memory, url, {"MEM_SYNC_GIT_TOKEN": "code-secret"}, "--publish", "push")
        assert pushed["publish"]["operation"] == "pushed"
        check = tmp_path / "check"
        git(None, "clone", "--quiet", auth, str(check))
        assert "R-0000000a" in (check / "AGENTS.md").read_text()
    finally:
        server.stop()
