"""Profile generation time against the floor of merely reading the same files.

    python bench/profile_bench.py                  # 100 devs, 10k observations in total
    python bench/profile_bench.py --per-dev 10000  # 100 devs x 10k each = 1M observations

Builds a synthetic shared repository in a temp directory (contributions for N developers,
spread over several files each, a share of observations exported by two developers, and a
capped merged set), then times, in the same run:

- floor: read every contribution file plus merged/latest.json and parse it with orjson;
- cold: ``generate_project_profiles`` writing every page (json + md) into an empty profiles/;
- warm: the same call again on the unchanged repository (it writes nothing);
- merge: a cold ``run_merge`` of the same repository with profiles off, for the ratio the
  issue asks for (profiles should cost well under the merge itself).

The ratios (cold/floor, warm/floor, cold/merge) are what to compare across machines.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from memsync.model import build_envelope, dump_document  # noqa: E402
from memsync.profiles.generate import generate_project_profiles  # noqa: E402

TYPES = ["decision", "bugfix", "feature", "discovery", "refactor", "change"]
BASE_MILLIS = 1_773_900_000_000
DAY = 86_400_000


def build_repo(root: Path, devs: int, per_dev: int, files_per_dev: int, seed: int) -> int:
    rng = random.Random(seed)
    concepts = [f"concept-{i}" for i in range(300)]
    paths = [f"src/module{d}/file{f}.py" for d in range(120) for f in range(20)]
    shared: list[dict] = []   # observations a second developer also exported
    total_bytes = 0
    merged_pool: list[dict] = []
    for d in range(devs):
        dev = f"dev{d:03d}"
        observations = []
        taken: set[int] = set()  # a file never repeats a composite key (the merge would refuse it)
        for i in range(per_dev):
            pick = rng.randrange(len(shared)) if shared and rng.random() < 0.05 else None
            if pick is not None and pick not in taken and shared[pick]["project"] != dev:
                taken.add(pick)
                obs = dict(shared[pick])
            else:
                obs = {
                    "id": i,
                    "memory_session_id": f"{dev}-session-{i // 20}",
                    "type": rng.choice(TYPES),
                    "title": f"{dev} observation {i} about {rng.choice(concepts)}",
                    "narrative": "We chose this approach because " + "the alternative was slower. " * 6,
                    "text": None,
                    "facts": orjson.dumps([f"fact {i}", "another fact"]).decode(),
                    "concepts": orjson.dumps(rng.sample(concepts, rng.randint(1, 4))).decode(),
                    "files_read": orjson.dumps(rng.sample(paths, rng.randint(0, 4))).decode(),
                    "files_modified": orjson.dumps(rng.sample(paths, rng.randint(0, 2))).decode(),
                    "created_at_epoch": BASE_MILLIS - rng.randint(0, 90) * DAY - rng.randint(0, DAY),
                    "project": "bench",
                }
                if rng.random() < 0.02:
                    shared.append({**obs, "project": dev})
            observations.append(obs)
        merged_pool.extend(rng.sample(observations, min(len(observations), 10)))
        chunk = max(1, len(observations) // files_per_dev)
        for f, start in enumerate(range(0, len(observations), chunk)):
            doc = build_envelope(project="bench", exported_by=dev, now_millis=BASE_MILLIS + f * 1000,
                                 observations=observations[start:start + chunk], package_version="bench")
            path = root / "contributions" / "bench" / dev / f"2026-03-{1 + f:02d}T00-00-00.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            data = dump_document(doc)
            total_bytes += len(data)
            path.write_bytes(data)
    unique = list({(o["memory_session_id"], o["title"], o["created_at_epoch"]): o for o in merged_pool}.values())
    merged = build_envelope(project="bench", exported_by="ci-merge", now_millis=BASE_MILLIS,
                            observations=rng.sample(unique, min(500, len(unique))),
                            package_version="bench")
    path = root / "merged" / "bench" / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dump_document(merged))
    return total_bytes


def read_floor(root: Path) -> int:
    count = 0
    for path in sorted((root / "contributions").rglob("*.json")):
        count += len(orjson.loads(path.read_bytes())["observations"])
    orjson.loads((root / "merged" / "bench" / "latest.json").read_bytes())
    return count


def best_of(repeat: int, func) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def time_merge(root: Path) -> float | None:
    """A real cold merge of the same repository without profiles (run last: it rewrites merged/)."""
    try:
        from memsync.merge_job import MergeOptions, run_merge
    except ImportError:
        return None
    (root / ".merge-state.json").unlink(missing_ok=True)
    start = time.perf_counter()
    run_merge(MergeOptions(repo=root, now=BASE_MILLIS, retention_days=0, profiles=False))
    return time.perf_counter() - start


def run(devs: int, per_dev: int, files_per_dev: int, repeat: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="profile-bench-"))
    try:
        start = time.perf_counter()
        size = build_repo(root, devs, per_dev, files_per_dev, seed=7)
        built = time.perf_counter() - start
        print(f"\n{devs} devs x {per_dev} observations = {devs * per_dev:,} observations "
              f"in {devs * files_per_dev} files, {size / 1e6:.1f} MB (built in {built:.1f} s)")
        floor, count = best_of(repeat, lambda: read_floor(root))

        def cold():
            shutil.rmtree(root / "profiles", ignore_errors=True)
            return generate_project_profiles(root, "bench", now_millis=BASE_MILLIS)

        cold_time, run_result = best_of(repeat, cold)
        warm_time, warm_result = best_of(repeat, lambda: generate_project_profiles(
            root, "bench", now_millis=BASE_MILLIS))
        assert count == devs * per_dev and warm_result.written == []
        assert len(run_result.devs) == devs, "a generated file was refused"
        print(f"  floor  read+orjson parse : {floor:8.3f} s")
        print(f"  cold   generate (writes {len(run_result.written)} files): {cold_time:8.3f} s"
              f"   ratio to floor {cold_time / floor:5.2f}x")
        print(f"  warm   generate (unchanged, 0 writes): {warm_time:8.3f} s"
              f"   ratio to floor {warm_time / floor:5.2f}x")
        print(f"  per observation (cold): {cold_time / count * 1e6:.2f} us")
        merge_time = time_merge(root)
        if merge_time is not None:
            print(f"  merge  ci-merge --no-profiles, cold, same repo: {merge_time:8.3f} s"
                  f"   profiles cold/merge {cold_time / merge_time:5.2f}x,"
                  f" warm/merge {warm_time / merge_time:5.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devs", type=int, default=100)
    parser.add_argument("--per-dev", type=int, action="append",
                        help="observations per developer (repeatable; default 100 and 10000)")
    parser.add_argument("--files-per-dev", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for per_dev in args.per_dev or [100, 10_000]:
        run(args.devs, per_dev, args.files_per_dev, args.repeat if per_dev * args.devs <= 100_000 else 1)


if __name__ == "__main__":
    main()
