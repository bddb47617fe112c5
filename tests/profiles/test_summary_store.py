"""Each developer's stored summary (profiles/<project>/<dev>/.summary.msgpack): reused only while
it describes exactly the files on disk, and never a reason for a page to differ."""

from __future__ import annotations

import json
import os
import shutil
from array import array
from pathlib import Path

import msgspec
import orjson
import pytest
from click.testing import CliRunner
from profile_team import NOW_MILLIS

from builders import observation, write_contribution
from memsync.cli import cli
from memsync.profiles.columns import pack_ints, unpack_ints
from memsync.profiles.generate import generate_project_profiles
from memsync.profiles.summary_store import SUMMARY_NAME, StoredSummary

ALICE = f"profiles/demo/alice/{SUMMARY_NAME}"
BOB = f"profiles/demo/bob/{SUMMARY_NAME}"


def _generate(repo: Path, **options):
    return generate_project_profiles(repo, "demo", now_millis=NOW_MILLIS, **options)


def _pages(repo: Path) -> dict[str, bytes]:
    return {path.relative_to(repo).as_posix(): path.read_bytes()
            for path in sorted((repo / "profiles").rglob("*")) if path.is_file() and path.name != SUMMARY_NAME}


def _pages_without_store(repo: Path, tmp_path: Path) -> dict[str, bytes]:
    """The pages a run with no stored summary at all makes of the same repository."""
    copy = tmp_path / "without-store"
    shutil.copytree(repo, copy)
    shutil.rmtree(copy / "profiles", ignore_errors=True)
    run = _generate(copy)
    assert run.reused == []
    return _pages(copy)


def _alice_files(repo: Path) -> list[Path]:
    return sorted((repo / "contributions" / "demo" / "alice").glob("*.json"))


def test_a_rerun_reads_no_developer_again_and_changes_nothing(team: Path) -> None:
    first = _generate(team)
    assert {ALICE, BOB} <= set(first.written) and first.reused == []
    pages = _pages(team)
    again = _generate(team)
    assert again.reused == ["alice", "bob"]
    assert again.written == []
    assert _pages(team) == pages


def test_pages_from_stored_summaries_equal_pages_from_the_files(team: Path, tmp_path: Path) -> None:
    _generate(team)
    for path in _pages(team):
        (team / path).unlink()
    run = _generate(team)
    assert run.reused == ["alice", "bob"]
    assert _pages(team) == _pages_without_store(team, tmp_path)


def test_a_file_edited_in_place_to_the_same_size_is_read_again(team: Path, tmp_path: Path) -> None:
    _generate(team)
    newest = _alice_files(team)[-1]
    data = newest.read_bytes()
    # the same length ("decision" and "refactor" are 8 letters): name and size alone cannot tell
    edited = data.replace(b'"type": "decision"', b'"type": "refactor"', 1)
    assert len(edited) == len(data) and edited != data
    newest.write_bytes(edited)
    run = _generate(team)
    assert run.reused == ["bob"]
    assert ALICE in run.written
    spectrum = json.loads((team / "profiles/demo/alice/profile.json").read_text())["knowledgeSpectrum"]
    assert {row["type"]: row["count"] for row in spectrum["types"]}["refactor"] == 1
    assert _pages(team) == _pages_without_store(team, tmp_path)


def test_a_new_or_deleted_file_means_that_developer_is_read_again(team: Path, tmp_path: Path) -> None:
    _generate(team)
    write_contribution(team, [observation("a9", session="s-a9")], dev="alice", stamp="2026-05-01T00-00-00")
    assert _generate(team).reused == ["bob"]
    assert _pages(team) == _pages_without_store(team, tmp_path / "added")
    _alice_files(team)[0].unlink()
    assert _generate(team).reused == ["bob"]
    assert _pages(team) == _pages_without_store(team, tmp_path / "deleted")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other-dev", "wrong-shape", "type-id-past-table",
                                    "concept-id-past-table", "wide-concept-id-past-table"])
def test_a_damaged_or_misplaced_summary_is_ignored_and_rewritten(team: Path, tmp_path: Path, damage: str) -> None:
    _generate(team)
    good = (team / ALICE).read_bytes()
    if damage == "truncated":
        (team / ALICE).write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        (team / ALICE).write_bytes(os.urandom(len(good)))
    elif damage == "empty":
        (team / ALICE).write_bytes(b"")
    elif damage == "other-dev":
        (team / ALICE).write_bytes((team / BOB).read_bytes())  # fingerprinted for bob's files
    else:
        # a summary whose fingerprint matches but whose buffers disagree: counting from it
        # would index past a table
        stored = msgspec.msgpack.decode(good, type=StoredSummary)
        facts = stored.facts
        rows = len(facts.keys)
        if damage == "wrong-shape":  # one row too few
            facts.keys = facts.keys[:-1]
        elif damage == "type-id-past-table":  # one byte per id
            facts.type_ids = pack_ints([len(facts.type_names)] * rows)
        else:
            # the last row names one concept value past the table, in one-byte ids or in two-byte ones
            ids = [0] * (rows - 1) + [len(unpack_ints(facts.concept_ends))]
            wide = damage == "wide-concept-id-past-table"
            facts.concept_ids = b"H" + array("H", ids).tobytes() if wide else pack_ints(ids)
        (team / ALICE).write_bytes(msgspec.msgpack.encode(stored))
    run = _generate(team)
    assert run.reused == ["bob"]
    assert ALICE in run.written and (team / ALICE).read_bytes() == good
    assert _pages(team) == _pages_without_store(team, tmp_path)


def test_a_summary_names_no_session_and_no_title(team: Path) -> None:
    _generate(team)
    stored = (team / ALICE).read_bytes()
    for text in (b"s-a", b"title a1", b"a1", b"Why we chose"):
        assert text not in stored, text
    contribution = orjson.loads(_alice_files(team)[0].read_bytes())
    assert contribution["observations"][0]["title"].encode() not in stored


def test_dry_run_neither_writes_nor_needs_a_summary(team: Path) -> None:
    run = _generate(team, dry_run=True)
    assert ALICE in run.written  # would be written
    assert not (team / "profiles").exists()


def test_a_symlink_in_place_of_a_developer_folder_is_neither_read_nor_written(team: Path, tmp_path: Path) -> None:
    _generate(team)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(team / "profiles/demo/alice"), elsewhere)
    (team / "profiles/demo/alice").symlink_to(elsewhere, target_is_directory=True)
    before = {path.name: path.read_bytes() for path in elsewhere.iterdir()}
    run = _generate(team)
    assert "alice" not in run.reused
    assert ALICE not in run.written and "profiles/demo/alice/profile.json" in run.skipped
    assert {path.name: path.read_bytes() for path in elsewhere.iterdir()} == before


def test_ci_merge_commits_the_summaries_and_the_next_merge_reuses_them(team: Path) -> None:
    def ci_merge(now: str) -> dict:
        result = CliRunner().invoke(cli, ["ci-merge", "--repo", str(team), "--now", now, "--format", "json"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    (team / "merged").rename(team / "old-merged")
    report = ci_merge("1776000000")
    assert {ALICE, BOB} <= set(report["changedPaths"])
    assert report["profiles"]["reused"] == []
    write_contribution(team, [observation("b9", session="s-b9")], dev="bob", stamp="2026-05-01T00-00-00")
    report = ci_merge("1776100000")
    assert report["profiles"]["reused"] == ["demo/alice"]
    assert BOB in report["changedPaths"] and ALICE not in report["changedPaths"]
