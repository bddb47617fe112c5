"""One registry: a forge's name -> the module whose ``from_environment`` builds its adapter.

Adapters load lazily (their client libraries are heavy); the remote is parsed here, once, and
handed to the adapter with everything else it is built from (``ProviderContext``).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping

from memsync.errors import ProviderError, UsageError
from memsync.publish.providers.base import DEFAULT_BACKOFF, Provider, ProviderContext
from memsync.publish.remote import detect_forge, parse_remote

# forge name -> the module whose from_environment(context) builds its adapter
REGISTRY = {
    "github": "memsync.publish.providers.github",
    "gitlab": "memsync.publish.providers.gitlab",
    "bitbucket": "memsync.publish.providers.bitbucket",
}


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
        name = detect_forge(env, remote_url)
    if name not in REGISTRY:
        raise UsageError(f"unknown provider '{name}'; use one of: auto, {', '.join(REGISTRY)}")
    _require_client(name)
    module = importlib.import_module(REGISTRY[name])
    context = ProviderContext(env=env, remote=parse_remote(remote_url) if remote_url else None,
                              token_env=token_env, sleep=sleep, backoff=backoff, polite=polite)
    return module.from_environment(context)


# forge name -> (the module its adapter imports, the distribution that brings it)
CLIENT_LIBRARIES = {"github": ("github", "PyGithub"), "gitlab": ("gitlab", "python-gitlab"),
                    "bitbucket": ("atlassian", "atlassian-python-api")}


def _require_client(name: str) -> None:
    """The forge's client library is an optional extra: without it, say how to install it."""
    module, distribution = CLIENT_LIBRARIES[name]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ProviderError(
            f"opening a {name} pull request needs {distribution}, which is not installed: "
            "pip install 'mem-sync[providers]' (or use --publish push)"
        ) from None
