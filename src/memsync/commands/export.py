"""``preview`` and ``export``: what would be shared, and sharing it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from memsync.devside.config import Config, load_config, select_projects

if TYPE_CHECKING:
    from memsync.devside.exporter import ExportPlan
    from memsync.scanner_cache import ScannerSetup

_PROJECT = click.option("--project", help="Configured project to use (default: the only enabled one).")
_ALL = click.option("--all", "all_projects", is_flag=True, help="Every enabled project.")
_DB = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="claude-mem's database (default: global.claudeMemDbPath).",
)


def _plan(config: Config, name: str, db_path: Path | None, setup: ScannerSetup, redact: bool) -> ExportPlan:
    """What preview shows and export shares for one configured project (reads, writes nothing)."""
    from memsync.devside.exporter import plan_export

    return plan_export(
        config.project(name),
        dev=config.dev_name,
        db_path=db_path or config.db_path,
        now_millis=_now_millis(),
        scanner_setup=setup,
        redact=redact,
        access_log=_access_log(),
    )


def _now_millis() -> int:
    return time.time_ns() // 1_000_000


def _access_log() -> Path:
    from memsync.devside.access_log import access_log_path
    from memsync.devside.config import state_dir

    return access_log_path(state_dir())


@click.command("preview")
@_PROJECT
@_ALL
@_DB
@click.option("--redact", is_flag=True, help="Preview with secrets redacted instead of refusing.")
@click.option("--all-titles", is_flag=True, help="List every matching title (default: the first 50).")
def preview(
    project: str | None, all_projects: bool, db_path: Path | None, redact: bool, all_titles: bool
) -> None:
    """Show what an export would share, without writing anything."""
    from memsync.devside.exporter import describe_plan
    from memsync.scanner_cache import scanner_setup

    config = load_config()
    setup = scanner_setup(os.environ)  # the engine and its cache, resolved once for every project
    for name in select_projects(config, project, all_projects):
        plan = _plan(config, name, db_path, setup, redact)
        click.echo("\n".join(describe_plan(plan, limit=None if all_titles else 50)))


@click.command("export")
@_PROJECT
@_ALL
@_DB
@click.option(
    "--repo-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Use this checkout of the shared repository instead of cloning it.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be exported; write nothing.")
@click.option(
    "--redact", is_flag=True, help="Replace detected secrets with [REDACTED:<rule>] instead of refusing."
)
@click.option("--no-push", is_flag=True, help="Commit in --repo-dir but do not push.")
def export(
    project: str | None,
    all_projects: bool,
    db_path: Path | None,
    repo_dir: Path | None,
    dry_run: bool,
    redact: bool,
    no_push: bool,
) -> None:
    """Export filtered observations to the shared repository."""
    from memsync.devside.config import state_dir
    from memsync.devside.exporter import describe_plan, publish_export, superseded_line
    from memsync.errors import MemSyncError
    from memsync.scanner_cache import scanner_setup

    config = load_config()
    setup = scanner_setup(os.environ)  # the engine and its cache, resolved once for every project
    for name in select_projects(config, project, all_projects):
        settings = config.project(name)
        try:
            plan = _plan(config, name, db_path, setup, redact)
            if dry_run:
                click.echo("\n".join(describe_plan(plan)))
                click.echo("(dry run: nothing written)")
                continue
            if plan.filters.empty or not plan.count:
                line = (
                    f"{name}: nothing to export ({plan.count} of {plan.total_in_project} observations "
                    "match the filters; see: mem-sync preview)"
                )
                _history(state_dir(), name, "nothing", 0, line)
                click.echo(line)
                continue
            result = publish_export(plan, settings.remote, repo_dir, push=not no_push)
        except MemSyncError as error:
            if not dry_run:
                _history(state_dir(), name, "error", 0, str(error))
            raise
        verb = "pushed to" if result.pushed else "committed in"
        if result.pull_request_url:
            verb = "pull request"
        line = f"{name}: exported {result.count} observations -> {result.path}, {verb} {result.target}"
        _history(state_dir(), name, "ok", result.count, line)
        click.echo(line)
        superseded = superseded_line(plan)
        if superseded:
            click.echo(superseded)


def _history(folder: Path, project: str, result: str, count: int, detail: str) -> None:
    from memsync.devside.history import record_event

    warning = record_event(folder, "export", project, result, count, detail, now_millis=_now_millis())
    if warning:
        click.echo(warning, err=True)
