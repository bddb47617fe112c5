"""Adapters configured from CI variables and remotes: which URL, repository and variable."""

from __future__ import annotations

import pytest

from memsync.errors import ProviderError, UsageError
from memsync.publish.providers.base import PullRequestSpec, sync_pull_request
from memsync.publish.providers.bitbucket import BitbucketCloudProvider, BitbucketServerProvider
from memsync.publish.providers.gitlab import GitLabProvider
from memsync.publish.providers.registry import make_provider

SPEC = PullRequestSpec(head="mem-sync/merge", base="main", title="t", body="b")


def test_github_token_env_override_is_the_variable_named_in_errors(clean_forge, sleeps):
    env = {"GITHUB_API_URL": f"{clean_forge.base_url}/api/v3", "GITHUB_REPOSITORY": "a/b",
           "GITHUB_TOKEN": "good-token", "MEMORY_BOT_TOKEN": "stale"}
    gh = make_provider("github", env, remote_url=None, token_env="MEMORY_BOT_TOKEN",
                       sleep=sleeps, polite=False)
    with pytest.raises(ProviderError, match="MEMORY_BOT_TOKEN"):
        sync_pull_request(gh, SPEC, differs=True)


def test_github_without_token_says_which_variable():
    with pytest.raises(ProviderError, match="GITHUB_TOKEN"):
        make_provider("github", {"GITHUB_REPOSITORY": "a/b"}, remote_url=None)


def test_gitlab_api_v4_url_and_remote_path(clean_forge, sleeps):
    env = {"CI_API_V4_URL": f"{clean_forge.base_url}/api/v4", "GITLAB_TOKEN": "good-token"}
    gl = make_provider("gitlab", env, remote_url="git@gitlab.example.com:group/sub/memories.git",
                       sleep=sleeps)
    assert isinstance(gl, GitLabProvider) and gl.project_ref == "group/sub/memories"
    assert sync_pull_request(gl, SPEC, differs=True).operation == "created"
    assert clean_forge.calls("GET", r"/api/v4/projects/group%2Fsub%2Fmemories$")


def test_bitbucket_cloud_app_password_uses_basic_auth(clean_forge, sleeps):
    env = {"MEM_SYNC_BITBUCKET_API_URL": clean_forge.base_url,
           "BITBUCKET_USERNAME": "ci-bot", "BITBUCKET_APP_PASSWORD": "good-token"}
    bb = make_provider("auto", env, remote_url="https://bitbucket.org/acme/memories.git",
                       sleep=sleeps)
    assert isinstance(bb, BitbucketCloudProvider) and bb.repository == "acme/memories"
    assert sync_pull_request(bb, SPEC, differs=True).operation == "created"
    assert clean_forge.requests[0].headers["Authorization"].startswith("Basic ")


def test_bitbucket_cloud_wrong_app_password_names_it(clean_forge, sleeps):
    env = {"MEM_SYNC_BITBUCKET_API_URL": clean_forge.base_url, "BITBUCKET_WORKSPACE": "acme",
           "BITBUCKET_REPO_SLUG": "memories", "BITBUCKET_USERNAME": "ci-bot",
           "BITBUCKET_APP_PASSWORD": "wrong-secret"}
    bb = make_provider("bitbucket", env, remote_url=None, sleep=sleeps)
    with pytest.raises(ProviderError) as caught:
        sync_pull_request(bb, SPEC, differs=True)
    assert "BITBUCKET_APP_PASSWORD" in str(caught.value) and "wrong-secret" not in str(caught.value)


def test_bitbucket_server_context_path_and_token_from_remote():
    bb = make_provider("bitbucket", {"BITBUCKET_TOKEN": "t"},
                       remote_url="https://git.corp.example/bitbucket/scm/team/memories.git")
    assert isinstance(bb, BitbucketServerProvider)
    assert (bb.project_key, bb.repo_slug) == ("TEAM", "memories")
    assert bb._client.url == "https://git.corp.example/bitbucket"


def test_bitbucket_without_credentials_explains():
    with pytest.raises(ProviderError, match="BITBUCKET_ACCESS_TOKEN"):
        make_provider("bitbucket", {"BITBUCKET_WORKSPACE": "a", "BITBUCKET_REPO_SLUG": "b"},
                      remote_url=None)


def test_unknown_provider_name_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown provider"):
        make_provider("gitea", {}, remote_url=None)
