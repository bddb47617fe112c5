"""``rules sync``: the project's reviewed rules into a code repository's assistant memory files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from memsync.commands.publish_flags import publish_options_for, publish_options_from_flags
from memsync.rules.deliver import ROLLING_BRANCH, Delivery, deliver, parse_targets
from memsync.rules.targets import TARGETS


@click.group("rules")
def rules() -> None:
    """Deliver the team's reviewed rules to code repositories."""


@rules.command("sync")
@click.option("--project", required=True, help="Project whose distilled/<project>/ rules to deliver.")
@click.option("--code-repo", required=True, metavar="DIR|URL",
              help="The code repository: a checkout, or a URL cloned into a temporary folder "
                   "(then --publish push or pr).")
@click.option("--target", "targets", default=",".join(TARGETS), show_default=True,
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
    delivery = Delivery(project=project, code_repo=code_repo, targets=parse_targets(targets),
                        memory_dir=repo_dir, budget=budget, memory_url=memory_url, dry_run=dry_run)
    report, result = deliver(delivery, publish_options_from_flags(**flags), os.environ)
    if output_format == "json":
        import orjson

        click.echo(orjson.dumps(report_document(report, result), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo("\n".join(describe(report, result, budget)))


def report_document(report: Any, result: Any) -> dict[str, Any]:
    document = report.to_dict()
    if result is not None:
        document["publish"] = {"mode": result.mode, "operation": result.operation,
                               "url": result.url, "commit": result.commit}
    return document


def describe(report: Any, result: Any, budget: int) -> list[str]:
    verb = "would " if report.dry_run else ""
    lines = [f"{report.project}: {len(report.rules)} reviewed rule(s) -> {', '.join(report.targets)}"]
    lines += [f"  {verb}write {path}" for path in report.written]
    lines += [f"  {verb}remove {path}" for path in report.removed]
    if not report.changed:
        lines.append("  up to date: nothing to change")
    for path, ids in sorted(report.omitted.items()):
        lines.append(f"  {path}: {len(ids)} rule(s) beyond the {budget}-byte budget, named in its "
                     "trailer")
    if report.missing:
        lines.append(f"  reviewed but absent from rules.json (not delivered): {', '.join(report.missing)}")
    for rule_id, names in sorted(report.withheld.items()):
        lines.append(f"  withheld {rule_id}: it looks like it carries a credential ({', '.join(names)}); "
                     "fix the rule in the memory repository")
    if result is not None and result.mode != "none":
        lines.append(f"  {result.mode}: {result.operation}{' ' + result.url if result.url else ''}")
    elif report.dry_run:
        lines.append("  (dry run: nothing written)")
    return lines
