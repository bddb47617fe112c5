"""``mem-sync action``: the Docker action's entry point; everything comes from INPUT_* variables."""

from __future__ import annotations

import os
import sys

import click


@click.command("action")
def action() -> int:
    """Run the merge as a GitHub Action step (inputs from INPUT_* environment variables)."""
    from memsync.rules.action import run_rules_action, wants_rules_sync

    if wants_rules_sync(os.environ):  # input `command: rules-sync`
        return run_rules_action(os.environ, sys.stdout).exit_code
    from memsync.ci.action import run_action

    return run_action(os.environ, sys.stdout).exit_code
