"""The OS schedulers at the edge: read and write the crontab, write launchd plists and run
launchctl, run schtasks; each either runs the command or, when it is not on PATH, reports the exact
commands to run. Messages for the developer are appended to ``out``; the pure rules are in
``schedule.py``."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from memsync.devside.schedule import Task

SCHEDULERS = {"linux": "crontab", "macos": "launchd", "windows": "Task Scheduler (schtasks)"}


@dataclass(frozen=True)
class Setup:
    platform: str  # linux | macos | windows
    tasks: list[Task]
    logs: Path
    program: list[str]  # how the scheduler starts mem-sync
    env: dict[str, str]  # what it must set (MEM_SYNC_CONFIG when this run had it)


def detected_platform() -> str:
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return "linux"  # WSL included: it has cron


def setup_for(platform: str | None, *, need_config: bool = True) -> Setup:
    from memsync.devside.config import CONFIG_ENV, load_config, state_dir
    from memsync.devside.schedule import tasks_for

    if need_config:
        config = load_config()
        tasks = tasks_for(config.export_schedule, config.maintenance.schedule)
    else:  # remove works even with a broken config: only names matter
        tasks = tasks_for("friday:16:00", "monthly")
    # cron and launchd start jobs with a bare environment: the interpreter that runs this command,
    # by absolute path, and the config location it used
    env = {CONFIG_ENV: os.environ[CONFIG_ENV]} if os.environ.get(CONFIG_ENV) else {}
    return Setup(platform or detected_platform(), tasks, state_dir() / "logs", [sys.executable, "-m", "memsync"],
                 env)


def _run(args: list[str], *, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    from memsync.errors import ScheduleError

    try:
        result = subprocess.run(args, input=input_text, capture_output=True, text=True, check=False, timeout=60)
    except OSError as error:
        raise ScheduleError(f"cannot run {args[0]} ({error.strerror})") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no message"]
        raise ScheduleError(
            f"{' '.join(args[:2])} failed (exit {result.returncode}: {detail[0]}); nothing else was changed"
        )
    return result


def installed_state(setup: Setup) -> str:
    """``installed``, ``not installed``, or ``installed but stale: ...`` (read-only)."""
    from memsync.devside import schedule as sched

    if setup.platform == "linux":
        if shutil.which("crontab") is None:
            return "not installed: no crontab command"
        block = sched.installed_block(_crontab_text())
        if block is None:
            return "not installed"
        expected = sched.cron_block(setup.tasks, setup.program, setup.logs, setup.env)
        return "installed" if block == expected else "installed, but older than the configuration: run install again"
    if setup.platform == "macos":
        folder = Path.home() / "Library" / "LaunchAgents"
        found = [folder / f"{sched.launchd_label(t)}.plist" for t in setup.tasks]
        present = [path for path in found if path.exists()]
        if not present:
            return "not installed"
        expected = [plistlib.dumps(sched.launchd_plist(t, setup.program, setup.logs, setup.env)) for t in setup.tasks]
        if len(present) == len(found) and [p.read_bytes() for p in found] == expected:
            return "installed"
        return "installed, but older than the configuration: run install again"
    if shutil.which("schtasks") is None:
        return "unknown: no schtasks command"
    found = [_run(sched.schtasks_query(t), check=False).returncode == 0 for t in setup.tasks]
    return "installed" if all(found) else "partly installed: run install again" if any(found) else "not installed"


# --- cron ------------------------------------------------------------------------------------


def _crontab_text() -> str:
    from memsync.errors import ScheduleError

    if shutil.which("crontab") is None:
        raise ScheduleError("no crontab command on PATH; install cron (e.g. apt install cron) and run again")
    result = _run(["crontab", "-l"], check=False)
    if result.returncode == 0:
        return result.stdout
    if "no crontab" in (result.stderr + result.stdout).lower():
        return ""
    raise ScheduleError(f"crontab -l failed ({result.stderr.strip() or result.returncode}); nothing was changed")


def cron_install(setup: Setup, out: list[str]) -> None:
    from memsync.devside.schedule import cron_block, with_block

    current = _crontab_text()
    updated = with_block(current, cron_block(setup.tasks, setup.program, setup.logs, setup.env))
    if updated == current:
        out.append("crontab: mem-sync's tasks are already installed as configured; nothing changed")
        return
    _run(["crontab", "-"], input_text=updated)
    out.append(f"crontab: installed {len(setup.tasks)} tasks (export, import, maintain); logs in {setup.logs}")


def cron_remove(out: list[str]) -> None:
    from memsync.devside.schedule import installed_block, without_block

    current = _crontab_text()
    if installed_block(current) is None:
        out.append("crontab: no mem-sync tasks installed; nothing changed")
        return
    _run(["crontab", "-"], input_text=without_block(current))
    out.append("crontab: removed mem-sync's tasks (other entries untouched)")


# --- launchd ---------------------------------------------------------------------------------


def launchd_install(setup: Setup, out: list[str]) -> None:
    from memsync.atomic import atomic_write_bytes
    from memsync.devside.schedule import launchctl_install, launchd_label, launchd_plist

    folder = Path.home() / "Library" / "LaunchAgents"
    folder.mkdir(parents=True, exist_ok=True)
    commands: list[list[str]] = []
    for task in setup.tasks:
        path = folder / f"{launchd_label(task)}.plist"
        data = plistlib.dumps(launchd_plist(task, setup.program, setup.logs, setup.env))
        if path.exists() and path.read_bytes() == data:
            continue
        atomic_write_bytes(path, data)
        out.append(f"launchd: wrote {path}")
        commands += launchctl_install(task, path, os.getuid() if hasattr(os, "getuid") else 0)
    if not commands:
        out.append("launchd: mem-sync's agents are already installed as configured; nothing changed")
        return
    _launchctl(commands, out, first_may_fail=True)


def launchd_remove(setup: Setup, out: list[str]) -> None:
    from memsync.devside.schedule import launchctl_remove, launchd_label

    folder = Path.home() / "Library" / "LaunchAgents"
    commands = []
    for task in setup.tasks:
        path = folder / f"{launchd_label(task)}.plist"
        if path.exists():
            commands.append(launchctl_remove(task, os.getuid() if hasattr(os, "getuid") else 0))
            path.unlink()
            out.append(f"launchd: removed {path}")
    if not commands:
        out.append("launchd: no mem-sync agents installed; nothing changed")
        return
    _launchctl(commands, out, first_may_fail=True, all_may_fail=True)


def _launchctl(commands: list[list[str]], out: list[str], *, first_may_fail: bool, all_may_fail: bool = False) -> None:
    """Run them when launchctl is here; else print them for the developer to run."""
    import shlex

    if shutil.which("launchctl") is None:
        out.append("launchctl is not on PATH; run:")
        for args in commands:
            out.append("  " + shlex.join(args))
        return
    for args in commands:
        # bootout of an agent that is not loaded fails; that is the expected first state
        _run(args, check=not (all_may_fail or (first_may_fail and args[1] == "bootout")))
        out.append("ran: " + shlex.join(args))


# --- schtasks --------------------------------------------------------------------------------


def schtasks_install(setup: Setup, out: list[str]) -> None:
    from memsync.devside.schedule import schtasks_create

    _schtasks([schtasks_create(t, setup.program, setup.logs, setup.env) for t in setup.tasks], "installed", out)


def schtasks_remove(setup: Setup, out: list[str]) -> None:
    from memsync.devside.schedule import schtasks_delete, schtasks_query

    if shutil.which("schtasks") is not None:
        present = [t for t in setup.tasks if _run(schtasks_query(t), check=False).returncode == 0]
        if not present:
            out.append("schtasks: no mem-sync tasks installed; nothing changed")
            return
        _schtasks([schtasks_delete(t) for t in present], "removed", out)
        return
    _schtasks([schtasks_delete(t) for t in setup.tasks], "removed", out)


def _schtasks(commands: list[list[str]], verb: str, out: list[str]) -> None:
    """``/create ... /f`` replaces a task of the same name: running it twice changes nothing."""
    from subprocess import list2cmdline

    if shutil.which("schtasks") is None:
        out.append("schtasks is not on PATH (run this on Windows); the commands are:")
        for args in commands:
            out.append("  " + list2cmdline(args))
        return
    for args in commands:
        _run(args)
    out.append(f"schtasks: {verb} {len(commands)} tasks ({', '.join(a[3] for a in commands)})")
