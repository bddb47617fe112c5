"""A small team whose every metric is worked out by hand in test_profile_metrics.py."""

from __future__ import annotations

from pathlib import Path

import orjson

from builders import BASE_MILLIS, contribution, observation, write_contribution

DAY = 86_400_000
NOW_MILLIS = 1_774_000_000_000


def alice_a1() -> dict:
    # Thursday 2026-03-19 (ISO week 2026-W12); also exported by bob.
    return observation("a1", session="s-a", type="decision", concepts='["pattern", "gotcha"]',
                       files_read='["src/a.py", "src/b.py"]', files_modified='["src/a.py"]',
                       created_at_epoch=BASE_MILLIS)


def team_repo(root: Path) -> Path:
    """alice: a1, a2, a3 (+ a1 again in a later file); bob: b1, b2 and a copy of a1.
    merged set: a1 and b1."""
    a2 = observation("a2", session="s-a", type="bugfix", concepts="pattern, testing",
                     files_read="[]", files_modified='["lib/x.py"]',
                     created_at_epoch=BASE_MILLIS + 7 * DAY)                      # 2026-W13
    a3 = observation("a3", session="s-a", type="decision", concepts="[]",
                     files_read="docs/readme.md", files_modified=None,
                     created_at_epoch=(BASE_MILLIS + 21 * DAY) // 1000)           # seconds, 2026-W15
    b1 = observation("b1", session="s-b", type="feature", concepts='["gotcha", "cache"]',
                     files_read='["src/c.py"]', created_at_epoch=BASE_MILLIS)
    b2 = observation("b2", session="s-b", type="feature", concepts='["cache"]',
                     files_read="[]", created_at_epoch=BASE_MILLIS + DAY)
    write_contribution(root, [alice_a1(), a2], dev="alice", stamp="2026-03-19T18-30-00")
    write_contribution(root, [alice_a1(), a3], dev="alice", stamp="2026-04-10T09-00-00",
                       exported_at_epoch=1_775_811_600)
    write_contribution(root, [b1, b2, alice_a1()], dev="bob")
    merged = contribution([alice_a1(), b1], dev="ci-merge", filters={})
    path = root / "merged" / "demo" / "latest.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(orjson.dumps(merged, option=orjson.OPT_INDENT_2))
    return root
