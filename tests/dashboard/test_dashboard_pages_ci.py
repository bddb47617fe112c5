"""`setup-repo --pages`: each forge's CI gains a valid step that publishes the static dashboard."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ci.ci_support import load_yaml, run_tool, tool
from dashboard.world import World
from memsync import __version__
from memsync.release import default_reference

SCHEMA = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci",
          "bitbucket": "vendor.bitbucket-pipelines"}
CI_FILE = {"github": ".github/workflows/publish-dashboard.yml", "gitlab": ".gitlab-ci.yml",
           "bitbucket": "bitbucket-pipelines.yml"}


def setup_repo(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(directory.parent), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "memsync", "setup-repo", str(directory), *args],
                          capture_output=True, text=True, check=False, env={**env, **_pythonpath()})


def _pythonpath() -> dict[str, str]:
    import os

    return {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}


@pytest.mark.parametrize("provider", sorted(SCHEMA))
def test_pages_step_is_valid_for_the_forge(provider: str, tmp_path: Path):
    repo = tmp_path / "team"
    result = setup_repo(repo, "--provider", provider, "--pages")
    assert result.returncode == 0, result.stderr
    ci = repo / CI_FILE[provider]
    check = run_tool([tool("check-jsonschema"), "--builtin-schema", SCHEMA[provider], str(ci)])
    assert check.returncode == 0, check.stdout + check.stderr
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert CI_FILE[provider] in tracked.split()


def test_github_pages_workflow_passes_actionlint_and_deploys_the_build(tmp_path: Path):
    repo = tmp_path / "team"
    assert setup_repo(repo, "--provider", "github", "--pages").returncode == 0
    workflow = repo / CI_FILE["github"]
    lint = run_tool([tool("actionlint"), "-shellcheck", tool("shellcheck"), "-no-color", str(workflow)])
    assert lint.returncode == 0, lint.stdout + lint.stderr
    doc = load_yaml(workflow)
    build = doc["jobs"]["build"]["steps"]
    install = next(s for s in build if s.get("name") == "Install mem-sync")
    assert install["run"] == f'python -m pip install "mem-sync=={__version__}"'  # the release that wrote it
    step = next(s for s in build if s.get("name") == "Build the static dashboard")
    assert step["run"] == "mem-sync dashboard --static _site --repo-dir ."
    assert next(s for s in build if "upload-pages-artifact" in s.get("uses", ""))["with"]["path"] == "_site"
    assert doc["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert doc["on"]["workflow_run"]["workflows"] == ["Merge memories"]  # the bot's pushes start nothing
    merge = load_yaml(repo / ".github/workflows/merge-memories.yml")
    assert merge["name"] == "Merge memories"


def test_pages_job_follows_image(tmp_path: Path):
    repo = tmp_path / "team"
    mirror = "registry.example.com/team/mem-sync:" + __version__
    assert setup_repo(repo, "--provider", "gitlab", "--pages", "--image", mirror).returncode == 0
    assert gitlab_pages_job(repo)["image"]["name"] == mirror
    assert load_yaml(repo / ".gitlab-ci.yml")["merge-memories"]["image"]["name"] == mirror


def test_without_pages_nothing_is_published(tmp_path: Path):
    for provider in SCHEMA:
        repo = tmp_path / provider
        assert setup_repo(repo, "--provider", provider).returncode == 0
        assert not (repo / ".github/workflows/publish-dashboard.yml").exists()
        for name in (".gitlab-ci.yml", "bitbucket-pipelines.yml"):
            if (repo / name).exists():
                assert "dashboard" not in (repo / name).read_text()


def gitlab_pages_job(repo: Path) -> dict:
    return load_yaml(repo / ".gitlab-ci.yml")["pages"]


def bitbucket_dashboard_step(repo: Path) -> dict:
    main = load_yaml(repo / "bitbucket-pipelines.yml")["pipelines"]["branches"]["main"]
    [step] = [item["step"] for item in main if item["step"].get("name") == "Build the dashboard"]
    assert main[0]["step"]["name"] == "Merge memories"  # the pages are built from what the merge wrote
    return step


@pytest.mark.claude_mem
@pytest.mark.parametrize("provider", ["gitlab", "bitbucket"])
def test_the_job_script_builds_the_site_its_artifact_names(provider: str, tmp_path: Path, world: World):
    ci_repo = tmp_path / "team"
    assert setup_repo(ci_repo, "--provider", provider, "--pages").returncode == 0
    if provider == "gitlab":
        job = gitlab_pages_job(ci_repo)
        assert job["stage"] == ".post" and job["artifacts"]["paths"] == ["public"]
        assert job["image"]["name"] == default_reference("gitlab")  # the merge job's image
        script, artifact = job["script"], "public"
    else:
        step = bitbucket_dashboard_step(ci_repo)
        assert step["artifacts"] == ["site/**"]
        script, artifact = step["script"], "site"
    for line in script:  # run the job's own lines in a checkout of the shared repository
        argv = shlex.split(line)
        assert argv[0] == "mem-sync"
        done = subprocess.run([sys.executable, "-m", "memsync", *argv[1:]], cwd=world.repo,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    assert (world.repo / artifact / "index.html").is_file()
    assert (world.repo / artifact / "static" / "chart.umd.min.js").is_file()
