"""What a distillation costs before any model is called: reading the merged set, selecting
and scanning what may be sent, splitting it under the budget, building every request and its
digest (all a `--dry-run`, and the "up to date" check, do).

    python bench/distill_bench.py [--observations 10000] [--budget 100000] [--repeat 3]

Floor, measured in the same run on the same file: orjson parsing latest.json plus one
secret-scanner pass over the serialised observations (the least any planner must do).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from builders import BASE_MILLIS, contribution, observation  # noqa: E402
from memsync.distill.run import DistillOptions, distill_project  # noqa: E402
from memsync.distill.settings import DistillSettings  # noqa: E402
from memsync.safety.secrets import python_scanner  # noqa: E402

CONCEPTS = ["http", "sqlite", "testing", "ci", "auth", "cache", "logging", "deploy"]


def merged_set(count: int) -> dict:
    observations = []
    for index in range(count):
        concept = CONCEPTS[index % len(CONCEPTS)]
        obs = observation(
            f"Decision {index} about {concept}", session=f"s{index % 977}",
            created_at_epoch=BASE_MILLIS + index * 60_000,
            narrative=f"We chose this for {concept} after measuring it; note {index}. " * 3,
            facts=json.dumps([f"{concept} fact {index}", "measured twice"]),
            concepts=json.dumps([concept, "team"]))
        obs["contributors"] = ["alice", "bob"][: 1 + index % 2]
        observations.append(obs)
    return contribution(observations, dev="ci-merge")


def best(repeat: int, action) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--budget", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scanner = python_scanner()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        latest = repo / "merged" / "demo" / "latest.json"
        latest.parent.mkdir(parents=True)
        latest.write_bytes(orjson.dumps(merged_set(args.observations)))
        settings = DistillSettings(enabled=True, min_observations=1,
                                   max_token_budget=args.budget)
        options = DistillOptions(repo=repo, project="demo", settings=settings, dry_run=True,
                                 scanner=scanner)

        def floor() -> None:
            doc = orjson.loads(latest.read_bytes())
            scanner.may_contain_secret(orjson.dumps(doc["observations"]))

        outcome = distill_project(options)
        floor_s = best(args.repeat, floor)
        plan_s = best(args.repeat, lambda: distill_project(options))
        size = latest.stat().st_size
    calls = outcome.estimates
    print(f"{args.observations} observations, {size / 1e6:.1f} MB, budget "
          f"{args.budget} tokens: {len([c for c in calls if c.kind == 'part'])} parts + "
          f"{len([c for c in calls if c.kind == 'merge'])} merge, ~"
          f"{sum(c.input_tokens for c in calls)} input tokens")
    print(f"floor (parse + one scanner pass): {floor_s * 1000:.0f} ms")
    print(f"plan (dry run: select, scan, split, requests, digest): {plan_s * 1000:.0f} ms "
          f"({plan_s / floor_s:.1f}x floor)")


if __name__ == "__main__":
    main()
