"""Bitbucket Cloud and Bitbucket Server/Data Center through atlassian-python-api.

Both speak "pull request" but differ in every detail: Cloud finds PRs with a ``q`` filter
and declines by POST; Server/DC lists a target branch's incoming PRs, and every update or
decline must quote the PR's current ``version``.
"""

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
    lookup_token,
    requests_failure,
)
from memsync.publish.remote import DEFAULT_HOSTS

CLOUD_PERMISSION = ("the 'Pull requests: Write' permission (access token scope pullrequest:write, "
                    "or an app password with Pull requests: Write)")
SERVER_PERMISSION = "Repository write permission (an HTTP access token with REPO_WRITE)"


def _classify(error: BaseException) -> Failure | None:
    return requests_failure(error)


class _Base(RetryingAdapter):
    name = "bitbucket"


class BitbucketCloudProvider(_Base):
    def __init__(
        self,
        *,
        api_url: str,
        workspace: str,
        repo_slug: str,
        credentials: dict[str, str],
        token_variable: str,
        sleep: Callable[[float], None] = time.sleep,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
    ) -> None:
        from atlassian.bitbucket import Cloud

        super().__init__(TokenHint("Bitbucket Cloud", token_variable, CLOUD_PERMISSION), _classify, sleep,
                         backoff)
        self.repository = f"{workspace}/{repo_slug}"
        self._path = f"repositories/{workspace}/{repo_slug}/pullrequests"
        self._client = Cloud(url=api_url, **credentials)

    def find_open(self, head: str, base: str) -> OpenPullRequest | None:
        query = (f'source.branch.name="{head}" AND destination.branch.name="{base}" '
                 f'AND state="OPEN"')
        page = self._call(f"list pull requests of {self.repository}",
                          lambda: self._client.get(self._path, params={"q": query}))
        values = (page or {}).get("values") or []
        return _wrap_cloud(values[0]) if values else None

    def create(self, spec: PullRequestSpec) -> OpenPullRequest:
        data: dict[str, Any] = {
            "title": spec.title,
            "description": spec.body,
            "source": {"branch": {"name": spec.head}},
            "destination": {"branch": {"name": spec.base}},
            "close_source_branch": True,
        }
        if spec.reviewers:
            data["reviewers"] = [_cloud_reviewer(r) for r in spec.reviewers]
        if spec.draft:
            data["draft"] = True
        created = self._call(f"create a pull request in {self.repository}",
                             lambda: self._client.post(self._path, data=data), creating=True)
        return _wrap_cloud(created)

    def update(self, existing: OpenPullRequest, spec: PullRequestSpec) -> OpenPullRequest:
        data = {"title": spec.title, "description": spec.body}
        updated = self._call(f"update pull request #{existing.number}",
                             lambda: self._client.put(f"{self._path}/{existing.number}", data=data))
        return _wrap_cloud(updated)

    def close(self, existing: OpenPullRequest) -> None:
        self._call(f"decline pull request #{existing.number}",
                   lambda: self._client.post(f"{self._path}/{existing.number}/decline"))


def _cloud_reviewer(reviewer: str) -> dict[str, str]:
    # Bitbucket Cloud identifies people by UUID ("{...}") or Atlassian account id, not nickname.
    return {"uuid": reviewer} if reviewer.startswith("{") else {"account_id": reviewer}


def _wrap_cloud(pr: Mapping[str, Any]) -> OpenPullRequest:
    url = ((pr.get("links") or {}).get("html") or {}).get("href", "")
    return OpenPullRequest(int(pr["id"]), url, pr.get("title") or "", pr.get("description") or "",
                           pr)


class BitbucketServerProvider(_Base):
    def __init__(
        self,
        *,
        url: str,
        project_key: str,
        repo_slug: str,
        credentials: dict[str, str],
        token_variable: str,
        sleep: Callable[[float], None] = time.sleep,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
    ) -> None:
        from atlassian import Bitbucket

        super().__init__(TokenHint("Bitbucket", token_variable, SERVER_PERMISSION), _classify, sleep,
                         backoff)
        self.project_key = project_key
        self.repo_slug = repo_slug
        self.repository = f"{project_key}/{repo_slug}"
        self._client = Bitbucket(url=url, **credentials)

    def find_open(self, head: str, base: str) -> OpenPullRequest | None:
        def first() -> Any:
            # Server lists a branch's incoming PRs; pick ours by its source ref.
            pulls = self._client.get_pull_requests(self.project_key, self.repo_slug,
                                                   state="OPEN", at=f"refs/heads/{base}")
            for pr in pulls:
                if (pr.get("fromRef") or {}).get("id") == f"refs/heads/{head}":
                    return pr
            return None

        pr = self._call(f"list pull requests of {self.repository}", first)
        return None if pr is None else _wrap_server(pr)

    def create(self, spec: PullRequestSpec) -> OpenPullRequest:
        def ref(branch: str) -> dict[str, Any]:
            return {"id": f"refs/heads/{branch}",
                    "repository": {"slug": self.repo_slug, "project": {"key": self.project_key}}}

        data: dict[str, Any] = {
            "title": spec.title,
            "description": spec.body,
            "fromRef": ref(spec.head),
            "toRef": ref(spec.base),
            "reviewers": [{"user": {"name": r}} for r in spec.reviewers],
        }
        if spec.draft:
            data["draft"] = True  # Data Center 8.18+; older servers ignore it
        created = self._call(
            f"create a pull request in {self.repository}",
            lambda: self._client.create_pull_request(self.project_key, self.repo_slug, data),
            creating=True)
        return _wrap_server(created)

    def update(self, existing: OpenPullRequest, spec: PullRequestSpec) -> OpenPullRequest:
        current: Mapping[str, Any] = existing.handle  # type: ignore[assignment]
        data = {
            "title": spec.title,
            "description": spec.body,
            "version": current.get("version", 0),
            # A PUT without reviewers would drop the ones already there.
            "reviewers": [{"user": {"name": r["user"]["name"]}}
                          for r in current.get("reviewers") or []],
        }
        updated = self._call(
            f"update pull request #{existing.number}",
            lambda: self._client.update_pull_request(self.project_key, self.repo_slug,
                                                     existing.number, data))
        return _wrap_server(updated)

    def close(self, existing: OpenPullRequest) -> None:
        current: Mapping[str, Any] = existing.handle  # type: ignore[assignment]
        self._call(
            f"decline pull request #{existing.number}",
            lambda: self._client.decline_pull_request(self.project_key, self.repo_slug,
                                                      existing.number, current.get("version", 0)))


def _wrap_server(pr: Mapping[str, Any]) -> OpenPullRequest:
    links = (pr.get("links") or {}).get("self") or [{}]
    return OpenPullRequest(int(pr["id"]), links[0].get("href", ""), pr.get("title") or "",
                           pr.get("description") or "", pr)


def from_environment(context: ProviderContext) -> BitbucketCloudProvider | BitbucketServerProvider:
    """Cloud (Pipelines variables, bitbucket.org remotes) or Server/DC (``/scm/`` remotes)."""
    env, remote = context.env, context.remote
    server_url = env.get("MEM_SYNC_BITBUCKET_SERVER_URL", "")
    is_server = bool(server_url) or bool(
        remote and remote.host and remote.host != DEFAULT_HOSTS["bitbucket"]
        and not env.get("BITBUCKET_WORKSPACE")
        and ("/scm/" in f"/{remote.path}" or remote.scheme == "ssh"))
    if is_server:
        return _server_from_environment(context, server_url)
    parts = remote.path.split("/") if remote else []
    workspace = env.get("BITBUCKET_WORKSPACE") or (parts[0] if len(parts) == 2 else "")
    slug = env.get("BITBUCKET_REPO_SLUG") or (parts[1] if len(parts) == 2 else "")
    if not workspace or not slug:
        raise ProviderError("cannot tell which Bitbucket repository to use; set "
                            "BITBUCKET_WORKSPACE and BITBUCKET_REPO_SLUG")
    api_url = env.get("MEM_SYNC_BITBUCKET_API_URL") or f"https://api.{DEFAULT_HOSTS['bitbucket']}"
    variable, credentials = _credentials(
        env, context.token_env,
        token_names=("BITBUCKET_ACCESS_TOKEN",),
        user_names=("BITBUCKET_USERNAME",), password_names=("BITBUCKET_APP_PASSWORD",),
        permission=CLOUD_PERMISSION)
    return BitbucketCloudProvider(api_url=api_url, workspace=workspace, repo_slug=slug,
                                  credentials=credentials, token_variable=variable,
                                  sleep=context.sleep, backoff=context.backoff)


def _server_from_environment(context: ProviderContext, server_url: str) -> BitbucketServerProvider:
    env, remote = context.env, context.remote
    project = env.get("MEM_SYNC_BITBUCKET_PROJECT", "")
    slug = env.get("MEM_SYNC_BITBUCKET_REPO", "")
    context_path = ""
    if remote is not None:
        parts = remote.path.split("/")
        if "scm" in parts:
            i = parts.index("scm")
            context_path = "/".join(parts[:i])
            parts = parts[i + 1:]
        if len(parts) >= 2:
            project = project or parts[-2]
            slug = slug or parts[-1]
    if not server_url and remote is not None and remote.host:
        server_url = remote.web_base + (f"/{context_path}" if context_path else "")
    if not server_url or not project or not slug:
        raise ProviderError("cannot tell which Bitbucket Server repository to use; set "
                            "MEM_SYNC_BITBUCKET_SERVER_URL, MEM_SYNC_BITBUCKET_PROJECT and "
                            "MEM_SYNC_BITBUCKET_REPO")
    variable, credentials = _credentials(
        env, context.token_env,
        token_names=("BITBUCKET_TOKEN", "MEM_SYNC_BITBUCKET_TOKEN"),
        user_names=("BITBUCKET_USERNAME",), password_names=("BITBUCKET_PASSWORD",),
        permission=SERVER_PERMISSION)
    return BitbucketServerProvider(url=server_url, project_key=project.upper(), repo_slug=slug,
                                   credentials=credentials, token_variable=variable,
                                   sleep=context.sleep, backoff=context.backoff)


def _credentials(env: Mapping[str, str], token_env: str | None, *, token_names: tuple[str, ...],
                 user_names: tuple[str, ...], password_names: tuple[str, ...],
                 permission: str) -> tuple[str, dict[str, str]]:
    found = lookup_token(env, token_env, token_names)
    if found.token:
        return found.variable, {"token": found.token}
    if token_env:
        raise ProviderError(f"no Bitbucket token: {token_env} is empty; set it to a token with "
                            f"{permission}")
    user = lookup_token(env, None, user_names).token
    password = lookup_token(env, None, password_names)
    if user and password.token:
        return password.variable, {"username": user, "password": password.token}
    raise ProviderError(f"no Bitbucket credentials: set {token_names[0]} (or "
                        f"{user_names[0]} and {password_names[0]}) with {permission}")
