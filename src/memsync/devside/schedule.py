"""Scheduled export, import and maintain: a marked crontab block, launchd agents, or schtasks tasks.

The pure part turns the configuration (``exportSchedule``, ``maintenanceSchedule``) into three
``Task``s and each platform's artefact: crontab lines inside a marked block, plist dictionaries,
``schtasks`` argument lists. The edge (commands/schedule.py) reads and writes the crontab through
the ``crontab`` command, writes plists, and runs ``launchctl`` / ``schtasks`` when they are on PATH
(else prints the exact commands). Installing twice changes nothing; removing deletes only ours.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memsync.errors import ConfigError

DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # cron numbering
SCHTASKS_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MAINTENANCE_FREQUENCIES = ("weekly", "biweekly", "monthly")
IMPORT_HOUR = 9  # the morning after the export day, as claude-mem-sync does
MAINTENANCE_HOUR = 3
BLOCK_BEGIN = "# >>> mem-sync schedule (from `mem-sync schedule install`; `mem-sync schedule remove` deletes it) >>>"
BLOCK_END = "# <<< mem-sync schedule <<<"
LAUNCHD_PREFIX = "dev.mem-sync."
SCHTASKS_PREFIX = "mem-sync-"


@dataclass(frozen=True)
class When:
    """A recurring time: ``weekdays`` (0 = Sunday; empty = every day) or ``month_days``, at hour:minute.
    ``every_weeks`` > 1 only where the platform can say it (schtasks); elsewhere month days stand in."""

    hour: int
    minute: int
    weekdays: tuple[int, ...] = ()
    month_days: tuple[int, ...] = ()
    every_weeks: int = 1


@dataclass(frozen=True)
class Task:
    name: str  # export | import | maintain
    args: tuple[str, ...]  # mem-sync's arguments
    when: When
    windows_when: When  # schtasks can say "every 2 weeks"; cron and launchd cannot


# --- from the configuration --------------------------------------------------------------


def parse_export_schedule(text: str) -> When:
    """``friday:16:00`` / ``everyday:09:30`` (claude-mem-sync's format, case-insensitive)."""
    parts = text.strip().lower().split(":")
    hint = "set global.exportSchedule to <day>:<HH>:<MM>, e.g. friday:16:00 (day: monday..sunday or everyday)"
    if len(parts) != 3:
        raise ConfigError(f"global.exportSchedule {text!r} has the wrong shape; {hint}")
    day, hour, minute = parts
    if day != "everyday" and day not in DAYS:
        raise ConfigError(f"global.exportSchedule {text!r} names no day of the week; {hint}")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2):
        raise ConfigError(f"global.exportSchedule {text!r} has no valid HH:MM time; {hint}")
    weekdays = () if day == "everyday" else (DAYS.index(day),)
    return When(int(hour), int(minute), weekdays)


def tasks_for(export_schedule: str, maintenance_schedule: str) -> list[Task]:
    export = parse_export_schedule(export_schedule)
    imports = When(IMPORT_HOUR, 0, tuple((day + 1) % 7 for day in export.weekdays))
    if maintenance_schedule not in MAINTENANCE_FREQUENCIES:
        raise ConfigError(
            f"global.maintenanceSchedule {maintenance_schedule!r} must be one of "
            f"{', '.join(MAINTENANCE_FREQUENCIES)}; fix it in the config file"
        )
    if maintenance_schedule == "monthly":
        maintain = windows_maintain = When(MAINTENANCE_HOUR, 0, month_days=(1,))
    elif maintenance_schedule == "weekly":
        maintain = windows_maintain = When(MAINTENANCE_HOUR, 0, weekdays=(0,))
    else:  # biweekly: cron and launchd cannot count weeks, so the 1st and the 15th
        maintain = When(MAINTENANCE_HOUR, 0, month_days=(1, 15))
        windows_maintain = When(MAINTENANCE_HOUR, 0, weekdays=(0,), every_weeks=2)
    return [
        Task("export", ("export", "--all"), export, export),
        Task("import", ("import", "--all"), imports, imports),
        Task("maintain", ("maintain",), maintain, windows_maintain),
    ]


# --- cron ----------------------------------------------------------------------------------


def cron_fields(when: When) -> str:
    days = ",".join(map(str, when.month_days)) if when.month_days else "*"
    weekdays = ",".join(map(str, when.weekdays)) if when.weekdays else "*"
    return f"{when.minute} {when.hour} {days} * {weekdays}"


def cron_block(tasks: list[Task], program: list[str], logs: Path, env: dict[str, str]) -> str:
    """Our block of crontab lines. cron runs with a bare environment and PATH, so the program is an
    absolute path and the config location travels as a variable; ``%`` is special to cron."""
    prefix = "".join(f"{name}={shlex.quote(value)} " for name, value in sorted(env.items()))
    lines = [BLOCK_BEGIN]
    for task in tasks:
        command = " ".join(shlex.quote(part) for part in (*program, *task.args))
        log = shlex.quote(str(logs / f"{task.name}.log"))
        lines.append(f"{cron_fields(task.when)} {prefix}{command} >> {log} 2>&1".replace("%", "\\%"))
    lines.append(BLOCK_END)
    return "\n".join(lines) + "\n"


def without_block(table: str) -> str:
    """The crontab without our block (every other line exactly as it was)."""
    kept: list[str] = []
    inside = False
    for line in table.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        if stripped == BLOCK_BEGIN:
            inside = True
            continue
        if inside:
            if stripped == BLOCK_END:
                inside = False
            continue
        kept.append(line)
    return "".join(kept)


def with_block(table: str, block: str) -> str:
    rest = without_block(table)
    if rest and not rest.endswith("\n"):
        rest += "\n"
    return rest + block


def installed_block(table: str) -> str | None:
    """Our block as it stands in ``table``, or None."""
    lines = table.splitlines(keepends=True)
    for start, line in enumerate(lines):
        if line.rstrip("\n") == BLOCK_BEGIN:
            for end in range(start + 1, len(lines)):
                if lines[end].rstrip("\n") == BLOCK_END:
                    return "".join(lines[start : end + 1])
    return None


# --- launchd -------------------------------------------------------------------------------


def launchd_label(task: Task) -> str:
    return LAUNCHD_PREFIX + task.name


def launchd_plist(task: Task, program: list[str], logs: Path, env: dict[str, str]) -> dict[str, Any]:
    """The agent's property list (write it with plistlib)."""
    when = task.when
    base = {"Hour": when.hour, "Minute": when.minute}
    if when.month_days:
        intervals = [{"Day": day, **base} for day in when.month_days]
    elif when.weekdays:
        intervals = [{"Weekday": day, **base} for day in when.weekdays]
    else:
        intervals = [base]
    plist: dict[str, Any] = {
        "Label": launchd_label(task),
        "ProgramArguments": [*program, *task.args],
        "StartCalendarInterval": intervals[0] if len(intervals) == 1 else intervals,
        "StandardOutPath": str(logs / f"{task.name}.log"),
        "StandardErrorPath": str(logs / f"{task.name}.log"),
        "RunAtLoad": False,
    }
    if env:
        plist["EnvironmentVariables"] = dict(sorted(env.items()))
    return plist


def launchctl_install(task: Task, plist_path: Path, uid: int) -> list[list[str]]:
    """Unload a previous version (may fail: not loaded), then load this one."""
    return [["launchctl", "bootout", f"gui/{uid}/{launchd_label(task)}"],
            ["launchctl", "bootstrap", f"gui/{uid}", str(plist_path)]]


def launchctl_remove(task: Task, uid: int) -> list[str]:
    return ["launchctl", "bootout", f"gui/{uid}/{launchd_label(task)}"]


# --- Windows -------------------------------------------------------------------------------


def schtasks_name(task: Task) -> str:
    return SCHTASKS_PREFIX + task.name


def _windows_quote(part: str) -> str:
    return f'"{part}"' if any(c in part for c in ' \t&|<>^"') else part


def schtasks_create(task: Task, program: list[str], logs: Path, env: dict[str, str]) -> list[str]:
    """``schtasks /create`` with /rl LIMITED: the task runs with the user's normal rights, never
    elevated. The command goes through cmd so its output reaches the log."""
    command = " ".join(_windows_quote(part) for part in (*program, *task.args))
    setup = "".join(f"set {name}={value}&& " for name, value in sorted(env.items()))
    action = f'cmd /c "{setup}{command} >> {_windows_quote(str(logs / f"{task.name}.log"))} 2>&1"'
    when = task.windows_when
    args = ["schtasks", "/create", "/tn", schtasks_name(task), "/tr", action]
    if when.month_days:
        args += ["/sc", "monthly", "/d", ",".join(map(str, when.month_days))]
    elif when.weekdays:
        args += ["/sc", "weekly", "/d", ",".join(SCHTASKS_DAYS[d] for d in when.weekdays)]
        if when.every_weeks > 1:
            args += ["/mo", str(when.every_weeks)]
    else:
        args += ["/sc", "daily"]
    return args + ["/st", f"{when.hour:02d}:{when.minute:02d}", "/rl", "LIMITED", "/f"]


def schtasks_delete(task: Task) -> list[str]:
    return ["schtasks", "/delete", "/tn", schtasks_name(task), "/f"]


def schtasks_query(task: Task) -> list[str]:
    return ["schtasks", "/query", "/tn", schtasks_name(task)]


def describe(when: When) -> str:
    """``fridays at 16:00`` for people."""
    at = f"at {when.hour:02d}:{when.minute:02d}"
    if when.month_days:
        days = " and ".join(f"the {day}{_suffix(day)}" for day in when.month_days)
        return f"{days} of each month {at}"
    if when.weekdays:
        days = ", ".join(DAYS[d].capitalize() + "s" for d in when.weekdays)
        every = f"every {when.every_weeks} weeks on " if when.every_weeks > 1 else ""
        return f"{every}{days} {at}"
    return f"every day {at}"


def _suffix(day: int) -> str:
    return "st" if day in (1, 21, 31) else "nd" if day in (2, 22) else "rd" if day in (3, 23) else "th"
