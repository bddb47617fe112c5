"""The opt-in rules-sync jobs of the CI templates: official schemas, actionlint, shellcheck, and
what they run (the real `mem-sync rules sync` flags, only after distilled/ changed, only when
the team set the code repository)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from ci_support import (
    ACTION_YML,
    BITBUCKET_PIPELINES,
    GITLAB_CI,
    ROOT,
    TEMPLATES,
    load_yaml,
    run_tool,
    tool,
)

from clirun import run_mem_sync

RULES_WORKFLOW = TEMPLATES / "github" / "sync-rules.yml"


def test_rules_workflow_is_valid_and_passes_actionlint() -> None:
    schema = run_tool([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                       str(RULES_WORKFLOW)])
    assert schema.returncode == 0, schema.stdout + schema.stderr
    lint = run_tool([tool("actionlint"), "-shellcheck", tool("shellcheck"), "-no-color",
                     str(RULES_WORKFLOW)])
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_rules_workflow_is_opt_in_least_privilege_and_uses_declared_inputs() -> None:
    wf = load_yaml(RULES_WORKFLOW)
    assert wf["on"]["push"]["paths"] == ["distilled/**"]
    assert wf["permissions"] == {}
    job = wf["jobs"]["sync-rules"]
    assert "vars.MEM_SYNC_RULES_CODE_REPO != ''" in job["if"] and "fork" in job["if"]
    assert job["permissions"] == {"contents": "read"}
    ours = next(s for s in job["steps"] if s.get("uses", "").split("@")[0].endswith("/mem-sync"))
    action = load_yaml(ACTION_YML)
    assert ours["with"]["command"] == "rules-sync"
    assert set(ours["with"]) <= set(action["inputs"])
    assert "secrets.MEM_SYNC_RULES_TOKEN" in ours["with"]["rules-token"]
    assert action["inputs"]["command"]["default"] == "merge"
    assert action["inputs"]["rules-publish"]["default"] == "pr"


def rules_command(lines: list[str]) -> list[str]:
    (command,) = [line for line in lines if line.startswith("mem-sync rules sync")]
    return shlex.split(command)


def gitlab_job() -> dict:
    return load_yaml(GITLAB_CI)["sync-rules"]


def bitbucket_step() -> dict:
    doc = load_yaml(BITBUCKET_PIPELINES)
    (step,) = [s["step"] for s in doc["pipelines"]["branches"]["main"]
               if s["step"]["name"] == "Sync team rules"]
    assert doc["pipelines"]["custom"]["sync-rules"][0]["step"]["script"] == step["script"]
    return step


def test_gitlab_job_runs_after_distilled_changes_only_when_set_up() -> None:
    job = gitlab_job()
    assert job["stage"] in load_yaml(GITLAB_CI)["stages"]
    for rule in job["rules"]:
        assert "$MEM_SYNC_RULES_CODE_REPO" in rule["if"]
    assert [r["changes"] for r in job["rules"] if "changes" in r] == [["distilled/**/*"]]
    assert job["variables"]["MEM_SYNC_GIT_TOKEN"] == "$MEM_SYNC_RULES_TOKEN"


def test_bitbucket_step_runs_after_distilled_changes_and_skips_when_not_set_up() -> None:
    step = bitbucket_step()
    assert step["condition"]["changesets"]["includePaths"] == ["distilled/**"]
    assert step["script"][0].startswith('if [ -z "${MEM_SYNC_RULES_CODE_REPO:-}" ]')


@pytest.mark.parametrize("lines", [lambda: gitlab_job()["script"],
                                   lambda: bitbucket_step()["script"]], ids=["gitlab", "bitbucket"])
def test_the_jobs_pass_shellcheck_and_use_flags_the_command_has(lines, tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\nset -eu\n" + "\n".join(lines()) + "\n")
    result = run_tool([tool("shellcheck"), "--shell=sh", "--severity=style", str(script)])
    assert result.returncode == 0, result.stdout
    words = rules_command(lines())
    help_text = run_mem_sync(["rules", "sync", "--help"]).stdout
    flags = [w for w in words if w.startswith("--")]
    assert {"--repo-dir", "--project", "--code-repo", "--publish", "--token-env"} <= set(flags)
    for flag in flags:
        assert flag in help_text, flag


def test_schemas_still_accept_the_templates_with_the_rules_jobs() -> None:
    for path, schema in ((GITLAB_CI, "vendor.gitlab-ci"),
                         (BITBUCKET_PIPELINES, "vendor.bitbucket-pipelines")):
        result = run_tool([tool("check-jsonschema"), "--builtin-schema", schema, str(path)])
        assert result.returncode == 0, result.stdout + result.stderr


def test_setup_repo_ships_the_rules_workflow() -> None:
    packaged = ROOT / "src" / "memsync" / "scaffold" / "ci" / "github" / "sync-rules.yml"
    assert packaged.read_bytes() == RULES_WORKFLOW.read_bytes()
