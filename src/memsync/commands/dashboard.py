"""``mem-sync dashboard``: the team's memory in a browser (local server, or static pages)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from memsync.errors import UsageError

if TYPE_CHECKING:
    from memsync.dashboard.store import ObservationStore

MIN_TOKEN_LENGTH = 16


@click.command("dashboard")
@click.option("--port", type=click.IntRange(0, 65535), default=3737, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback exposes your memories: it needs --token.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="claude-mem database (default: from the configuration, else ~/.claude-mem/claude-mem.db).")
@click.option("--repo-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A checkout of the shared repository (merged sets, profiles, distilled rules, merges).")
@click.option("--project", default=None, help="Project shown first.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser window.")
@click.option("--token", default=None, envvar="MEM_SYNC_DASHBOARD_TOKEN",
              help="Require this secret on every request (needed with a non-loopback --host).")
@click.option("--static", "static_out", type=click.Path(path_type=Path), default=None,
              help="Write static pages of the shared repository (--repo-dir) into this folder and exit.")
def dashboard(port: int, host: str, db_path: Path | None, repo_dir: Path | None, project: str | None,
              no_browser: bool, token: str | None, static_out: Path | None) -> None:
    """See claude-mem's memories, the team's merged set, profiles and distilled rules in a browser.

    Read-only over claude-mem's database. Binds 127.0.0.1 by default; with --static OUT it
    writes the shared repository's pages as files for GitHub or GitLab Pages instead.
    """
    if static_out is not None:
        _build_static(static_out, repo_dir)
        return
    _serve(port, host, db_path, repo_dir, project, no_browser, token)


def _now_ms() -> int:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return int(epoch) * 1000
    return int(time.time() * 1000)


def _build_static(out: Path, repo_dir: Path | None) -> None:
    from memsync.dashboard.static_build import build_static

    if repo_dir is None:
        raise UsageError("--static builds pages from the shared repository: add --repo-dir DIR (a checkout of it)")
    build = build_static(repo_dir, out, now_ms=_now_ms())
    click.echo(f"wrote {build.pages} pages ({build.observations} merged observations, {build.projects} "
               f"project{'s' if build.projects != 1 else ''}) to {build.out}; open {build.out / 'index.html'}")


def _warm_cjk_index(store: ObservationStore, db: Path) -> None:
    import sqlite3

    from memsync.dashboard.store import open_claude_mem
    from memsync.errors import DatabaseError

    try:
        conn = open_claude_mem(db)
    except DatabaseError:
        return  # the first CJK search builds it through the page's connection instead
    try:
        store.warm_cjk_index(conn)
    except sqlite3.Error:
        pass  # likewise: a search retries the build and reports what is wrong then
    finally:
        conn.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve(port: int, host: str, db_path: Path | None, repo_dir: Path | None, project: str | None,
           no_browser: bool, token: str | None) -> None:
    loopback = _is_loopback(host)
    if not loopback:
        click.echo(f"mem-sync: warning: --host {host} lets other machines reach the dashboard; "
                   "everyone who has the token reads your memories", err=True)
        if not token:
            raise UsageError(f"--host {host} is not loopback: add --token SECRET (at least {MIN_TOKEN_LENGTH} "
                             "characters), or keep the default --host 127.0.0.1")
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise UsageError(f"--token must be at least {MIN_TOKEN_LENGTH} characters (try: python -c "
                         "\"import secrets; print(secrets.token_urlsafe(24))\")")
    if repo_dir is not None and not repo_dir.is_dir():
        raise UsageError(f"--repo-dir {repo_dir} is not a directory; point it at a checkout of the shared repository")

    dev_name, configured_db, configured = _from_config()
    db = (db_path or configured_db or Path("~/.claude-mem/claude-mem.db")).expanduser()

    sock = _bind(host, port)
    # Heavy imports only now: `mem-sync --help` and every other command never pay for them.
    import uvicorn

    from memsync.dashboard.app import HostPolicy, create_app
    from memsync.dashboard.feedback import set_rule_status
    from memsync.dashboard.links import LiveLinks
    from memsync.dashboard.pages import Site
    from memsync.dashboard.sources import ACCESS_LOG_NAME, SYNC_HISTORY_NAME, AccessLog, SharedRepo, SyncHistory
    from memsync.dashboard.store import ObservationStore, open_claude_mem
    from memsync.devside.config import state_dir

    try:
        store = ObservationStore(open_claude_mem(db), path=db)
    except BaseException:
        sock.close()
        raise
    # The CJK side index scans every row once (~0.3 s on 100k): do it now on a thread with its own
    # read-only connection, so the first Chinese/Japanese/Korean search does not pay for it.
    import threading

    threading.Thread(target=_warm_cjk_index, args=(store, db), name="cjk-index", daemon=True).start()
    state = state_dir()
    site = Site(links=LiveLinks(), store=store, access=AccessLog(state / ACCESS_LOG_NAME),
                history=SyncHistory(state / SYNC_HISTORY_NAME),
                repo=SharedRepo(repo_dir.resolve()) if repo_dir is not None else None,
                db_path=db, state_dir=state, default_project=project, dev_name=dev_name,
                write_token=secrets.token_urlsafe(32), configured=configured)
    bound_port = sock.getsockname()[1]
    names = {"127.0.0.1", "localhost", "[::1]", "::1"}
    if not loopback and host not in ("0.0.0.0", "::"):
        names.add(host.lower() if ":" not in host else f"[{host.lower()}]")
    policy = HostPolicy(port=bound_port, names=frozenset(names), any_ip_literal=host in ("0.0.0.0", "::"))
    app = create_app(site, policy=policy, access_token=token, feedback_writer=set_rule_status)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    url = f"http://{shown}:{bound_port}/"
    click.echo(f"mem-sync dashboard: {url}{' (add ?token=YOUR_TOKEN once)' if token else ''} "
               f"(database {db}, read-only; Ctrl-C stops it)", err=False)
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


def _from_config() -> tuple[str | None, Path | None, dict[str, dict[str, object]] | None]:
    """Developer name, database path and projects from mem-sync's configuration, if there is one."""
    from memsync.devside.config import config_path, load_config

    if not config_path().is_file():
        return None, None, None
    try:
        config = load_config()
        projects = {}
        for name in config.project_names:
            entry = config.project(name)
            remote = entry.remote.url or f"{entry.remote.type}:{entry.remote.repo or '?'}"
            projects[name] = {"mem_project": entry.mem_project, "enabled": entry.enabled, "remote": remote,
                              "mode": "push" if entry.remote.auto_merge else "pull request"}
    except Exception:  # the dashboard still runs on --db without a valid configuration
        return None, None, None
    return config.dev_name, config.db_path, projects


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without it every
    # keep-alive response waits ~40 ms for a delayed ACK (headers and body are two writes)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        if port and error.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise UsageError(f"port {port} is already in use: pass --port N (or --port 0 for any free one)") from None
        raise UsageError(f"cannot listen on {host}:{port} ({error.strerror}); check --host and --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
