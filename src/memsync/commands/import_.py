"""``import``: the team's merged observations into this developer's claude-mem database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from memsync.devside.config import load_config, select_projects, state_dir
from memsync.errors import MemSyncError, UsageError

if TYPE_CHECKING:
    from memsync.devside.importer import ImportReport


@click.command("import")
@click.option("--project", help="Configured project to import (default: the only enabled one).")
@click.option("--all", "all_projects", is_flag=True, help="Every enabled project.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="claude-mem's database (default: global.claudeMemDbPath).",
)
@click.option(
    "--repo-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Read merged/<project>/latest.json from this checkout instead of cloning.",
)
@click.option(
    "--file",
    "merged_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Import this merged file directly (one project).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be added; write nothing.")
@click.option("--no-backup", is_flag=True, help="Skip the database backup taken before writing.")
@click.option("--force", is_flag=True, help="Re-check a merged file already imported (duplicates are still skipped).")
@click.option("--purge-own", is_flag=True,
              help="Also delete your own original rows of keys the team retracted (default: keep them).")
def import_(
    project: str | None,
    all_projects: bool,
    db_path: Path | None,
    repo_dir: Path | None,
    merged_file: Path | None,
    dry_run: bool,
    no_backup: bool,
    force: bool,
    purge_own: bool,
) -> None:
    """Import the team's merged observations into claude-mem's database."""
    from memsync.devside.exporter import shared_checkout
    from memsync.devside.importer import NothingMerged, import_merged

    config = load_config()
    names = select_projects(config, project, all_projects)
    if merged_file is not None and len(names) != 1:
        raise UsageError("--file imports one project: pass --project NAME with it")
    database = db_path or config.db_path

    def run(name: str, path: Path) -> ImportReport:
        settings = config.project(name)
        return import_merged(
            path,
            project=name,
            mem_project=settings.mem_project,
            db_path=database,
            state_dir=state_dir(),
            dry_run=dry_run,
            backup=not no_backup,
            force=force,
            purge_own=purge_own,
        )

    for name in names:
        try:
            if merged_file is not None:
                report = run(name, merged_file)
            else:
                with shared_checkout(config.project(name).remote, repo_dir, need_git=False) as checkout:
                    try:
                        report = run(name, checkout.path / "merged" / name / "latest.json")
                    except NothingMerged:
                        # A new team: nobody's export has been merged yet. Nothing to do is success.
                        line = (
                            f"{name}: nothing merged yet (no merged/{name}/latest.json in the shared "
                            "repository); import again after the merge bot has run"
                        )
                        _history(name, "nothing", 0, line, dry_run)
                        click.echo(line)
                        continue
        except MemSyncError as error:
            _history(name, "error", 0, str(error), dry_run)
            raise
        line = _describe(report)
        _history(name, "ok" if report.added else "nothing", report.added, line, dry_run)
        click.echo(line)


def _history(project: str, result: str, count: int, detail: str, dry_run: bool) -> None:
    """Real imports go to the sync history (status shows the last one); dry runs do not."""
    if dry_run:
        return
    import time

    from memsync.devside.history import record_event

    now = time.time_ns() // 1_000_000
    warning = record_event(state_dir(), "import", project, result, count, detail, now_millis=now)
    if warning:
        click.echo(warning, err=True)


def _describe(report: ImportReport) -> str:
    return _describe_import(report) + _describe_purge(report)


def _describe_purge(report: ImportReport) -> str:
    purged = report.purged
    if purged is None or not (purged.team or purged.own or purged.own_kept):
        return ""
    verb = "would remove" if report.dry_run else "removed"
    line = f"\n{report.project}: {verb} {purged.team + purged.own} retracted observation(s)"
    line += f" ({purged.team} from team imports, {purged.own} of your own)"
    if purged.own_kept:
        line += (f"; kept {purged.own_kept} of your own rows whose keys the team retracted "
                 "(--purge-own deletes them too)")
    return line


def _describe_import(report: ImportReport) -> str:
    if report.already_imported:
        return (
            f"{report.project}: this merged file was already imported into the database "
            "(nothing to do; --force re-checks it)"
        )
    if report.dry_run:
        return (
            f"{report.project}: would add {report.added} of {report.in_file} observations "
            f"({report.skipped_existing} already present); dry run, nothing written"
        ) + _set_aside(report)
    line = (
        f"{report.project}: added {report.added} of {report.in_file} observations "
        f"({report.skipped_existing} already present, {report.sessions_created} sessions created)"
    )
    if report.backup is not None:
        line += f"; backup: {report.backup}"
    return line + _set_aside(report)


def _set_aside(report: ImportReport) -> str:
    """One line per observation the import could not take (the rest went in)."""
    return "".join(f"\n  skipped {reason}; the other observations were imported" for _, reason in report.set_aside)
