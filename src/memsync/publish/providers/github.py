"""GitHub and GitHub Enterprise Server through PyGithub (imported only when used)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
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

PERMISSION = ("'contents: write' and 'pull-requests: write' (for the Actions GITHUB_TOKEN also the "
              "setting 'Allow GitHub Actions to create and approve pull requests')")


class GitHubProvider(RetryingAdapter):
    name = "github"

    def __init__(
        self,
        *,
        api_url: str,
        repository: str,
        token: str,
        token_variable: str,
        sleep: Callable[[float], None] = time.sleep,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
        polite: bool = True,
    ) -> None:
        from github import Auth, Github

        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        super().__init__(TokenHint("GitHub", token_variable, PERMISSION), _classify, sleep, backoff)
        # PyGithub's own retry sleeps for real and hides what failed; ours is bounded and explains.
        # polite: PyGithub spaces requests (0.25 s) and writes (1 s) as GitHub asks integrations
        # to, which avoids secondary rate limits; tests against a loopback server turn it off.
        pacing = {} if polite else {"seconds_between_requests": None,
                                    "seconds_between_writes": None}
        self._client = Github(base_url=api_url.rstrip("/"), auth=Auth.Token(token), retry=None,
                              **pacing)
        self._repo: Any = None

    def _repository(self) -> Any:
        if self._repo is None:
            self._repo = self._call(f"open repository {self.repository}",
                                    lambda: self._client.get_repo(self.repository))
        return self._repo

    def find_open(self, head: str, base: str) -> OpenPullRequest | None:
        repo = self._repository()

        def first() -> Any:
            pulls = repo.get_pulls(state="open", head=f"{self.owner}:{head}", base=base)
            return next(iter(pulls), None)

        pull = self._call(f"list pull requests of {self.repository}", first)
        return None if pull is None else _wrap(pull)

    def create(self, spec: PullRequestSpec) -> OpenPullRequest:
        repo = self._repository()
        pull = self._call(
            f"create a pull request in {self.repository}",
            lambda: repo.create_pull(base=spec.base, head=spec.head, title=spec.title,
                                     body=spec.body, draft=spec.draft),
            creating=True,
        )
        self._decorate(pull, spec)
        return _wrap(pull)

    def update(self, existing: OpenPullRequest, spec: PullRequestSpec) -> OpenPullRequest:
        pull: Any = existing.handle
        self._call(f"update pull request #{existing.number}",
                   lambda: pull.edit(title=spec.title, body=spec.body))
        self._decorate(pull, spec)
        return OpenPullRequest(existing.number, existing.url, spec.title, spec.body, pull)

    def close(self, existing: OpenPullRequest) -> None:
        pull: Any = existing.handle
        self._call(f"close pull request #{existing.number}", lambda: pull.edit(state="closed"))

    def _decorate(self, pull: Any, spec: PullRequestSpec) -> None:
        if spec.labels:
            self._call(f"label pull request #{pull.number}",
                       lambda: pull.add_to_labels(*spec.labels))
        if spec.reviewers:
            # "org/team" requests a team review; anything else is a user login.
            teams = [r.split("/", 1)[1] for r in spec.reviewers if "/" in r]
            users = [r for r in spec.reviewers if "/" not in r]
            kwargs: dict[str, list[str]] = {}
            if users:
                kwargs["reviewers"] = users
            if teams:
                kwargs["team_reviewers"] = teams
            self._call(f"request reviewers on pull request #{pull.number}",
                       lambda: pull.create_review_request(**kwargs))


def _wrap(pull: Any) -> OpenPullRequest:
    return OpenPullRequest(pull.number, pull.html_url, pull.title or "", pull.body or "", pull)


def _classify(error: BaseException) -> Failure | None:
    from github import GithubException, RateLimitExceededException

    if isinstance(error, RateLimitExceededException):
        return Failure(error.status, True, "rate limited")
    if isinstance(error, GithubException):
        status = error.status
        message = ""
        if isinstance(error.data, dict):
            message = str(error.data.get("message", ""))
        # GitHub answers a secondary rate limit with 403 (sometimes 429) and says so.
        if status in (403, 429) and ("rate limit" in message.lower()
                                     or _header(error.headers, "retry-after")):
            return Failure(status, True, message)
        return Failure(status, is_transient_status(status), message)
    return requests_failure(error)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def from_environment(context: ProviderContext) -> GitHubProvider:
    """Build the adapter from the variables GitHub Actions sets (or the remote URL elsewhere)."""
    env, remote = context.env, context.remote
    repository = env.get("GITHUB_REPOSITORY") or (remote.path if remote else "")
    if repository.count("/") != 1:
        raise ProviderError("cannot tell which GitHub repository to use; set GITHUB_REPOSITORY "
                            "to owner/name")
    api_url = env.get("GITHUB_API_URL")
    if not api_url:
        host = remote.host if remote and remote.host else DEFAULT_HOSTS["github"]
        api_url = (f"https://api.{host}" if host == DEFAULT_HOSTS["github"]
                   else f"https://{host}/api/v3")
    found = lookup_token(env, context.token_env, ("GITHUB_TOKEN", "GH_TOKEN"))
    if not found.token:
        raise ProviderError(f"no GitHub token: set {found.variable} (in Actions: "
                            f"env: GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}) with {PERMISSION}")
    return GitHubProvider(api_url=api_url, repository=repository, token=found.token,
                          token_variable=found.variable, sleep=context.sleep, backoff=context.backoff,
                          polite=context.polite)
