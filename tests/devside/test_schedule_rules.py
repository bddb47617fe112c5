"""The pure scheduling rules: times from the config, the crontab block, plists, schtasks arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from memsync.devside import schedule
from memsync.errors import ConfigError

PROGRAM = ["/opt/py/bin/python", "-m", "memsync"]


def test_import_follows_export_and_wraps_the_week() -> None:
    export, imports, maintain = schedule.tasks_for("Saturday:18:05", "weekly")
    assert (export.when.weekdays, export.when.hour, export.when.minute) == ((6,), 18, 5)
    assert (imports.when.weekdays, imports.when.hour) == ((0,), 9)  # Sunday morning
    assert schedule.describe(maintain.when) == "Sundays at 03:00"
    assert schedule.describe(schedule.tasks_for("everyday:07:00", "biweekly")[2].windows_when) == \
        "every 2 weeks on Sundays at 03:00"


@pytest.mark.parametrize("text", ["friday", "friday:25:00", "someday:10:00", "friday:10:5", "friday:-1:00"])
def test_bad_schedules_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="exportSchedule"):
        schedule.parse_export_schedule(text)


def test_block_replaces_only_itself_and_escapes_percent() -> None:
    tasks = schedule.tasks_for("friday:16:00", "monthly")
    block = schedule.cron_block(tasks, ["/home/a b/100%/python", "-m", "memsync"], Path("/l"), {})
    assert "'/home/a b/100\\%/python'" in block
    table = "0 1 * * * keep me"  # no trailing newline
    installed = schedule.with_block(table, block)
    assert installed == "0 1 * * * keep me\n" + block
    assert schedule.installed_block(installed) == block
    assert schedule.with_block(installed, block) == installed
    assert schedule.without_block(installed) == "0 1 * * * keep me\n"
    assert schedule.installed_block("no block here\n") is None


def test_plist_and_schtasks_for_an_everyday_export() -> None:
    export = schedule.tasks_for("everyday:08:30", "monthly")[0]
    plist = schedule.launchd_plist(export, PROGRAM, Path("/l"), {})
    assert plist["StartCalendarInterval"] == {"Hour": 8, "Minute": 30} and "EnvironmentVariables" not in plist
    args = schedule.schtasks_create(export, PROGRAM, Path("/l"), {})
    assert args[args.index("/sc"):] == ["/sc", "daily", "/st", "08:30", "/rl", "LIMITED", "/f"]
