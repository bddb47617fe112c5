"""``schedule install|remove|show``: export, import and maintain run by the OS scheduler."""

from __future__ import annotations

import click

PLATFORMS = ("linux", "macos", "windows")
_PLATFORM = click.option("--platform", type=click.Choice(PLATFORMS), default=None,
                         help="Scheduler to use (default: this machine's: cron, launchd or schtasks).")


@click.group("schedule")
def schedule() -> None:
    """Run export, import and maintain on a schedule (exportSchedule, maintenanceSchedule)."""


@schedule.command("install")
@_PLATFORM
def install(platform: str | None) -> None:
    """Install (or update) the scheduled tasks; installing twice changes nothing."""
    from memsync.devside import scheduler

    setup = scheduler.setup_for(platform)
    setup.logs.mkdir(parents=True, exist_ok=True)
    install_on = {"linux": scheduler.cron_install, "macos": scheduler.launchd_install,
                  "windows": scheduler.schtasks_install}[setup.platform]
    _show(lambda out: install_on(setup, out))


@schedule.command("remove")
@_PLATFORM
def remove(platform: str | None) -> None:
    """Remove mem-sync's scheduled tasks, and nothing else."""
    from memsync.devside import scheduler

    setup = scheduler.setup_for(platform, need_config=False)
    if setup.platform == "linux":
        _show(scheduler.cron_remove)
    elif setup.platform == "macos":
        _show(lambda out: scheduler.launchd_remove(setup, out))
    else:
        _show(lambda out: scheduler.schtasks_remove(setup, out))


@schedule.command("show")
@_PLATFORM
def show(platform: str | None) -> None:
    """What would run when, and whether it is installed."""
    from memsync.devside.schedule import describe
    from memsync.devside.scheduler import SCHEDULERS, installed_state, setup_for

    setup = setup_for(platform)
    state = installed_state(setup)
    click.echo(f"scheduler: {SCHEDULERS[setup.platform]} ({state})")
    for task in setup.tasks:
        when = task.windows_when if setup.platform == "windows" else task.when
        click.echo(f"  {task.name:<9} {describe(when)}: mem-sync {' '.join(task.args)} "
                   f">> {setup.logs / (task.name + '.log')}")


def _show(step) -> None:  # noqa: ANN001 - a callable taking the message list
    """Run ``step``, printing its messages even when it fails part-way (what was done is said)."""
    out: list[str] = []
    try:
        step(out)
    finally:
        for line in out:
            click.echo(line)
