"""The GitHub Action with ``command: rules-sync``: deliver the reviewed rules of the memory
repository (the workspace) to a code repository, with a token for that repository.

Same runner contract as the merge (``memsync.ci.action``): inputs from ``INPUT_*``, outputs to
``$GITHUB_OUTPUT``, workflow commands on stdout, the token masked before anything is printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from memsync.errors import MemSyncError, UsageError

PUBLISH_MODES = ("none", "push", "pr")
PROVIDERS = ("auto", "github", "gitlab", "bitbucket")
# The code repository's token travels in this variable (never argv); git uses it too.
TOKEN_VARIABLE = "MEM_SYNC_RULES_TOKEN"


@dataclass(frozen=True)
class RulesActionRun:
    exit_code: int
    outputs: dict[str, str]


def wants_rules_sync(env: Mapping[str, str]) -> bool:
    from memsync.ci.action import input_value

    command = input_value(env, "command") or "merge"
    if command not in ("merge", "rules-sync"):
        raise UsageError(f"input 'command' must be merge or rules-sync, got {command!r}")
    return command == "rules-sync"


def run_rules_action(env: Mapping[str, str], out: IO[str]) -> RulesActionRun:
    from memsync.ci.action import (
        ACTIONS_BOT_EMAIL,
        ACTIONS_BOT_NAME,
        _append,
        format_outputs,
        input_value,
        mask_command,
        resolve_repository,
        workflow_command,
    )
    from memsync.commands.rules import describe
    from memsync.publish.flow import PublishOptions
    from memsync.publish.git import Identity
    from memsync.rules.deliver import ROLLING_BRANCH, Delivery, deliver, parse_targets

    token = input_value(env, "rules-token") or ""
    for line in mask_command(token) if token else []:
        print(line, file=out, flush=True)
    try:
        project = _required(env, "rules-project")
        code_repo = _required(env, "rules-code-repo")
        workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
        memory, _ = resolve_repository(workspace, input_value(env, "working-directory") or ".")
        if not ("://" in code_repo or "@" in code_repo):
            code_repo = str(resolve_repository(workspace, code_repo)[0])
        mode = _choice(env, "rules-publish", PUBLISH_MODES, "pr")
        budget = _number(env, "rules-budget", 8192)
        dry_run = (input_value(env, "dry-run") or "false").lower() == "true"
        delivery = Delivery(project=project, code_repo=code_repo,
                            targets=parse_targets(input_value(env, "rules-targets")
                                                  or "claude,cursor,copilot,agents"),
                            memory_dir=memory, budget=budget, dry_run=dry_run)
        process_env: dict[str, Any] = dict(env)
        if token:
            process_env[TOKEN_VARIABLE] = token
            process_env["MEM_SYNC_GIT_TOKEN"] = token
        options = PublishOptions(
            mode=mode, branch=ROLLING_BRANCH, base=input_value(env, "base"),
            labels=_list(env, "labels"), reviewers=_list(env, "reviewers"),
            draft=(input_value(env, "draft") or "false").lower() == "true",
            provider=_choice(env, "rules-provider", PROVIDERS, "auto"),
            identity=Identity(name=ACTIONS_BOT_NAME, email=ACTIONS_BOT_EMAIL),
            token_env=TOKEN_VARIABLE if token else None)
        report, result = deliver(delivery, options, process_env)
    except MemSyncError as error:
        print(workflow_command("error", str(error), title="mem-sync rules sync"), file=out, flush=True)
        raise
    for line in describe(report, result, budget):
        print(line, file=out)
    out.flush()
    outputs = {"changed": "true" if report.changed else "false",
               "pr-url": (result.url if result else None) or "",
               "pr-operation": (result.operation if result else None) or "none"}
    _append(env.get("GITHUB_OUTPUT"), format_outputs(outputs))
    return RulesActionRun(exit_code=0, outputs=outputs)


def _required(env: Mapping[str, str], name: str) -> str:
    from memsync.ci.action import input_value

    value = input_value(env, name)
    if not value:
        raise UsageError(f"input '{name}' is required with command: rules-sync")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    from memsync.ci.action import input_value

    value = input_value(env, name) or default
    if value not in choices:
        raise UsageError(f"input '{name}' must be one of {', '.join(choices)}, got {value!r}")
    return value


def _number(env: Mapping[str, str], name: str, default: int) -> int:
    from memsync.ci.action import input_value

    value = input_value(env, name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 512:
        raise UsageError(f"input '{name}' must be a number of bytes, 512 or more, got {value!r}")
    return int(value)


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    from memsync.ci.action import input_value

    value = input_value(env, name) or ""
    return tuple(item.strip() for item in value.replace("\n", ",").split(",") if item.strip())
