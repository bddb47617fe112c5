"""``maintain``: prune what the team no longer keeps, check the database, restore it on failure."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command("maintain")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--project", help="Only this configured project (default: every enabled one).")
@click.option("--include-own", is_flag=True,
              help="Also prune your own low-scoring observations (default: only team-imported ones).")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False),
              help="claude-mem's database (default: global.claudeMemDbPath).")
@click.option("--repo-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Read merged/<project>/latest.json from this checkout instead of cloning.")
@click.option("--keep-backups", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many pre-maintain backups to keep.")
def maintain(project: str | None, dry_run: bool, include_own: bool, db_path: Path | None,
             repo_dir: Path | None, keep_backups: int) -> None:
    """Back up, prune team-imported observations the team dropped, check and optimize the database."""
    from memsync.devside.config import load_config, select_projects, state_dir
    from memsync.devside.history import record_event
    from memsync.devside.maintain import MaintenanceFailed, plan_maintenance, run_maintenance
    from memsync.errors import MemSyncError
    from memsync.render import render_template

    config = load_config()
    names = select_projects(config, project, all_projects=project is None)
    database = db_path or config.db_path
    now = time.time_ns() // 1_000_000
    folder = state_dir()
    merged = {name: _merged_set(config, name, repo_dir) for name in names}
    report = plan_maintenance(database, folder, [(n, config.project(n).mem_project) for n in names], merged,
                              config.maintenance, include_own=include_own, now_millis=now, dry_run=dry_run)
    if dry_run:
        click.echo(render_template("maintain_report.txt.j2", r=report, limit=20, kept=keep_backups), nl=False)
        return

    def history(result: str, detail: str) -> None:
        for plan in report.projects:
            count = report.deleted.get(plan.project, 0)
            outcome = result if result == "error" or count else "nothing"
            warning = record_event(folder, "maintain", plan.project, outcome, count, detail,
                                   now_millis=time.time_ns() // 1_000_000)
            if warning:
                click.echo(warning, err=True)

    try:
        run_maintenance(report, folder, now_millis=now, backups_kept=keep_backups)
    except MaintenanceFailed as error:
        click.echo(render_template("maintain_report.txt.j2", r=report, limit=20, kept=keep_backups), nl=False)
        history("error", str(error))
        raise
    except MemSyncError as error:
        history("error", str(error))
        raise
    click.echo(render_template("maintain_report.txt.j2", r=report, limit=20, kept=keep_backups), nl=False)
    total = sum(report.deleted.values())
    history("ok", f"pruned {total} observations; checks passed; backup {report.backup}")


def _merged_set(config, name: str, repo_dir: Path | None):  # noqa: ANN001, ANN202 - local helper
    """The project's merged set, or a one-line note of why it is unknown (then rows are judged by
    score alone: nothing is dropped for being absent from a set we could not read)."""
    from memsync.devside.exporter import shared_checkout
    from memsync.devside.maintain import read_merged_set
    from memsync.errors import MemSyncError

    settings = config.project(name)
    try:
        with shared_checkout(settings.remote, repo_dir, need_git=False) as checkout:
            path = checkout.path / "merged" / name / "latest.json"
            try:
                return read_merged_set(path)
            except FileNotFoundError:
                return f"nothing merged yet ({path.name} absent): no row is dropped for being absent from it"
            except (OSError, ValueError) as error:
                return f"merged/{name}/latest.json unreadable ({error}): no row is dropped for being absent from it"
    except MemSyncError as error:
        return f"shared repository unreachable ({error}); no row is dropped for being absent from the merged set"
