"""A loopback model server shaped like the genuine APIs mem-sync's distillation calls.

- Anthropic Messages API: ``POST /v1/messages`` (``x-api-key`` or a bearer token), answering with a ``tool_use``
  content block, ``stop_reason`` and ``usage``; errors as ``{"type": "error", "error":
  {"type": ..., "message": ...}}`` with the real status codes and ``retry-after``.
- Amazon Bedrock: ``POST /model/<model id>/invoke`` (SigV4; the access key id is checked), the
  Messages API body and answer.
- Google Vertex AI: ``POST /projects/<p>/locations/<r>/publishers/anthropic/models/<m>:rawPredict``
  with the bearer token that this same server hands out as a GCE metadata server
  (``GCE_METADATA_HOST`` pointed here: google-auth's own credential discovery runs).
- OpenAI chat completions: ``POST /v1/chat/completions`` (``Authorization: Bearer``), the
  answer as the message content (JSON-schema response format), ``finish_reason``, ``usage``;
  errors as ``{"error": {"message", "type", "param", "code"}}``.

Every request is recorded (path, headers, JSON body). ``script`` queues canned replies
(errors, truncations, fixed answers) consumed one per request before the ``answerer``, which
by default distills honestly: a rule and a section per concept of the observations it was sent,
citing exactly their ids, and a union of partial results for a merge request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakes.loopback import LoopbackServer

OBSERVATION_LINE = re.compile(r'^\{"id":"(O\d+)".*$', re.MULTILINE)
PARTIAL = re.compile(r"<partial_result number=\"\d+\">\n(.*?)\n</partial_result>", re.DOTALL)

_ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error",
                     403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
                     500: "api_error", 529: "overloaded_error"}


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    json: Any

    @property
    def texts(self) -> list[str]:
        """Every string the request carried (system, messages), for leak checks."""
        out: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)
        walk(self.json)
        return out

    @property
    def user_text(self) -> str:
        messages = self.json.get("messages", [])
        return next(m["content"] for m in messages if m["role"] == "user")

    @property
    def kind(self) -> str:
        return "merge" if "<partial_result" in self.user_text else "part"

    def observation_ids(self) -> list[str]:
        return OBSERVATION_LINE.findall(self.user_text)


@dataclass
class Reply:
    status: int = 200
    answer: Any = None  # tool input / JSON content; None -> ask the answerer
    truncated: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""


def observations_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in re.findall(r'^\{"id":"O\d+".*$', text, re.MULTILINE)]


def honest_answer(request: Recorded) -> dict[str, Any]:
    """What a careful model would say: per concept, one rule and one section citing its ids."""
    if request.kind == "merge":
        rules: list[dict[str, Any]] = []
        sections: list[dict[str, Any]] = []
        for chunk in PARTIAL.findall(request.user_text):
            partial = json.loads(chunk)
            rules.extend(partial["rules"])
            sections.extend(partial["knowledgeSections"])
        return {"rules": rules, "knowledgeSections": sections}
    clusters: dict[str, list[dict[str, Any]]] = {}
    for obs in observations_of(request.user_text):
        concept = obs["concepts"][0] if obs["concepts"] else "general"
        clusters.setdefault(concept, []).append(obs)
    return {
        "rules": [{"rule": f"Follow the team's {concept} practice: {members[0]['title']}",
                   "rationale": f"{len(members)} observations agree.", "category": "conventions",
                   "confidence": 0.8, "sources": [m["id"] for m in members]}
                  for concept, members in sorted(clusters.items())],
        "knowledgeSections": [{"title": concept.title(), "concepts": [concept],
                               "description": f"What the team learnt about {concept}.",
                               "patterns": [m["title"] for m in members], "antiPatterns": [],
                               "sources": [m["id"] for m in members]}
                              for concept, members in sorted(clusters.items())],
    }


@dataclass
class FakeLLM(LoopbackServer):
    keys: set[str] = field(default_factory=lambda: {"test-key"})
    models: set[str] | None = None  # None: any model exists
    vertex_token: str = "ya29.loopback-access-token"  # what the metadata server issues
    answerer: Callable[[Recorded], Any] = honest_answer
    script: list[Reply] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def next_reply(self) -> Reply:
        with self._lock:
            return self.script.pop(0) if self.script else Reply()


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            recorded = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with fake._lock:
                fake.requests.append(recorded)
            if self.path.endswith("/v1/messages"):
                self._anthropic(recorded)
            elif self.path.startswith("/model/") and self.path.endswith("/invoke"):
                self._bedrock(recorded)
            elif self.path.startswith("/projects/") and self.path.endswith(":rawPredict"):
                self._vertex(recorded)
            elif self.path.endswith("/chat/completions"):
                self._openai(recorded)
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_GET(self) -> None:  # noqa: N802 - the GCE metadata server google-auth asks
            if self.headers.get("Metadata-Flavor") != "Google":
                return self._send(403, {"error": "Missing Metadata-Flavor:Google header."})
            path = self.path.split("?", 1)[0]
            body: Any = ""
            if path.endswith("/service-accounts/default/token"):
                body = {"access_token": fake.vertex_token, "expires_in": 3599,
                        "token_type": "Bearer"}
            elif path.endswith("/project/project-id"):
                body = "loopback-project"
            elif path.endswith("/service-accounts/default/"):
                body = {"email": "distill@loopback-project.iam.gserviceaccount.com",
                        "aliases": ["default"],
                        "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
            self._send(200, body, {"Metadata-Flavor": "Google"})

        # -------------------------------------------------------------- Anthropic
        def _vertex(self, request: Recorded) -> None:
            if request.headers.get("authorization") != f"Bearer {fake.vertex_token}":
                return self._send(401, {"error": {"code": 401, "status": "UNAUTHENTICATED",
                                                  "message": "Request had invalid credentials."}})
            model = request.path.rsplit("/models/", 1)[1].removesuffix(":rawPredict")
            self._anthropic(request, model=model, checked=True)

        def _bedrock(self, request: Recorded) -> None:
            # Bedrock: the model is in the path, the body is the Messages API's, the request is
            # SigV4-signed with the AWS access key id in the credential scope.
            from urllib.parse import unquote

            auth = request.headers.get("authorization", "")
            key = auth.removeprefix("AWS4-HMAC-SHA256 Credential=").split("/", 1)[0]
            if not auth.startswith("AWS4-HMAC-SHA256 ") or key not in fake.keys:
                return self._send(403, {"message": "The security token included in the request "
                                                   "is invalid."})
            self._anthropic(request, model=unquote(request.path[len("/model/"):-len("/invoke")]),
                            checked=True)

        def _anthropic(self, request: Recorded, model: str | None = None,
                       checked: bool = False) -> None:
            # The API takes the key as x-api-key; SDK 2.x sends it as a bearer token.
            key = request.headers.get("x-api-key") or \
                request.headers.get("authorization", "").removeprefix("Bearer ")
            if not checked and key not in fake.keys:
                return self._anthropic_error(401, "invalid x-api-key")
            model = model or request.json.get("model")
            if fake.models is not None and model not in fake.models:
                return self._anthropic_error(404, f"model: {model}")
            reply = fake.next_reply()
            if reply.status != 200:
                return self._anthropic_error(reply.status, reply.message or "error",
                                             reply.headers)
            tool = request.json["tools"][0]["name"]
            answer = fake.answerer(request) if reply.answer is None else reply.answer
            content: list[dict[str, Any]] = [{"type": "tool_use", "id": "toolu_01", "name": tool,
                                              "input": {} if reply.truncated else answer}]
            size = len(json.dumps(request.json))
            self._send(200, {
                "id": f"msg_{len(fake.requests):04d}", "type": "message", "role": "assistant",
                "model": model, "content": content,
                "stop_reason": "max_tokens" if reply.truncated else "tool_use",
                "stop_sequence": None,
                "usage": {"input_tokens": size // 4, "output_tokens": len(json.dumps(answer)) // 4},
            })

        def _anthropic_error(self, status: int, message: str,
                             headers: dict[str, str] | None = None) -> None:
            self._send(status, {"type": "error", "error": {
                "type": _ANTHROPIC_ERRORS.get(status, "api_error"), "message": message}},
                headers)

        # -------------------------------------------------------------- OpenAI
        def _openai(self, request: Recorded) -> None:
            auth = request.headers.get("authorization", "")
            if auth.removeprefix("Bearer ") not in fake.keys:
                return self._openai_error(401, "Incorrect API key provided", "invalid_api_key")
            model = request.json.get("model")
            if fake.models is not None and model not in fake.models:
                return self._openai_error(404, f"The model `{model}` does not exist",
                                          "model_not_found")
            reply = fake.next_reply()
            if reply.status != 200:
                return self._openai_error(reply.status, reply.message or "error", None,
                                          reply.headers)
            answer = fake.answerer(request) if reply.answer is None else reply.answer
            content = json.dumps(answer) if not isinstance(answer, str) else answer
            if reply.truncated:
                content = content[: len(content) // 2]
            size = len(json.dumps(request.json))
            self._send(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1773945000,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                     "refusal": None},
                             "finish_reason": "length" if reply.truncated else "stop",
                             "logprobs": None}],
                "usage": {"prompt_tokens": size // 4, "completion_tokens": len(content) // 4,
                          "total_tokens": size // 4 + len(content) // 4},
            })

        def _openai_error(self, status: int, message: str, code: str | None,
                          headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error",
                                          "param": None, "code": code}}, headers)

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "text/plain" if isinstance(body, str)
                             else "application/json")
            self.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
