"""`mem-sync action` run the way the GitHub runner runs a Docker action step.

Each test builds a workspace with a checked-out shared repository, sets the INPUT_* variables
exactly as the runner spells them (upper case, hyphens kept), hands over GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY and an event file, then reads those files back with an independent parser.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import observation, read_json, write_contribution
from fakes.forge import FakeForge
from memsync.ci.action import escape_property, format_outputs, input_value

TOKEN = "ghs_" + "Tk9" * 12  # the shape of an installation token; masked, never printed
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def github_pat(seed: int) -> str:
    """A GitHub classic token with a valid CRC32 checksum (what real scanners verify)."""
    rng = random.Random(seed)
    body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(30))
    value, digits = zlib.crc32(body.encode()), ""
    while value:
        value, rest = divmod(value, 62)
        digits = BASE62[rest] + digits
    return f"ghp_{body}{digits.rjust(6, '0')}"


SECRET = github_pat(7)


def parse_github_output(text: str) -> dict[str, str]:
    """The runner's reading of $GITHUB_OUTPUT: `name=value` or `name<<DELIM` … `DELIM`."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2:]
            end = lines.index(delimiter, i)
            outputs[name] = "\n".join(lines[i:end])
            i = end + 1
        else:
            outputs[line[:eq]] = line[eq + 1:]
    return outputs


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    def everything(self) -> str:
        return self.stdout + self.stderr + json.dumps(self.outputs) + self.summary


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/github/workspace with the shared repository checked out under shared/."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    ws = tmp_path / "workspace"
    repo = ws / "shared"
    subprocess.run(["git", "clone", "-q", str(origin), str(repo)], check=True,
                   capture_output=True)
    git(repo, "config", "user.name", "Dev")
    git(repo, "config", "user.email", "dev@example.com")
    write_contribution(repo, [observation("Use orjson for speed"),
                              observation("Retry pushes", type="bugfix", session="s2")],
                       dev="alice")
    write_contribution(repo, [observation("Cache the index", session="s3", type="feature")],
                       dev="bob")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "contributions")
    git(repo, "push", "-q", "origin", "HEAD:main")
    return ws


def add_problems(repo: Path) -> None:
    """One unreadable contribution and one observation carrying a live-looking token."""
    bad = repo / "contributions" / "demo" / "mallory" / "2026-03-19T18-30-00.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"version": 1, "observations": [')
    write_contribution(repo, [observation("Deploy notes", session="s9",
                                          narrative=f"use token {SECRET} for the deploy")],
                       dev="carol")


def run_action(ws: Path, tmp_path: Path, event: dict | None = None,
               extra_env: dict[str, str] | None = None, **inputs: str) -> Run:
    output_file = tmp_path / "github_output"
    summary_file = tmp_path / "step_summary"
    event_file = tmp_path / "event.json"
    for path in (output_file, summary_file):
        path.write_text("")
    event_file.write_text(json.dumps(event or {"ref": "refs/heads/main",
                                               "repository": {"full_name": "team/memory"}}))
    env = {key: value for key, value in os.environ.items() if not key.startswith("INPUT_")}
    env.update({
        "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(ws), "GITHUB_OUTPUT": str(output_file),
        "GITHUB_STEP_SUMMARY": str(summary_file), "GITHUB_EVENT_PATH": str(event_file),
        "GITHUB_EVENT_NAME": "push", "GITHUB_REPOSITORY": "team/memory",
        "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main",
        "SOURCE_DATE_EPOCH": "1774000000",
        # action.yml defaults, as the runner passes them (hyphens kept)
        "INPUT_CAP": "500", "INPUT_RETENTION-DAYS": "30", "INPUT_PUBLISH": "none",
        "INPUT_BRANCH": "mem-sync/merge", "INPUT_BASE": "", "INPUT_LABELS": "",
        "INPUT_REVIEWERS": "", "INPUT_DRAFT": "false", "INPUT_PROFILES": "true",
        "INPUT_STRICT": "false", "INPUT_SECRETS": "quarantine", "INPUT_DRY-RUN": "false",
        "INPUT_WORKING-DIRECTORY": "shared", "INPUT_TOKEN": TOKEN,
    })
    env.update({f"INPUT_{name.upper()}": value for name, value in inputs.items()})
    env.update(extra_env or {})
    proc = subprocess.run(["mem-sync", "action"], cwd=ws, env=env, capture_output=True,
                          text=True, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr,
               parse_github_output(output_file.read_text()), summary_file.read_text())


def test_merge_sets_outputs_summary_and_masks_the_token(workspace: Path, tmp_path: Path) -> None:
    run = run_action(workspace, tmp_path)
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"::add-mask::{TOKEN}"
    assert TOKEN not in run.everything().replace(f"::add-mask::{TOKEN}", "", 1)
    merged = read_json(workspace / "shared" / "merged" / "demo" / "latest.json")
    assert run.outputs == {
        "merged-count": str(len(merged["observations"])), "evicted-count": "0",
        "quarantined-count": "0", "changed": "true", "pr-url": "", "pr-operation": "none",
    }
    assert len(merged["observations"]) == 3
    assert "| `demo` | 2 | 3 | 0 |" in run.summary
    assert "merged/demo/latest.json" in run.summary


def test_second_run_on_the_same_state_reports_no_change(workspace: Path, tmp_path: Path) -> None:
    assert run_action(workspace, tmp_path).code == 0
    again = run_action(workspace, tmp_path)
    assert again.code == 0
    assert again.outputs["changed"] == "false"
    assert "No new contributions" in again.summary


def test_quarantine_and_secrets_are_annotated_on_their_files_never_printing_the_secret(
        workspace: Path, tmp_path: Path) -> None:
    add_problems(workspace / "shared")
    run = run_action(workspace, tmp_path)
    assert run.code == 0, run.stderr
    assert run.outputs["quarantined-count"] == "1"
    annotations = [line for line in run.stdout.splitlines() if line.startswith("::warning ")]
    files = sorted(line.split("file=", 1)[1].split(",", 1)[0] for line in annotations)
    assert files == ["shared/contributions/demo/carol/2026-03-19T18-30-00.json",
                     "shared/contributions/demo/mallory/2026-03-19T18-30-00.json"]
    assert SECRET not in run.everything()
    assert SECRET[4:20] not in run.everything()
    merged = (workspace / "shared" / "merged" / "demo" / "latest.json").read_text()
    assert "Deploy notes" not in merged and SECRET not in merged
    assert "### Quarantined contributions" in run.summary
    assert "mallory" in run.summary and "rotate" in run.summary.lower()


def test_strict_turns_a_quarantine_into_a_failed_step_with_error_annotations(
        workspace: Path, tmp_path: Path) -> None:
    add_problems(workspace / "shared")
    run = run_action(workspace, tmp_path, strict="true")
    assert run.code == 1
    assert any(line.startswith("::error file=shared/contributions/demo/mallory/")
               for line in run.stdout.splitlines())
    # The outputs and the summary are still there for the steps and the people that follow.
    assert run.outputs["quarantined-count"] == "1"
    assert "strict" in run.summary


def test_secrets_fail_policy_fails_the_step_and_merges_nothing(workspace: Path,
                                                               tmp_path: Path) -> None:
    add_problems(workspace / "shared")
    run = run_action(workspace, tmp_path, secrets="fail")
    assert run.code == 1
    assert any(line.startswith("::error file=shared/contributions/demo/carol/")
               for line in run.stdout.splitlines())
    assert not (workspace / "shared" / "merged" / "demo" / "latest.json").exists()
    assert SECRET not in run.everything()


def test_dry_run_writes_nothing_but_reports_what_would_change(workspace: Path,
                                                              tmp_path: Path) -> None:
    run = run_action(workspace, tmp_path, **{"dry-run": "true", "publish": "push"})
    assert run.code == 0, run.stderr
    assert run.outputs["changed"] == "true"
    assert run.outputs["pr-operation"] == "none"
    assert git(workspace / "shared", "status", "--porcelain") == ""
    assert "dry run" in run.summary


def test_bad_input_fails_with_one_line_naming_it_and_still_masks(workspace: Path,
                                                                  tmp_path: Path) -> None:
    run = run_action(workspace, tmp_path, draft="maybe")
    assert run.code == 2
    assert run.stdout.splitlines()[0] == f"::add-mask::{TOKEN}"
    assert "::error title=mem-sync::input 'draft' must be true or false" in run.stdout
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "input 'draft'" in run.summary
    assert run.outputs == {}


def test_working_directory_cannot_leave_the_workspace(workspace: Path, tmp_path: Path) -> None:
    run = run_action(workspace, tmp_path, **{"working-directory": "../"})
    assert run.code == 2
    assert "working-directory" in run.stderr


def test_pull_request_from_a_fork_never_publishes(workspace: Path, tmp_path: Path) -> None:
    origin_tip = git(workspace / "shared", "ls-remote", "origin", "main")
    event = {"pull_request": {"head": {"repo": {"full_name": "stranger/memory"}},
                              "base": {"repo": {"full_name": "team/memory"}}}}
    run = run_action(workspace, tmp_path, event=event, publish="push")
    assert run.code == 0, run.stderr
    assert "::notice title=mem-sync::pull request from a fork" in run.stdout
    assert run.outputs["pr-operation"] == "none"
    assert git(workspace / "shared", "ls-remote", "origin", "main") == origin_tip


def test_input_names_are_read_in_the_runner_form_and_the_underscore_form() -> None:
    assert input_value({"INPUT_RETENTION-DAYS": " 7 "}, "retention-days") == "7"
    assert input_value({"INPUT_RETENTION_DAYS": "9"}, "retention-days") == "9"
    assert input_value({"INPUT_RETENTION-DAYS": ""}, "retention-days") is None


def test_properties_cannot_break_out_of_an_annotation() -> None:
    assert escape_property("a,b:c\nd%") == "a%2Cb%3Ac%0Ad%25"


names = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@given(st.dictionaries(names, st.text(), max_size=6))
def test_outputs_round_trip_through_the_runner_parser_whatever_the_value(
        outputs: dict[str, str]) -> None:
    # Normalise line endings as the runner's file reading does.
    outputs = {k: v.replace("\r", "") for k, v in outputs.items()}
    assert parse_github_output(format_outputs(outputs)) == outputs


def test_a_value_containing_the_delimiter_gets_another_one() -> None:
    delimiters = iter(["EOF", "EOF", "EOF2"])
    text = format_outputs({"pr-url": "line\nEOF\nmore"}, make_delimiter=lambda: next(delimiters))
    assert parse_github_output(text) == {"pr-url": "line\nEOF\nmore"}


def test_push_mode_commits_the_merge_to_the_branch_as_the_actions_bot(
        workspace: Path, tmp_path: Path) -> None:
    repo = workspace / "shared"
    run = run_action(workspace, tmp_path, publish="push")
    assert run.code == 0, run.stdout + run.stderr
    assert run.outputs["pr-operation"] == "pushed"
    assert run.outputs["pr-url"] == ""
    remote_tip = git(repo, "ls-remote", "origin", "refs/heads/main").split()[0]
    assert remote_tip == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "log", "-1", "--format=%an <%ae>", remote_tip).strip() == (
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>")
    pushed = set(git(repo, "show", "--name-only", "--format=", remote_tip).split())
    assert {"merged/demo/latest.json", ".merge-state.json"} <= pushed
    assert "Pushed `" + remote_tip[:12] in run.summary

    again = run_action(workspace, tmp_path, publish="push")
    assert again.code == 0
    assert again.outputs["changed"] == "false"
    assert git(repo, "ls-remote", "origin", "refs/heads/main").split()[0] == remote_tip


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    server = FakeForge(tokens={TOKEN}).start()
    yield server
    server.stop()


def test_pr_mode_opens_one_rolling_pull_request_and_reports_its_url(
        workspace: Path, tmp_path: Path, forge: FakeForge) -> None:
    api = {"GITHUB_API_URL": f"{forge.base_url}/api/v3"}
    run = run_action(workspace, tmp_path, extra_env=api, publish="pr", labels="memory, bot")
    assert run.code == 0, run.stdout + run.stderr
    (pr,) = forge.open_prs("github")
    assert run.outputs["pr-operation"] == "created"
    assert run.outputs["pr-url"] and run.outputs["pr-url"].endswith(f"/pull/{pr['number']}")
    assert f"Pull request created: {run.outputs['pr-url']}" in run.summary
    assert git(workspace / "shared", "ls-remote", "origin", "refs/heads/mem-sync/merge")

    again = run_action(workspace, tmp_path, extra_env=api, publish="pr")
    assert again.code == 0, again.stdout + again.stderr
    assert again.outputs["pr-operation"] in ("unchanged", "updated")
    assert len(forge.open_prs("github")) == 1
    assert TOKEN not in run.everything().replace(f"::add-mask::{TOKEN}", "", 1)


def test_distill_command_proposes_rules_in_a_rolling_review_pull_request(
        workspace: Path, tmp_path: Path, forge: FakeForge) -> None:
    from fakes.llm import FakeLLM

    api = {"GITHUB_API_URL": f"{forge.base_url}/api/v3"}
    assert run_action(workspace, tmp_path, publish="push").code == 0  # main holds a merged set
    key = "sk-ant-api03-" + "k" * 8  # a provider key: masked like the token
    llm = FakeLLM(keys={key}).start()
    try:
        inputs = {"command": "distill", "distill-base-url": llm.base_url, "distill-api-key": key,
                  "distill-min-observations": "1", "reviewers": "carol"}
        run = run_action(workspace, tmp_path, extra_env=api, **inputs)
        again = run_action(workspace, tmp_path, extra_env=api, **inputs)
    finally:
        llm.stop()
    assert run.code == 0, run.stdout + run.stderr
    assert f"::add-mask::{key}" in run.stdout
    assert key not in run.everything().replace(f"::add-mask::{key}", "", 1)
    assert run.outputs == {"changed": "true", "pr-operation": "created",
                           "pr-url": run.outputs["pr-url"]}
    (pr,) = forge.open_prs("github")
    assert pr["head"] == "mem-sync/distill" and pr["reviewers"] == ["carol"]
    assert "| demo | written | " in run.summary and "never merged automatically" in run.summary
    # the open review branch already holds this input: no second call, the PR unchanged
    assert again.code == 0, again.stdout + again.stderr
    assert again.outputs["pr-operation"] == "unchanged"
    assert len(llm.requests) == 1
    assert not (workspace / "shared" / "distilled").exists()  # main itself is never changed
