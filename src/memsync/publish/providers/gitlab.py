"""GitLab.com and self-managed GitLab through python-gitlab (imported only when used)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from memsync.errors import ProviderError
from memsync.publish.providers.base import (
    DEFAULT_BACKOFF,
    Failure,
    OpenPullRequest,
    ProviderContext,
    PullRequestSpec,
    RetryingAdapter,
    TokenHint,
    is_transient_status,
    lookup_token,
    requests_failure,
)
from memsync.publish.remote import DEFAULT_HOSTS

PERMISSION = "the 'api' scope and at least the Developer role (a project access token)"
TOKEN_VARIABLES = ("MEM_SYNC_GITLAB_TOKEN", "GITLAB_TOKEN")
JOB_TOKEN_MESSAGE = (
    "CI_JOB_TOKEN cannot create or update merge requests; create a project access token with "
    "the 'api' scope and Developer role and expose it as the masked CI/CD variable "
    "MEM_SYNC_GITLAB_TOKEN (or GITLAB_TOKEN)"
)


class GitLabProvider(RetryingAdapter):
    name = "gitlab"

    def __init__(
        self,
        *,
        url: str,
        project: str,
        token: str,
        token_variable: str,
        sleep: Callable[[float], None] = time.sleep,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
    ) -> None:
        import gitlab

        self.project_ref = project
        super().__init__(TokenHint("GitLab", token_variable, PERMISSION), _classify, sleep, backoff)
        # Our bounded retry handles 5xx and connection resets (python-gitlab still honours
        # Retry-After on a 429 by itself).
        self._client = gitlab.Gitlab(url.rstrip("/"), private_token=token,
                                     retry_transient_errors=False)
        self._project: Any = None

    def _projects(self) -> Any:
        if self._project is None:
            self._project = self._call(f"open project {self.project_ref}",
                                       lambda: self._client.projects.get(self.project_ref))
        return self._project

    def find_open(self, head: str, base: str) -> OpenPullRequest | None:
        project = self._projects()
        found = self._call(
            f"list merge requests of {self.project_ref}",
            lambda: project.mergerequests.list(state="opened", source_branch=head,
                                               target_branch=base, get_all=False),
        )
        return _wrap(found[0]) if found else None

    def create(self, spec: PullRequestSpec) -> OpenPullRequest:
        project = self._projects()
        data: dict[str, Any] = {
            "source_branch": spec.head,
            "target_branch": spec.base,
            "title": _title(spec),
            "description": spec.body,
            "remove_source_branch": True,
        }
        if spec.labels:
            data["labels"] = ",".join(spec.labels)
        if spec.reviewers:
            data["reviewer_ids"] = self._user_ids(spec.reviewers)
        created = self._call(f"create a merge request in {self.project_ref}",
                             lambda: project.mergerequests.create(data), creating=True)
        return _wrap(created)

    def update(self, existing: OpenPullRequest, spec: PullRequestSpec) -> OpenPullRequest:
        mr: Any = existing.handle
        mr.title = _title(spec)
        mr.description = spec.body
        self._call(f"update merge request !{existing.number}", mr.save)
        return OpenPullRequest(existing.number, existing.url, mr.title, spec.body, mr)

    def close(self, existing: OpenPullRequest) -> None:
        mr: Any = existing.handle
        mr.state_event = "close"
        self._call(f"close merge request !{existing.number}", mr.save)

    def _user_ids(self, usernames: tuple[str, ...]) -> list[int]:
        ids = []
        for username in usernames:
            users = self._call(f"look up reviewer {username}",
                               lambda u=username: self._client.users.list(username=u,
                                                                          get_all=False))
            if not users:
                raise ProviderError(f"GitLab has no user '{username}'; fix --reviewers")
            ids.append(users[0].id)
        return ids


def _title(spec: PullRequestSpec) -> str:
    # GitLab marks drafts by title prefix; the create API has no draft flag.
    if spec.draft and not spec.title.lower().startswith("draft:"):
        return f"Draft: {spec.title}"
    return spec.title


def _wrap(mr: Any) -> OpenPullRequest:
    # Report the title without the draft marker, so a rerun compares like with like and a
    # reviewer who marked the MR ready is not overruled.
    title = mr.title or ""
    if title.lower().startswith("draft:"):
        title = title[len("draft:"):].lstrip()
    return OpenPullRequest(mr.iid, mr.web_url, title, mr.description or "", mr)


def _classify(error: BaseException) -> Failure | None:
    from gitlab.exceptions import GitlabError

    if isinstance(error, GitlabError):
        status = error.response_code
        return Failure(status, is_transient_status(status) if status else False,
                       str(error.error_message or "")[:160])
    return requests_failure(error)


def from_environment(context: ProviderContext) -> GitLabProvider:
    """Build the adapter from GitLab CI's variables (or the remote URL elsewhere)."""
    env, remote = context.env, context.remote
    url = env.get("CI_SERVER_URL") or ""
    if not url and env.get("CI_API_V4_URL"):
        url = env["CI_API_V4_URL"].rstrip("/").removesuffix("/api/v4")
    if not url:
        url = remote.web_base if remote and remote.host else f"https://{DEFAULT_HOSTS['gitlab']}"
    project = env.get("CI_PROJECT_ID") or env.get("CI_PROJECT_PATH") or (
        remote.path if remote else "")
    if not project:
        raise ProviderError("cannot tell which GitLab project to use; set CI_PROJECT_ID or "
                            "CI_PROJECT_PATH")
    found = lookup_token(env, context.token_env, TOKEN_VARIABLES)
    if (found.token and found.variable == "CI_JOB_TOKEN") or (not found.token and env.get("CI_JOB_TOKEN")):
        raise ProviderError(JOB_TOKEN_MESSAGE)
    if found.token:
        return GitLabProvider(url=url, project=project, token=found.token,
                              token_variable=found.variable, sleep=context.sleep, backoff=context.backoff)
    raise ProviderError(f"no GitLab token: set {found.variable} to a project access token with "
                        f"{PERMISSION}")
