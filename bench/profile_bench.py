"""Profile generation time against the floor of merely reading the same files, and against the merge.

    python bench/profile_bench.py                  # 100 devs, 10k observations in total
    python bench/profile_bench.py --per-dev 10000  # 100 devs x 10k each = 1M observations

Builds a synthetic shared repository in a temp directory (contributions for N developers,
spread over several files each, a share of observations exported by two developers, and a
capped merged set), then times, in the same run:

- floor: read every contribution file plus merged/latest.json and parse it with orjson;
- decode floor: what any cold profile run must do before counting anything: read and decode
  every developer's files with the merge's typed decoder (which decides what counts), one
  developer per job on the same worker pool as the real run;
- cold: ``generate_project_profiles`` writing every page (json + md) and every developer's
  stored summary into an empty profiles/;
- warm: the same call again on the unchanged repository (every summary reused, nothing written);
- merge: a cold ``run_merge`` of the same repository with profiles off, for the ratio the issue
  asks for (profiles should cost well under the merge itself);
- incremental: one developer pushes one more export; ``run_merge`` (profiles off) takes it in,
  then ``generate_project_profiles`` re-reads that developer only (the others' summaries match).
  This is what every ci-merge after the first one pays.

The ratios (cold/floor, cold/merge, decode floor/merge, incremental profiles/incremental merge) are what to compare
across machines.
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

from memsync.model import build_envelope, decode_contribution_fields, dump_document  # noqa: E402
from memsync.profiles.generate import generate_project_profiles  # noqa: E402
from memsync.ci.repo import WorkerPool  # noqa: E402

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


def decode_folder(folder: str) -> int:
    """Worker: observations in one developer's files, read and typed-decoded (nothing counted)."""
    return sum(len(decode_contribution_fields(path.read_bytes()).observations)
               for path in sorted(Path(folder).glob("*.json")))


def decode_floor(root: Path) -> int:
    folders = sorted(str(path) for path in (root / "contributions" / "bench").iterdir())
    total = sum(path.stat().st_size for path in (root / "contributions").rglob("*.json"))
    with WorkerPool(None) as pool:
        return sum(pool.map(decode_folder, folders, total_bytes=total))


def best_of(repeat: int, func) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def time_merge(root: Path, now: int) -> float:
    """A real merge of the repository without profiles (it rewrites merged/ and the state)."""
    from memsync.ci.merge_job import MergeOptions, run_merge

    start = time.perf_counter()
    run_merge(MergeOptions(repo=root, now=now, retention_days=0, profiles=False))
    return time.perf_counter() - start


def add_export(root: Path, dev: str, count: int, seed: int) -> None:
    """One more export of ``count`` new observations by ``dev``."""
    rng = random.Random(seed)
    observations = [{
        "id": 10_000_000 + i,
        "memory_session_id": f"{dev}-late-session-{i // 20}",
        "type": rng.choice(TYPES),
        "title": f"{dev} late observation {i}",
        "narrative": "We chose this approach because " + "the alternative was slower. " * 6,
        "text": None,
        "facts": orjson.dumps([f"fact {i}"]).decode(),
        "concepts": orjson.dumps([f"concept-{rng.randrange(300)}"]).decode(),
        "files_read": orjson.dumps([f"src/late/file{i % 7}.py"]).decode(),
        "files_modified": "[]",
        "created_at_epoch": BASE_MILLIS + rng.randint(0, DAY),
        "project": "bench",
    } for i in range(count)]
    doc = build_envelope(project="bench", exported_by=dev, now_millis=BASE_MILLIS + DAY,
                         observations=observations, package_version="bench")
    (root / "contributions" / "bench" / dev / "2026-04-01T00-00-00.json").write_bytes(dump_document(doc))


def run(devs: int, per_dev: int, files_per_dev: int, repeat: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="profile-bench-"))
    try:
        start = time.perf_counter()
        size = build_repo(root, devs, per_dev, files_per_dev, seed=7)
        built = time.perf_counter() - start
        print(f"\n{devs} devs x {per_dev} observations = {devs * per_dev:,} observations "
              f"in {devs * files_per_dev} files, {size / 1e6:.1f} MB (built in {built:.1f} s)")
        floor, count = best_of(repeat, lambda: read_floor(root))
        decode_time, decoded = best_of(repeat, lambda: decode_floor(root))
        assert decoded == count

        def cold():
            shutil.rmtree(root / "profiles", ignore_errors=True)
            return generate_project_profiles(root, "bench", now_millis=BASE_MILLIS)

        cold_time, run_result = best_of(repeat, cold)
        warm_time, warm_result = best_of(repeat, lambda: generate_project_profiles(
            root, "bench", now_millis=BASE_MILLIS))
        assert count == devs * per_dev and warm_result.written == [] and len(warm_result.reused) == devs
        assert len(run_result.devs) == devs, "a generated file was refused"
        print(f"  floor  read+orjson parse : {floor:8.3f} s")
        print(f"  cold   generate (writes {len(run_result.written)} files): {cold_time:8.3f} s"
              f"   ratio to floor {cold_time / floor:5.2f}x")
        print(f"  warm   generate (unchanged, every summary reused, 0 writes): {warm_time:8.3f} s"
              f"   ratio to floor {warm_time / floor:5.2f}x")
        print(f"  per observation (cold): {cold_time / count * 1e6:.2f} us")
        merge_time = time_merge(root, BASE_MILLIS)
        print(f"  merge  ci-merge --no-profiles, cold, same repo: {merge_time:8.3f} s"
              f"   profiles cold/merge {cold_time / merge_time:5.2f}x")
        print(f"  decode floor (worker pool: read + typed decode, nothing counted): {decode_time:8.3f} s"
              f"   decode floor/merge {decode_time / merge_time:5.2f}x, cold/decode floor "
              f"{cold_time / decode_time:5.2f}x")

        dev = f"dev{devs // 2:03d}"
        add_export(root, dev, max(1, per_dev // files_per_dev), seed=11)
        merge_inc = time_merge(root, BASE_MILLIS + DAY)
        before = root / "profiles-before"
        shutil.copytree(root / "profiles", before)
        inc_time = float("inf")
        for _ in range(repeat):
            # profiles/ as the previous run left it, each time: every page and one summary to rewrite
            shutil.rmtree(root / "profiles")
            shutil.copytree(before, root / "profiles")
            start = time.perf_counter()
            inc_result = generate_project_profiles(root, "bench", now_millis=BASE_MILLIS + DAY)
            inc_time = min(inc_time, time.perf_counter() - start)
        assert inc_result.reused == [name for name in inc_result.devs if name != dev], "a summary was not reused"
        print(f"  incremental: {dev} pushes one more export")
        print(f"    merge    (profiles off) : {merge_inc:8.3f} s")
        print(f"    profiles (1 of {devs} developers re-read, writes {len(inc_result.written)} files): "
              f"{inc_time:8.3f} s   profiles/merge {inc_time / merge_inc:5.2f}x")
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
