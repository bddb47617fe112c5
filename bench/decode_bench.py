"""What validating every value at the decode boundary costs, against floors measured in the same run.

    python bench/decode_bench.py            # 10k observations (~13 MB), best of 7

Times, per contribution file: orjson.loads (the merge bench's floor), the merge's lenient typed
decode alone (what ingest did before values were all checked), the typed decode of a file made
only of claude-mem's columns (one decode checks every value: the common case), and of the
same file with one column the decoder does not know (lenient decode + check_writable).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from memsync.model import _decode_lenient, decode_contribution_fields  # noqa: E402

WORDS = "the cache layer retries idempotent writes when the upstream returns a transient error".split()


def document(count: int, extra_column: bool) -> bytes:
    rng = random.Random(7)
    observations = []
    for i in range(count):
        obs = {
            "id": i, "memory_session_id": f"session-{i // 50}", "project": "bench", "type": "decision",
            "title": f"title {i}", "subtitle": None,
            "narrative": " ".join(rng.choice(WORDS) for _ in range(80)),
            "text": " ".join(rng.choice(WORDS) for _ in range(80)),
            "facts": '["a fact"]', "concepts": '["pattern","gotcha"]', "files_read": '["src/app.py"]',
            "files_modified": "[]", "prompt_number": 3, "created_at": "2026-03-19T06:00:00.000Z",
            "created_at_epoch": 1_773_900_000_000 + i, "discovery_tokens": 120, "content_hash": "0123456789abcdef",
            "relevance_count": 0, "sync_rev": "1",
        }
        if extra_column:
            obs["a_newer_column"] = {"nested": [1, 2, 3]}
        observations.append(obs)
    return orjson.dumps({"version": 1, "exportedBy": "dev", "exportedAt": "2026-03-19T18:30:00.000Z",
                         "exportedAtEpoch": 1_773_945_000, "project": "bench", "packageVersion": "1.1.8",
                         "filters": {"types": [], "keywords": [], "tags": []}, "observations": observations,
                         "observationCount": count})


def best(func, raw: bytes, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func(raw)
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    known, unknown = document(count, False), document(count, True)
    floor = best(orjson.loads, known)
    rows = [
        ("orjson.loads (floor)", floor),
        ("lenient typed decode only (before)", best(_decode_lenient, known)),
        ("known columns: typed decode, every value checked", best(decode_contribution_fields, known)),
        ("one unknown column: lenient decode + check_writable", best(decode_contribution_fields, unknown)),
    ]
    print(f"{count} observations, {len(known) / 1e6:.1f} MB; best of 7")
    for name, ms in rows:
        print(f"  {name:<55} {ms:7.1f} ms   x{ms / floor:.2f} of floor")


if __name__ == "__main__":
    main()
