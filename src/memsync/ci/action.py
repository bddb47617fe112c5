"""The GitHub runner contract for ``mem-sync action``.

The runner hands a Docker action its inputs as ``INPUT_<NAME>`` variables (upper-cased, hyphens
kept), expects outputs appended to ``$GITHUB_OUTPUT``, Markdown appended to
``$GITHUB_STEP_SUMMARY``, and workflow commands (``::add-mask::``, ``::error file=…::``) on
stdout. Parsing and rendering are pure functions over plain data; :func:`run_action` is the
thin shell that reads the environment, runs the merge (and publishing) and writes the files.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

import orjson

from memsync.errors import MemSyncError, RepoError, UsageError

if TYPE_CHECKING:
    from memsync.merge.report import MergeReport

PUBLISH_MODES = ("none", "push", "pr")
COMMANDS = ("merge", "rules-sync", "distill")  # rules-sync runs from memsync.rules.action
DISTILL_PROVIDERS = ("anthropic", "bedrock", "vertex", "openai", "github-models")
SECRET_POLICIES = ("quarantine", "fail", "off")
OUTPUT_NAMES = ("merged-count", "evicted-count", "quarantined-count", "changed", "pr-url",
                "pr-operation")
# YAML 1.2 core booleans: what a workflow author can write for a boolean input.
TRUE_WORDS = ("true", "True", "TRUE")
FALSE_WORDS = ("false", "False", "FALSE")
# The identity GitHub shows with the Actions avatar; commits by the action read as automation.
ACTIONS_BOT_NAME = "github-actions[bot]"
ACTIONS_BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"


@dataclass(frozen=True)
class ActionInputs:
    cap: int = 500
    retention_days: int = 30
    publish: str = "push"
    branch: str = "mem-sync/merge"
    base: str | None = None
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    draft: bool = False
    profiles: bool = True
    strict: bool = False
    secrets: str = "quarantine"
    dry_run: bool = False
    working_directory: str = "."
    token: str = field(default="", repr=False)
    command: str = "merge"  # merge | distill (rules-sync never reaches this module)
    distill_provider: str = "anthropic"
    distill_model: str | None = None
    distill_base_url: str | None = None
    distill_allow_external_api: bool = False
    distill_max_cost: float | None = None
    distill_branch: str = "mem-sync/distill"
    distill_min_observations: int = 20
    distill_api_key: str = field(default="", repr=False)


def input_value(env: Mapping[str, str], name: str) -> str | None:
    """An input as the runner passes it; None when absent or empty (the default applies).

    The runner keeps hyphens (``INPUT_RETENTION-DAYS``), which no shell can export, so tests
    and other runners may pass the underscore form; both are accepted.
    """
    upper = name.upper()
    for key in (f"INPUT_{upper}", f"INPUT_{upper.replace('-', '_')}"):
        value = env.get(key)
        if value is not None and value.strip():
            return value.strip()
    return None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = input_value(env, name)
    if value is None:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise UsageError(f"input '{name}' must be true or false, got {value!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = input_value(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise UsageError(f"input '{name}' must be a whole number of 0 or more, got {value!r}")
    return number


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = input_value(env, name)
    if value is None:
        return default
    if value not in choices:
        raise UsageError(f"input '{name}' must be one of {', '.join(choices)}, got {value!r}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    value = input_value(env, name) or ""
    items = (item.strip() for chunk in value.splitlines() for item in chunk.split(","))
    return tuple(item for item in items if item)


def read_inputs(env: Mapping[str, str]) -> ActionInputs:
    """Every input of action.yml, validated; a bad value raises ``UsageError`` naming the input."""
    return ActionInputs(
        cap=_int(env, "cap", 500),
        retention_days=_int(env, "retention-days", 30),
        publish=_choice(env, "publish", PUBLISH_MODES, "push"),
        branch=input_value(env, "branch") or "mem-sync/merge",
        base=input_value(env, "base"),
        labels=_list(env, "labels"),
        reviewers=_list(env, "reviewers"),
        draft=_bool(env, "draft", False),
        profiles=_bool(env, "profiles", True),
        strict=_bool(env, "strict", False),
        secrets=_choice(env, "secrets", SECRET_POLICIES, "quarantine"),
        dry_run=_bool(env, "dry-run", False),
        working_directory=input_value(env, "working-directory") or ".",
        token=input_value(env, "token") or "",
        command=_choice(env, "command", COMMANDS, "merge"),
        distill_provider=_choice(env, "distill-provider", DISTILL_PROVIDERS, "anthropic"),
        distill_model=input_value(env, "distill-model"),
        distill_base_url=input_value(env, "distill-base-url"),
        distill_allow_external_api=_bool(env, "distill-allow-external-api", False),
        distill_max_cost=_money(env, "distill-max-cost"),
        distill_branch=input_value(env, "distill-branch") or "mem-sync/distill",
        distill_min_observations=_int(env, "distill-min-observations", 20),
        distill_api_key=input_value(env, "distill-api-key") or "",
    )


def _money(env: Mapping[str, str], name: str) -> float | None:
    value = input_value(env, name)
    if value is None:
        return None
    try:
        amount = float(value.removeprefix("$"))
    except ValueError:
        amount = -1.0
    if amount < 0:
        raise UsageError(f"input '{name}' must be an amount of US dollars such as 0.50, got {value!r}")
    return amount


def resolve_repository(workspace: Path, working_directory: str) -> tuple[Path, str]:
    """The repository folder and its posix path relative to the workspace ("" for the root).

    Annotations name files relative to the workspace, so the prefix travels with the path.
    """
    relative = PurePosixPath(working_directory.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts:
        raise UsageError(f"input 'working-directory' must stay inside the workspace, got "
                         f"{working_directory!r}")
    repo = workspace / relative
    if not repo.is_dir():
        raise RepoError(f"working-directory {working_directory!r} does not exist in the workspace "
                        f"{workspace}; check out the shared repository first (actions/checkout)")
    prefix = "" if str(relative) == "." else relative.as_posix()
    return repo, prefix


def pull_request_from_fork(event: Mapping[str, Any]) -> bool:
    """Whether the event is a pull request whose head lives in another repository."""
    pull = event.get("pull_request")
    if not isinstance(pull, dict):
        return False
    head = ((pull.get("head") or {}).get("repo") or {}).get("full_name")
    base = ((pull.get("base") or {}).get("repo") or {}).get("full_name")
    return bool(head) and head != base


def workflow_branch(env: Mapping[str, str]) -> str | None:
    """The branch the workflow runs on, when it runs on one (not a tag or a pull request).

    It is the natural base: the push that triggered the merge landed there.
    """
    ref = env.get("GITHUB_REF", "")
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


# ---- workflow commands -----------------------------------------------------------------------

def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def print_untrusted(text: str, out: IO[str]) -> None:
    """Print ``text`` (a report repeating contributions' titles, names and reasons) so the runner
    reads none of it as a command: each line neutralized (``runner_line``), and the whole
    between ``::stop-commands::`` and its random end token, the runner's own guard."""
    from memsync.safety.inert import runner_line

    token = uuid.uuid4().hex
    print(f"::stop-commands::{token}", file=out)
    for line in text.splitlines():
        print(runner_line(line), file=out)
    print(f"::{token}::", file=out)


def workflow_command(command: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def mask_command(secret: str) -> list[str]:
    """``::add-mask::`` lines for a secret; a multi-line value is masked line by line too."""
    lines = [line for line in secret.splitlines() if line.strip()]
    values = [secret] + (lines if len(lines) > 1 else [])
    return [f"::add-mask::{escape_data(value)}" for value in values]


def annotations(report: MergeReport, *, strict: bool, secrets: str, path_prefix: str = "") -> list[str]:
    """One annotation per quarantined file and per observation withheld for credentials.

    Errors where the step fails because of them (``strict``, ``secrets=fail``), warnings
    otherwise. The observation title in the report is already redacted and truncated.
    """
    def located(file: str) -> str:
        return f"{path_prefix}/{file}" if path_prefix else file

    lines = []
    for quarantined in report.quarantined:
        level = "error" if strict else "warning"
        lines.append(workflow_command(
            level, f"{quarantined.reason} (the file was left untouched and not merged)",
            file=located(quarantined.file), title="mem-sync: quarantined contribution"))
    for item in report.secret_findings:
        level = "error" if secrets == "fail" else "warning"
        title = item.get("key", {}).get("title") or "(untitled)"
        lines.append(workflow_command(
            level,
            f"observation {title!r} carries credentials ({', '.join(item.get('rules', []))} in "
            f"{', '.join(item.get('fields', []))}); it was left out of the merge. Rotate them: "
            "they are in this repository's history",
            file=located(item["file"]), title="mem-sync: credentials in a contribution"))
    for failure in report.failures:
        lines.append(workflow_command("error", failure, title="mem-sync"))
    return lines


# ---- outputs and summary ---------------------------------------------------------------------

def action_outputs(report: MergeReport, publish: Mapping[str, Any] | None) -> dict[str, str]:
    totals = report.totals()
    return {
        "merged-count": str(totals["merged"]),
        "evicted-count": str(totals["evicted"]),
        "quarantined-count": str(totals["quarantinedFiles"]),
        "changed": "true" if report.changed else "false",
        "pr-url": (publish or {}).get("url") or "",
        "pr-operation": (publish or {}).get("operation") or "none",
    }


def format_outputs(outputs: Mapping[str, str],
                   make_delimiter: Callable[[], str] = lambda: f"ghadelimiter_{uuid.uuid4()}") -> str:
    """``$GITHUB_OUTPUT`` lines in the heredoc form, safe for any value, multi-line included."""
    chunks = []
    for name, value in outputs.items():
        delimiter = make_delimiter()
        while delimiter in value or delimiter in name:
            delimiter = make_delimiter()
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


def render_summary(report: Mapping[str, Any] | None, publish: Mapping[str, Any] | None,
                   inputs: ActionInputs, *, error: str | None = None, repository: str = "",
                   notes: tuple[str, ...] = ()) -> str:
    from memsync.render import render_template

    return render_template("job_summary.md.j2", r=report, publish=publish, inputs=inputs,
                           error=error, repository=repository, notes=notes)


# ---- the shell -------------------------------------------------------------------------------

@dataclass
class ActionRun:
    exit_code: int
    report: MergeReport | None = None
    publish: dict[str, Any] | None = None
    outputs: dict[str, str] = field(default_factory=dict)


def _append(path_value: str | None, text: str) -> None:
    # The runner creates these files per step and reads them after it; appending (not
    # replacing) is its contract, since other writers in the same step may have added lines.
    if not path_value or not text:
        return
    with open(path_value, "a", encoding="utf-8") as handle:
        handle.write(text)


def _load_event(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        event = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return event if isinstance(event, dict) else {}


def run_action(env: Mapping[str, str], out: IO[str]) -> ActionRun:
    """Run the action as the runner invokes it. User errors are annotated, then re-raised."""
    # Mask before anything else can print: an early error message must not carry the token.
    for name in ("token", "distill-api-key"):
        secret = input_value(env, name) or ""
        for line in mask_command(secret) if secret else []:
            print(line, file=out, flush=True)

    inputs = ActionInputs()
    try:
        inputs = read_inputs(env)
        workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
        repo, prefix = resolve_repository(workspace, inputs.working_directory)
        if inputs.command == "distill":
            return _distill_and_publish(env, out, inputs, repo)
        return _merge_and_publish(env, out, inputs, repo, prefix)
    except MemSyncError as error:
        print(workflow_command("error", str(error), title="mem-sync"), file=out, flush=True)
        _append(env.get("GITHUB_STEP_SUMMARY"),
                render_summary(None, None, inputs, error=str(error),
                               repository=env.get("GITHUB_REPOSITORY", "")))
        raise


def _merge_and_publish(env: Mapping[str, str], out: IO[str], inputs: ActionInputs, repo: Path,
                       prefix: str) -> ActionRun:
    from memsync.ci.merge_job import MergeOptions, run_merge
    from memsync.render import render_report
    from memsync.scanner_cache import scanner_setup

    notes: list[str] = []
    mode = inputs.publish
    if inputs.dry_run and mode != "none":
        notes.append(f"dry-run: publishing ({mode}) skipped")
        mode = "none"
    if mode != "none" and pull_request_from_fork(_load_event(env)):
        # A fork's pull request gets a read-only token; publishing would only fail later.
        notes.append(f"pull request from a fork: publishing ({mode}) skipped")
        mode = "none"
    for note in notes:
        print(workflow_command("notice", note, title="mem-sync"), file=out, flush=True)

    options = MergeOptions(repo=repo, cap=inputs.cap, retention_days=inputs.retention_days,
                           dry_run=inputs.dry_run, secrets=inputs.secrets, strict=inputs.strict,
                           profiles=inputs.profiles, scanner_setup=scanner_setup(env))
    reports: list[MergeReport] = []

    def merge() -> MergeReport:
        report = run_merge(options)
        reports.append(report)
        return report

    publish_dict: dict[str, Any] | None = None
    if mode == "none":
        merge()
    else:
        publish_dict = _publish(repo, merge, inputs, mode, workflow_branch(env))
    if not reports:
        raise MemSyncError("publishing finished without running the merge; this is a bug in "
                           "mem-sync, please report it")
    report = reports[-1]
    document = report.to_dict()  # for the templates

    print_untrusted(render_report(document, "text"), out)
    for line in annotations(report, strict=inputs.strict, secrets=inputs.secrets,
                            path_prefix=prefix):
        print(line, file=out)
    out.flush()

    outputs = action_outputs(report, publish_dict)
    _append(env.get("GITHUB_OUTPUT"), format_outputs(outputs))
    _append(env.get("GITHUB_STEP_SUMMARY"),
            render_summary(document, publish_dict, inputs,
                           repository=env.get("GITHUB_REPOSITORY", ""), notes=tuple(notes)))
    return ActionRun(exit_code=report.exit_code, report=report, publish=publish_dict, outputs=outputs)


def _publish(repo: Path, merge: Callable[[], MergeReport], inputs: ActionInputs, mode: str,
             branch_ran_on: str | None) -> dict[str, Any]:
    from memsync.publish.flow import PublishOptions, publish
    from memsync.publish.git import Identity

    # The provider and git read the token from this mapping, never from argv.
    env = dict(os.environ)
    if inputs.token:
        env["GITHUB_TOKEN"] = inputs.token
    options = PublishOptions(
        mode=mode, branch=inputs.branch, base=inputs.base or branch_ran_on, labels=inputs.labels,
        reviewers=inputs.reviewers, draft=inputs.draft, provider="github",
        identity=Identity(name=ACTIONS_BOT_NAME, email=ACTIONS_BOT_EMAIL), env=env,
    )
    result = publish(repo, merge, options)
    return {"mode": result.mode, "operation": result.operation, "url": result.url,
            "commit": result.commit, "attempts": result.attempts}


def _distill_and_publish(env: Mapping[str, str], out: IO[str], inputs: ActionInputs,
                         repo: Path) -> ActionRun:
    """``command: distill``: distill every merged project and propose the result in one rolling
    PR (``distill-branch``). Choosing this command in a workflow is the ``enabled`` opt-in; an
    external endpoint still needs ``distill-allow-external-api``."""
    from memsync.distill.clients import default_key_env
    from memsync.distill.publishing import publish_distillation
    from memsync.distill.run import DistillOptions, distill_project
    from memsync.distill.settings import DistillSettings, with_overrides
    from memsync.publish.flow import PublishOptions
    from memsync.publish.git import Identity
    from memsync.render import render_template

    settings = with_overrides(
        DistillSettings(), enabled=True, allow_external_api=inputs.distill_allow_external_api,
        provider=inputs.distill_provider, model=inputs.distill_model,
        base_url=inputs.distill_base_url, min_observations=inputs.distill_min_observations)
    # The SDKs and the forge read keys from this mapping, never from argv.
    run_env = dict(os.environ)
    run_env.update({k: v for k, v in env.items() if k == "SOURCE_DATE_EPOCH"})
    if inputs.token:
        run_env["GITHUB_TOKEN"] = inputs.token  # the forge, and GitHub Models
    key_env = default_key_env(settings)
    if inputs.distill_api_key and key_env and key_env != "GITHUB_TOKEN":
        run_env[key_env] = inputs.distill_api_key  # GitHub Models keeps the workflow's token
    merged = repo / "merged"
    projects = sorted(p.name for p in merged.iterdir() if (p / "latest.json").is_file()) \
        if merged.is_dir() else []
    notes: list[str] = []
    mode = "pr"
    if inputs.dry_run:
        notes.append("dry-run: nothing sent, nothing published")
        mode = "none"
    elif pull_request_from_fork(_load_event(env)):
        notes.append("pull request from a fork: distillation skipped (no secrets there)")
        mode = "skip"
    for note in notes:
        print(workflow_command("notice", note, title="mem-sync distill"), file=out, flush=True)

    from memsync.scanner_cache import open_scanner, scanner_setup

    scanner = open_scanner(scanner_setup(run_env))

    def run_all(review_branch: Any = None) -> list[Any]:
        return [distill_project(DistillOptions(repo=repo, project=name, settings=settings,
                                               dry_run=inputs.dry_run,
                                               max_cost=inputs.distill_max_cost, env=run_env,
                                               scanner=scanner),
                                review_branch=review_branch, answers=answers) for name in projects]

    answers: dict[str, Any] = {}
    publish_dict: dict[str, Any] | None = None
    if mode == "skip":
        outcomes: list[Any] = []
    elif mode == "none":
        outcomes = run_all()
    else:
        options = PublishOptions(
            mode="pr", branch=inputs.distill_branch, base=inputs.base or workflow_branch(env),
            labels=inputs.labels, reviewers=inputs.reviewers, draft=inputs.draft,
            provider="github", identity=Identity(name=ACTIONS_BOT_NAME, email=ACTIONS_BOT_EMAIL),
            env=run_env)
        outcomes, publish_dict = publish_distillation(repo, run_all, options)
    docs = [o.to_dict() for o in outcomes]
    out.write(render_template("distill_result.txt.j2", outcomes=docs, model=settings.model,
                              provider=settings.provider, publish=publish_dict))
    out.flush()
    outputs = {
        "changed": "true" if any(o.changed_paths for o in outcomes) else "false",
        "pr-url": (publish_dict or {}).get("url") or "",
        "pr-operation": (publish_dict or {}).get("operation") or "none",
    }
    _append(env.get("GITHUB_OUTPUT"), format_outputs(outputs))
    _append(env.get("GITHUB_STEP_SUMMARY"),
            render_template("distill_job_summary.md.j2", outcomes=docs, publish=publish_dict,
                            notes=notes, model=settings.model, provider=settings.provider))
    return ActionRun(exit_code=0, report={"projects": docs}, publish=publish_dict,
                     outputs=outputs)
