"""The exact bytes `mem-sync ci-merge` writes for a small fixture, pinned.

Refactors of the merge job must not move a byte of its outputs. These digests were taken from
the code before the job was split into named phases; a deliberate change of an output format
updates them in the same commit and says why.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from builders import observation, write_contribution
from clirun import run_mem_sync

NOW_S = 1_773_945_000
DAY_MS = 86_400_000


def _first_round(repo: Path) -> None:
    shared = observation("Shared decision", session="s1", created_at_epoch=1_773_900_000_000)
    write_contribution(repo, [shared, observation("Alice bugfix", session="s1", type="bugfix",
                                                  files_modified='["src/app.py"]')], dev="alice")
    write_contribution(repo, [dict(shared, id=99, narrative="bob's words"),
                              observation("Bob change #keep", session="s2", type="change",
                                          created_at_epoch=1_773_900_000_000 - 40 * DAY_MS),
                              observation("Bob discovery", session="s2", type="discovery",
                                          concepts='["gotcha", "pattern"]',
                                          created_at_epoch=1_773_900_000_000 - 3 * DAY_MS)],
                       dev="bob", exported_at_epoch=NOW_S - 10)
    write_contribution(repo, [observation("Carol seconds epoch", session="s3", created_at_epoch=1_773_800_000,
                                          text="plain text column", facts="[]")], dev="carol")
    write_contribution(repo, [observation("Other project note", session="s9", project="other")],
                       dev="alice", project="other")


def _second_round(repo: Path) -> None:
    write_contribution(repo, [observation("Dave feature", session="s4", type="feature",
                                          created_at_epoch=1_773_900_000_000 + DAY_MS),
                              observation("Shared decision", session="s1", created_at_epoch=1_773_900_000_000,
                                          narrative="dave's copy")],
                       dev="dave", stamp="2026-03-20T09-00-00", exported_at_epoch=NOW_S + 3600)


def _third_round(repo: Path) -> None:
    (repo / "merged/demo/.latest-index.msgpack").unlink()  # the previous set must be parsed this time
    write_contribution(repo, [observation("Erin gotcha #keep", session="s5", type="gotcha",
                                          created_at_epoch=1_773_900_000_000 + 2 * DAY_MS)],
                       dev="erin", stamp="2026-03-21T09-00-00", exported_at_epoch=NOW_S + 7000)


def _digests(repo: Path) -> dict[str, str]:
    return {
        path.relative_to(repo).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in sorted(repo.rglob("*"))
        if path.is_file() and not path.relative_to(repo).as_posix().startswith("contributions/")
    }


FIRST = {
    ".merge-state.json": "678f13d1777c9a22",
    "merged/demo/.latest-index.msgpack": "6aeb70343b8a2208",
    "merged/demo/latest.json": "48f7d923d945b8de",
    "merged/other/.latest-index.msgpack": "bc4aea53b6efc2c5",
    "merged/other/latest.json": "0faccd7fe1c2a4cb",
    "profiles/demo/README.md": "9efb9636f36ce0bc",
    "profiles/demo/alice/.summary.msgpack": "76d93dba2ce03eda",
    "profiles/demo/alice/profile.json": "1578c1e7ee5e5568",
    "profiles/demo/alice/profile.md": "bab36bdcb0a2c242",
    "profiles/demo/bob/.summary.msgpack": "15f7ca36f007a4a6",
    "profiles/demo/bob/profile.json": "0350ce3ddfbb4dd2",
    "profiles/demo/bob/profile.md": "00d5dd5af50911a7",
    "profiles/demo/carol/.summary.msgpack": "80fdf0efb47208ba",
    "profiles/demo/carol/profile.json": "f9ed4f519a2d53d0",
    "profiles/demo/carol/profile.md": "28858bf65a6f374a",
    "profiles/demo/team-concepts.json": "7ab1a27a75e19116",
    "profiles/demo/team-overview.json": "d960ee425ca14755",
    "profiles/other/README.md": "0cb8f79e37ca467b",
    "profiles/other/alice/.summary.msgpack": "e3446cc7d4403086",
    "profiles/other/alice/profile.json": "2f0256d4c7bd35b5",
    "profiles/other/alice/profile.md": "9f1733441b7ad1e9",
    "profiles/other/team-concepts.json": "f2d0112192f238d0",
    "profiles/other/team-overview.json": "b2378e4fca3eedc3",
}

# the second run: what changed since the first (the other project is untouched)
SECOND = {
    **FIRST,
    ".merge-state.json": "1c0ff4fc09879f77",
    "merged/demo/.latest-index.msgpack": "968e494aad49291a",
    "merged/demo/latest.json": "f992d86f35f68580",
    "profiles/demo/README.md": "8a77172c1ce25a18",
    "profiles/demo/alice/profile.json": "f0f9284e807e289f",
    "profiles/demo/alice/profile.md": "d2d77cdbcb483182",
    "profiles/demo/bob/profile.json": "cbbda2c77c082735",
    "profiles/demo/bob/profile.md": "2e00983b44c84116",
    "profiles/demo/carol/profile.json": "332889ac6c78aada",
    "profiles/demo/carol/profile.md": "94d553f2fe50eaae",
    "profiles/demo/dave/.summary.msgpack": "9508953ccd52ddb8",
    "profiles/demo/dave/profile.json": "1a6a48da01eba682",
    "profiles/demo/dave/profile.md": "06ef2efaf3644938",
    "profiles/demo/team-concepts.json": "309322e6ef5f3caf",
    "profiles/demo/team-overview.json": "082f426b526063b8",
}

# the third run: what changed since the second
THIRD = {
    **SECOND,
    ".merge-state.json": "27b4d8b6b3b192d7",
    "merged/demo/.latest-index.msgpack": "7d4c7ffdb037b61a",
    "merged/demo/latest.json": "88175c42075f4705",
    "profiles/demo/README.md": "91a1343d6ad1b040",
    "profiles/demo/alice/profile.json": "b4032429e44d6b07",
    "profiles/demo/alice/profile.md": "3d6426ec7b4ee1ef",
    "profiles/demo/bob/profile.json": "eefb40f36eeca224",
    "profiles/demo/bob/profile.md": "c8af5819614d13ad",
    "profiles/demo/carol/profile.json": "c00be50bf57da0d9",
    "profiles/demo/carol/profile.md": "6762279714faaff5",
    "profiles/demo/dave/profile.json": "d09bc6f9dde84b5e",
    "profiles/demo/dave/profile.md": "ce26d4187b77dd35",
    "profiles/demo/erin/.summary.msgpack": "6cb54895d6bde4f2",
    "profiles/demo/erin/profile.json": "e161cd66026b43b6",
    "profiles/demo/erin/profile.md": "8573acdd04e66870",
    "profiles/demo/team-concepts.json": "86c05c0277eab322",
    "profiles/demo/team-overview.json": "73e1b05757201d4e",
}


def _merge(repo: Path, *, cap: int, now: int) -> dict:
    """Run ci-merge; the report of its only changed project ("demo")."""
    result = run_mem_sync(["ci-merge", "--repo", repo, "--cap", cap, "--now", now, "--format", "json"])
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)["projects"][0]


def test_ci_merge_writes_the_pinned_bytes_first_and_incremental(shared_repo: Path):
    _first_round(shared_repo)
    _merge(shared_repo, cap=4, now=NOW_S)
    assert _digests(shared_repo) == FIRST

    # a later "now" and a larger cap: the new file's observations land between the previous ones
    _second_round(shared_repo)
    demo = _merge(shared_repo, cap=5, now=NOW_S + 7200)
    assert (demo["previousFrom"], demo["added"]) == ("index", 1)  # the previous set was reused by its index
    assert _digests(shared_repo) == SECOND

    _third_round(shared_repo)
    demo = _merge(shared_repo, cap=5, now=NOW_S + 9000)
    assert (demo["previousFrom"], demo["added"], demo["evicted"]) == ("parsed", 1, 1)
    assert _digests(shared_repo) == THIRD
