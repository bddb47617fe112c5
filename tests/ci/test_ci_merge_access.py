"""ci-merge and access counts: each developer's latest count, summed, kept between runs."""

from __future__ import annotations

from pathlib import Path

import orjson

from builders import observation, read_json, write_contribution
from clirun import run_mem_sync

USED = ("s1", "Used", 1_773_900_000_000)
IDLE = ("s1", "Idle", 1_773_900_000_000)


def _obs(key: tuple[str, str, int], count: int | None = None) -> dict:
    extra = {} if count is None else {"access_count": count}
    return observation(key[1], session=key[0], created_at_epoch=key[2], **extra)


def _merge(repo: Path, *extra: str) -> dict:
    result = run_mem_sync(["ci-merge", "--repo", repo, "--format", "json", "--workers", "1", "--no-profiles",
                           "--strategy", "hook", *extra])
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def _counts(repo: Path) -> dict[str, int | None]:
    doc = read_json(repo / "merged" / "demo" / "latest.json")
    return {obs["title"]: obs.get("access_count") for obs in doc["observations"]}


def test_a_newer_export_without_counts_read_in_the_same_run_zeroes_the_developer(tmp_path: Path) -> None:
    # alice's first export said 4; her newer one (no accesses left in her window) says nothing.
    # The newer file is the smaller one, so it is read after the older: order must not matter.
    write_contribution(tmp_path, [_obs(USED, 4), _obs(IDLE)], stamp="2026-03-19T10-00-00",
                       exported_at_epoch=1_773_910_000)
    write_contribution(tmp_path, [_obs(USED)], stamp="2026-03-20T10-00-00", exported_at_epoch=1_773_996_000)
    write_contribution(tmp_path, [_obs(USED, 2)], dev="bob")
    _merge(tmp_path)
    assert _counts(tmp_path) == {"Used": 2, "Idle": None}


def test_counts_are_kept_between_runs_and_heads_rewritten_only_when_they_change(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(USED, 3), _obs(IDLE)])
    first = _merge(tmp_path)
    assert "merged/demo/access-counts.json" in first["changedPaths"]
    assert _counts(tmp_path) == {"Used": 3, "Idle": None}
    before = (tmp_path / "merged" / "demo" / "latest.json").read_bytes()
    # a re-export with the same count: same team count, and latest.json's heads are reused
    write_contribution(tmp_path, [_obs(USED, 3), _obs(IDLE)], stamp="2026-03-20T10-00-00",
                       exported_at_epoch=1_773_996_000)
    _merge(tmp_path)
    assert _counts(tmp_path) == {"Used": 3, "Idle": None}
    assert (tmp_path / "merged" / "demo" / "latest.json").read_bytes().count(b'"access_count": 3') == 1
    assert before.count(b'"access_count"') == 1
    # bob's first use of the idle one: a previous head is written again with the team count
    write_contribution(tmp_path, [_obs(IDLE, 5)], dev="bob")
    _merge(tmp_path)
    assert _counts(tmp_path) == {"Used": 3, "Idle": 5}
    stored = read_json(tmp_path / "merged" / "demo" / "access-counts.json")
    assert stored["developers"] == {"alice": [["s1", "Used", USED[2], 3, 1_773_996_000_000]],
                                    "bob": [["s1", "Idle", IDLE[2], 5, 1_773_945_000_000]]}


def test_the_cap_evicts_the_unused_and_its_counts_go_with_it(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(USED, 1), _obs(IDLE)])
    _merge(tmp_path, "--cap", "1")
    assert _counts(tmp_path) == {"Used": 1}
    # passive scoring ignores use: the tie-break keeps the other one
    other = tmp_path / "passive"
    write_contribution(other, [_obs(USED, 1), _obs(IDLE)])
    result = run_mem_sync(["ci-merge", "--repo", other, "--workers", "1", "--no-profiles", "--cap", "1"])
    assert result.returncode == 0, result.stderr
    assert list(_counts(other)) == ["Idle"]


def test_a_damaged_counts_file_is_reported_and_written_again(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(USED, 3)])
    _merge(tmp_path)
    counts_file = tmp_path / "merged" / "demo" / "access-counts.json"
    counts_file.write_text("{ not json")
    write_contribution(tmp_path, [_obs(IDLE, 1)], dev="bob")
    report = _merge(tmp_path)
    (quarantined,) = [q for q in report["quarantined"] if q["file"].endswith("access-counts.json")]
    assert "next export" in quarantined["reason"]
    assert read_json(counts_file)["developers"] == {"bob": [["s1", "Idle", IDLE[2], 1, 1_773_945_000_000]]}
    assert _counts(tmp_path) == {"Used": None, "Idle": 1}


def test_dry_run_writes_no_counts_file(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(USED, 3)])
    _merge(tmp_path, "--dry-run")
    assert not (tmp_path / "merged" / "demo" / "access-counts.json").exists()


def test_files_without_counts_merge_as_before(tmp_path: Path) -> None:
    write_contribution(tmp_path, [_obs(USED), _obs(IDLE)])
    _merge(tmp_path)
    assert not (tmp_path / "merged" / "demo" / "access-counts.json").exists()
    assert b"access_count" not in (tmp_path / "merged" / "demo" / "latest.json").read_bytes()
