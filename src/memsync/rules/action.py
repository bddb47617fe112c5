"""The GitHub Action with ``command: rules-sync``: deliver the reviewed rules of the memory
repository (the workspace) to a code repository, with a token for that repository.

Same runner contract as the merge (``memsync.ci.action``, whose input parsers and output writer
this reuses): inputs from ``INPUT_*``, outputs to ``$GITHUB_OUTPUT``, workflow commands on
stdout, the token masked before anything is printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from memsync.errors import MemSyncError, UsageError

PUBLISH_MODES = ("none", "push", "pr")
PROVIDERS = ("auto", "github", "gitlab", "bitbucket")
COMMANDS = ("merge", "rules-sync", "distill")  # distill: memsync.ci.action
MIN_BUDGET = 512
# The code repository's token travels in this variable (never argv); git uses it too.
TOKEN_VARIABLE = "MEM_SYNC_RULES_TOKEN"


@dataclass(frozen=True)
class RulesActionRun:
    exit_code: int
    outputs: dict[str, str]


def wants_rules_sync(env: Mapping[str, str]) -> bool:
    """Whether the step's ``command`` input asks for rules sync (``merge`` is the default)."""
    from memsync.ci.action import _choice

    return _choice(env, "command", COMMANDS, "merge") == "rules-sync"


def run_rules_action(env: Mapping[str, str], out: IO[str]) -> RulesActionRun:
    from memsync.ci.action import (
        ACTIONS_BOT_EMAIL,
        ACTIONS_BOT_NAME,
        _append,
        _bool,
        _choice,
        _int,
        _list,
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
    from memsync.rules.targets import TARGETS

    token = input_value(env, "rules-token") or ""
    for line in mask_command(token) if token else []:
        print(line, file=out, flush=True)
    try:
        project = _required(env, "rules-project")
        code_repo = _required(env, "rules-code-repo")
        workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
        memory, _ = resolve_repository(workspace, input_value(env, "working-directory") or ".")
        if "://" not in code_repo and "@" not in code_repo:  # a second checkout in the workspace
            code_repo = str(resolve_repository(workspace, code_repo)[0])
        budget = _int(env, "rules-budget", 8192)
        if budget < MIN_BUDGET:
            raise UsageError(f"input 'rules-budget' must be {MIN_BUDGET} bytes or more, got {budget}")
        delivery = Delivery(project=project, code_repo=code_repo, memory_dir=memory, budget=budget,
                            targets=parse_targets(input_value(env, "rules-targets") or ",".join(TARGETS)),
                            dry_run=_bool(env, "dry-run", False))
        process_env = dict(env)
        if token:
            process_env[TOKEN_VARIABLE] = token
            process_env["MEM_SYNC_GIT_TOKEN"] = token
        options = PublishOptions(
            mode=_choice(env, "rules-publish", PUBLISH_MODES, "pr"), branch=ROLLING_BRANCH,
            base=input_value(env, "base"), labels=_list(env, "labels"),
            reviewers=_list(env, "reviewers"), draft=_bool(env, "draft", False),
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
