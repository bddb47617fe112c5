"""One delivery, as the CLI and the GitHub Action both run it: find the memory repository and
the code repository (cloning a URL), then sync, dry or through the publishing flow."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from memsync.errors import UsageError
from memsync.rules.targets import DEFAULT_BUDGET, TARGETS

ROLLING_BRANCH = "mem-sync/rules"
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
# The job usually runs in the memory repository's CI, where these variables name the memory
# repository, its forge and its branch, never the code repository's: the forge adapter and the
# base branch must come from the code repository's own remote and checkout instead.
MEMORY_REPO_VARIABLES = (
    "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_REF_NAME",
    "GITLAB_CI", "CI_PROJECT_ID", "CI_PROJECT_PATH", "CI_COMMIT_BRANCH",
    "BITBUCKET_BUILD_NUMBER", "BITBUCKET_WORKSPACE", "BITBUCKET_REPO_SLUG",
    "BITBUCKET_REPO_FULL_NAME", "BITBUCKET_BRANCH",
    "MEM_SYNC_BITBUCKET_PROJECT", "MEM_SYNC_BITBUCKET_REPO",
)


@dataclass(frozen=True)
class Delivery:
    project: str
    code_repo: str  # a folder or a git URL
    targets: tuple[str, ...] = TARGETS
    memory_dir: Path | None = None  # None: fetch the project's configured remote
    budget: int = DEFAULT_BUDGET
    memory_url: str | None = None
    dry_run: bool = False


def parse_targets(text: str) -> tuple[str, ...]:
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise UsageError(f"unknown --target {', '.join(unknown) or '(empty)'}; use a comma-separated "
                         f"list of: {', '.join(TARGETS)}")
    return tuple(t for t in TARGETS if t in names)


def code_repo_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in MEMORY_REPO_VARIABLES}


def deliver(delivery: Delivery, publish_options: Any, env: Mapping[str, str]) -> tuple[Any, Any]:
    """(RulesReport, PublishResult or None for a dry run). ``env`` is the process environment;
    the memory repository's CI variables are dropped from what the publishing flow sees."""
    from memsync.publish.flow import publish
    from memsync.rules.sync import SyncOptions, sync_rules
    from memsync.rules.targets import Links, web_page
    from memsync.scanner_cache import open_scanner, scanner_setup

    code_env = code_repo_env(env)
    publish_options = replace(publish_options, env=code_env)
    if publish_options.mode == "none" and not delivery.dry_run and not Path(delivery.code_repo).is_dir():
        raise UsageError(f"--code-repo {delivery.code_repo} is not a folder; --publish none writes a "
                         "work tree, so pass a checkout (or use --publish pr / push with a URL)")
    with _memory_checkout(delivery.project, delivery.memory_dir, env) as (memory, url, branch):
        # A local path would differ between machines (and say where someone keeps files):
        # only a shared URL is written into the code repository.
        shared = url if ("://" in url or _SCP_LIKE.match(url)) and not url.startswith("file:") else ""
        links = Links(page=delivery.memory_url or web_page(url, branch, delivery.project),
                      remote=_scrubbed(shared))
        with _code_checkout(delivery.code_repo, publish_options, code_env) as code:
            options = SyncOptions(project=delivery.project, memory_repo=memory, code_repo=code,
                                  targets=delivery.targets, links=links, budget=delivery.budget,
                                  dry_run=delivery.dry_run,
                                  scanner=open_scanner(scanner_setup(env)))
            if delivery.dry_run:
                return sync_rules(options), None
            result = publish(code, lambda: sync_rules(options), publish_options)
            return result.report, result


@contextlib.contextmanager
def _memory_checkout(project: str, repo_dir: Path | None,
                     env: Mapping[str, str]) -> Iterator[tuple[Path, str, str]]:
    """(folder, remote URL or '', branch) of the memory repository."""
    from memsync.publish import git

    if repo_dir is not None:
        if not repo_dir.is_dir():
            raise UsageError(f"--repo-dir {repo_dir} is not a folder; pass a checkout of the "
                             "memory repository")
        safe = git.safe_directory_env(repo_dir)
        url = git.run_git(["remote", "get-url", "origin"], repo_dir, env=safe, check=False)
        branch = git.run_git(["symbolic-ref", "--quiet", "--short", "HEAD"], repo_dir, env=safe,
                             check=False)
        # A CI checkout is often a detached HEAD; the CI names the branch it checked out.
        name = (branch.stdout.strip() or env.get("GITHUB_REF_NAME") or env.get("CI_COMMIT_BRANCH")
                or env.get("BITBUCKET_BRANCH") or "main")
        yield repo_dir, url.stdout.strip() if url.returncode == 0 else "", name
        return
    from memsync.devside.config import load_config
    from memsync.devside.exporter import shared_checkout

    remote = load_config().project(project).remote
    with shared_checkout(remote, None, need_git=False) as checkout:
        yield checkout.path, remote.clone_url, checkout.branch


@contextlib.contextmanager
def _code_checkout(code_repo: str, options: Any, env: Mapping[str, str]) -> Iterator[Path]:
    path = Path(code_repo)
    if path.is_dir():
        yield path
        return
    if "://" not in code_repo and not _SCP_LIKE.match(code_repo):
        raise UsageError(f"--code-repo {code_repo} is neither a folder nor a git URL")
    from memsync.publish import git
    from memsync.publish.flow import url_credentials

    folder = Path(tempfile.mkdtemp(prefix="mem-sync-code-"))
    try:
        git.clone(code_repo, folder / "repo", branch=options.base,
                  env=url_credentials(code_repo, options, env))
        yield folder / "repo"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _scrubbed(url: str) -> str:
    from memsync.publish.git import scrub

    return scrub(url)
