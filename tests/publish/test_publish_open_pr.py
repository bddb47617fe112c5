"""open_pull_request (export without auto-merge) and git credentials carried by environment."""

from __future__ import annotations

import pytest

from fakes.git_http import GitHttpServer
from fakes.gitrepos import clone, commit_file, git, seed_remote
from memsync.errors import GitError
from memsync.merge.report import MergeReport
from memsync.publish.flow import PublishOptions, open_pull_request, publish
from memsync.publish.providers.registry import make_provider


def test_open_pull_request_pushes_the_branch_and_is_idempotent(git_server, clean_forge,
                                                               tmp_path):
    git_server.create_bare("export.git")
    url = git_server.url("export.git")
    seed_remote(url, tmp_path / "seed", {"README.md": "x\n"})
    work = clone(url, tmp_path / "dev")
    git(work, "checkout", "--quiet", "-b", "mem-sync/export/alice")
    commit_file(work, "contributions/demo/alice/a.json", "{}\n", "export alice")
    env = {"GITHUB_API_URL": f"{clean_forge.base_url}/api/v3",
           "GITHUB_REPOSITORY": "acme/memories", "GITHUB_TOKEN": "good-token"}
    kwargs = dict(branch="mem-sync/export/alice", base="main", title="alice: 1 observation",
                  body="from alice", provider="github", env=env)
    first = open_pull_request(work, **kwargs)
    assert first.operation == "created"
    assert git(work, "ls-remote", "origin", "refs/heads/mem-sync/export/alice").split()[0] \
        == git(work, "rev-parse", "HEAD")
    again = open_pull_request(work, **kwargs)
    assert again.operation == "unchanged" and len(clean_forge.prs["github"]) == 1


def test_open_pull_request_needs_the_local_branch(git_server, clean_forge, tmp_path):
    git_server.create_bare("nobranch.git")
    url = git_server.url("nobranch.git")
    seed_remote(url, tmp_path / "seed", {"README.md": "x\n"})
    work = clone(url, tmp_path / "dev")
    with pytest.raises(GitError, match="does not exist locally"):
        open_pull_request(work, branch="nope", base="main", title="t", body="b",
                          provider="github", env={"GITHUB_TOKEN": "good-token",
                                                  "GITHUB_REPOSITORY": "a/b"})


def test_push_mode_uses_mem_sync_git_token_from_environment(tmp_path):
    server = GitHttpServer(tmp_path / "auth", credentials=("oauth2", "git-secret")).start()
    try:
        server.create_bare("locked.git")
        url = server.url("locked.git")
        server.credentials = None  # seed without auth, then lock the door
        seed_remote(url, tmp_path / "seed", {"README.md": "x\n"})
        work = clone(url, tmp_path / "ci")
        server.credentials = ("oauth2", "git-secret")

        def merge():
            (work / "merged/demo").mkdir(parents=True, exist_ok=True)
            (work / "merged/demo/latest.json").write_text("{}\n")
            return MergeReport(now_millis=0, dry_run=False, changed_paths=["merged/demo/latest.json"])

        with pytest.raises(GitError) as caught:
            publish(work, merge, PublishOptions(mode="push", env={}))
        assert "git-secret" not in str(caught.value)
        git(work, "reset", "--quiet", "--hard", "origin/main")
        env = {"MEM_SYNC_GIT_TOKEN": "git-secret", "MEM_SYNC_GIT_USERNAME": "oauth2"}
        result = publish(work, merge, PublishOptions(mode="push", env=env))
        assert result.operation == "pushed"
        assert "git-secret" not in (work / ".git" / "config").read_text()
    finally:
        server.stop()


def test_github_enterprise_api_url_is_derived_from_the_remote():
    provider = make_provider("github", {"GH_TOKEN": "t"}, remote_url="https://ghe.example.com/acme/memories.git")
    assert provider.repository == "acme/memories"
    assert provider._client.requester.base_url == "https://ghe.example.com/api/v3"
