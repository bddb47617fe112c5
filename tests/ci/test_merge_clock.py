"""One clock per merge run that no input can move (ci/clock.py), through the real command."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from builders import observation, read_json, write_contribution
from clirun import run_mem_sync

YEAR_2100 = 4_102_444_800
GOOD_EXPORT = 1_773_945_000  # builders' default exportedAtEpoch, 2026-03-19T18:30:00Z


def _merge(repo: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    result = run_mem_sync(["ci-merge", "--repo", repo, "--no-profiles", "--format", "json", *extra], env=env)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_an_export_from_the_future_is_quarantined_and_cannot_move_now(shared_repo: Path):
    good = write_contribution(shared_repo, [observation("Good", session="good")])
    write_contribution(shared_repo, [observation("From 2100", session="evil")], dev="mallory",
                       stamp="2100-01-01T00-00-00", exported_at_epoch=YEAR_2100)

    report = _merge(shared_repo)  # no --now, no SOURCE_DATE_EPOCH: the templates' way

    (quarantined,) = report["quarantined"]
    assert quarantined["file"] == "contributions/demo/mallory/2100-01-01T00-00-00.json"
    assert "later than this run's clock" in quarantined["reason"]
    assert report["now"] == GOOD_EXPORT  # the newest accepted input, as before
    assert read_json(shared_repo / ".merge-state.json")["lastMergedAt"] == GOOD_EXPORT
    assert report["retentionDeleted"] == [] and good.exists()


def test_exports_within_the_skew_merge_and_beyond_it_do_not(shared_repo: Path):
    clock = 1_773_950_000
    write_contribution(shared_repo, [observation("Ten minutes ahead", session="a")], dev="alice",
                       exported_at_epoch=clock + 600)
    write_contribution(shared_repo, [observation("An hour ahead", session="b")], dev="bob",
                       exported_at_epoch=clock + 3600)

    report = _merge(shared_repo, env={"SOURCE_DATE_EPOCH": str(clock)})

    assert [q["file"] for q in report["quarantined"]] == ["contributions/demo/bob/2026-03-19T18-30-00.json"]
    merged = read_json(shared_repo / "merged/demo/latest.json")
    assert [o["title"] for o in merged["observations"]] == ["Ten minutes ahead"]
    assert report["now"] == clock


def test_now_never_passes_the_real_clock_even_when_the_merged_file_says_so(shared_repo: Path):
    write_contribution(shared_repo, [observation("Good", session="good")])
    _merge(shared_repo)
    merged = shared_repo / "merged/demo/latest.json"
    doc = read_json(merged)
    doc["exportedAtEpoch"] = YEAR_2100  # a hand-edited (or older, poisoned) merged file
    merged.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    write_contribution(shared_repo, [observation("Later", session="later")], dev="bob")

    report = _merge(shared_repo)

    assert report["now"] <= time.time()
    assert read_json(shared_repo / ".merge-state.json")["lastMergedAt"] <= time.time()


def test_a_last_merged_at_in_the_future_is_repaired_with_a_warning(shared_repo: Path):
    write_contribution(shared_repo, [observation("Good", session="good")])
    _merge(shared_repo)
    state_path = shared_repo / ".merge-state.json"
    state = read_json(state_path)
    state["lastMergedAt"] = YEAR_2100
    state_path.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")

    text = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles"])

    assert text.returncode == 0, text.stderr
    warnings = [line for line in text.stdout.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "lastMergedAt" in warnings[0] and "2100-01-01" in warnings[0]
    assert read_json(state_path)["lastMergedAt"] == GOOD_EXPORT
    again = _merge(shared_repo)
    assert again["warnings"] == [] and again["changed"] is False
