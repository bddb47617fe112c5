"""``status``: the configuration, claude-mem's database, the access hook, schedules and each project."""

from __future__ import annotations

from typing import Any

import click


@click.command("status")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(output_format: str) -> None:
    """Show what mem-sync sees on this machine (reads only)."""
    import orjson

    from memsync import __version__
    from memsync.devside import status as gather
    from memsync.devside.config import config_path, load_config, state_dir
    from memsync.devside.scheduler import SCHEDULERS, installed_state, setup_for
    from memsync.errors import MemSyncError
    from memsync.render import render_template

    folder = state_dir()
    report: dict[str, Any] = {"version": __version__, "config": {"path": str(config_path()), "valid": True,
                                                                 "problem": None}}
    config = None
    try:
        config = load_config()
    except MemSyncError as error:
        report["config"].update(valid=False, problem=str(error))
    report["claudeMem"] = gather.database_status(config.db_path) if config is not None else None
    report["accessLog"] = gather.access_status(folder)
    report["hook"] = gather.hook_wiring()
    try:
        setup = setup_for(None, need_config=config is not None)
        report["schedule"] = {"scheduler": SCHEDULERS[setup.platform], "state": installed_state(setup)}
    except MemSyncError as error:
        report["schedule"] = {"scheduler": "unknown", "state": str(error)}
    db_ok = bool(report["claudeMem"] and report["claudeMem"]["problem"] is None)
    report["projects"] = ([gather.project_status(config, name, folder, db_ok) for name in config.project_names]
                          if config is not None else [])
    if output_format == "json":
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render_template("status.txt.j2", s=report).rstrip("\n"))
