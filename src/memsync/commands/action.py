"""``mem-sync action``: the Docker action's entry point; everything comes from INPUT_* variables."""

from __future__ import annotations

import os
import sys

import click


@click.command("action")
def action() -> int:
    """Run the merge as a GitHub Action step (inputs from INPUT_* environment variables)."""
    from memsync.ci.action import run_action

    return run_action(os.environ, sys.stdout).exit_code
