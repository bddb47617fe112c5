"""``mem-sync ci-merge``: flags compatible with claude-mem-sync, plus ours."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from memsync.commands.publish_flags import publish_options, publish_options_from_flags
from memsync.errors import UsageError
from memsync.merge.scoring import STRATEGY_WEIGHTS, Weights


@click.command("ci-merge")
@click.option("--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Root of the shared repository checkout.")
@click.option("--contributions-dir", default="contributions", show_default=True)
@click.option("--output-dir", default="merged", show_default=True)
@click.option("--state-file", default=".merge-state.json", show_default=True)
@click.option("--cap", type=click.IntRange(min=0), default=500, show_default=True,
              help="Observations kept per project (keep-tagged ones always survive).")
@click.option("--retention-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="Delete processed contribution files older than this (0 keeps them forever).")
@click.option("--project", default=None, help="Merge only this project.")
@click.option("--dry-run", is_flag=True, help="Print the plan and write nothing.")
@click.option("--now", type=click.IntRange(min=0), default=None,
              help="Epoch (s or ms) used as 'now'; default SOURCE_DATE_EPOCH, else the newest export "
                   "(never past the clock).")
@click.option("--keep-tag", "keep_tags", multiple=True, default=("#keep",), show_default=True,
              help="Tag that protects an observation from eviction (repeatable).")
@click.option("--strategy", type=click.Choice(sorted(STRATEGY_WEIGHTS)), default="passive",
              show_default=True, help="passive: diffusion across devs; hook: access counts.")
@click.option("--type-weight", type=float, default=None, help="Weight of the type score.")
@click.option("--recency-weight", type=float, default=None, help="Weight of recency.")
@click.option("--third-weight", type=float, default=None,
              help="Weight of diffusion (passive) or access (hook). The three must sum to 1.")
@click.option("--secrets", type=click.Choice(["quarantine", "fail", "off"]), default="quarantine",
              show_default=True, help="What to do with observations carrying credentials.")
@click.option("--strict", is_flag=True, help="Exit 1 when any contribution is quarantined.")
@click.option("--max-file-size", "max_file_mb", type=click.FloatRange(min=0, min_open=True),
              default=20.0, show_default=True, help="Largest contribution file read, in MB.")
@click.option("--profiles/--no-profiles", default=True, show_default=True,
              help="Regenerate developer profiles of the projects that changed.")
@click.option("--anonymize/--no-anonymize", default=True, show_default=True,
              help="Profiles compare against team averages only and never name other developers.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that parse contributions (default: one per core).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report format on stdout.")
@publish_options
def ci_merge(repo: Path, contributions_dir: str, output_dir: str, state_file: str, cap: int,
             retention_days: int, project: str | None, dry_run: bool, now: int | None,
             keep_tags: tuple[str, ...], strategy: str, type_weight: float | None,
             recency_weight: float | None, third_weight: float | None, secrets: str, strict: bool,
             max_file_mb: float, profiles: bool, anonymize: bool, workers: int | None,
             output_format: str, **publish_flags: Any) -> None:
    """Merge contributions into merged/<project>/latest.json (the CI job).

    With --publish push or pr the result is committed and pushed (retrying on a moved
    branch by merging again on the new tip) or proposed in one rolling PR/MR.
    """
    from memsync.ci.lock import merge_lock
    from memsync.ci.merge_job import MergeOptions, run_merge
    from memsync.publish.flow import publish
    from memsync.render import render_report, template_environment
    from memsync.scanner_cache import scanner_setup

    if not math.isfinite(max_file_mb):
        raise click.UsageError(f"--max-file-size must be a finite number of MB, got {max_file_mb}")
    defaults = STRATEGY_WEIGHTS[strategy]
    weights = None
    if (type_weight, recency_weight, third_weight) != (None, None, None):
        try:
            weights = Weights(
                type=defaults.type if type_weight is None else type_weight,
                recency=defaults.recency if recency_weight is None else recency_weight,
                third=defaults.third if third_weight is None else third_weight,
            )
        except ValueError as error:
            raise UsageError(f"{error}; adjust --type-weight/--recency-weight/--third-weight") from None
    options = MergeOptions(
        repo=repo, contributions_dir=contributions_dir, output_dir=output_dir,
        state_file=state_file, cap=cap, retention_days=retention_days, project=project,
        dry_run=dry_run, now=now, keep_tags=tuple(keep_tags), strategy=strategy, weights=weights,
        secrets=secrets, strict=strict, profiles=profiles, anonymize=anonymize,
        max_file_bytes=int(max_file_mb * 1024 * 1024), workers=workers,
        scanner_setup=scanner_setup(os.environ),
        while_flushing=(lambda: template_environment().get_template("merge_report.txt.j2"))
        if output_format == "text" else None,
    )
    publishing = publish_options_from_flags(**publish_flags)
    if dry_run and publishing.mode != "none":
        raise click.UsageError("--dry-run writes nothing, so it cannot --publish; drop one of them")
    with merge_lock(repo, lambda line: click.echo(line, err=True)):
        result = publish(repo, lambda: run_merge(options), publishing)
    report = result.report
    document = report.to_dict()
    document["publish"] = {"mode": result.mode, "operation": result.operation, "url": result.url,
                           "commit": result.commit, "attempts": result.attempts}
    click.echo(render_report(document, output_format), nl=False)
    sys.exit(report.exit_code)
