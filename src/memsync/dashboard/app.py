"""The local web app: Starlette routes over ``Site``, behind a small security layer.

Safety (the dashboard shows a whole team's memories):
- the server binds 127.0.0.1 unless told otherwise, and answers only requests whose Host
  is an address it serves (a DNS-rebinding page cannot borrow the browser's access);
- no CORS headers at all, so other origins cannot read a response;
- a Content-Security-Policy with no inline script: observation text that slipped past
  escaping still could not run;
- the only write (reviewing a distilled rule) needs a token minted per launch and carried
  in the page's form, which a foreign page cannot read;
- bound to a non-loopback address, every request needs the user's ``--token`` (once as
  ``?token=``, then a SameSite=Strict cookie).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from memsync.dashboard.links import TABS
from memsync.dashboard.pages import NotFound, Site

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
AUTH_COOKIE = "memsync_dashboard"
RULE_ID = re.compile(r"R-[0-9a-f]{8}\Z")
REVIEW_STATUSES = ("accepted", "rejected", "proposed")
MAX_FORM_BYTES = 16 * 1024
STATIC_DIR = Path(__file__).resolve().parent / "static"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


@dataclass(frozen=True)
class HostPolicy:
    """Which Host headers name this server. IP literals cannot be rebound by DNS."""

    port: int
    names: frozenset[str] = LOOPBACK_NAMES
    any_ip_literal: bool = False  # bound to a non-loopback address: its IPs are only known to the OS

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        host, port = _split_host(host_header.strip().lower())
        if port is not None and port != self.port:
            return False
        if host in self.names:
            return True
        if self.any_ip_literal:
            try:
                ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                return False
            return True
        return False


def _split_host(value: str) -> tuple[str, int | None]:
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[:end + 1], value[end + 1:]
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, None
    try:
        return host, int(port) if port else None
    except ValueError:
        return host, -1


class SecurityLayer:
    """ASGI middleware: Host check, optional access token, security headers on every answer."""

    def __init__(self, app: Any, policy: HostPolicy, access_token: str | None) -> None:
        self.app = app
        self.policy = policy
        self.access_token = access_token

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")

        async def send_secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*[(k, v) for k, v in message.get("headers", [])
                                        if not k.lower().startswith(b"access-control-")], *SECURITY_HEADERS]
            await send(message)

        if not self.policy.allows(host):
            response: Response = PlainTextResponse(
                "mem-sync dashboard: this Host is not served here; open it at the address it printed "
                "(http://127.0.0.1:PORT/)\n", status_code=400)
            await response(scope, receive, send_secured)
            return
        if self.access_token is not None:
            verdict = self._authorize(scope, headers)
            if verdict is not None:
                await verdict(scope, receive, send_secured)
                return
        await self.app(scope, receive, send_secured)

    def _authorize(self, scope: dict[str, Any], headers: dict[bytes, bytes]) -> Response | None:
        assert self.access_token is not None
        cookies = _cookies(headers.get(b"cookie", b"").decode("latin-1"))
        if _same(cookies.get(AUTH_COOKIE), self.access_token):
            return None
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered = (query.get("token") or [None])[0]
        if _same(offered, self.access_token):
            rest = {k: v for k, v in query.items() if k != "token"}
            target = scope["path"] + ("?" + urllib.parse.urlencode(rest, doseq=True) if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(AUTH_COOKIE, self.access_token, httponly=True, samesite="strict", path="/")
            return response
        return PlainTextResponse("mem-sync dashboard: open it with ?token=<the --token you started it with>\n",
                                 status_code=401)


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


def _same(offered: str | None, expected: str | None) -> bool:
    return bool(offered) and bool(expected) and hmac.compare_digest(str(offered).encode(), str(expected).encode())


FeedbackWriter = Callable[..., None]


def create_app(site: Site, *, policy: HostPolicy, access_token: str | None = None,
               feedback_writer: FeedbackWriter | None = None) -> Any:
    """The ASGI application (Starlette wrapped in ``SecurityLayer``)."""

    def page(tab: str, params: dict[str, str]) -> Response:
        try:
            html = site.render(tab, params)
        except NotFound:
            return HTMLResponse(_not_found(), status_code=404, headers={"cache-control": "no-store"})
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    def tab_endpoint(tab: str) -> Callable[[Request], Awaitable[Response]]:
        # async on purpose: the SQLite connection then lives on the event loop's one thread
        async def endpoint(request: Request) -> Response:
            return page(tab, dict(request.query_params))

        return endpoint

    async def observation(request: Request) -> Response:
        return page("observation", {"id": request.path_params["obs_id"]})

    async def feedback(request: Request) -> Response:
        return await _review_rule(request, site, feedback_writer)

    routes = [Route("/", tab_endpoint("overview"), methods=["GET"])]
    routes += [Route(f"/{name}", tab_endpoint(name), methods=["GET"]) for name, _ in TABS if name != "overview"]
    routes += [
        Route("/observations/{obs_id:int}", observation, methods=["GET"]),
        Route("/distilled/feedback", feedback, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_exception_handler(404, _handle_404)
    return SecurityLayer(app, policy, access_token)


async def _handle_404(request: Request, exc: Exception) -> Response:
    return HTMLResponse(_not_found(), status_code=404)


def _not_found() -> str:
    return ("<!DOCTYPE html><title>Not found</title><p>Not found. <a href=\"/\">Back to the overview</a></p>")


async def _review_rule(request: Request, site: Site, writer: FeedbackWriter | None) -> Response:
    if site.write_token is None or writer is None or site.repo is None:
        return PlainTextResponse("reviewing rules needs the shared repository (--repo-dir)\n", status_code=409)
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and not site_origin_ok(origin, request):
        return PlainTextResponse("cross-site request refused\n", status_code=403)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return PlainTextResponse("send the review as a form (application/x-www-form-urlencoded)\n", status_code=415)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return PlainTextResponse("form too large\n", status_code=413)
    form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
    if not _same(form.get("token"), site.write_token):
        return PlainTextResponse("missing or wrong review token: reload the dashboard page and try again\n",
                                 status_code=403)
    project, rule, status = form.get("project", ""), form.get("rule", ""), form.get("status", "")
    if status not in REVIEW_STATUSES or not RULE_ID.match(rule):
        return PlainTextResponse(f"status must be one of {', '.join(REVIEW_STATUSES)} and rule an id like "
                                 "R-0123abcd\n", status_code=400)
    distilled = site.repo.distilled(project) if project in site.repo.projects() else None
    known = {str(r.get("id")) for r in ((distilled or {}).get("rules") or {}).get("rules") or [] if isinstance(r, dict)}
    if rule not in known:
        return PlainTextResponse(f"no rule {rule} in distilled/{project}/rules.json\n", status_code=404)
    writer(site.repo.root, project, rule, status, modified_rule=None, reviewer=site.dev_name, paths=None,
           now_ms=int(time.time() * 1000))
    target = site.links.page("distilled", project=project) + f"#rule-{rule}"
    return RedirectResponse(target, status_code=303)


def site_origin_ok(origin: str, request: Request) -> bool:
    parsed = urllib.parse.urlsplit(origin)
    return parsed.netloc.lower() == request.headers.get("host", "").lower()
