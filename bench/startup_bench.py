"""Start-up cost of `mem-sync`: every CI run pays it before any work happens.

Measures the wall time of `mem-sync --help` (and `mem-sync action --help`, the container's
entry point) against the floor `python -c pass` measured in the same run, and prints the
medians and the ratio. Target: `mem-sync --help` under 100 ms. When it is over, the slowest
imports of `memsync.cli` are listed from `python -X importtime`.

    python bench/startup_bench.py [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_MS = 100.0


def wall_ms(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, capture_output=True, check=True)  # warm the page cache once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def import_times(code: str) -> dict[str, int]:
    """module -> cumulative import time in µs, from ``python -X importtime -c code``."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                            capture_output=True, text=True, check=True)
    times = {}
    for line in result.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package"
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[1].strip().isdigit():
            times[fields[2].strip()] = int(fields[1])
    return times


def costly_imports(top: int = 12) -> list[tuple[int, str]]:
    """The slowest imports behind `import memsync.cli` that `python -c pass` does not pay."""
    floor = import_times("pass")
    ours = import_times("import memsync.cli")
    rows = [(micros, name) for name, micros in ours.items() if name not in floor]
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--imports", action="store_true",
                        help="list the slowest imports even when the target is met")
    args = parser.parse_args()
    # The console script beside this interpreter: a version manager's shim on PATH (pyenv
    # runs a bash script first) would be measured too, and a container has none.
    beside = Path(sys.executable).with_name("mem-sync")
    mem_sync = str(beside) if beside.exists() else shutil.which("mem-sync")
    if mem_sync is None:
        print("mem-sync is not on PATH: pip install -e . first", file=sys.stderr)
        return 1

    floor = statistics.median(wall_ms([sys.executable, "-c", "pass"], args.runs))
    help_ms = statistics.median(wall_ms([mem_sync, "--help"], args.runs))
    action_ms = statistics.median(wall_ms([mem_sync, "action", "--help"], args.runs))
    print(f"runs per command: {args.runs} (median wall time)")
    print(f"floor  python -c pass          {floor:7.1f} ms")
    print(f"       mem-sync --help         {help_ms:7.1f} ms   {help_ms / floor:5.2f}x floor")
    print(f"       mem-sync action --help  {action_ms:7.1f} ms   {action_ms / floor:5.2f}x floor")
    print(f"       mem-sync's own cost     {help_ms - floor:7.1f} ms   (--help minus the floor)")
    print(f"target mem-sync --help < {TARGET_MS:.0f} ms: {'met' if help_ms < TARGET_MS else 'MISSED'}")
    if help_ms >= TARGET_MS or args.imports:
        print("slowest imports behind `import memsync.cli` beyond the floor's (cumulative):")
        for micros, name in costly_imports():
            print(f"  {micros / 1000:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
