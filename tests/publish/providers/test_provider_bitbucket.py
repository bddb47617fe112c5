"""Bitbucket Cloud and Server/DC adapters through the real atlassian-python-api client."""

from __future__ import annotations

import pytest

from memsync.errors import ProviderError
from memsync.publish.providers.base import PullRequestSpec, sync_pull_request
from memsync.publish.providers.bitbucket import BitbucketCloudProvider, BitbucketServerProvider
from memsync.publish.providers.registry import make_provider

SPEC = PullRequestSpec(head="mem-sync/merge", base="main", title="mem-sync: merge 3 observations",
                       body="## Summary\n3 added\n", reviewers=(), draft=False)


def cloud(forge, sleeps, *, slug="memories", token="good-token"):
    env = {"BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_WORKSPACE": "acme",
           "BITBUCKET_REPO_SLUG": slug, "BITBUCKET_ACCESS_TOKEN": token,
           "MEM_SYNC_BITBUCKET_API_URL": forge.base_url}
    made = make_provider("auto", env, remote_url=None, sleep=sleeps, backoff=(0.5, 1.0))
    assert isinstance(made, BitbucketCloudProvider)
    return made


def server_provider(forge, sleeps, **kw):
    # Loopback remotes do not say "bitbucket" in the host, so name the forge explicitly.
    env = {"BITBUCKET_USERNAME": "ci-bot", "BITBUCKET_PASSWORD": kw.get("password", "good-token")}
    slug = kw.get("slug", "memories")
    made = make_provider("bitbucket", env, remote_url=f"{forge.base_url}/scm/team/{slug}.git",
                         sleep=sleeps, backoff=(0.5, 1.0))
    assert isinstance(made, BitbucketServerProvider)
    return made


# ------------------------------------------------------------------ Bitbucket Cloud
def test_cloud_creates_then_updates_in_place(clean_forge, sleeps):
    spec = PullRequestSpec(**{**SPEC.__dict__, "reviewers": ("{b1c2-uuid}",), "draft": True})
    result = sync_pull_request(cloud(clean_forge, sleeps), spec, differs=True)
    assert result.operation == "created" and result.number == 1
    assert result.url.endswith("/acme/memories/pull-requests/1")
    (create,) = clean_forge.calls("POST", r"/2\.0/repositories/acme/memories/pullrequests/?$")
    assert create.json == {"title": SPEC.title, "description": SPEC.body,
                           "source": {"branch": {"name": "mem-sync/merge"}},
                           "destination": {"branch": {"name": "main"}},
                           "close_source_branch": True, "reviewers": [{"uuid": "{b1c2-uuid}"}],
                           "draft": True}
    (lookup,) = clean_forge.calls("GET", r"/pullrequests/?$")
    assert lookup.query["q"] == ['source.branch.name="mem-sync/merge" AND '
                                 'destination.branch.name="main" AND state="OPEN"']
    assert lookup.headers["Authorization"] == "Bearer good-token"

    assert sync_pull_request(cloud(clean_forge, sleeps), spec, differs=True).operation == "unchanged"
    changed = PullRequestSpec(**{**spec.__dict__, "body": "5 added"})
    result = sync_pull_request(cloud(clean_forge, sleeps), changed, differs=True)
    assert result.operation == "updated" and result.number == 1
    (put,) = clean_forge.calls("PUT", r"/pullrequests/1/?$")
    assert put.json == {"title": SPEC.title, "description": "5 added"}
    assert len(clean_forge.open_prs("cloud")) == 1


def test_cloud_declines_when_branch_no_longer_differs(clean_forge, sleeps):
    sync_pull_request(cloud(clean_forge, sleeps), SPEC, differs=True)
    result = sync_pull_request(cloud(clean_forge, sleeps), SPEC, differs=False)
    assert result.operation == "closed"
    assert len(clean_forge.calls("POST", r"/pullrequests/1/decline/?$")) == 1
    assert clean_forge.open_prs("cloud") == []


@pytest.mark.parametrize("status", [401, 403])
def test_cloud_rejected_credentials_name_the_variable(clean_forge, sleeps, status):
    clean_forge.fail("GET", r"/pullrequests", status,
                     body={"type": "error", "error": {"message": "Access denied"}})
    with pytest.raises(ProviderError) as caught:
        sync_pull_request(cloud(clean_forge, sleeps), SPEC, differs=True)
    message = str(caught.value)
    assert "BITBUCKET_ACCESS_TOKEN" in message and str(status) in message
    assert "pullrequest:write" in message and "good-token" not in message
    assert sleeps.pauses == []


def test_cloud_wrong_token_is_401(clean_forge, sleeps):
    with pytest.raises(ProviderError, match="401"):
        sync_pull_request(cloud(clean_forge, sleeps, token="nope"), SPEC, differs=True)


def test_cloud_missing_repository(clean_forge, sleeps):
    with pytest.raises(ProviderError, match="404"):
        sync_pull_request(cloud(clean_forge, sleeps, slug="missing"), SPEC, differs=True)


def test_cloud_bad_gateway_is_retried(clean_forge, sleeps):
    clean_forge.fail("POST", r"/pullrequests/?$", 502, body={"type": "error",
                                                            "error": {"message": "Bad Gateway"}})
    result = sync_pull_request(cloud(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created" and sleeps.pauses == [0.5]
    assert len(clean_forge.open_prs("cloud")) == 1


# ------------------------------------------------------------------ Bitbucket Server / DC
def test_server_creates_then_updates_in_place_quoting_the_version(clean_forge, sleeps):
    spec = PullRequestSpec(**{**SPEC.__dict__, "reviewers": ("bob",)})
    result = sync_pull_request(server_provider(clean_forge, sleeps), spec, differs=True)
    assert result.operation == "created" and result.number == 1
    (create,) = clean_forge.calls("POST", r"/rest/api/1\.0/projects/TEAM/repos/memories/"
                                          r"pull-requests$")
    assert create.json == {
        "title": SPEC.title, "description": SPEC.body,
        "fromRef": {"id": "refs/heads/mem-sync/merge",
                    "repository": {"slug": "memories", "project": {"key": "TEAM"}}},
        "toRef": {"id": "refs/heads/main",
                  "repository": {"slug": "memories", "project": {"key": "TEAM"}}},
        "reviewers": [{"user": {"name": "bob"}}]}
    (lookup,) = clean_forge.calls("GET", r"/pull-requests$")
    assert lookup.query["at"] == ["refs/heads/main"] and lookup.query["state"] == ["OPEN"]
    assert lookup.headers["Authorization"].startswith("Basic ")

    assert sync_pull_request(server_provider(clean_forge, sleeps), spec,
                             differs=True).operation == "unchanged"
    changed = PullRequestSpec(**{**spec.__dict__, "body": "5 added"})
    result = sync_pull_request(server_provider(clean_forge, sleeps), changed, differs=True)
    assert result.operation == "updated"
    (put,) = clean_forge.calls("PUT", r"/pull-requests/1$")
    assert put.json == {"title": SPEC.title, "description": "5 added", "version": 0,
                        "reviewers": [{"user": {"name": "bob"}}]}
    assert len(clean_forge.open_prs("server")) == 1


def test_server_declines_with_current_version(clean_forge, sleeps):
    sync_pull_request(server_provider(clean_forge, sleeps), SPEC, differs=True)
    changed = PullRequestSpec(**{**SPEC.__dict__, "body": "changed"})
    sync_pull_request(server_provider(clean_forge, sleeps), changed, differs=True)  # version 1
    result = sync_pull_request(server_provider(clean_forge, sleeps), SPEC, differs=False)
    assert result.operation == "closed"
    (decline,) = clean_forge.calls("POST", r"/pull-requests/1/decline$")
    assert decline.query["version"] == ["1"]
    assert clean_forge.open_prs("server") == []


@pytest.mark.parametrize("status", [401, 403])
def test_server_rejected_credentials_name_the_variable(clean_forge, sleeps, status):
    clean_forge.fail("GET", r"/pull-requests$", status,
                     body=_server_error("Authentication failed."))
    with pytest.raises(ProviderError) as caught:
        sync_pull_request(server_provider(clean_forge, sleeps), SPEC, differs=True)
    message = str(caught.value)
    assert "BITBUCKET_PASSWORD" in message and str(status) in message
    assert "REPO_WRITE" in message and sleeps.pauses == []


def test_server_missing_repository(clean_forge, sleeps):
    with pytest.raises(ProviderError, match="404"):
        sync_pull_request(server_provider(clean_forge, sleeps, slug="missing"), SPEC,
                          differs=True)


def test_server_bad_gateway_is_retried(clean_forge, sleeps):
    clean_forge.fail("POST", r"/pull-requests$", 502, body=_server_error("Bad Gateway"))
    result = sync_pull_request(server_provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created" and sleeps.pauses == [0.5]


def _server_error(message):
    return {"errors": [{"context": None, "message": message, "exceptionName": None}]}
