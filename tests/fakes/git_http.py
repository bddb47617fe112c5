"""A git smart-HTTP server on 127.0.0.1: ``git http-backend`` behind a threaded http.server.

Real git clients clone, fetch and push through it, so tests exercise the same protocol a
forge speaks. Two traps handled here: git sends large pushes with
``Transfer-Encoding: chunked`` (decoded below, http-backend wants a plain body and its
length) and may gzip request bodies (``Content-Encoding`` is passed through for
http-backend to inflate).
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class GitRequest:
    method: str
    path: str
    query: str
    authorization: str | None
    chunked: bool = False


@dataclass
class GitHttpServer:
    """Serves every bare repository under ``root`` at ``http://127.0.0.1:<port>/<name>.git``."""

    root: Path
    credentials: tuple[str, str] | None = None
    # Called (once per receive-pack POST) before git http-backend handles the push.
    before_receive: Callable[[str], None] | None = None
    requests: list[GitRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def create_bare(self, name: str, *, initial_branch: str = "main") -> Path:
        path = self.root / name
        subprocess.run(["git", "init", "--quiet", "--bare", f"--initial-branch={initial_branch}",
                        str(path)], check=True)
        subprocess.run(["git", "config", "http.receivepack", "true"], cwd=path, check=True)
        return path

    def start(self) -> GitHttpServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _make_handler(server: GitHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            return

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size_line = self.rfile.readline().strip()
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        # trailers end with an empty line
                        while self.rfile.readline().strip():
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            auth = self.headers.get("Authorization")
            chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
            server.requests.append(GitRequest(self.command, path, query, auth, chunked))
            body = self._read_body()
            if server.credentials is not None and not self._authorized(auth):
                self._respond(401, b"auth required\n",
                              [("WWW-Authenticate", 'Basic realm="fake"')])
                return
            if self.command == "POST" and path.endswith("/git-receive-pack") \
                    and server.before_receive is not None:
                server.before_receive(path)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(server.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "REQUEST_METHOD": self.command,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": "tester",
                "REMOTE_ADDR": "127.0.0.1",
            }
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["HTTP_GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            proc = subprocess.run(["git", "http-backend"], input=body, env=env,
                                  capture_output=True, check=False)
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = proc.stdout.partition(b"\n\n")
            status = 200
            headers: list[tuple[str, str]] = []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name.strip(), value.strip()))
            self._respond(status, payload, headers)

        def _authorized(self, header: str | None) -> bool:
            assert server.credentials is not None
            user, password = server.credentials
            expected = base64.b64encode(f"{user}:{password}".encode()).decode()
            return header == f"Basic {expected}"

        def _respond(self, status: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
