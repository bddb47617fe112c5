"""Where the shared repository lives: a git remote URL parsed once, and which forge hosts it.

The git layer's side of publishing: nothing here knows any forge's API or imports an adapter;
``memsync.publish.providers.registry`` hands the parsed remote to the adapter it builds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from memsync.errors import ProviderError

FORGES = ("github", "gitlab", "bitbucket")
# The public host of each forge: the default wherever a configuration names no host of its own.
DEFAULT_HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}
# The user name each forge expects beside a token in an HTTPS git URL.
GIT_TOKEN_USERNAMES = {"github": "x-access-token", "gitlab": "oauth2", "bitbucket": "x-token-auth"}

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


def detect_forge(env: Mapping[str, str], remote_url: str | None) -> str:
    """The CI's own variables first, then the remote URL's host."""
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
