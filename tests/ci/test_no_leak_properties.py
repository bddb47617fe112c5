"""Property: a credential planted anywhere in a contribution (any field, a field's name, the
envelope, a folder or file name; split by invisible characters or not) appears in no file the
real commands write and no line they print, while the good file beside it still merges.

Each example builds a shared repository with one good file and one hostile contributor, then
runs ``ci-merge --dry-run`` (text and JSON reports), ``action`` as the GitHub runner runs it
(merging, profiles on: annotations, job summary, the report in the log) and ``profile``, and
reads back every byte outside the contributions (merged set, index, state, profiles, stored
summaries), the job summary and everything printed.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import contribution, observation, write_contribution
from clirun import run_mem_sync
from safety.secret_corpus import GENERATORS

GOOD_TITLE = "Good observation from alice"
NOW = "1773950000"
# rules whose tokens are valid file and folder names too (no "/" or "." sequences that the
# name rules refuse, at most 64 characters)
NAME_RULES = ("github-pat", "aws-access-key", "gitlab-pat", "npm", "huggingface", "databricks")
RULES = sorted(rule for rule in GENERATORS if not rule.startswith("private-key"))
INVISIBLE = ("", "", "\u200b", "\u200d", "\u2060", "\u00ad", "\ufeff", "\ufe0f", "\U000e0041")
FIELDS = ("memory_session_id", "type", "title", "narrative", "text", "subtitle", "facts", "concepts",
          "files_read", "files_modified", "created_at_epoch", "project", "access_count", "extra")


def hidden(token: str, mark: str) -> str:
    return mark.join(token[i:i + 6] for i in range(0, len(token), 6)) if mark else token


@st.composite
def plants(draw: st.DrawFn) -> tuple[str, str]:
    """(the token, how it is written: maybe split by an invisible character)."""
    rule = draw(st.sampled_from(RULES))
    token = GENERATORS[rule](random.Random(draw(st.integers(0, 10_000))))
    return token, hidden(token, draw(st.sampled_from(INVISIBLE)))


def planted_value(draw: st.DrawFn, written: str) -> Any:
    """A field value that carries the token: the value itself, inside text, a path, a list."""
    return draw(st.sampled_from([
        written, f"see {written} here", f"src/{written}/app.py", [written], [f"deploy {written}"],
        orjson.dumps([written]).decode(), {"note": written}, {written: "as a key"},
    ]))


@st.composite
def hostile_repo(draw: st.DrawFn) -> dict[str, Any]:
    token, written = draw(plants())
    where = draw(st.sampled_from(["field", "field", "field", "key", "envelope", "dev", "project", "file"]))
    name_token = GENERATORS[draw(st.sampled_from(NAME_RULES))](random.Random(draw(st.integers(0, 10_000))))
    obs = observation(draw(st.sampled_from(["Hostile", "Deploy notes", None])), session="bob-s",
                      type=draw(st.sampled_from(["decision", "bugfix"])))
    dev, project, stamp, envelope = "bob", "demo", "2026-03-19T18-30-00", {}
    if where == "field":
        obs[draw(st.sampled_from(FIELDS))] = planted_value(draw, written)
    elif where == "key":
        obs[written] = draw(st.sampled_from(["x", 1, None]))
    elif where == "envelope":
        envelope[draw(st.sampled_from(["exportedBy", "project", "packageVersion", "filters", "extra"]))] = \
            planted_value(draw, written)
    else:
        token = written = name_token
        if where == "dev":
            dev = token
        elif where == "project":
            project = token
        else:
            # glued with "." (a token boundary for every rule): "-" would extend the tokens whose
            # format allows dashes, and such a longer word is not that credential for any scanner
            stamp = draw(st.sampled_from([token, f"x.{token}", f"{token}.2026"]))
    observations = [obs] + draw(st.lists(st.builds(lambda i: observation(f"Bob {i}", session="bob-t"),
                                                   st.integers(0, 99)), max_size=2, unique_by=lambda o: o["title"]))
    return {"token": token, "written": written, "dev": dev, "project": project, "stamp": stamp, "envelope": envelope,
            "observations": observations}


def pieces(token: str, size: int = 14) -> set[str]:
    return {token[i:i + size] for i in range(len(token) - size + 1)}


def written_outside_contributions(repo: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in repo.rglob("*")
                   if p.is_file() and "contributions" not in p.relative_to(repo).parts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_repo())
def test_no_planted_credential_appears_in_any_output_or_printed_line(case: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        repo = Path(directory) / "shared"
        write_contribution(repo, [observation(GOOD_TITLE, session="good-session")], dev="alice")
        doc = contribution(case["observations"], dev=case["dev"], project=case["project"]) | case["envelope"]
        path = repo / "contributions" / case["project"] / case["dev"] / f"{case['stamp']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))

        summary = Path(directory) / "step-summary.md"
        runs = [run_mem_sync(["ci-merge", "--repo", repo, "--now", NOW, "--format", "text", "--dry-run"]),
                run_mem_sync(["ci-merge", "--repo", repo, "--now", NOW, "--format", "json", "--dry-run"]),
                # the GitHub runner's way: annotations, the job summary, the report in the log
                run_mem_sync(["action"], env={
                    "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": directory, "GITHUB_STEP_SUMMARY": str(summary),
                    "INPUT_PUBLISH": "none", "INPUT_WORKING-DIRECTORY": "shared", "SOURCE_DATE_EPOCH": NOW}),
                run_mem_sync(["profile", "--repo", repo])]

        for run in runs:
            assert run.returncode == 0, (run.stdout, run.stderr)
        merged = orjson.loads((repo / "merged/demo/latest.json").read_bytes())
        assert GOOD_TITLE in [obs.get("title") for obs in merged["observations"]]
        everything = (written_outside_contributions(repo) + summary.read_text()
                      + "".join(run.stdout + run.stderr for run in runs))
        leaks = [piece for piece in pieces(case["token"]) | pieces(case["written"]) if piece in everything]
        assert not leaks, (case, leaks[:3])
