"""The ``mem-sync`` command group.

Commands are registered by dotted path and imported only when invoked, so ``mem-sync
--help`` pays for click alone (every CI run pays start-up time; see bench/startup_bench.py).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from memsync import __version__
from memsync.errors import MemSyncError

# name -> (module, attribute, one-line help shown by `mem-sync --help` without importing it)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ci-merge": ("memsync.commands.ci_merge", "ci_merge",
                 "Merge contributions into merged/<project>/latest.json (the CI job)."),
    "profile": ("memsync.commands.profile", "profile",
                "Generate developer knowledge profiles and team insights."),
    "init": ("memsync.commands.config_cmds", "init",
             "Create the mem-sync configuration (interactive, or scripted with flags)."),
    "config": ("memsync.commands.config_cmds", "config",
               "Show the configuration, secrets masked."),
    "add-project": ("memsync.commands.config_cmds", "add_project",
                    "Add a project to the configuration."),
    "update-project": ("memsync.commands.config_cmds", "update_project",
                       "Change a configured project."),
    "preview": ("memsync.commands.export", "preview",
                "Show what an export would share, without writing anything."),
    "export": ("memsync.commands.export", "export",
               "Export filtered observations to the shared repository."),
    "import": ("memsync.commands.import_", "import_",
               "Import the team's merged observations into claude-mem's database."),
    "setup-repo": ("memsync.commands.setup_repo", "setup_repo",
                   "Scaffold a shared memory repository with CI for your forge."),
    "forget": ("memsync.commands.forget", "forget",
               "Take observations back from the team (a retraction the merge applies)."),
    "incident": ("memsync.commands.incident", "incident",
                 "Print the secret-incident procedure for a project (rotate, locate, rewrite, re-clone)."),
    "rules": ("memsync.commands.rules", "rules",
              "Deliver the team's reviewed rules to a code repository (rules sync)."),
    "distill": ("memsync.commands.distill", "distill",
                "Distill merged observations into reviewed rules and a knowledge base."),
    "action": ("memsync.commands.action", "action",
               "Entry point of the GitHub Action (reads INPUT_* variables)."),
    "hook": ("memsync.commands.hook", "hook",
             "Claude Code hooks: record which memories claude-mem searches return."),
    "maintain": ("memsync.commands.maintain", "maintain",
                 "Prune what the team dropped, check the database, restore it if a check fails."),
    "status": ("memsync.commands.status", "status",
               "Show the config, claude-mem's database, the access hook, schedules and each project."),
    "schedule": ("memsync.commands.schedule", "schedule",
                 "Run export, import and maintain on a schedule (cron, launchd, schtasks)."),
    "dashboard": ("memsync.commands.dashboard", "dashboard",
                  "See memories, the merged set, profiles and rules in a browser (or --static pages)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        if ctx.resilient_parsing and cmd_name not in sys.argv:
            return _placeholder(cmd_name)
        module = importlib.import_module(module_name)
        return getattr(module, attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _placeholder(name: str) -> click.Command:
    return click.Command(name, help=COMMANDS[name][2])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mem-sync")
def cli() -> None:
    """Share claude-mem memories across a team through one git repository."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr, never a traceback."""
    try:
        code = cli.main(args=argv, prog_name="mem-sync", standalone_mode=False)
    except MemSyncError as error:
        click.echo(f"mem-sync: error: {error}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("mem-sync: aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("mem-sync: interrupted; nothing half-written was left behind", err=True)
        sys.exit(130)
    except Exception as error:  # a bug: say so in one line, keep the traceback for who asks
        if os.environ.get("MEM_SYNC_DEBUG"):
            raise
        click.echo(
            f"mem-sync: internal error: {type(error).__name__}: {error} "
            "(rerun with MEM_SYNC_DEBUG=1 for the traceback and report it)",
            err=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
