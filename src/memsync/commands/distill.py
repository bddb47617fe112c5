"""``mem-sync distill``: turn a project's merged observations into rules for review.

``mem-sync distill [--project P | --all] [--dry-run] ...`` distills; ``mem-sync distill
accept|reject|modify RULE_ID`` records a reviewer's verdict in feedback.json.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from memsync.errors import UsageError

_TRUE = ("1", "true", "yes", "on")


def _repo_option(func: Any) -> Any:
    return click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=".",
                        show_default=True, help="Root of the shared repository checkout.")(func)


@click.group("distill", invoke_without_command=True)
@_repo_option
@click.option("--project", default=None, help="Project to distill (default: the only one).")
@click.option("--all", "all_projects", is_flag=True, help="Every project with a merged set.")
@click.option("--dry-run", is_flag=True,
              help="Print observations, parts, estimated tokens and cost; send nothing.")
@click.option("--provider", "llm_provider", default=None, envvar="MEM_SYNC_DISTILL_PROVIDER",
              help="anthropic (default), bedrock, vertex, or openai (any OpenAI-compatible "
                   "endpoint; without --base-url, GitHub Models).")
@click.option("--model", default=None, envvar="MEM_SYNC_DISTILL_MODEL",
              help="Model name [default: distillation.model, claude-sonnet-4-20250514].")
@click.option("--base-url", default=None, envvar="MEM_SYNC_DISTILL_BASE_URL",
              help="Endpoint of the provider (an in-house server, a gateway).")
@click.option("--max-cost", type=click.FloatRange(min=0), default=None,
              envvar="MEM_SYNC_DISTILL_MAX_COST",
              help="Refuse a run whose estimated cost exceeds this many US dollars.")
@click.option("--enable", is_flag=True, default=None, envvar="MEM_SYNC_DISTILL_ENABLED",
              help="Same as distillation.enabled = true (for CI, where there is no config file).")
@click.option("--allow-external-api", is_flag=True, default=None,
              envvar="MEM_SYNC_DISTILL_ALLOW_EXTERNAL_API",
              help="Same as distillation.allowExternalApi = true.")
@click.option("--min-observations", type=click.IntRange(min=0), default=None,
              envvar="MEM_SYNC_DISTILL_MIN_OBSERVATIONS",
              help="Fewest observations worth a call [default: distillation.minObservations, 20].")
@click.option("--now", type=click.IntRange(min=0), default=None,
              help="Epoch (s or ms) stamped on the files; default SOURCE_DATE_EPOCH, else the "
                   "merged set's time.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--publish", type=click.Choice(["none", "pr"]), default="none", show_default=True,
              help="pr: commit distilled/ to one rolling PR/MR (never merged automatically).")
@click.option("--branch", default="mem-sync/distill", show_default=True,
              help="Rolling branch of the review PR/MR.")
@click.option("--base", default=None, help="Branch the PR/MR targets [default: current branch].")
@click.option("--reviewers", default=None, envvar="MEM_SYNC_DISTILL_REVIEWERS",
              help="Comma-separated reviewers [default: distillation.reviewers].")
@click.option("--labels", default="", help="Comma-separated PR/MR labels.")
@click.option("--forge", type=click.Choice(["auto", "github", "gitlab", "bitbucket"]),
              default="auto", show_default=True, help="Forge of the PR/MR.")
@click.option("--remote", default="origin", show_default=True)
@click.option("--token-env", default=None, metavar="VAR",
              help="Variable holding the forge token (default per forge).")
@click.option("--bot-name", default="mem-sync[bot]", show_default=True)
@click.option("--bot-email", default="mem-sync[bot]@users.noreply.local", show_default=True)
@click.pass_context
def distill(ctx: click.Context, repo: Path, project: str | None, all_projects: bool,
            dry_run: bool, llm_provider: str | None, model: str | None, base_url: str | None,
            max_cost: float | None, enable: bool | None, allow_external_api: bool | None,
            min_observations: int | None, now: int | None, output_format: str, **publish_flags: Any) -> None:
    """Distill merged observations into rules and a knowledge base (distilled/<project>/)."""
    if ctx.invoked_subcommand is not None:
        return
    from memsync.distill.run import DistillOptions, distill_project
    from memsync.distill.settings import with_overrides
    from memsync.render import render_template

    settings = with_overrides(
        _file_settings(), provider=llm_provider, model=model, base_url=base_url,
        enabled=True if enable else None, allow_external_api=True if allow_external_api else None,
        min_observations=min_observations)
    projects = _projects(repo, project, all_projects)
    if dry_run and publish_flags["publish"] != "none":
        raise UsageError("--dry-run sends and writes nothing, so it cannot --publish; drop one")
    from memsync.scanner_cache import open_scanner, scanner_setup

    answers: dict[str, Any] = {}
    scanner = open_scanner(scanner_setup(os.environ))  # one for every project

    def run_all(review_branch: Any = None) -> list[Any]:
        return [distill_project(DistillOptions(repo=repo, project=name, settings=settings,
                                               dry_run=dry_run, max_cost=max_cost, now=now,
                                               scanner=scanner),
                                answers=answers, review_branch=review_branch) for name in projects]

    publish_doc = None
    if publish_flags["publish"] == "none":
        outcomes = run_all()
    else:
        from memsync.commands.publish_flags import publish_options_from_flags
        from memsync.distill.publishing import publish_distillation

        reviewers = publish_flags.get("reviewers")
        if reviewers is None:
            reviewers = ",".join(settings.reviewers)
        options = publish_options_from_flags(**{**publish_flags, "provider": publish_flags["forge"],
                                                "reviewers": reviewers})
        outcomes, publish_doc = publish_distillation(repo, run_all, options)
    docs = [o.to_dict() for o in outcomes]
    if output_format == "json":
        import orjson

        doc: dict[str, Any] = {"projects": docs}
        if dry_run and outcomes and outcomes[0].sample_request is not None:
            sample = outcomes[0].sample_request
            doc["sampleRequest"] = {"system": sample.system, "user": sample.user}
        if publish_doc:
            doc["publish"] = publish_doc
        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render_template("distill_result.txt.j2", outcomes=docs, model=settings.model,
                                   provider=settings.provider, publish=publish_doc), nl=False)


def _file_settings() -> Any:
    """``global.distillation`` of the config file; defaults when there is no file (CI)."""
    from memsync.devside.config import config_path, load_config
    from memsync.distill.settings import settings_from_config

    if not config_path().is_file():
        return settings_from_config(None)
    return settings_from_config(load_config().doc["global"].get("distillation"))


def _projects(repo: Path, project: str | None, all_projects: bool) -> list[str]:
    from memsync.safety.names import check_safe_name

    if project and all_projects:
        raise UsageError("pass either --project NAME or --all, not both")
    if project:
        return [check_safe_name(project, "project")]
    merged = repo / "merged"
    found = sorted(p.name for p in merged.iterdir() if (p / "latest.json").is_file()) \
        if merged.is_dir() else []
    if all_projects or len(found) == 1:
        return found
    known = ", ".join(found) or "none: run mem-sync ci-merge first"
    raise UsageError(f"pass --project NAME or --all (merged projects: {known})")


# ------------------------------------------------------------------ review verdicts


def _verdict(status: str) -> Any:
    @click.command({"accepted": "accept", "rejected": "reject", "modified": "modify"}[status])
    @click.argument("rule_id")
    @click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Root of the shared repository checkout [default: distill's --repo, or .].")
    @click.option("--project", default=None, help="Project of the rule (default: the only one).")
    @click.option("--by", "reviewer", default=None,
                  help="Reviewer name [default: devName of the config, else $USER].")
    @click.option("--paths", default=None,
                  help="Comma-separated globs the rule applies to (overrides its files).")
    @click.option("--now", type=click.IntRange(min=0), default=None, hidden=True)
    def command(rule_id: str, repo: Path, project: str | None, reviewer: str | None,
                paths: str | None, now: int | None, text: str | None = None) -> None:
        from memsync.distill.feedback import set_rule_status
        from memsync.model import to_millis

        # `mem-sync distill --repo R --project P reject ID` gives them to the group
        parent = click.get_current_context().parent
        given = parent.params if parent is not None else {}
        repo = repo or given.get("repo") or Path(".")
        name = _review_project(repo, project or given.get("project"))
        set_rule_status(repo, name, rule_id, status, modified_rule=text,
                        reviewer=reviewer or _reviewer_name(),
                        paths=[p.strip() for p in paths.split(",") if p.strip()] if paths else None,
                        now_ms=to_millis(now) if now is not None else int(time.time() * 1000))
        click.echo(f"{rule_id} {status} in distilled/{name}/feedback.json")

    if status == "modified":
        command = click.option("--text", required=True, help="The rule's new wording.")(command)
    command.help = {"accepted": "Accept a distilled rule: it is kept verbatim and delivered.",
                    "rejected": "Reject a distilled rule: it is never proposed again.",
                    "modified": "Reword a distilled rule: the new wording is delivered."}[status]
    return command


def _review_project(repo: Path, project: str | None) -> str:
    from memsync.safety.names import check_safe_name

    if project:
        return check_safe_name(project, "project")
    folder = repo / "distilled"
    found = sorted(p.name for p in folder.iterdir() if (p / "rules.json").is_file()) \
        if folder.is_dir() else []
    if len(found) == 1:
        return found[0]
    raise UsageError(f"pass --project NAME (distilled projects: {', '.join(found) or 'none'})")


def _reviewer_name() -> str | None:
    try:
        from memsync.devside.config import config_path, load_config

        if config_path().is_file():
            return load_config().dev_name
    except Exception:  # noqa: BLE001 - a broken config must not block recording a verdict
        pass
    return os.environ.get("USER") or None


for _status in ("accepted", "rejected", "modified"):
    distill.add_command(_verdict(_status))

