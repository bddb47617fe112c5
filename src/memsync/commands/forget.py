"""``forget``: take observations back from the whole team (a retraction file, merged by CI)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from memsync.devside.config import load_config, select_projects
from memsync.errors import UsageError


@click.command("forget")
@click.option("--project", help="Configured project (default: the only enabled one).")
@click.option("--key", "key", nargs=3, type=(str, str, int), metavar="SESSION TITLE EPOCH",
              help="The composite key to retract (epoch in seconds or milliseconds; '' for an untitled one).")
@click.option("--search", "search_text", metavar="TEXT",
              help="Retract the observations of this project whose title, narrative or text contains TEXT.")
@click.option("--id", "local_id", type=int, metavar="LOCAL_ID",
              help="Retract the observation with this id in your claude-mem database.")
@click.option("--reason", default="", help="Why (shown to the team; never put a secret here).")
@click.option("--undo", is_flag=True, help="Lift an earlier retraction of these keys instead.")
@click.option("--yes", is_flag=True, help="Do not ask before retracting more than one observation.")
@click.option("--dry-run", is_flag=True, help="List what would be retracted; write nothing.")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False),
              help="claude-mem's database (default: global.claudeMemDbPath).")
@click.option("--repo-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Use this checkout of the shared repository instead of cloning it.")
@click.option("--no-push", is_flag=True, help="Commit in --repo-dir but do not push.")
def forget(
    project: str | None,
    key: tuple[str, str, int] | None,
    search_text: str | None,
    local_id: int | None,
    reason: str,
    undo: bool,
    yes: bool,
    dry_run: bool,
    db_path: Path | None,
    repo_dir: Path | None,
    no_push: bool,
) -> None:
    """Retract observations from the team's merged set and every teammate's database."""
    from memsync.devside import retract

    chosen = [name for name, value in (("--key", key), ("--search", search_text), ("--id", local_id))
              if value is not None]
    if len(chosen) != 1:
        raise UsageError(
            "name what to retract with exactly one of --key SESSION TITLE EPOCH, --search TEXT, --id LOCAL_ID")
    _check_reason(reason)
    config = load_config()
    name = select_projects(config, project, False)[0]
    settings = config.project(name)
    database = db_path or config.db_path
    if key is not None:
        matches = [retract.Match(retract.key_from_flags(*key), None, "?", key[1])]
    elif local_id is not None:
        matches = [retract.find_by_id(database, settings.mem_project, local_id)]
    else:
        matches = retract.search(database, settings.mem_project, search_text or "")
        if not matches:
            click.echo(f"{name}: no observation of claude-mem project {settings.mem_project!r} "
                       f"contains {search_text!r}")
            return
        if len(matches) > retract.SEARCH_LIMIT:
            raise UsageError(
                f"more than {retract.SEARCH_LIMIT} observations contain {search_text!r}; narrow the search"
            )
    verb = "undo the retraction of" if undo else "retract"
    click.echo(f"{name}: would {verb} {len(matches)} observation{'s' if len(matches) != 1 else ''}:")
    click.echo("\n".join(match.describe() for match in matches))
    if dry_run:
        click.echo("(dry run: nothing written)")
        return
    if len(matches) > 1 and not yes and not click.confirm(f"{verb} all {len(matches)}?", default=False):
        click.echo("nothing retracted")
        return
    result = retract.publish_retraction(
        [match.key for match in matches],
        project=name,
        dev=config.dev_name,
        reason=reason,
        undo=undo,
        remote=settings.remote,
        repo_dir=repo_dir,
        now_millis=time.time_ns() // 1_000_000,
        push=not no_push,
    )
    where = "pull request" if result.pull_request_url else ("pushed to" if result.pushed else "committed in")
    click.echo(f"{name}: retraction {result.path}, {where} {result.target}; the next merge applies it")


def _check_reason(reason: str) -> None:
    from memsync.merge.retraction import MAX_REASON_CHARS
    from memsync.scanner_cache import open_scanner, scanner_setup

    if len(reason) > MAX_REASON_CHARS:
        raise UsageError(f"--reason is {len(reason)} characters; keep it to {MAX_REASON_CHARS}")
    if not reason.strip():
        return
    findings = open_scanner(scanner_setup(os.environ)).scan_text(reason, "reason")
    if findings:
        rules = ", ".join(sorted({finding.rule for finding in findings}))
        raise UsageError(f"--reason carries a credential ({rules}); describe the problem without the secret itself")
