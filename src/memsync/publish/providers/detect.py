"""Which forge are we on? The CI's own variables first, then the remote URL."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from memsync.errors import ProviderError, UsageError
from memsync.publish.providers.base import DEFAULT_BACKOFF, Provider

PROVIDERS = ("github", "gitlab", "bitbucket")

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


@dataclass(frozen=True)
class Remote:
    scheme: str  # https, http, ssh
    host: str
    port: int | None
    path: str  # "owner/repo" without ".git" or leading slash

    @property
    def web_base(self) -> str:
        scheme = self.scheme if self.scheme in ("http", "https") else "https"
        port = f":{self.port}" if self.port and scheme in ("http", "https") else ""
        return f"{scheme}://{self.host}{port}"


def parse_remote(url: str) -> Remote:
    """Understand https://host/a/b.git, ssh://git@host:22/a/b.git and git@host:a/b.git."""
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        path = parts.path
        scheme, host, port = parts.scheme, parts.hostname or "", parts.port
    else:
        match = _SCP_LIKE.match(url)
        if not match:
            return Remote("file", "", None, url)
        scheme, host, port, path = "ssh", match["host"], None, match["path"]
    path = path.strip("/").removesuffix(".git")
    return Remote(scheme, host.lower(), port, path)


def detect_provider(env: Mapping[str, str], remote_url: str | None) -> str:
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI"):
        return "gitlab"
    if env.get("BITBUCKET_BUILD_NUMBER"):
        return "bitbucket"
    if remote_url:
        remote = parse_remote(remote_url)
        host = remote.host
        if "github" in host:
            return "github"
        if "gitlab" in host:
            return "gitlab"
        if "bitbucket" in host or remote.path.startswith("scm/"):
            return "bitbucket"
    raise ProviderError("cannot tell which forge hosts this repository; pass "
                        "--provider github|gitlab|bitbucket")


def make_provider(
    name: str,
    env: Mapping[str, str],
    *,
    remote_url: str | None,
    token_env: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    backoff: tuple[float, ...] = DEFAULT_BACKOFF,
    polite: bool = True,
) -> Provider:
    """The adapter for ``name`` ("auto" detects), configured from ``env``; clients load lazily.

    ``sleep``/``backoff`` drive retries of transient failures; ``polite=False`` drops GitHub's
    request pacing (for loopback tests).
    """
    if name == "auto":
        name = detect_provider(env, remote_url)
    if name == "github":
        from memsync.publish.providers import github

        return github.from_environment(env, remote_url=remote_url, token_env=token_env,
                                       sleep=sleep, backoff=backoff, polite=polite)
    if name == "gitlab":
        from memsync.publish.providers import gitlab

        return gitlab.from_environment(env, remote_url=remote_url, token_env=token_env,
                                       sleep=sleep, backoff=backoff)
    if name == "bitbucket":
        from memsync.publish.providers import bitbucket

        return bitbucket.from_environment(env, remote_url=remote_url, token_env=token_env,
                                          sleep=sleep, backoff=backoff)
    raise UsageError(f"unknown provider '{name}'; use one of: auto, {', '.join(PROVIDERS)}")
