"""This repository's own workflows and Renovate config: linters, schemas and what they promise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ci_support import ROOT, load_yaml, run_tool, tool

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
CI = ROOT / ".github" / "workflows" / "ci.yml"
RENOVATE = ROOT / "renovate.json"


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def run_text(workflow: dict, job: str) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow, job))


def uses(workflow: dict, job: str) -> list[str]:
    return [step["uses"] for step in steps(workflow, job) if "uses" in step]


def test_both_workflows_exist() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "release.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint_with_shellcheck(path: Path) -> None:
    result = run_tool([tool("actionlint"), "-shellcheck", tool("shellcheck"), "-no-color",
                       str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_official_schema(path: Path) -> None:
    result = run_tool([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                       str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_pins_actions_and_grants_nothing_by_default(path: Path) -> None:
    workflow = load_yaml(path)
    assert workflow["permissions"] == {}
    for job in workflow["jobs"]:
        for ref in uses(workflow, job):
            # Renovate (helpers:pinGitHubActionDigests) turns these into commit SHAs.
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})", ref) or \
                ref == "pypa/gh-action-pypi-publish@release/v1", ref
    assert "|| true" not in path.read_text()


def test_renovate_config_is_valid_and_the_check_bites(tmp_path: Path) -> None:
    result = run_tool([tool("check-jsonschema"), "--builtin-schema", "vendor.renovate",
                       str(RENOVATE)])
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "renovate.json"
    broken.write_text('{"lockFileMaintenance": {"enabled": "weekly"}}')
    assert run_tool([tool("check-jsonschema"), "--builtin-schema", "vendor.renovate",
                     str(broken)]).returncode != 0


def test_renovate_proposes_lock_base_image_and_action_updates() -> None:
    import json

    config = json.loads(RENOVATE.read_text())
    patterns = config["pip-compile"]["managerFilePatterns"]
    for lock in ("requirements.lock", "requirements-build.lock"):
        assert any(re.search(p.strip("/"), lock) for p in patterns), lock
    assert config["lockFileMaintenance"]["enabled"] is True
    assert {"docker:pinDigests", "helpers:pinGitHubActionDigests"} <= set(config["extends"])
    # Renovate re-runs each lock's header command: it must be a plain `uv pip compile`.
    for lock in ("requirements.lock", "requirements-build.lock"):
        assert (ROOT / lock).read_text().splitlines()[1].startswith("#    uv pip compile ")


def test_release_runs_on_version_tags_only() -> None:
    release = load_yaml(RELEASE)
    assert release["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert release["concurrency"]["cancel-in-progress"] is False


def test_release_pushes_signed_multi_arch_images_with_sbom_and_provenance() -> None:
    release = load_yaml(RELEASE)
    job = release["jobs"]["image"]
    assert job["permissions"] == {"contents": "read", "packages": "write", "id-token": "write"}
    builds = [step for step in steps(release, "image")
              if step.get("uses", "").startswith("docker/build-push-action@")]
    stages = set(re.findall(r"(?m)^FROM \S+ AS (\w+)$", (ROOT / "Dockerfile").read_text()))
    assert sorted(step["with"]["target"] for step in builds) == ["action", "ci"]
    for step in builds:
        assert step["with"]["target"] in stages
        assert step["with"]["platforms"] == "linux/amd64,linux/arm64"
        assert step["with"]["push"] is True
        assert step["with"]["sbom"] is True
        assert step["with"]["provenance"] == "mode=max"
        assert step["with"]["tags"].endswith(":${{ env.VERSION }}")
    assert any(ref.startswith("docker/setup-qemu-action@") for ref in uses(release, "image"))
    assert any(ref.startswith("sigstore/cosign-installer@") for ref in uses(release, "image"))
    sign = next(step for step in steps(release, "image") if "cosign sign" in step.get("run", ""))
    # Signed by digest, never by a tag that could be moved after signing.
    assert sign["env"]["IMAGE"].endswith("@${{ steps.ci.outputs.digest }}")
    assert sign["env"]["ACTION_IMAGE"].endswith("@${{ steps.action.outputs.digest }}")
    assert "--yes" in sign["run"]
    assert job["outputs"] == {"digest": "${{ steps.ci.outputs.digest }}",
                              "action-digest": "${{ steps.action.outputs.digest }}"}


def test_release_pins_the_digests_on_the_tag_then_builds_the_package_from_that_commit() -> None:
    release = load_yaml(RELEASE)
    assert release["jobs"]["pin"]["needs"] == ["check", "image"]
    assert release["jobs"]["pin"]["permissions"] == {"contents": "write"}
    pin = run_text(release, "pin")
    assert re.search(r"scripts/release\.py pin --repository \"\$REPOSITORY\".*"
                     r"--image-digest \"\$DIGEST\" --action-digest \"\$ACTION_DIGEST\" "
                     r"--tag \"\$TAG\" --push origin", pin.replace("\\\n", " ").replace("  ", " "))
    checkout = next(s for s in steps(release, "dist") if s.get("uses", "").startswith(
        "actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ needs.pin.outputs.commit }}"
    dist = run_text(release, "dist")
    assert "--require-hashes --requirement requirements-build.lock" in dist
    assert "python -m build --no-isolation" in dist
    assert "scripts/check_dist.py --dist dist" in dist


def test_release_publishes_to_pypi_by_trusted_publishing_only() -> None:
    release = load_yaml(RELEASE)
    job = release["jobs"]["pypi"]
    assert job["permissions"] == {"id-token": "write"}
    assert job["environment"]["name"] == "pypi"
    publish = next(s for s in job["steps"] if "pypi-publish" in s.get("uses", ""))
    assert not publish.get("with"), "no password or token: PyPI trusts the workflow's OIDC token"
    assert "secrets." not in str(job)


def test_release_notes_carry_the_digests() -> None:
    release = load_yaml(RELEASE)
    job = release["jobs"]["github-release"]
    assert set(job["needs"]) >= {"image", "pin", "pypi"}
    text = run_text(release, "github-release")
    assert "scripts/release.py notes --image-digest \"$DIGEST\" --action-digest \"$ACTION_DIGEST\"" \
        in text
    assert re.search(r"gh release create \"\$TAG\" dist/\* --verify-tag .*--notes-file notes\.md",
                     text)


def test_ci_runs_dot_ci_run_on_pushes_and_pull_requests_as_root_in_debian() -> None:
    ci = load_yaml(CI)
    assert "pull_request" in ci["on"] and ci["on"]["push"]["branches"] == ["main"]
    job = ci["jobs"]["test"]
    assert job["permissions"] == {"contents": "read"}
    # .ci/run installs its own system packages with apt-get when it runs as root: the job
    # gives it a Debian container and no other user, so it installs the same ones here.
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"apt-get install", script) and 'id -u)" = 0' in script
    image = job["container"]["image"]
    dockerfile_base = re.search(r"PYTHON_IMAGE=(python:3\.11-slim)@", (ROOT / "Dockerfile")
                                .read_text()).group(1)
    assert image.startswith(dockerfile_base + "-bookworm")
    assert "--user" not in str(job["container"].get("options", ""))
    runs = [step.get("run", "") for step in job["steps"]]
    assert runs[-1] == "bash .ci/run"
    # What .ci/run expects on the machine rather than installing: git, node 20 and npm.
    assert re.search(r"apt-get install[^\n]*\bgit\b", "\n".join(runs))
    node = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-node@"))
    assert node["with"]["node-version"] == "20"
