"""``hook post-tool-use``: the access hook through the main CLI.

The plugin wires the lighter ``mem-sync-hook`` script (no click, no command registry; see
bench/hook_bench.py); this command is the same code for settings.json entries written by hand.
"""

from __future__ import annotations

import click


@click.group("hook")
def hook() -> None:
    """Claude Code hooks (read JSON on stdin, never print, always exit 0)."""


@hook.command("post-tool-use")
def post_tool_use() -> None:
    """Record which claude-mem observations a search returned (PostToolUse)."""
    from memsync.devside.access_hook import main

    main()
