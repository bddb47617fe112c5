"""The one clock of a merge run, which no input can move.

"Now" ages observations (recency) and contribution files (retention). Taken from the newest
export, one file dated 2100 would make retention delete every earlier file at once and pin
``lastMergedAt`` for every later run. So the real clock (``SOURCE_DATE_EPOCH`` when set, else
the machine's) bounds everything: an export later than it by more than a small skew is
quarantined, "now" never passes it, and a ``lastMergedAt`` past it is repaired.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from memsync.errors import UsageError
from memsync.model import CLOCK_SKEW_MILLIS, iso_from_millis, to_millis

# 9999-12-31T23:59:59.999Z: the last "now" every date library we and our users' tools use takes
MAX_NOW_MILLIS = 253_402_300_799_999


@dataclass(frozen=True)
class RunClock:
    real_millis: int  # SOURCE_DATE_EPOCH, else the machine's clock
    fixed_millis: int | None  # --now, else SOURCE_DATE_EPOCH: "now" as the caller pinned it

    @property
    def latest_export_millis(self) -> int:
        """The latest exportedAt a contribution may claim."""
        return self.real_millis + CLOCK_SKEW_MILLIS


def check_now(value: int, name: str) -> int:
    """``value`` (seconds or milliseconds) in milliseconds, or a usage error past year 9999."""
    if value < 0 or to_millis(value) > MAX_NOW_MILLIS:
        raise UsageError(
            f"{name} must be an epoch in seconds or milliseconds no later than 9999-12-31, got {value}"
        )
    return to_millis(value)


def read_clock(now_flag: int | None, env: Mapping[str, str], machine_millis: int | None = None) -> RunClock:
    """The run's clock from ``--now``, ``SOURCE_DATE_EPOCH`` and the machine."""
    fixed = check_now(now_flag, "--now") if now_flag is not None else None
    source_date = env.get("SOURCE_DATE_EPOCH", "").strip()
    if source_date:
        if not source_date.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH must be an integer epoch, got {source_date!r}")
        real = check_now(int(source_date), "SOURCE_DATE_EPOCH")
        return RunClock(real_millis=real, fixed_millis=real if fixed is None else fixed)
    machine = time.time_ns() // 1_000_000 if machine_millis is None else machine_millis
    return RunClock(real_millis=min(machine, MAX_NOW_MILLIS), fixed_millis=fixed)


def future_export_reason(exported_at_millis: int, clock: RunClock) -> str | None:
    """Why a contribution exported at ``exported_at_millis`` is refused, if it is from the future."""
    if exported_at_millis <= clock.latest_export_millis:
        return None
    return (
        f"exportedAtEpoch is {iso_from_millis(exported_at_millis)}, later than this run's clock "
        f"({iso_from_millis(clock.real_millis)}) by more than {CLOCK_SKEW_MILLIS // 60_000} minutes; "
        "fix the clock of the machine that exported it and export again"
    )


def run_now(clock: RunClock, newest_inputs: Iterable[int], last_merged_millis: int,
            processed_millis: Iterable[int] = ()) -> tuple[int, str | None]:
    """This run's "now" and, when ``lastMergedAt`` lies in the future, the warning that it is
    being repaired. Without a pinned now: the newest input (deterministic, as reruns must be),
    never past the real clock. A future ``lastMergedAt`` is replaced by the latest sane time
    a file was processed (``processed_millis``), the last run that was not poisoned."""
    warning = None
    if last_merged_millis > clock.latest_export_millis:
        warning = (
            f"lastMergedAt in the merge state is {iso_from_millis(last_merged_millis)}, later than this run's "
            f"clock ({iso_from_millis(clock.real_millis)}); it is reset to this run's now"
        )
        last_merged_millis = max((t for t in processed_millis if t <= clock.latest_export_millis), default=0)
    if clock.fixed_millis is not None:
        return clock.fixed_millis, warning
    return min(max([*newest_inputs, last_merged_millis]), clock.real_millis), warning
