"""A loopback forge: the GitHub, GitLab, Bitbucket Cloud and Bitbucket Server/DC endpoints
that mem-sync's adapters use, answered with bodies shaped like the genuine APIs (built from
the fixtures in tests/fakes/data, whose sources each file records) and every request recorded.

Fault injection (``fail``) makes the next matching requests answer with an error status,
so retry and error paths run through the real client libraries.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fakes.loopback import LoopbackServer

DATA = Path(__file__).parent / "data"


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int
    body: Any
    headers: dict[str, str]


@dataclass
class FakeForge(LoopbackServer):
    tokens: set[str] = field(default_factory=lambda: {"good-token"})
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # provider -> number -> PR/MR record (our own neutral shape; rendered per API on the way out)
    prs: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {"github": {}, "gitlab": {}, "cloud": {}, "server": {}})
    gitlab_projects: dict[str, int] = field(default_factory=dict)  # path -> numeric id
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------- lifecycle
    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            for store in self.prs.values():
                store.clear()

    def fail(self, method: str, path_regex: str, status: int, *, times: int = 1,
             body: Any = None, headers: dict[str, str] | None = None) -> None:
        """The next ``times`` matching requests answer ``status``.

        0 drops the connection unanswered; -1 carries the request out, then drops the answer.
        """
        self.faults.append(Fault(method, re.compile(path_regex), status, times,
                                 body if body is not None else {"message": f"HTTP {status}"},
                                 headers or {}))

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method)
                and (path_regex is None or re.search(path_regex, r.path))]

    def open_prs(self, provider: str) -> list[dict[str, Any]]:
        return [pr for pr in self.prs[provider].values() if pr["state"] == "open"]

    # ---------------------------------------------------------------- helpers
    def _new_pr(self, provider: str, **fields: Any) -> dict[str, Any]:
        store = self.prs[provider]
        number = max(store, default=0) + 1
        pr = {"number": number, "state": "open", "labels": [], "reviewers": [], "draft": False,
              "version": 0, **fields}
        store[number] = pr
        return pr

    def _authorized(self, headers: dict[str, str]) -> bool:
        for name, value in headers.items():
            if name.lower() not in ("authorization", "private-token", "job-token"):
                continue
            candidates = {value, value.split()[-1]}
            if value.lower().startswith("basic "):
                try:
                    decoded = base64.b64decode(value.split()[-1]).decode()
                    candidates.add(decoded.partition(":")[2])
                except ValueError:
                    pass
            if candidates & self.tokens:
                return True
        return False


# ---------------------------------------------------------------------- rendering
def _github_pr(forge: FakeForge, owner: str, repo: str, pr: dict[str, Any], *,
               simple: bool = False) -> dict[str, Any]:
    example = _load("github_examples.json")["pull-request-simple" if simple else "pull-request"]
    text = json.dumps(example)
    text = text.replace("https://api.github.com", f"{forge.base_url}/api/v3")
    text = text.replace("octocat/Hello-World", f"{owner}/{repo}")
    text = text.replace("/1347", f"/{pr['number']}")
    body = json.loads(text)
    body.update(number=pr["number"], id=pr["number"], title=pr["title"], body=pr["body"],
                state=pr["state"], draft=pr["draft"])
    body["head"].update(ref=pr["head"], label=f"{owner}:{pr['head']}")
    body["base"].update(ref=pr["base"], label=f"{owner}:{pr['base']}")
    body["labels"] = [{"id": i + 1, "name": n, "color": "f29513", "default": False,
                       "description": None, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
                       "url": f"{forge.base_url}/api/v3/repos/{owner}/{repo}/labels/{n}"}
                      for i, n in enumerate(pr["labels"])]
    return body


def _gitlab_mr(forge: FakeForge, project: dict[str, Any], pr: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(_load("gitlab_examples.json")["merge_request"])
    body.update(
        id=1000 + pr["number"], iid=pr["number"], project_id=project["id"],
        source_project_id=project["id"], target_project_id=project["id"],
        title=pr["title"], description=pr["body"],
        state="opened" if pr["state"] == "open" else "closed",
        source_branch=pr["head"], target_branch=pr["base"], labels=list(pr["labels"]),
        draft=pr["draft"], work_in_progress=pr["draft"],
        reviewers=[{"id": uid, "username": f"user{uid}", "name": f"User {uid}", "state": "active"}
                   for uid in pr["reviewers"]],
        web_url=f"{forge.base_url}/{project['path_with_namespace']}/-/merge_requests/{pr['number']}",
        reference=f"!{pr['number']}",
    )
    return body


def _cloud_pr(forge: FakeForge, workspace: str, slug: str, pr: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(_load("bitbucket_cloud_examples.json")["pullrequest"])
    text = text.replace("https://api.bitbucket.org", forge.base_url)
    text = text.replace("https://bitbucket.org", forge.base_url)
    text = text.replace("ios/fancyapp", f"{workspace}/{slug}").replace("/2080", f"/{pr['number']}")
    body = json.loads(text)
    body.update(id=pr["number"], title=pr["title"], description=pr["body"],
                state={"open": "OPEN", "closed": "DECLINED"}[pr["state"]],
                reviewers=[dict(r, type="user") for r in pr["reviewers"]], draft=pr["draft"])
    body["source"]["branch"]["name"] = pr["head"]
    body["destination"]["branch"]["name"] = pr["base"]
    return body


def _server_pr(forge: FakeForge, project: str, slug: str, pr: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(_load("bitbucket_server_examples.json")["pull_request"])
    text = text.replace("https://stash.example.com", forge.base_url)
    text = text.replace("/2080", f"/{pr['number']}")
    body = json.loads(text)
    body.update(id=pr["number"], version=pr["version"], title=pr["title"],
                description=pr["body"], state={"open": "OPEN", "closed": "DECLINED"}[pr["state"]],
                open=pr["state"] == "open", closed=pr["state"] != "open", draft=pr["draft"],
                reviewers=[{"user": {"name": n, "slug": n}, "role": "REVIEWER", "approved": False,
                            "status": "UNAPPROVED"} for n in pr["reviewers"]])
    body["fromRef"].update(id=f"refs/heads/{pr['head']}", displayId=pr["head"])
    body["toRef"].update(id=f"refs/heads/{pr['base']}", displayId=pr["base"])
    for ref in (body["fromRef"], body["toRef"]):
        ref["repository"].update(slug=slug, name=slug)
        ref["repository"]["project"]["key"] = project
    return body


# ---------------------------------------------------------------------- routing
Response = tuple[int, Any]


def _route(forge: FakeForge, method: str, path: str, query: dict[str, list[str]],
           body: Any) -> Response:
    q = {k: v[0] for k, v in query.items()}
    # ----- GitHub (REST v3 under /api/v3, as GitHub Enterprise Server serves it)
    m = re.fullmatch(r"/api/v3/repos/([^/]+)/([^/]+)(/.*)?", path)
    if m:
        owner, repo, rest = m[1], m[2], m[3] or ""
        store = forge.prs["github"]
        if repo == "missing":
            return 404, {"message": "Not Found",
                         "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository"}
        if rest == "" and method == "GET":
            text = json.dumps(_load("github_examples.json")["full-repository"])
            text = text.replace("https://api.github.com", f"{forge.base_url}/api/v3")
            return 200, json.loads(text.replace("octocat/Hello-World", f"{owner}/{repo}"))
        if rest == "/pulls" and method == "GET":
            head = q.get("head", "")
            found = [pr for pr in store.values()
                     if (q.get("state", "open") == "all" or pr["state"] == q.get("state", "open"))
                     and (not head or f"{owner}:{pr['head']}" == head)
                     and (not q.get("base") or pr["base"] == q["base"])]
            return 200, [_github_pr(forge, owner, repo, pr, simple=True) for pr in found]
        if rest == "/pulls" and method == "POST":
            for pr in store.values():
                if pr["state"] == "open" and pr["head"] == body["head"] and pr["base"] == body["base"]:
                    return 422, {"message": "Validation Failed", "errors": [
                        {"resource": "PullRequest", "code": "custom",
                         "message": f"A pull request already exists for {owner}:{body['head']}."}]}
            pr = forge._new_pr("github", title=body["title"], body=body.get("body") or "",
                               head=body["head"], base=body["base"],
                               draft=bool(body.get("draft", False)))
            return 201, _github_pr(forge, owner, repo, pr)
        n = re.fullmatch(r"/pulls/(\d+)", rest)
        if n and int(n[1]) in store:
            pr = store[int(n[1])]
            if method == "PATCH":
                for key in ("title", "body", "state"):
                    if key in body:
                        pr[key] = body[key]
            return 200, _github_pr(forge, owner, repo, pr)
        n = re.fullmatch(r"/issues/(\d+)/labels", rest)
        if n and method == "POST" and int(n[1]) in store:
            pr = store[int(n[1])]
            names = body if isinstance(body, list) else body.get("labels", [])
            pr["labels"] = sorted(set(pr["labels"]) | set(names))
            return 200, _github_pr(forge, owner, repo, pr)["labels"]
        n = re.fullmatch(r"/pulls/(\d+)/requested_reviewers", rest)
        if n and method == "POST" and int(n[1]) in store:
            pr = store[int(n[1])]
            pr["reviewers"] = sorted(set(pr["reviewers"]) | set(body.get("reviewers", []))
                                     | {f"team:{t}" for t in body.get("team_reviewers", [])})
            return 201, _github_pr(forge, owner, repo, pr)
        return 404, {"message": "Not Found"}

    # ----- GitLab v4
    m = re.fullmatch(r"/api/v4/projects/([^/]+)(/.*)?", path)
    if m:
        ident, rest = unquote(m[1]), m[2] or ""
        if ident in ("missing", "group/missing"):
            return 404, _load("gitlab_examples.json")["error_404"]
        project = copy.deepcopy(_load("gitlab_examples.json")["project"])
        if ident.isdigit():
            by_id = {v: k for k, v in forge.gitlab_projects.items()}
            ident = by_id.get(int(ident), ident)
        if not ident.isdigit():
            number = forge.gitlab_projects.setdefault(ident, 100 + len(forge.gitlab_projects))
            project.update(id=number, path_with_namespace=ident, path=ident.rsplit("/", 1)[-1],
                           name=ident.rsplit("/", 1)[-1])
        else:
            project["id"] = int(ident)
        project["web_url"] = f"{forge.base_url}/{project['path_with_namespace']}"
        store = forge.prs["gitlab"]
        if rest == "" and method == "GET":
            return 200, project
        if rest == "/merge_requests" and method == "GET":
            state = {"opened": "open", "closed": "closed"}.get(q.get("state", ""), None)
            found = [pr for pr in store.values()
                     if (state is None or pr["state"] == state)
                     and (not q.get("source_branch") or pr["head"] == q["source_branch"])
                     and (not q.get("target_branch") or pr["base"] == q["target_branch"])]
            return 200, [_gitlab_mr(forge, project, pr) for pr in found]
        if rest == "/merge_requests" and method == "POST":
            for pr in store.values():
                if pr["state"] == "open" and pr["head"] == body["source_branch"]:
                    return 409, {"message": ["Another open merge request already exists for "
                                             f"this source branch: !{pr['number']}"]}
            labels = body.get("labels") or ""
            pr = forge._new_pr(
                "gitlab", title=body["title"], body=body.get("description") or "",
                head=body["source_branch"], base=body["target_branch"],
                labels=[s for s in (labels.split(",") if isinstance(labels, str) else labels) if s],
                reviewers=list(body.get("reviewer_ids") or []),
                draft=body["title"].lower().startswith(("draft:", "[draft]", "(draft)")))
            return 201, _gitlab_mr(forge, project, pr)
        n = re.fullmatch(r"/merge_requests/(\d+)", rest)
        if n and int(n[1]) in store:
            pr = store[int(n[1])]
            if method == "PUT":
                if "title" in body:
                    pr["title"] = body["title"]
                if "description" in body:
                    pr["body"] = body["description"]
                if body.get("state_event") == "close":
                    pr["state"] = "closed"
                if "labels" in body:
                    pr["labels"] = [s for s in str(body["labels"]).split(",") if s]
            return 200, _gitlab_mr(forge, project, pr)
        return 404, {"message": "404 Not found"}
    if path == "/api/v4/users" and method == "GET":
        user = copy.deepcopy(_load("gitlab_examples.json")["user"])
        name = q.get("username", "")
        if name == "nobody":
            return 200, []
        user.update(id=sum(map(ord, name)), username=name, name=name.title())
        return 200, [user]

    # ----- Bitbucket Cloud 2.0
    m = re.fullmatch(r"/2\.0/repositories/([^/]+)/([^/]+)(/.*)?", path)
    if m:
        workspace, slug, rest = m[1], m[2], (m[3] or "").rstrip("/")
        store = forge.prs["cloud"]
        if slug == "missing":
            return 404, {"type": "error", "error": {"message": "Repository not found"}}
        if rest == "/pullrequests" and method == "GET":
            wanted = re.findall(r'(\w+(?:\.\w+)*)\s*=\s*"([^"]*)"', q.get("q", ""))
            state = q.get("state")
            found = []
            for pr in store.values():
                rendered = _cloud_pr(forge, workspace, slug, pr)
                values = {"source.branch.name": pr["head"], "destination.branch.name": pr["base"],
                          "state": rendered["state"]}
                if state and rendered["state"] != state:
                    continue
                if all(values.get(k) == v for k, v in wanted):
                    found.append(rendered)
            return 200, {"pagelen": 10, "size": len(found), "page": 1, "values": found}
        if rest == "/pullrequests" and method == "POST":
            pr = forge._new_pr("cloud", title=body["title"], body=body.get("description") or "",
                               head=body["source"]["branch"]["name"],
                               base=(body.get("destination") or {}).get("branch", {}).get("name",
                                                                                          "main"),
                               reviewers=list(body.get("reviewers") or []),
                               draft=bool(body.get("draft", False)))
            return 201, _cloud_pr(forge, workspace, slug, pr)
        n = re.fullmatch(r"/pullrequests/(\d+)(/decline)?", rest)
        if n and int(n[1]) in store:
            pr = store[int(n[1])]
            if n[2] and method == "POST":
                pr["state"] = "closed"
            elif method == "PUT":
                if "title" in body:
                    pr["title"] = body["title"]
                if "description" in body:
                    pr["body"] = body["description"]
                if "reviewers" in body:
                    pr["reviewers"] = list(body["reviewers"])
            return 200, _cloud_pr(forge, workspace, slug, pr)
        return 404, {"type": "error", "error": {"message": "Resource not found"}}

    # ----- Bitbucket Server / Data Center 1.0
    m = re.fullmatch(r"/rest/api/1\.0/projects/([^/]+)/repos/([^/]+)(/.*)?", path)
    if m:
        project, slug, rest = m[1], m[2], (m[3] or "").rstrip("/")
        store = forge.prs["server"]
        if slug == "missing":
            return 404, {"errors": [{"context": None, "message": f"Repository {project}/{slug} "
                                     "does not exist.", "exceptionName":
                                     "com.atlassian.bitbucket.repository.NoSuchRepositoryException"}]}
        if rest == "/pull-requests" and method == "GET":
            state = q.get("state", "OPEN")
            at = q.get("at")
            direction = q.get("direction", "INCOMING")
            found = []
            for pr in store.values():
                rendered = _server_pr(forge, project, slug, pr)
                ref = rendered["fromRef" if direction == "OUTGOING" else "toRef"]["id"]
                if state != "ALL" and rendered["state"] != state:
                    continue
                if at and ref != at:
                    continue
                found.append(rendered)
            return 200, {"size": len(found), "limit": 25, "isLastPage": True, "values": found,
                         "start": 0}
        if rest == "/pull-requests" and method == "POST":
            head = body["fromRef"]["id"].removeprefix("refs/heads/")
            for pr in store.values():
                if pr["state"] == "open" and pr["head"] == head:
                    return 409, {"errors": [{"context": None, "message": "Only one pull request "
                                             "may be open for a given source and target branch",
                                             "exceptionName": "com.atlassian.bitbucket.pull."
                                             "DuplicatePullRequestException"}]}
            pr = forge._new_pr("server", title=body["title"], body=body.get("description") or "",
                               head=head, base=body["toRef"]["id"].removeprefix("refs/heads/"),
                               reviewers=[r["user"]["name"] for r in body.get("reviewers", [])],
                               draft=bool(body.get("draft", False)))
            return 201, _server_pr(forge, project, slug, pr)
        n = re.fullmatch(r"/pull-requests/(\d+)(/decline)?", rest)
        if n and int(n[1]) in store:
            pr = store[int(n[1])]
            if method in ("PUT", "POST") and str(q.get("version", body and body.get("version"))) \
                    != str(pr["version"]):
                return 409, {"errors": [{"context": None, "message": "You are attempting to modify "
                                         "a pull request based on out-of-date information.",
                                         "exceptionName": "com.atlassian.bitbucket.pull."
                                         "PullRequestOutOfDateException"}]}
            if n[2] and method == "POST":
                pr["state"] = "closed"
                pr["version"] += 1
            elif method == "PUT":
                if "title" in body:
                    pr["title"] = body["title"]
                if "description" in body:
                    pr["body"] = body["description"]
                if "reviewers" in body:
                    pr["reviewers"] = [r["user"]["name"] for r in body["reviewers"]]
                pr["version"] += 1
            return 200, _server_pr(forge, project, slug, pr)
        return 404, {"errors": [{"context": None, "message": "Not found", "exceptionName": None}]}
    return 404, {"message": "Not Found"}


def _handler(forge: FakeForge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = {"_form": parse_qs(raw.decode())}
            headers = {k: v for k, v in self.headers.items()}
            record = Recorded(self.command, split.path, parse_qs(split.query), body, headers)
            with forge._lock:
                forge.requests.append(record)
                fault = next((f for f in forge.faults if f.remaining > 0
                              and f.method == self.command and f.pattern.search(split.path)), None)
                if fault is not None:
                    fault.remaining -= 1
            if fault is not None and fault.status == -1:
                # The request is carried out but its answer is lost on the way back.
                with forge._lock:
                    _route(forge, self.command, split.path, parse_qs(split.query), body)
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault is not None:
                if fault.status == 0:
                    # A connection reset: the peer goes away without an answer.
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._send(fault.status, fault.body, fault.headers)
                return
            if not forge._authorized(headers):
                self._send(401, {"message": "Bad credentials",
                                 "documentation_url": "https://docs.github.com/rest"})
                return
            with forge._lock:
                status, payload = _route(forge, self.command, split.path, parse_qs(split.query),
                                         body)
            self._send(status, payload)

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
