"""``rules sync``: the project's reviewed rules into a code repository's assistant memory files."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from memsync.commands.publish_flags import publish_options_for, publish_options_from_flags
from memsync.errors import UsageError

ALL_TARGETS = "claude,cursor,copilot,agents"
ROLLING_BRANCH = "mem-sync/rules"
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
# The job usually runs in the memory repository's CI, where these variables name the memory
# repository, its forge and its branch, never the code repository's: the forge adapter and the
# base branch must come from the code repository's own remote and checkout instead.
_MEMORY_REPO_VARIABLES = (
    "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_REF_NAME",
    "GITLAB_CI", "CI_PROJECT_ID", "CI_PROJECT_PATH", "CI_COMMIT_BRANCH",
    "BITBUCKET_BUILD_NUMBER", "BITBUCKET_WORKSPACE", "BITBUCKET_REPO_SLUG",
    "BITBUCKET_REPO_FULL_NAME", "BITBUCKET_BRANCH",
)


@click.group("rules")
def rules() -> None:
    """Deliver the team's reviewed rules to code repositories."""


@rules.command("sync")
@click.option("--project", required=True, help="Project whose distilled/<project>/ rules to deliver.")
@click.option("--code-repo", required=True, metavar="DIR|URL",
              help="The code repository: a checkout, or a URL cloned into a temporary folder "
                   "(then --publish push or pr).")
@click.option("--target", "targets", default=ALL_TARGETS, show_default=True,
              help="Comma-separated targets: claude, cursor, copilot, agents.")
@click.option("--repo-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Checkout of the memory repository [default: fetch the project's configured "
                   "remote].")
@click.option("--budget", type=click.IntRange(min=512), default=8192, show_default=True,
              help="Bytes allowed for each always-on file or block; the lowest-confidence rules "
                   "beyond it are named in a trailer instead.")
@click.option("--memory-url", default=None, metavar="URL",
              help="Web address of distilled/<project>/rules.md for the evidence links "
                   "[default: derived from the memory repository's remote].")
@click.option("--dry-run", is_flag=True, help="Show which files would change; write nothing.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@publish_options_for(ROLLING_BRANCH)
def sync(project: str, code_repo: str, targets: str, repo_dir: Path | None, budget: int,
         memory_url: str | None, dry_run: bool, output_format: str, **flags: Any) -> None:
    """Write the project's accepted and modified rules into the code repository's memory files."""
    from memsync.publish.flow import publish
    from memsync.rules.sync import SyncOptions, sync_rules

    chosen = parse_targets(targets)
    publish_options = publish_options_from_flags(**flags)
    env = {k: v for k, v in os.environ.items() if k not in _MEMORY_REPO_VARIABLES}
    publish_options = _with_env(publish_options, env)
    if publish_options.mode == "none" and not dry_run and not Path(code_repo).is_dir():
        raise UsageError(f"--code-repo {code_repo} is not a folder; --publish none writes a work "
                         "tree, so pass a checkout (or use --publish pr / push with a URL)")
    with _memory_checkout(project, repo_dir) as (memory, links_url, branch):
        from memsync.rules.targets import Links, web_page

        page = memory_url or web_page(links_url, branch, project)
        links = Links(page=page, remote=_scrubbed(links_url))
        with _code_checkout(code_repo, publish_options, env) as code:
            options = SyncOptions(project=project, memory_repo=memory, code_repo=code,
                                  targets=chosen, links=links, budget=budget, dry_run=dry_run)
            if dry_run:
                report, result = sync_rules(options), None
            else:
                result = publish(code, lambda: sync_rules(options), publish_options)
                report = result.report
    _print(report, result, output_format, budget)


def parse_targets(text: str) -> tuple[str, ...]:
    from memsync.rules.targets import TARGETS

    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise UsageError(f"unknown --target {', '.join(unknown) or '(empty)'}; use a comma-separated "
                         f"list of: {', '.join(TARGETS)}")
    return tuple(t for t in TARGETS if t in names)


def _with_env(options: Any, env: Mapping[str, str]) -> Any:
    from dataclasses import replace

    return replace(options, env=dict(env))


@contextlib.contextmanager
def _memory_checkout(project: str, repo_dir: Path | None) -> Iterator[tuple[Path, str, str]]:
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
        name = (branch.stdout.strip() or os.environ.get("GITHUB_REF_NAME")
                or os.environ.get("CI_COMMIT_BRANCH") or os.environ.get("BITBUCKET_BRANCH") or "main")
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


def _print(report: Any, result: Any, output_format: str, budget: int) -> None:
    if output_format == "json":
        import orjson

        document = report.to_dict()
        if result is not None:
            document["publish"] = {"mode": result.mode, "operation": result.operation,
                                   "url": result.url, "commit": result.commit}
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    verb = "would " if report.dry_run else ""
    click.echo(f"{report.project}: {len(report.rules)} reviewed rule(s) -> {', '.join(report.targets)}")
    for path in report.written:
        click.echo(f"  {verb}write {path}")
    for path in report.removed:
        click.echo(f"  {verb}remove {path}")
    if not report.changed:
        click.echo("  up to date: nothing to change")
    for path, ids in sorted(report.omitted.items()):
        click.echo(f"  {path}: {len(ids)} rule(s) beyond the {budget}-byte budget, named in its "
                   "trailer")
    if report.missing:
        click.echo(f"  reviewed but absent from rules.json (not delivered): {', '.join(report.missing)}")
    if result is not None and result.mode != "none":
        where = f" {result.url}" if result.url else ""
        click.echo(f"  {result.mode}: {result.operation}{where}")
    elif report.dry_run:
        click.echo("  (dry run: nothing written)")
