"""Benchmark of `mem-sync ci-merge` against the orjson floor, measured in the same run.

    python bench/merge_bench.py                 # 10k, 100k and 1M observations, plus incremental
    python bench/merge_bench.py --sizes 10000   # quick look

For each size it generates (once, cached under bench/.work/) a synthetic shared repo:
developers x several files, ~500-character narratives (and a text column on most rows, so a
million observations weigh about 1.7 GB, as in the issue), ~20% of observations duplicated
across developers, ~2% keep-tagged. It then measures, each in a fresh subprocess:
  floor     read every contribution file and orjson.loads it, in one process
  ci-merge  the real command (cold: no state, no merged file), secret scanning on
and prints wall time, peak RSS (the whole process tree, sampled) and the ratios.

The incremental case (one new 1,000-observation file onto 64,000 merged, cap 64,000) has two
floors: parsing the previous latest.json and the new file with orjson, and durably replacing a
file the size of latest.json (write, fsync, rename over the old one), which any correct merge
must do once since every score changes.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".work"
NOW = 1_780_000_000
WORDS = ("the cache layer retries idempotent writes when the upstream returns a transient error so "
         "callers never see partial state we chose sqlite wal mode because readers must not block "
         "the worker and the migration runs once per release the parser rejects unknown fields "
         "config loading validates every path before use").split()
TYPES = ["decision", "bugfix", "feature", "discovery", "refactor", "change"]


def narrative(rng: random.Random) -> str:
    words = []
    length = 0
    while length < 500:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def generate(repo: Path, total: int, *, devs: int, files_per_dev: int, seed: int = 7) -> int:
    """Write the synthetic repo; returns input bytes. Deterministic for a given size and seed."""
    rng = random.Random(seed)
    per_file = max(total // (devs * files_per_dev), 1)
    pool: list[dict] = []  # earlier developers' observations, which later ones duplicate
    size = 0
    for dev_index in range(devs):
        dev = f"dev{dev_index:03d}"
        shared_from = len(pool)  # never duplicate this developer's own observations
        taken: set[int] = set()
        for file_index in range(files_per_dev):
            observations = []
            for i in range(per_file):
                pick = rng.randrange(shared_from) if shared_from and rng.random() < 0.2 else None
                if pick is not None and pick not in taken:
                    taken.add(pick)
                    obs = dict(pool[pick])
                    obs["id"] = i
                else:
                    title = f"{rng.choice(TYPES)} note {dev} {file_index} {i}"
                    if rng.random() < 0.02:
                        title += " #keep"
                    obs = {
                        "id": i,
                        "memory_session_id": f"session-{dev}-{file_index}-{i // 50}",
                        "type": rng.choice(TYPES),
                        "title": title,
                        "subtitle": None,
                        "narrative": narrative(rng),
                        # older claude-mem rows keep a full text beside the narrative; with it an
                        # observation averages ~1.7 KB, as in the 1.7 GB per million
                        "text": narrative(rng) if rng.random() < 0.85 else None,
                        "facts": orjson.dumps([" ".join(rng.choice(WORDS) for _ in range(9))
                                               for _ in range(4)]).decode(),
                        "concepts": '["pattern","gotcha"]',
                        "files_read": '["src/app/module.py"]',
                        "files_modified": "[]",
                        "prompt_number": 3,
                        "created_at_epoch": (NOW - rng.randint(0, 400 * 86400)) * 1000 + rng.randint(0, 999),
                        "project": "bench",
                    }
                    if len(pool) < 200_000:
                        pool.append(obs)
                observations.append(obs)
            doc = {
                "version": 1, "exportedBy": dev, "exportedAt": "2026-06-01T00:00:00.000Z",
                "exportedAtEpoch": NOW - 86400 + file_index, "project": "bench", "packageVersion": "1.1.8",
                "filters": {"types": [], "keywords": [], "tags": []},
                "observations": observations, "observationCount": len(observations),
            }
            path = repo / "contributions" / "bench" / dev / f"2026-06-01T00-00-{file_index:02d}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
            path.write_bytes(data)
            size += len(data)
    return size


def repo_for(total: int) -> tuple[Path, int]:
    devs = 20 if total <= 10_000 else 50
    files = 2 if total <= 10_000 else (4 if total <= 100_000 else 8)
    repo = WORK / f"repo-v3-{total}"
    marker = repo / ".complete"
    if not marker.exists():
        shutil.rmtree(repo, ignore_errors=True)
        print(f"  generating {total:,} observations ...", flush=True)
        size = generate(repo, total, devs=devs, files_per_dev=files)
        marker.write_text(str(size))
    return repo, int(marker.read_text())


def reset(repo: Path) -> None:
    shutil.rmtree(repo / "merged", ignore_errors=True)
    shutil.rmtree(repo / "profiles", ignore_errors=True)
    (repo / ".merge-state.json").unlink(missing_ok=True)


def tree_rss(pid: int) -> int:
    """Memory of a process and all its descendants, from /proc: the sum of proportional set
    sizes (PSS), so pages a forked worker shares with its parent are counted once."""
    total = 0
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError):
            continue
    stack, seen = [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        stack.extend(children.get(current, []))
    return total


def measure(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds and peak tree memory (PSS) of a command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"command failed ({process.returncode}): {' '.join(command)}\n{output}")
    return elapsed, peak, output


FLOOR = """
import os, sys, orjson
root = sys.argv[1]
count = 0
for base, dirs, files in os.walk(os.path.join(root, "contributions")):
    dirs.sort()
    for name in sorted(files):
        with open(os.path.join(base, name), "rb") as handle:
            count += len(orjson.loads(handle.read())["observations"])
print(count)
"""


def merge_command(repo: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "memsync", "ci-merge", "--repo", str(repo), "--no-profiles",
            "--now", str(NOW), *extra]


def cold(total: int, secrets: str) -> dict:
    repo, size = repo_for(total)
    # the first read warms the page cache, so neither side of the ratio pays for the disk
    measure([sys.executable, "-c", FLOOR, str(repo)])
    floor_time, floor_rss, _ = measure([sys.executable, "-c", FLOOR, str(repo)])
    reset(repo)
    merge_time, merge_rss, output = measure(merge_command(repo, "--secrets", secrets))
    reset(repo)
    return {"total": total, "bytes": size, "floor": floor_time, "floor_rss": floor_rss,
            "merge": merge_time, "merge_rss": merge_rss, "output": output}


REWRITE = '''
import os, sys
data = open(sys.argv[1], "rb").read()
tmp = sys.argv[2] + ".tmp"
with open(tmp, "wb") as handle:
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())
os.replace(tmp, sys.argv[2])
'''


def incremental(repeat: int = 3) -> dict:
    """One new 1,000-observation file onto 64,000 merged (cap 64,000, 100k processed). The base
    (the first merge) is made once; each repetition merges the new file into a fresh copy of it,
    and every figure is the median of the repetitions."""
    repo, _ = repo_for(100_000)
    base = WORK / "incremental-base"
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(repo, base, ignore=shutil.ignore_patterns("merged", "profiles", ".merge-state.json"))
    subprocess.run(merge_command(base, "--cap", "64000"), check=True, capture_output=True)
    rng = random.Random(99)
    observations = []
    for i in range(1000):
        observations.append({
            "id": i, "memory_session_id": f"late-{i // 50}", "type": rng.choice(TYPES),
            "title": f"late note {i}", "narrative": narrative(rng), "text": None,
            "facts": "[]", "concepts": '["late"]', "files_read": "[]", "files_modified": "[]",
            "created_at_epoch": NOW * 1000 - i, "project": "bench"})
    doc = {"version": 1, "exportedBy": "newcomer", "exportedAt": "2026-06-02T00:00:00.000Z",
           "exportedAtEpoch": NOW, "project": "bench", "packageVersion": "1.1.8",
           "filters": {"types": [], "keywords": [], "tags": []},
           "observations": observations, "observationCount": 1000}
    runs: dict[str, list[float]] = {"time": [], "rss": [], "floor": [], "rewrite": []}
    output = ""
    for _ in range(repeat):
        work = WORK / "incremental"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work)
        path = work / "contributions/bench/newcomer/2026-06-02T00-00-00.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(orjson.dumps(doc))
        elapsed, rss, output = measure(merge_command(work, "--cap", "64000"))
        latest = work / "merged/bench/latest.json"
        floor_elapsed, _, _ = measure([sys.executable, "-c", "import orjson,sys; orjson.loads(open(sys.argv[1],'rb')"
                                       ".read()); orjson.loads(open(sys.argv[2],'rb').read())",
                                       str(latest), str(path)])
        # the other floor: replacing a file of that size durably, as any correct writer must
        victim = work / "victim.json"
        shutil.copyfile(latest, victim)
        rewrite_elapsed, _, _ = measure([sys.executable, "-c", REWRITE, str(latest), str(victim)])
        for name, value in (("time", elapsed), ("rss", rss), ("floor", floor_elapsed), ("rewrite", rewrite_elapsed)):
            runs[name].append(value)
    shutil.rmtree(WORK / "incremental", ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    return {name: sorted(values)[len(values) // 2] for name, values in runs.items()} | {"output": output}


def startup() -> tuple[float, float]:
    def median(command: list[str]) -> float:
        times = []
        for _ in range(15):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    return median([sys.executable, "-m", "memsync", "--help"]), median([sys.executable, "-c", "pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--secrets", default="quarantine", choices=["quarantine", "off"])
    parser.add_argument("--skip-incremental", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; secrets scanning: {args.secrets}")
    rows = []
    for total in (int(s) for s in args.sizes.split(",")):
        row = cold(total, args.secrets)
        rows.append(row)
        print(f"{total:>9,} obs {row['bytes'] / 1e6:8.1f} MB | floor {row['floor']:6.2f} s "
              f"{row['floor_rss'] / 1e6:7.0f} MB RSS | ci-merge {row['merge']:6.2f} s "
              f"{row['merge_rss'] / 1e6:7.0f} MB RSS | time x{row['merge'] / row['floor']:.2f} of floor, "
              f"RSS x{row['merge_rss'] / row['bytes']:.2f} of input", flush=True)
    for small, big in zip(rows, rows[1:], strict=False):
        growth = big["merge"] / small["merge"]
        print(f"growth {small['total']:,} -> {big['total']:,} obs (x{big['total'] / small['total']:.0f} input): "
              f"time x{growth:.2f} (floor x{big['floor'] / small['floor']:.2f})")
    if not args.skip_incremental:
        inc = incremental()
        print(f"incremental: 1,000 new onto 64,000 merged / 100k processed: {inc['time']:.3f} s, "
              f"{inc['rss'] / 1e6:.0f} MB RSS; floors: parse latest.json + new file {inc['floor']:.3f} s "
              f"(x{inc['time'] / inc['floor']:.2f}), durably replace a file of latest.json's size "
              f"{inc['rewrite']:.3f} s (x{inc['time'] / inc['rewrite']:.2f})")
    help_time, bare = startup()
    print(f"mem-sync --help: {help_time * 1000:.0f} ms (python -c pass: {bare * 1000:.0f} ms, "
          f"x{help_time / bare:.1f})")


if __name__ == "__main__":
    main()
