"""The index beside latest.json: an incremental merge through it lands on the very bytes a
merge that parses latest.json gives, and it is trusted only while it describes the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from builders import observation, read_json, write_contribution
from clirun import run_mem_sync
from memsync.ci.merged_index import INDEX_NAME, decode_index, encode_index, file_digest

NOW_S = 1_773_945_000
LATEST = Path("merged/demo/latest.json")
INDEX = Path("merged/demo") / INDEX_NAME


def merge(repo: Path, *extra: object) -> dict:
    result = run_mem_sync(["ci-merge", "--repo", repo, "--no-profiles", "--format", "json", "--now", NOW_S,
                           *extra])
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def first_round(repo: Path) -> None:
    shared = observation("Shared decision", session="s1", created_at_epoch=1_773_900_000_000)
    write_contribution(repo, [shared, observation("Alice bugfix", session="s1", type="bugfix"),
                              observation("Odd fields", session="s1", subtitle="kept verbatim", prompt_number=3,
                                          extra={"nested": [1, 2.5, None]}),
                              observation(None, session="s9", created_at_epoch=1_773_800_000)], dev="alice")
    write_contribution(repo, [dict(shared, id=99), observation("Bob note #keep", session="s2", type="change")],
                       dev="bob", exported_at_epoch=NOW_S - 10)
    write_contribution(repo, [observation(f"Filler {i}", session="s3", type="discovery",
                                          created_at_epoch=1_773_000_000_000 + i * 3_600_000) for i in range(8)],
                       dev="carol")


def second_round(repo: Path) -> None:
    # a new developer, a copy of a merged observation (one more contributor), new notes
    write_contribution(repo, [observation("Shared decision", session="s1", created_at_epoch=1_773_900_000_000),
                              observation("Dan feature", session="s4", type="feature"),
                              observation("Dan later #keep", session="s4", created_at_epoch=1_773_940_000_000)],
                       dev="dan", stamp="2026-03-20T09-00-00")


def test_a_merge_through_the_index_equals_one_that_parses_latest_json(shared_repo: Path, tmp_path: Path):
    first_round(shared_repo)
    assert merge(shared_repo, "--cap", "9")["projects"][0]["previousFrom"] is None
    without_index = tmp_path / "copy"
    shutil.copytree(shared_repo, without_index)
    (without_index / INDEX).unlink()

    for repo in (shared_repo, without_index):
        second_round(repo)
    indexed = merge(shared_repo, "--cap", "9")
    parsed = merge(without_index, "--cap", "9")

    assert indexed["projects"][0]["previousFrom"] == "index"
    assert parsed["projects"][0]["previousFrom"] == "parsed"
    assert indexed["projects"][0]["evicted"] > 0 and indexed["projects"][0]["added"] == 2
    for path in (LATEST, INDEX, Path(".merge-state.json")):
        assert (shared_repo / path).read_bytes() == (without_index / path).read_bytes(), path
    doc = read_json(shared_repo / LATEST)
    shared = next(o for o in doc["observations"] if o["title"] == "Shared decision")
    assert shared["contributors"] == ["alice", "bob", "dan"]
    odd = next(o for o in doc["observations"] if o["title"] == "Odd fields")
    assert odd["extra"] == {"nested": [1, 2.5, None]} and odd["subtitle"] == "kept verbatim"


def test_the_index_describes_the_file_it_was_written_with(shared_repo: Path):
    first_round(shared_repo)
    report = merge(shared_repo)
    assert f"merged/demo/{INDEX_NAME}" in report["changedPaths"]
    raw = (shared_repo / LATEST).read_bytes()
    index = decode_index((shared_repo / INDEX).read_bytes())
    assert index is not None and index.digest == file_digest(raw)
    observations = read_json(shared_repo / LATEST)["observations"]
    assert index.titles == [o["title"] or "" for o in observations]
    assert [index.contributor_sets[i] for i in index.contributor_ids] == [o["contributors"] for o in observations]
    assert index.kept == [i for i, o in enumerate(observations) if o["keep"]]
    for start, head_end, obs in zip(index.starts, index.head_ends, observations, strict=True):
        assert raw[start:start + 1] == b"{" and raw[head_end:].startswith(b'\n      "score": ')
        closing = raw.index(b"\n    }", head_end) + len(b"\n    }")
        assert orjson.loads(raw[start:closing]) == obs


def test_a_hand_edited_latest_json_is_parsed_and_its_edit_kept(shared_repo: Path):
    first_round(shared_repo)
    merge(shared_repo)
    latest = shared_repo / LATEST
    latest.write_bytes(latest.read_bytes().replace(b'"Alice bugfix"', b'"Alice\'s fix!"'))  # same length
    second_round(shared_repo)

    report = merge(shared_repo)

    assert report["projects"][0]["previousFrom"] == "parsed"
    titles = [o["title"] for o in read_json(latest)["observations"]]
    assert "Alice's fix!" in titles and "Alice bugfix" not in titles
    assert decode_index((shared_repo / INDEX).read_bytes()).digest == file_digest(latest.read_bytes())


def test_a_corrupt_or_missing_index_costs_a_parse_not_data(shared_repo: Path):
    first_round(shared_repo)
    merge(shared_repo)
    before = read_json(shared_repo / LATEST)["observations"]
    (shared_repo / INDEX).write_bytes(b"\x93not an index")
    second_round(shared_repo)

    report = merge(shared_repo)

    assert report["projects"][0]["previousFrom"] == "parsed"
    after = {(o["memory_session_id"], o["title"]) for o in read_json(shared_repo / LATEST)["observations"]}
    assert {(o["memory_session_id"], o["title"]) for o in before} <= after
    assert decode_index((shared_repo / INDEX).read_bytes()) is not None


def test_a_keep_tag_the_index_was_not_made_with_rescans_the_merged_set(shared_repo: Path):
    first_round(shared_repo)
    write_contribution(shared_repo, [observation("Pinned", session="s5", type="change",
                                                 narrative="old but #pin this", created_at_epoch=1_700_000_000_000)],
                       dev="erin")
    merge(shared_repo)
    second_round(shared_repo)

    report = merge(shared_repo, "--keep-tag", "#keep", "--keep-tag", "#pin", "--cap", "3")

    assert report["projects"][0]["previousFrom"] == "parsed"
    kept = {o["title"] for o in read_json(shared_repo / LATEST)["observations"] if o["keep"]}
    assert kept == {"Bob note #keep", "Dan later #keep", "Pinned"}
    # the next run, with the same tags, trusts the index made with them
    write_contribution(shared_repo, [observation("More", session="s6")], dev="dan", stamp="2026-03-21T09-00-00")
    assert merge(shared_repo, "--keep-tag", "#keep", "--keep-tag", "#pin")["projects"][0]["previousFrom"] == "index"


def test_an_index_made_without_scanning_is_not_trusted_once_scanning_is_back(shared_repo: Path):
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    first_round(shared_repo)
    write_contribution(shared_repo, [observation("Leaky", session="s7", narrative=f"token {token}")], dev="erin")
    merge(shared_repo, "--secrets", "off")
    assert token in (shared_repo / LATEST).read_text()
    second_round(shared_repo)

    report = merge(shared_repo)

    assert report["projects"][0]["previousFrom"] == "parsed"
    assert [f["key"]["title"] for f in report["secretFindings"]] == ["Leaky"]
    assert token not in (shared_repo / LATEST).read_text()


def test_a_dry_run_writes_no_index_and_leaves_no_temp_file(shared_repo: Path):
    first_round(shared_repo)
    merge(shared_repo)
    second_round(shared_repo)
    before = {p: p.read_bytes() for p in (shared_repo / "merged").rglob("*") if p.is_file()}

    report = merge(shared_repo, "--dry-run")

    assert f"merged/demo/{INDEX_NAME}" in report["changedPaths"] and "merged/demo/latest.json" in report["changedPaths"]
    assert {p: p.read_bytes() for p in (shared_repo / "merged").rglob("*") if p.is_file()} == before


def test_an_index_whose_spans_cannot_be_the_files_is_not_trusted(shared_repo: Path):
    first_round(shared_repo)
    merge(shared_repo)
    index = decode_index((shared_repo / INDEX).read_bytes())
    index.head_ends[0] = index.starts[1] + 5  # overlaps the next observation; the digest still matches
    (shared_repo / INDEX).write_bytes(encode_index(index))
    second_round(shared_repo)

    report = merge(shared_repo)

    assert report["projects"][0]["previousFrom"] == "parsed"
    assert read_json(shared_repo / LATEST)["observationCount"] == report["projects"][0]["merged"]
