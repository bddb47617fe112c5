"""`mem-sync action` with `command: rules-sync`, run the way the GitHub runner runs the step in
the memory repository's workflow: the PR goes to the code repository with the rules token."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from rules_support import PROJECT, STANDARD_RULES, code_on_server, memory_repo, write_distilled

TOKEN = "good-token"  # the code repository's token: the fake forge accepts only this one


def parse_outputs(text: str) -> dict[str, str]:
    outputs, lines, i = {}, text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i)
            outputs[name] = "\n".join(lines[i:end])
            i = end + 1
    return outputs


def run_step(tmp_path: Path, workspace: Path, forge, **inputs: str) -> tuple[subprocess.CompletedProcess, dict]:
    output = tmp_path / "github_output"
    output.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    env.update({
        "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace), "GITHUB_OUTPUT": str(output),
        "GITHUB_REPOSITORY": "team/memory", "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main", "GITHUB_API_URL": f"{forge.base_url}/api/v3",
        "GITHUB_TOKEN": "memory-repository-token",
        # action.yml defaults as the runner passes them
        "INPUT_PUBLISH": "push", "INPUT_BRANCH": "mem-sync/merge", "INPUT_BASE": "",
        "INPUT_LABELS": "", "INPUT_REVIEWERS": "", "INPUT_DRAFT": "false", "INPUT_DRY-RUN": "false",
        "INPUT_WORKING-DIRECTORY": "memory", "INPUT_TOKEN": "memory-repository-token",
        "INPUT_COMMAND": "merge", "INPUT_RULES-TARGETS": "claude,cursor,copilot,agents",
        "INPUT_RULES-PUBLISH": "pr", "INPUT_RULES-PROVIDER": "auto", "INPUT_RULES-BUDGET": "8192",
        "INPUT_RULES-PROJECT": "", "INPUT_RULES-CODE-REPO": "", "INPUT_RULES-TOKEN": "",
    })
    env.update({f"INPUT_{name.upper()}": value for name, value in inputs.items()})
    proc = subprocess.run(["mem-sync", "action"], cwd=workspace, env=env, capture_output=True,
                          text=True, check=False)
    return proc, parse_outputs(output.read_text())


def test_rules_sync_step_opens_the_pull_request_on_the_code_repository(git_server, clean_forge,
                                                                       tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    memory = memory_repo(workspace)
    write_distilled(memory, STANDARD_RULES, {"R-0000000a": "accepted"})
    url = code_on_server(git_server, tmp_path, "acme")
    inputs = {"COMMAND": "rules-sync", "RULES-PROJECT": PROJECT, "RULES-CODE-REPO": url,
              "RULES-PROVIDER": "github", "RULES-TOKEN": TOKEN, "LABELS": "team-memory"}
    proc, outputs = run_step(tmp_path, workspace, clean_forge, **inputs)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"::add-mask::{TOKEN}"
    assert TOKEN not in proc.stdout.split("\n", 1)[1] + proc.stderr
    assert outputs["pr-operation"] == "created" and outputs["changed"] == "true"
    (pr,) = clean_forge.open_prs("github")
    assert outputs["pr-url"].endswith(f"/pull/{pr['number']}") and pr["labels"] == ["team-memory"]
    code_repo = url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1].removesuffix(".git")
    assert all(r.path.startswith(f"/api/v3/repos/{code_repo}/")
               for r in clean_forge.requests if r.method != "GET")
    # the memory repository is only read
    assert subprocess.run(["git", "status", "--porcelain"], cwd=memory, capture_output=True,
                          text=True, check=True).stdout == ""

    again, outputs = run_step(tmp_path, workspace, clean_forge, **inputs)
    assert again.returncode == 0, again.stderr
    assert outputs["pr-operation"] == "unchanged" and len(clean_forge.prs["github"]) == 1


def test_rules_sync_step_without_its_inputs_fails_in_one_annotated_line(tmp_path, forge):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    memory_repo(workspace)
    proc, _ = run_step(tmp_path, workspace, forge, COMMAND="rules-sync")
    assert proc.returncode == 2
    assert "::error title=mem-sync rules sync::input 'rules-project' is required" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_an_unknown_command_is_refused(tmp_path, forge):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    proc, _ = run_step(tmp_path, workspace, forge, COMMAND="deploy")
    assert proc.returncode == 2 and "input 'command' must be one of merge, rules-sync, distill" in proc.stderr
