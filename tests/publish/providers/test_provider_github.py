"""The GitHub adapter through the real PyGithub client against the loopback forge."""

from __future__ import annotations

import pytest

from memsync.errors import ProviderError
from memsync.publish.providers.base import PullRequestSpec, sync_pull_request
from memsync.publish.providers.registry import make_provider

TOKEN = "good-token"


def provider(forge, sleeps, *, repo="acme/memories", token=TOKEN):
    env = {"GITHUB_API_URL": f"{forge.base_url}/api/v3", "GITHUB_REPOSITORY": repo,
           "GITHUB_TOKEN": token, "GITHUB_ACTIONS": "true"}
    return make_provider("auto", env, remote_url=None, sleep=sleeps, backoff=(0.5, 1.0),
                         polite=False)


SPEC = PullRequestSpec(head="mem-sync/merge", base="main", title="mem-sync: merge 3 observations",
                       body="## Summary\n3 added\n", labels=("memory", "bot"),
                       reviewers=("alice", "acme/leads"), draft=True)


def test_first_run_creates_the_pull_request_with_labels_reviewers_and_draft(clean_forge, sleeps):
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created" and result.number == 1
    assert result.url.endswith("/acme/memories/pull/1") or "/pull/1" in result.url
    (create,) = clean_forge.calls("POST", r"/api/v3/repos/acme/memories/pulls$")
    assert create.json == {"base": "main", "head": "mem-sync/merge", "draft": True,
                           "title": SPEC.title, "body": SPEC.body}
    (labels,) = clean_forge.calls("POST", r"/issues/1/labels$")
    assert labels.json == ["memory", "bot"]
    (review,) = clean_forge.calls("POST", r"/pulls/1/requested_reviewers$")
    assert review.json == {"reviewers": ["alice"], "team_reviewers": ["leads"]}
    lookup = clean_forge.calls("GET", r"/pulls$")[0]
    assert lookup.query["head"] == ["acme:mem-sync/merge"] and lookup.query["state"] == ["open"]
    assert "good-token" in lookup.headers.get("Authorization", "")


def test_second_run_updates_in_place_and_never_duplicates(clean_forge, sleeps):
    gh = provider(clean_forge, sleeps)
    sync_pull_request(gh, SPEC, differs=True)
    same = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert same.operation == "unchanged"
    assert clean_forge.calls("PATCH") == []
    changed = PullRequestSpec(**{**SPEC.__dict__, "body": "## Summary\n5 added\n"})
    result = sync_pull_request(provider(clean_forge, sleeps), changed, differs=True)
    assert result.operation == "updated" and result.number == 1
    (patch,) = clean_forge.calls("PATCH", r"/pulls/1$")
    assert patch.json == {"title": SPEC.title, "body": "## Summary\n5 added\n"}
    assert len(clean_forge.calls("POST", r"/pulls$")) == 1
    assert [pr["body"] for pr in clean_forge.open_prs("github")] == ["## Summary\n5 added\n"]


def test_pull_request_is_closed_when_branch_no_longer_differs(clean_forge, sleeps):
    sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=False)
    assert result.operation == "closed" and result.number == 1
    (patch,) = clean_forge.calls("PATCH", r"/pulls/1$")
    assert patch.json == {"state": "closed"}
    assert clean_forge.open_prs("github") == []
    again = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=False)
    assert again.operation == "none"


def test_rejected_token_names_the_variable_and_permission_never_the_token(clean_forge, sleeps):
    with pytest.raises(ProviderError) as caught:
        sync_pull_request(provider(clean_forge, sleeps, token="wrong-secret-value"), SPEC,
                          differs=True)
    message = str(caught.value)
    assert "GITHUB_TOKEN" in message and "401" in message and "pull-requests: write" in message
    assert "wrong-secret-value" not in message and "\n" not in message
    assert sleeps.pauses == []


def test_forbidden_fails_fast_with_the_permission_needed(clean_forge, sleeps):
    clean_forge.fail("POST", r"/pulls$", 403,
                     body={"message": "Resource not accessible by integration"})
    with pytest.raises(ProviderError) as caught:
        sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert "403" in str(caught.value) and "GITHUB_TOKEN" in str(caught.value)
    assert len(clean_forge.calls("POST", r"/pulls$")) == 1 and sleeps.pauses == []


def test_missing_repository_is_one_clear_line(clean_forge, sleeps):
    with pytest.raises(ProviderError) as caught:
        sync_pull_request(provider(clean_forge, sleeps, repo="acme/missing"), SPEC, differs=True)
    assert "404" in str(caught.value) and "acme/missing" in str(caught.value)


def test_bad_gateway_is_retried_then_succeeds(clean_forge, sleeps):
    clean_forge.fail("POST", r"/pulls$", 502, body={"message": "Server Error"})
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created"
    assert len(clean_forge.calls("POST", r"/pulls$")) == 2
    assert sleeps.pauses == [0.5]
    assert len(clean_forge.open_prs("github")) == 1


def test_secondary_rate_limit_is_retried(clean_forge, sleeps):
    clean_forge.fail("GET", r"/pulls$", 403, headers={"Retry-After": "1"},
                     body={"message": "You have exceeded a secondary rate limit."})
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created" and sleeps.pauses == [0.5]


def test_persistent_outage_gives_up_after_bounded_retries(clean_forge, sleeps):
    clean_forge.fail("GET", r"/repos/acme/memories$", 503, times=10)
    with pytest.raises(ProviderError, match="503"):
        sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert sleeps.pauses == [0.5, 1.0]


def test_connection_reset_is_retried(clean_forge, sleeps):
    clean_forge.fail("POST", r"/pulls$", 0)
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created" and sleeps.pauses == [0.5]
    assert len(clean_forge.open_prs("github")) == 1


def test_create_whose_answer_was_lost_is_not_duplicated(clean_forge, sleeps):
    # The create reached GitHub but its answer was lost; the retry gets 422 "already exists"
    # and the adapter adopts the PR it made instead of failing or opening a second one.
    clean_forge.fail("POST", r"/pulls$", -1)
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "updated" and result.number == 1
    assert len(clean_forge.calls("POST", r"/pulls$")) == 2
    assert clean_forge.open_prs("github")[0]["labels"] == ["bot", "memory"]
    assert len(clean_forge.prs["github"]) == 1
    assert clean_forge.open_prs("github")[0]["body"] == SPEC.body
