"""``mem-sync profile``: regenerate developer knowledge profiles and team insights on demand."""

from __future__ import annotations

import os
from pathlib import Path

import click

from memsync.errors import UsageError
from memsync.safety.names import check_safe_name


@click.command("profile")
@click.option("--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Checkout of the shared repository.")
@click.option("--project", help="Only this project (default: every project under contributions/).")
@click.option("--dev", "devs", multiple=True,
              help="Only this developer's profile (repeatable); team pages are left alone.")
@click.option("--format", "output_format", type=click.Choice(["json", "md", "both"]), default="both",
              show_default=True, help="json: profile.json only; md or both: profile.json and profile.md.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--now", "now", type=int, metavar="EPOCH",
              help="Timestamp for generatedAt (seconds or ms). Default: SOURCE_DATE_EPOCH, "
                   "else the newest exportedAtEpoch of the project's contributions and merged "
                   "set, so reruns change nothing.")
@click.option("--anonymize/--no-anonymize", default=True, show_default=True,
              help="Compare each developer with team averages only, never naming anyone else.")
@click.option("--contributions-dir", default="contributions", show_default=True)
@click.option("--output-dir", "merged_dir", default="merged", show_default=True,
              help="Where the merged sets are (merged/<project>/latest.json).")
@click.option("--profiles-dir", default="profiles", show_default=True)
def profile(
    repo: Path,
    project: str | None,
    devs: tuple[str, ...],
    output_format: str,
    dry_run: bool,
    now: int | None,
    anonymize: bool,
    contributions_dir: str,
    merged_dir: str,
    profiles_dir: str,
) -> None:
    """Generate developer knowledge profiles and team insights (deterministic, no LLM)."""
    from memsync.ci.clock import check_now
    from memsync.profiles.generate import generate_project_profiles, list_projects
    from memsync.scanner_cache import open_scanner, scanner_setup

    source = "--now" if now is not None else "SOURCE_DATE_EPOCH"
    if now is None:
        now = _source_date_epoch()
    if now is not None and now <= 0:
        raise UsageError(f"--now must be a positive epoch (seconds or milliseconds), got {now}")
    if now is not None:
        check_now(now, source)  # past year 9999: a usage error, as for ci-merge
    if not repo.is_dir():
        raise UsageError(f"--repo {repo} is not a directory; point it at a checkout of the shared repository")
    # As in claude-mem-sync, `--format md` adds the Markdown pages to the JSON, never replaces it.
    formats = ("json",) if output_format == "json" else ("json", "md")
    # pages count only what the merge would merge: observations and names carrying credentials stay out
    scanner = open_scanner(scanner_setup(os.environ))
    known = list_projects(repo, contributions_dir, scanner)
    if project:
        check_safe_name(project, "project")
    if project and project not in known:
        # a typo must not pass for "nothing to do"
        raise UsageError(f"no contributions for project {project!r} under {contributions_dir}/ "
                         f"(projects found: {', '.join(known) or 'none'})")
    projects = [project] if project else known
    if devs and not project and len(projects) > 1:
        raise UsageError("--dev needs --project when the repository holds several projects")
    if not projects:
        click.echo(f"no contributions under {contributions_dir}/; nothing to profile")
        return
    verb = "would write" if dry_run else "wrote"
    for name in projects:
        run = generate_project_profiles(
            repo, name, now_millis=now, contributions_dir=contributions_dir, merged_dir=merged_dir,
            profiles_dir=profiles_dir, anonymize=anonymize, devs=list(devs) or None,
            formats=formats, dry_run=dry_run, scanner=scanner,
        )
        if not run.devs:
            click.echo(f"{name}: no readable contributions under {contributions_dir}/{name}/; "
                       "nothing to profile")
            continue
        for path in run.written:
            click.echo(f"{verb} {path}")
        for path in run.skipped:
            click.echo(f"skipped {path}: a symbolic link is in the way (mem-sync never writes through one)",
                       err=True)
        people = f"{len(run.devs)} developer{'s' if len(run.devs) != 1 else ''}"
        if run.written:
            done = "to update" if dry_run else "updated"
            click.echo(f"{name}: {people}, {len(run.written)} file(s) {done}")
        else:
            click.echo(f"{name}: {people}, profiles up to date")


def _source_date_epoch() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH must be an integer epoch, got {value!r}") from None
