"""No contribution file wedges the merge: each odd or crafted file is quarantined with one line,
the rest merges, the state stays consistent and the next run is a no-op."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from builders import contribution, observation, read_json, write_contribution
from clirun import run_mem_sync

GOOD_TITLE = "Good observation"
GOOD_FILE = "contributions/demo/alice/2026-03-19T18-30-00.json"
BAD_FILE = "contributions/demo/bob/2026-03-20T10-00-00.json"
NOW = "1773950000"  # 2026-03-19T19:53:20Z, after both files' exports


def _bad_doc_bytes(*, placeholder: object = 0, **fields: object) -> bytes:
    """bob's contribution with ``fields`` set on its one observation; ``"@"`` values are
    spliced in raw afterwards (orjson cannot write what these tests need to feed)."""
    obs = observation("Bad one", session="bad")
    obs.update(fields)
    return orjson.dumps(contribution([obs], dev="bob"))


def _with_raw(doc: bytes, name: str, raw: bytes) -> bytes:
    marker = orjson.dumps({name: "@@"})[1:-1]
    assert marker in doc
    return doc.replace(marker, orjson.dumps(name) + b":" + raw)


def _unknown(raw: bytes) -> bytes:
    return _with_raw(_bad_doc_bytes(extra_column="@@"), "extra_column", raw)


HOSTILE = {
    # an unknown column holding an array nested past what the JSON writer takes back
    "deep-unknown-array": (_unknown(b"[" * 300 + b"]" * 300), "nested"),
    "deep-unknown-array-past-parser": (_unknown(b"[" * 1100 + b"]" * 1100), "nested"),
    "deep-facts": (_with_raw(_bad_doc_bytes(facts="@@"), "facts", b"[" * 300 + b"]" * 300), "nested"),
    "infinite-number": (_unknown(b"1e400"), "number"),
    "infinite-number-in-facts": (_with_raw(_bad_doc_bytes(facts="@@"), "facts", b"[1e400]"), "number"),
    "huge-integer-unknown": (_unknown(str(2**64 + 5).encode()), "integer"),
    "invalid-utf8-unknown": (_unknown(b'"ok \xff\xfe bytes"'), "UTF-8"),
    "lone-surrogate-unknown": (_unknown(b'"\\ud800"'), "UTF-8"),
    "epoch-above-2-64": (_with_raw(_bad_doc_bytes(created_at_epoch="@@"), "created_at_epoch",
                                   str(2**64 + 5).encode()), "created_at_epoch"),
    "epoch-above-2-63": (_with_raw(_bad_doc_bytes(created_at_epoch="@@"), "created_at_epoch",
                                   str(2**63 + 5).encode()), "created_at_epoch"),
    "epoch-past-javascript-dates": (_bad_doc_bytes(created_at_epoch=8_640_000_000_000_001), "created_at_epoch"),
    "access-count-above-sqlite": (_with_raw(_bad_doc_bytes(access_count="@@"), "access_count",
                                            str(2**63).encode()), "access_count"),
    "exported-at-year-10000": (orjson.dumps(contribution([observation("Bad one", session="bad")], dev="bob",
                                                         exported_at_epoch=253_402_300_800)), "exportedAtEpoch"),
    "exported-at-above-2-64": (orjson.dumps(contribution([observation("Bad one", session="bad")], dev="bob"))
                               .replace(b'"exportedAtEpoch":1773945000',
                                        b'"exportedAtEpoch":' + str(2**64 + 1).encode()), "exportedAtEpoch"),
    "deep-filters": (orjson.dumps(contribution([observation("Bad one", session="bad")], dev="bob",
                                               filters="@@")).replace(b'"@@"', b"[" * 1100 + b"]" * 1100), "nested"),
}


def _merge(repo: Path, *extra: str):
    return run_mem_sync(["ci-merge", "--repo", repo, "--no-profiles", "--now", NOW, "--format", "json", *extra])


def _assert_wedge_free(repo: Path, bad_rel: str, expected: str, *, profiles: bool = False) -> None:
    flags = () if not profiles else ("--profiles",)
    first = _merge(repo, *flags)
    assert first.returncode == 0, first.stderr
    assert "internal error" not in first.stderr and "Traceback" not in first.stderr, first.stderr
    report = orjson.loads(first.stdout)
    assert [q["file"] for q in report["quarantined"]] == [bad_rel], report["quarantined"]
    reason = report["quarantined"][0]["reason"]
    assert expected in reason and "\n" not in reason, reason
    merged = read_json(repo / "merged/demo/latest.json")
    assert [o["title"] for o in merged["observations"]] == [GOOD_TITLE]
    state = read_json(repo / ".merge-state.json")
    assert list(state["projects"]["demo"]["processedFiles"]) == [GOOD_FILE]
    before = {p: p.read_bytes() for p in (repo / "merged").rglob("*") if p.is_file()}

    again = _merge(repo, *flags)
    assert again.returncode == 0, again.stderr
    rerun = orjson.loads(again.stdout)
    assert rerun["changed"] is False and len(rerun["quarantined"]) == 1
    assert {p: p.read_bytes() for p in (repo / "merged").rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_contribution_is_quarantined_and_never_wedges_the_merge(shared_repo: Path, case: str):
    data, expected = HOSTILE[case]
    write_contribution(shared_repo, [observation(GOOD_TITLE, session="good")])
    bad = shared_repo / BAD_FILE
    bad.parent.mkdir(parents=True)
    bad.write_bytes(data)

    _assert_wedge_free(shared_repo, BAD_FILE, expected)
    assert bad.read_bytes() == data


def test_file_name_that_is_not_utf8_is_quarantined_with_a_printable_name(shared_repo: Path):
    write_contribution(shared_repo, [observation(GOOD_TITLE, session="good")])
    folder = os.fsencode(shared_repo / "contributions/demo/bob")
    os.makedirs(folder)
    name = folder + b"/2026-03-20T10-00-00\xff\xfe.json"
    with open(name, "wb") as handle:
        handle.write(orjson.dumps(contribution([observation("Bad one", session="bad")], dev="bob")))

    _assert_wedge_free(shared_repo, "contributions/demo/bob/2026-03-20T10-00-00\ufffd\ufffd.json", "UTF-8")
    assert os.path.exists(name)


@pytest.mark.parametrize("name", ["new\nline.json", "tab\there.json", "escape\x1b[31m.json"])
def test_file_name_with_control_characters_is_quarantined_on_one_line(shared_repo: Path, name: str):
    write_contribution(shared_repo, [observation(GOOD_TITLE, session="good")])
    bad = shared_repo / "contributions/demo/bob" / name
    bad.parent.mkdir(parents=True)
    bad.write_bytes(orjson.dumps(contribution([observation("Bad one", session="bad")], dev="bob")))

    first = _merge(shared_repo)
    assert first.returncode == 0, first.stderr
    report = orjson.loads(first.stdout)
    assert len(report["quarantined"]) == 1
    shown = report["quarantined"][0]["file"]
    assert shown.startswith("contributions/demo/bob/") and not any(ord(c) < 32 for c in shown), shown
    assert "control character" in report["quarantined"][0]["reason"]
    text = run_mem_sync(["ci-merge", "--repo", shared_repo, "--no-profiles", "--now", NOW])
    assert sum("quarantined contributions/demo/bob" in line for line in text.stdout.splitlines()) == 1
    assert text.stdout.count("\n") == len(text.stdout.splitlines())


def test_year_10000_observation_is_a_javascript_date_and_merges_with_profiles(shared_repo: Path):
    """Inside JavaScript's range (what claude-mem reads), past datetime's year 9999."""
    write_contribution(shared_repo, [observation(GOOD_TITLE, session="good")])
    far = shared_repo / BAD_FILE
    far.parent.mkdir(parents=True)
    far.write_bytes(_bad_doc_bytes(created_at_epoch=253_402_300_800_000))
    result = run_mem_sync(["ci-merge", "--repo", shared_repo, "--now", NOW])
    assert result.returncode == 0, result.stderr
    merged = read_json(shared_repo / "merged/demo/latest.json")
    assert sorted(o["created_at_epoch"] for o in merged["observations"]) == [1_773_900_000_000, 253_402_300_800_000]
    assert (shared_repo / "profiles/demo/bob/profile.json").is_file()
