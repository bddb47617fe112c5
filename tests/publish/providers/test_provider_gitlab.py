"""The GitLab adapter through the real python-gitlab client against the loopback forge."""

from __future__ import annotations

import pytest

from memsync.errors import ProviderError
from memsync.publish.providers.base import PullRequestSpec, sync_pull_request
from memsync.publish.providers.registry import make_provider

SPEC = PullRequestSpec(head="mem-sync/merge", base="main", title="mem-sync: merge 3 observations",
                       body="## Summary\n3 added\n", labels=("memory", "bot"),
                       reviewers=("alice",), draft=False)


def provider(forge, sleeps, *, project="team/memories", token="good-token",
             variable="GITLAB_TOKEN", extra=None):
    env = {"GITLAB_CI": "true", "CI_SERVER_URL": forge.base_url, "CI_PROJECT_PATH": project,
           variable: token, **(extra or {})}
    return make_provider("auto", env, remote_url=None, sleep=sleeps, backoff=(0.5, 1.0))


def test_first_run_creates_the_merge_request(clean_forge, sleeps):
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created" and result.number == 1
    assert result.url.endswith("/team/memories/-/merge_requests/1")
    project_id = clean_forge.gitlab_projects["team/memories"]
    (create,) = clean_forge.calls("POST", rf"/api/v4/projects/{project_id}/merge_requests$")
    alice_id = sum(map(ord, "alice"))
    assert create.json == {"source_branch": "mem-sync/merge", "target_branch": "main",
                           "title": SPEC.title, "description": SPEC.body,
                           "remove_source_branch": True, "labels": "memory,bot",
                           "reviewer_ids": [alice_id]}
    (lookup,) = clean_forge.calls("GET", r"/merge_requests$")
    assert lookup.query["state"] == ["opened"]
    assert lookup.query["source_branch"] == ["mem-sync/merge"]
    assert lookup.headers.get("PRIVATE-TOKEN") == "good-token"


def test_draft_is_a_title_prefix(clean_forge, sleeps):
    draft = PullRequestSpec(**{**SPEC.__dict__, "draft": True, "reviewers": ()})
    sync_pull_request(provider(clean_forge, sleeps), draft, differs=True)
    (create,) = clean_forge.calls("POST", r"/merge_requests$")
    assert create.json["title"] == f"Draft: {SPEC.title}"
    # A second run recognises its own draft title and does not rewrite it.
    again = sync_pull_request(provider(clean_forge, sleeps), draft, differs=True)
    assert again.operation == "unchanged" and clean_forge.calls("PUT") == []


def test_second_run_updates_in_place_and_never_duplicates(clean_forge, sleeps):
    sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    same = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert same.operation == "unchanged" and clean_forge.calls("PUT") == []
    changed = PullRequestSpec(**{**SPEC.__dict__, "body": "## Summary\n5 added\n"})
    result = sync_pull_request(provider(clean_forge, sleeps), changed, differs=True)
    assert result.operation == "updated" and result.number == 1
    (put,) = clean_forge.calls("PUT", r"/merge_requests/1$")
    assert put.json == {"title": SPEC.title, "description": "## Summary\n5 added\n"}
    assert len(clean_forge.calls("POST", r"/merge_requests$")) == 1
    assert len(clean_forge.open_prs("gitlab")) == 1


def test_merge_request_is_closed_when_branch_no_longer_differs(clean_forge, sleeps):
    sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=False)
    assert result.operation == "closed"
    (put,) = clean_forge.calls("PUT", r"/merge_requests/1$")
    assert put.json == {"state_event": "close"}
    assert clean_forge.open_prs("gitlab") == []


def test_job_token_is_refused_with_an_explanation(clean_forge, sleeps):
    with pytest.raises(ProviderError) as caught:
        make_provider("gitlab", {"CI_SERVER_URL": clean_forge.base_url,
                                 "CI_PROJECT_ID": "7", "CI_JOB_TOKEN": "job-secret"},
                      remote_url=None)
    assert "CI_JOB_TOKEN cannot create" in str(caught.value)
    assert "job-secret" not in str(caught.value)
    assert clean_forge.requests == []


def test_rejected_token_names_the_variable_and_scope(clean_forge, sleeps):
    with pytest.raises(ProviderError) as caught:
        sync_pull_request(provider(clean_forge, sleeps, token="bad-secret",
                                   variable="MEM_SYNC_GITLAB_TOKEN"), SPEC, differs=True)
    message = str(caught.value)
    assert "MEM_SYNC_GITLAB_TOKEN" in message and "401" in message and "'api' scope" in message
    assert "bad-secret" not in message and sleeps.pauses == []


def test_forbidden_fails_fast(clean_forge, sleeps):
    clean_forge.fail("POST", r"/merge_requests$", 403, body={"message": "403 Forbidden"})
    with pytest.raises(ProviderError, match="403"):
        sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert sleeps.pauses == []


def test_missing_project_is_one_clear_line(clean_forge, sleeps):
    with pytest.raises(ProviderError) as caught:
        sync_pull_request(provider(clean_forge, sleeps, project="group/missing"), SPEC,
                          differs=True)
    assert "404" in str(caught.value) and "group/missing" in str(caught.value)


def test_bad_gateway_is_retried_then_succeeds(clean_forge, sleeps):
    clean_forge.fail("POST", r"/merge_requests$", 502, body={"message": "502 Bad Gateway"})
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created" and sleeps.pauses == [0.5]
    assert len(clean_forge.calls("POST", r"/merge_requests$")) == 2
    assert len(clean_forge.open_prs("gitlab")) == 1


def test_connection_reset_is_retried(clean_forge, sleeps):
    clean_forge.fail("GET", r"/merge_requests$", 0)
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created" and sleeps.pauses == [0.5]


def test_rate_limit_is_waited_out(clean_forge, sleeps):
    # python-gitlab honours Retry-After on 429 itself; the run still succeeds.
    clean_forge.fail("GET", r"/merge_requests$", 429, headers={"Retry-After": "0"},
                     body={"message": "429 Too Many Requests"})
    result = sync_pull_request(provider(clean_forge, sleeps), SPEC, differs=True)
    assert result.operation == "created"
    assert len(clean_forge.calls("GET", r"/merge_requests$")) == 2
