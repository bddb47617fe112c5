"""The one small interface every forge adapter implements, and the logic they share.

An adapter answers four questions about the rolling branch's PR/MR: is one open, create it,
update it, close it. :func:`sync_pull_request` decides which to ask, so "create and update
produce the same result" holds for every forge alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

from memsync.errors import ProviderError
from memsync.publish.remote import Remote
from memsync.text import shorten

T = TypeVar("T")

# Retry transient failures a few times with a growing pause; a CI job should fail within
# about a minute rather than hang on a forge outage.
DEFAULT_BACKOFF: tuple[float, ...] = (1.0, 3.0, 9.0)


class CreateConflict(ProviderError):
    """The forge refused a create with 409/422: perhaps an earlier attempt that lost its
    answer (a connection reset) did create the PR/MR. The caller looks again."""


@dataclass(frozen=True)
class PullRequestSpec:
    head: str
    base: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    draft: bool = False


@dataclass(frozen=True)
class OpenPullRequest:
    number: int
    url: str
    title: str
    body: str
    # The client library's own object, so update/close need no second lookup.
    handle: object = None


@dataclass(frozen=True)
class PullRequestResult:
    operation: str  # created | updated | unchanged | closed | none
    url: str | None = None
    number: int | None = None


class Provider(Protocol):
    name: str

    def find_open(self, head: str, base: str) -> OpenPullRequest | None: ...

    def create(self, spec: PullRequestSpec) -> OpenPullRequest: ...

    def update(self, existing: OpenPullRequest, spec: PullRequestSpec) -> OpenPullRequest: ...

    def close(self, existing: OpenPullRequest) -> None: ...


@dataclass(frozen=True)
class ProviderContext:
    """What every adapter's ``from_environment`` builds it from (see ``registry.make_provider``)."""

    env: Mapping[str, str]
    remote: Remote | None  # the shared repository's remote, parsed once; None when unknown
    token_env: str | None = None  # the variable the user named for the token, if any
    sleep: Callable[[float], None] = time.sleep
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    polite: bool = True  # pace requests as the forge asks (GitHub); False for loopback tests


class TokenLookup(NamedTuple):
    variables: tuple[str, ...]  # where a token was looked for, in order
    variable: str  # the first of them that is set (else the first of them, to name in a message)
    token: str  # "" when none is set


def lookup_token(env: Mapping[str, str], token_env: str | None, defaults: Sequence[str]) -> TokenLookup:
    """The token from ``token_env`` when the user named one, else from the first of ``defaults`` set."""
    variables = (token_env,) if token_env else tuple(defaults)
    for name in variables:
        if env.get(name):
            return TokenLookup(variables, name, env[name])
    return TokenLookup(variables, variables[0], "")


def sync_pull_request(provider: Provider, spec: PullRequestSpec, *, differs: bool) -> PullRequestResult:
    """Make the forge reflect the rolling branch: one open PR while it differs from base, none after.

    ``differs`` is whether the head branch's tree differs from the base branch's tree.
    """
    existing = provider.find_open(spec.head, spec.base)
    if not differs:
        if existing is None:
            return PullRequestResult("none")
        provider.close(existing)
        return PullRequestResult("closed", existing.url, existing.number)
    if existing is None:
        try:
            created = provider.create(spec)
        except CreateConflict:
            existing = provider.find_open(spec.head, spec.base)
            if existing is None:
                raise
            # Adopt it fully (title, body, labels, reviewers): the lost create never got to
            # decorate it.
            adopted = provider.update(existing, spec)
            return PullRequestResult("updated", adopted.url, adopted.number)
        else:
            return PullRequestResult("created", created.url, created.number)
    if _normalise(existing.title) == _normalise(spec.title) and _normalise(
        existing.body
    ) == _normalise(spec.body):
        return PullRequestResult("unchanged", existing.url, existing.number)
    updated = provider.update(existing, spec)
    return PullRequestResult("updated", updated.url, updated.number)


def _normalise(text: str | None) -> str:
    # Forges hand bodies back with \r\n or a trimmed trailing newline.
    return (text or "").replace("\r\n", "\n").strip()


@dataclass(frozen=True)
class Failure:
    """What an adapter learnt from a client exception."""

    status: int | None  # HTTP status, None for a connection-level failure
    transient: bool
    detail: str = ""


@dataclass(frozen=True)
class TokenHint:
    """Names what a rejected request needs, for the one-line error message."""

    forge: str  # "GitHub"
    variable: str  # the environment variable the token came from
    permission: str  # what the token must be allowed to do


class RetryingAdapter:
    """What every forge adapter shares: a bounded, explained retry around each client call."""

    def __init__(self, hint: TokenHint, classify: Callable[[BaseException], Failure | None],
                 sleep: Callable[[float], None], backoff: tuple[float, ...]) -> None:
        self._hint = hint
        self._classify = classify
        self._sleep = sleep
        self._backoff = backoff

    def _call(self, what: str, action: Callable[[], T], *, creating: bool = False) -> T:
        return call_with_retries(action, what=what, classify=self._classify, hint=self._hint,
                                 sleep=self._sleep, backoff=self._backoff, creating=creating)


def call_with_retries(
    action: Callable[[], T],
    *,
    what: str,
    classify: Callable[[BaseException], Failure | None],
    hint: TokenHint,
    sleep: Callable[[float], None] = time.sleep,
    backoff: tuple[float, ...] = DEFAULT_BACKOFF,
    creating: bool = False,
) -> T:
    """Run ``action``; retry transient failures after each pause in ``backoff``; explain the rest.

    ``classify`` maps the client library's exception to a :class:`Failure` (None: not an API
    failure, re-raise). Permanent failures become one-line ``ProviderError``s; with
    ``creating``, a 409/422 becomes :class:`CreateConflict` so the caller can look again.
    """
    pauses = list(backoff)
    while True:
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - classified below, re-raised if unknown
            failure = classify(error)
            if failure is None:
                raise
            if failure.transient and pauses:
                sleep(pauses.pop(0))
                continue
            if creating and failure.status in (409, 422):
                raise CreateConflict(explain(failure, what=what, hint=hint)) from None
            raise ProviderError(explain(failure, what=what, hint=hint)) from None


def explain(failure: Failure, *, what: str, hint: TokenHint) -> str:
    status = failure.status
    if status == 401:
        return (f"{hint.forge} rejected the token in {hint.variable} while trying to {what} "
                f"(HTTP 401); set {hint.variable} to a valid token with {hint.permission}")
    if status == 403:
        return (f"{hint.forge} refused to {what} with the token in {hint.variable} (HTTP 403); "
                f"it needs {hint.permission}")
    if status == 404:
        return (f"{hint.forge} could not {what}: not found (HTTP 404); check the repository "
                f"name and that the token in {hint.variable} can see it")
    if status is None:
        from memsync.safety.urls import scrub_urls

        return f"could not reach {hint.forge} to {what}: {scrub_urls(failure.detail or 'connection failed')}"
    if failure.transient:
        return (f"{hint.forge} kept failing to {what} (HTTP {status}) after several retries; "
                f"re-run the job later")
    from memsync.safety.urls import scrub_urls  # a forge's message may quote a URL with its query

    detail = f": {scrub_urls(failure.detail)}" if failure.detail else ""
    return f"{hint.forge} refused to {what} (HTTP {status}){detail}"


def is_transient_status(status: int | None) -> bool:
    return status is None or status == 429 or 500 <= status < 600


def requests_failure(error: BaseException) -> Failure | None:
    """Classify the ``requests`` exceptions python-gitlab and atlassian-python-api let through."""
    try:
        import requests
    except ImportError:  # pragma: no cover - every provider client depends on requests
        return None
    if isinstance(error, requests.HTTPError) and error.response is not None:
        status = error.response.status_code
        return Failure(status, is_transient_status(status), _short(error.response.text))
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return Failure(None, True, type(error).__name__)
    return None


def _short(text: str | None, limit: int = 160) -> str:
    # a forge's error page may quote the request, query string included: URLs are masked first
    from memsync.safety.urls import scrub_urls

    return shorten(scrub_urls(text or ""), limit, one_line=True)
