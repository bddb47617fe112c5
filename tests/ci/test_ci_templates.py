"""The CI templates and action.yml: official schemas, actionlint, shellcheck, and their semantics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ci_support import (
    ACTION_YML,
    BITBUCKET_PIPELINES,
    GITHUB_WORKFLOW,
    GITLAB_CI,
    ROOT,
    load_yaml,
    run_tool,
    tool,
)

SCHEMAS = [
    (ACTION_YML, "vendor.github-actions"),
    (GITHUB_WORKFLOW, "vendor.github-workflows"),
    (GITLAB_CI, "vendor.gitlab-ci"),
    (BITBUCKET_PIPELINES, "vendor.bitbucket-pipelines"),
]
# A key each schema forbids at the top level, to prove the validator is not vacuous.
BREAKAGE = {
    "vendor.github-actions": "runs:\n  using: docker\n",  # docker action without image
    "vendor.github-workflows": "jobs:\n  merge:\n    runs-on: ubuntu-latest\n    steps: 3\n",
    "vendor.gitlab-ci": "merge-memories:\n  stage: merge\n  script: 3\n  when: sometimes\n",
    "vendor.bitbucket-pipelines": "pipelines:\n  branches:\n    main: 3\n",
}
SCRIPT_TEMPLATES = [GITLAB_CI, BITBUCKET_PIPELINES]


def check_jsonschema(schema: str, path: Path):
    return run_tool([tool("check-jsonschema"), "--builtin-schema", schema, str(path)])


@pytest.mark.parametrize(("path", "schema"), SCHEMAS, ids=lambda v: getattr(v, "name", v))
def test_template_is_valid_against_its_official_schema(path: Path, schema: str) -> None:
    result = check_jsonschema(schema, path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("schema", sorted(BREAKAGE))
def test_schema_check_rejects_a_broken_document(schema: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BREAKAGE[schema])
    assert check_jsonschema(schema, broken).returncode != 0


def test_workflow_passes_actionlint_including_shellcheck_of_run_steps() -> None:
    # actionlint runs shellcheck on `run:` scripts when it finds it on PATH; give it ours.
    shellcheck = tool("shellcheck")
    result = run_tool([tool("actionlint"), "-shellcheck", shellcheck, "-no-color",
                       str(GITHUB_WORKFLOW)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_not_vacuous(tmp_path: Path) -> None:
    text = GITHUB_WORKFLOW.read_text().replace("actions/checkout@v5", "actions/checkout@v2")
    broken = tmp_path / "wf.yml"
    broken.write_text(text)
    result = run_tool([tool("actionlint"), "-no-color", str(broken)])
    assert result.returncode != 0 and "checkout@v2" in result.stdout


def script_lines(path: Path) -> list[str]:
    doc = load_yaml(path)
    if path == GITLAB_CI:
        return list(doc["merge-memories"]["script"]) + list(doc["distill-memories"]["script"])
    steps = doc["definitions"]["steps"]
    return [line for entry in steps for line in entry["step"]["script"]]


@pytest.mark.parametrize("path", SCRIPT_TEMPLATES, ids=lambda p: p.name)
def test_script_lines_pass_shellcheck(path: Path, tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\nset -eu\n" + "\n".join(script_lines(path)) + "\n")
    result = run_tool([tool("shellcheck"), "--shell=sh", "--severity=style", str(script)])
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", [GITHUB_WORKFLOW, GITLAB_CI, BITBUCKET_PIPELINES],
                         ids=lambda p: p.name)
def test_no_template_swallows_failures_or_floats_an_image(path: Path) -> None:
    text = path.read_text()
    assert "|| true" not in text and "|| :" not in text
    assert ":latest" not in text
    for image in re.findall(r"(?m)^\s*(?:image|name):\s*(\S+/\S+)$", text):
        assert re.search(r"(:\d+\.\d+\.\d+|@sha256:[0-9a-f]{64})$", image), image


def test_workflow_triggers_queues_and_keeps_least_privilege() -> None:
    wf = load_yaml(GITHUB_WORKFLOW)
    # merged/**: merging the merge bot's pull request changes the merged set (distill it)
    assert wf["on"]["push"]["paths"] == ["contributions/**", "retractions/**", "MAINTAINERS",
                                         "merged/**"]
    assert "workflow_dispatch" in wf["on"]
    assert wf["concurrency"]["cancel-in-progress"] is False
    assert wf["permissions"] == {}
    job = wf["jobs"]["merge"]
    assert set(job["permissions"]) <= {"contents", "pull-requests"}
    assert job["permissions"]["contents"] == "write"
    assert "fork" in job["if"]


def test_workflow_pins_its_actions_and_passes_only_declared_inputs() -> None:
    steps = load_yaml(GITHUB_WORKFLOW)["jobs"]["merge"]["steps"]
    uses = [step["uses"] for step in steps if "uses" in step]
    assert "actions/checkout@v5" in uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})", ref), ref
    ours = next(step for step in steps if step.get("uses", "").split("@")[0].endswith("/mem-sync"))
    declared = set(load_yaml(ACTION_YML)["inputs"])
    assert set(ours["with"]) <= declared
    outputs = set(load_yaml(ACTION_YML)["outputs"])
    used = set(re.findall(r"steps\.merge\.outputs\.([\w-]+)", GITHUB_WORKFLOW.read_text()))
    assert used and used <= outputs


def test_action_is_a_docker_action_with_the_contract_inputs_and_outputs() -> None:
    action = load_yaml(ACTION_YML)
    assert action["runs"]["using"] == "docker"
    # main builds the image; a release tag's commit runs the published one by digest
    # (scripts/release.py pin), the digest that commit's published.json records.
    from memsync.release import published

    images = published()
    if images.action_digest:
        assert action["runs"]["image"] == f"docker://{images.action_image}@{images.action_digest}"
    else:
        assert action["runs"]["image"] == "Dockerfile"
        assert (ROOT / action["runs"]["image"]).is_file()
    assert set(action["inputs"]) == {
        "cap", "retention-days", "publish", "branch", "base", "labels", "reviewers", "draft",
        "profiles", "strict", "secrets", "dry-run", "working-directory", "token",
        # command: rules-sync (tests/ci/test_rules_ci_templates.py)
        "command", "rules-project", "rules-code-repo", "rules-targets", "rules-publish",
        "rules-provider", "rules-budget", "rules-token",
        "distill-provider", "distill-model", "distill-base-url",
        "distill-allow-external-api", "distill-max-cost", "distill-api-key", "distill-branch",
        "distill-min-observations",
    }
    assert action["inputs"]["command"]["default"] == "merge"
    assert action["inputs"]["distill-allow-external-api"]["default"] == "false"
    assert action["inputs"]["token"]["default"] == "${{ github.token }}"
    assert set(action["outputs"]) == {
        "merged-count", "evicted-count", "quarantined-count", "changed", "pr-url", "pr-operation",
    }


def test_gitlab_job_serializes_runs_on_contribution_changes() -> None:
    job = load_yaml(GITLAB_CI)["merge-memories"]
    assert job["resource_group"]
    assert job["image"]["entrypoint"] == [""]
    change_rules = [rule for rule in job["rules"] if "changes" in rule]
    assert change_rules and all(rule["changes"] == ["contributions/**/*", "retractions/**/*", "MAINTAINERS"] for rule in change_rules)
    assert job["variables"]["GIT_DEPTH"] == "0"
    assert "--provider gitlab" in " ".join(job["script"])


def test_bitbucket_step_runs_on_contribution_changes_and_manually() -> None:
    doc = load_yaml(BITBUCKET_PIPELINES)
    branch_steps = doc["pipelines"]["branches"]["main"]
    step = branch_steps[0]["step"]
    # The schema accepts a step without a script; the forge does not.
    assert step["script"] and "--provider bitbucket" in " ".join(step["script"])
    assert step["condition"]["changesets"]["includePaths"] == ["contributions/**", "retractions/**", "MAINTAINERS"]
    manual = doc["pipelines"]["custom"]["merge-memories"][0]["step"]
    assert manual["script"] == step["script"]
    assert "condition" not in manual
    assert step["clone"]["depth"] == "full"


@pytest.mark.parametrize(("template", "packaged"), [
    (GITHUB_WORKFLOW, "github/merge-memories.yml"),
    (GITLAB_CI, "gitlab/gitlab-ci.yml"),
    (BITBUCKET_PIPELINES, "bitbucket/bitbucket-pipelines.yml"),
])
def test_setup_repo_ships_the_same_bytes_as_ci_templates(template: Path, packaged: str) -> None:
    copy = ROOT / "src" / "memsync" / "scaffold" / "ci" / packaged
    assert copy.read_bytes() == template.read_bytes(), (
        f"{copy} drifted from {template}; copy ci-templates/ over it")


@pytest.mark.parametrize(("path", "provider"), [
    (GITHUB_WORKFLOW, "github"), (GITLAB_CI, "gitlab"), (BITBUCKET_PIPELINES, "bitbucket"),
], ids=lambda v: getattr(v, "name", v))
def test_template_names_this_versions_release_exactly_once_per_job(path: Path, provider: str) -> None:
    """setup-repo swaps that reference; a version bump must move it (scripts/release.py). The
    GitHub workflow names it in the merge and the distill job; GitLab's jobs share one anchor,
    Bitbucket's steps the file's image."""
    from memsync import release

    text = path.read_text()
    reference = release.default_reference(provider)
    pattern = rf"(?m)^\s*(?:uses|image|name): {re.escape(reference)}$"
    expected = 2 if provider == "github" else 1
    assert len(re.findall(pattern, text)) == expected, (path.name, reference)
    assert "your-org" not in text
# ---- the opt-in distill job of each template (docs/distill.md) ---------------------------------

def test_github_distill_job_is_opt_in_after_the_merge_and_passes_declared_inputs() -> None:
    job = load_yaml(GITHUB_WORKFLOW)["jobs"]["distill"]
    assert job["needs"] == "merge"
    assert "vars.MEM_SYNC_DISTILL == 'true'" in job["if"] and "fork" in job["if"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write", "models": "read"}
    ours = next(step for step in job["steps"] if "mem-sync" in step.get("uses", ""))
    declared = set(load_yaml(ACTION_YML)["inputs"])
    assert ours["with"]["command"] == "distill" and set(ours["with"]) <= declared
    # the second opt-in stays off unless the repository says otherwise
    assert "|| 'false'" in ours["with"]["distill-allow-external-api"]
    assert "secrets.ANTHROPIC_API_KEY" in ours["with"]["distill-api-key"]
    used = set(re.findall(r"steps\.distill\.outputs\.([\w-]+)", GITHUB_WORKFLOW.read_text()))
    assert used and used <= set(load_yaml(ACTION_YML)["outputs"])


def test_gitlab_distill_job_is_opt_in_after_the_merge_and_opens_a_merge_request() -> None:
    doc = load_yaml(GITLAB_CI)
    assert doc["stages"] == ["merge", "distill", "rules"]  # rules sync delivers what was reviewed
    job = doc["distill-memories"]
    assert job["stage"] == "distill" and job["resource_group"]
    assert job["rules"][0] == {"if": '$MEM_SYNC_DISTILL != "true"', "when": "never"}
    command = " ".join(job["script"])
    assert "mem-sync distill --all --enable --publish pr --forge gitlab" in command
    assert "--allow-external-api" not in command  # only the CI variable grants it
    assert "when" not in {k for rule in job["rules"][1:] for k in rule}


def test_bitbucket_distill_step_is_opt_in_after_the_merge() -> None:
    doc = load_yaml(BITBUCKET_PIPELINES)
    names = [entry["step"]["name"] for entry in doc["pipelines"]["branches"]["main"]]
    assert names == ["Merge memories", "Distill rules for review", "Sync team rules"]
    distill_step = doc["pipelines"]["branches"]["main"][1]["step"]
    assert distill_step["name"] == "Distill rules for review"
    script = distill_step["script"]
    assert "MEM_SYNC_DISTILL" in script[0] and "exit 0" in script[0]
    assert "mem-sync distill --all --enable --publish pr --forge bitbucket" in " ".join(script)
    assert "merged/**" in distill_step["condition"]["changesets"]["includePaths"]
    assert doc["pipelines"]["custom"]["distill-memories"][0]["step"]["script"] == script
