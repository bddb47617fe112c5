"""`mem-sync ci-merge --publish pr` as a CI job runs it: a subprocess, real git over HTTP,
the real PyGithub client talking to the loopback forge."""

from __future__ import annotations

import json

from builders import observation, write_contribution
from clirun import run_mem_sync
from fakes.gitrepos import clone, git


def shared_checkout(git_server, tmp_path, name):
    git_server.create_bare(name)
    url = git_server.url(name)
    seed = clone(url, tmp_path / f"seed-{name}")
    git(seed, "checkout", "--quiet", "-B", "main")
    write_contribution(seed, [observation("Shared via CI")], dev="alice")
    git(seed, "add", "--all")
    git(seed, "commit", "--quiet", "-m", "export alice")
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return url, clone(url, tmp_path / f"ci-{name}")


def github_env(forge, token="good-token"):
    return {"GITHUB_ACTIONS": "true", "GITHUB_API_URL": f"{forge.base_url}/api/v3",
            "GITHUB_REPOSITORY": "acme/memories", "GITHUB_TOKEN": token}


def test_ci_merge_publish_pr_opens_a_pull_request(git_server, clean_forge, tmp_path):
    # Reruns, updates and closing are covered in-process (test_publish_flow.py); this checks
    # the command's wiring and output once, with GitHub's request pacing left on.
    url, work = shared_checkout(git_server, tmp_path, "cli-pr.git")
    result = run_mem_sync(["ci-merge", "--repo", work, "--publish", "pr", "--labels", "memory",
                           "--format", "json"], env=github_env(clean_forge))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["publish"]["operation"] == "created"
    (pr,) = clean_forge.open_prs("github")
    assert document["publish"]["url"].endswith(f"/pull/{pr['number']}")
    assert pr["labels"] == ["memory"] and "Shared via CI" in pr["body"]
    tip = git(work, "ls-remote", "origin", "refs/heads/mem-sync/merge").split()[0]
    assert tip == document["publish"]["commit"]



def test_ci_merge_rejected_token_is_one_line_without_the_token(git_server, clean_forge,
                                                              tmp_path):
    url, work = shared_checkout(git_server, tmp_path, "cli-401.git")
    result = run_mem_sync(["ci-merge", "--repo", work, "--publish", "pr"],
                          env=github_env(clean_forge, token="ghp_notreallyvalid0123456789"))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "GITHUB_TOKEN" in lines[0] and "401" in lines[0]
    assert "Traceback" not in result.stderr
    assert "ghp_notreallyvalid" not in result.stderr + result.stdout
