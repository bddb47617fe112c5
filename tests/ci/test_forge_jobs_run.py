"""The GitLab job and the Bitbucket step, executed for real on a fixture repository.

GitLab: the template runs under gitlab-ci-local (pinned, installed once under the cache) with
its shell executor, so rules, variables and `script:` are GitLab's own interpretation.
Bitbucket has no local runner: the step's script lines (anchors resolved) run one by one in a
clean clone with the BITBUCKET_* variables its runner sets, stopping at the first failure
as Bitbucket does. Both publish with `push` to a local bare "origin".
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ci_support import BITBUCKET_PIPELINES, GITLAB_CI, gitlab_ci_local, load_yaml

from builders import observation, read_json, write_contribution
from fakes.git_http import GitHttpServer

FAKE_REMOTE = "https://gitlab.example.com/team/memory.git"
NOW = "1774000000"
JOB_TOKEN = "job-token-read-only"
PROJECT_TOKEN = "glpat-Pr0jectAccessT0ken"
BASIC_PROJECT = "Basic " + base64.b64encode(f"oauth2:{PROJECT_TOKEN}".encode()).decode()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path))


def shared_repo_with_origin(tmp_path: Path, ci_file: str, ci_source: Path) -> tuple[Path, Path]:
    """A clone whose first commit (CI file only) and second (contributions) are on origin."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    repo = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(origin), str(repo)], check=True,
                   capture_output=True)
    git(repo, "config", "user.name", "Dev")
    git(repo, "config", "user.email", "dev@example.com")
    shutil.copy(ci_source, repo / ci_file)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "CI")
    git(repo, "push", "-q", "origin", "HEAD:main")
    write_contribution(repo, [observation("Use orjson"), observation("Retry", session="s2")],
                       dev="alice")
    write_contribution(repo, [observation("Cache", session="s3", type="bugfix")], dev="bob")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "contributions")
    git(repo, "push", "-q", "origin", "HEAD:main")
    return repo, origin


def assert_origin_has_the_merge(origin: Path, tmp_path: Path) -> None:
    check = tmp_path / "verify"
    subprocess.run(["git", "clone", "-q", str(origin), str(check)], check=True,
                   capture_output=True)
    merged = read_json(check / "merged" / "demo" / "latest.json")
    assert sorted(o["title"] for o in merged["observations"]) == ["Cache", "Retry", "Use orjson"]
    assert (check / ".merge-state.json").is_file()
    assert git(check, "log", "-1", "--format=%s") != "contributions"


# ---- GitLab --------------------------------------------------------------------------------

def run_gitlab(repo: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # gitlab-ci-local derives CI_PROJECT_PATH from an https/ssh origin URL, so origin looks
    # like GitLab; inside the job, git rewrites that URL to the local bare repository.
    return subprocess.run(
        [gitlab_ci_local(), "--home", str(tmp_path / "glcl-home"), "--force-shell-executor",
         "--variable", "MEM_SYNC_PUBLISH=push", "--variable", f"SOURCE_DATE_EPOCH={NOW}",
         "--variable", "GIT_CONFIG_COUNT=1",
         "--variable", f"GIT_CONFIG_KEY_0=url.{tmp_path / 'origin.git'}.insteadOf",
         "--variable", f"GIT_CONFIG_VALUE_0={FAKE_REMOTE}", *args],
        cwd=repo, capture_output=True, text=True, check=False, timeout=300,
    )


def gitlab_fixture(tmp_path: Path) -> tuple[Path, Path]:
    repo, origin = shared_repo_with_origin(tmp_path, ".gitlab-ci.yml", GITLAB_CI)
    git(repo, "remote", "set-url", "origin", FAKE_REMOTE)
    # What GitLab compares `changes:` against for this push: the tip before it.
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD~1")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    return repo, origin


def test_gitlab_job_merges_and_pushes_when_contributions_change(
        tmp_path: Path, isolated_git: None) -> None:
    repo, origin = gitlab_fixture(tmp_path)
    result = run_gitlab(repo, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "merge-memories" in result.stdout and "PASS" in result.stdout
    assert_origin_has_the_merge(origin, tmp_path)


def test_gitlab_job_is_not_scheduled_without_contribution_changes(
        tmp_path: Path, isolated_git: None) -> None:
    repo, _ = gitlab_fixture(tmp_path)
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    (repo / "NOTES.md").write_text("just notes\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "notes")
    listed = run_gitlab(repo, tmp_path, "--list-json")
    assert listed.returncode == 0, listed.stderr
    jobs = {job["name"]: job for job in json.loads(listed.stdout[listed.stdout.index("["):])}
    assert jobs["merge-memories"]["when"] == "never"


# ---- Bitbucket -----------------------------------------------------------------------------

def bitbucket_step_script(pipeline: str) -> list[str]:
    doc = load_yaml(BITBUCKET_PIPELINES)
    if pipeline == "branch":
        return list(doc["pipelines"]["branches"]["main"][0]["step"]["script"])
    return list(doc["pipelines"]["custom"]["merge-memories"][0]["step"]["script"])


@pytest.mark.parametrize("pipeline", ["branch", "custom"])
def test_bitbucket_step_script_merges_and_pushes(pipeline: str, tmp_path: Path,
                                                 isolated_git: None) -> None:
    _, origin = shared_repo_with_origin(tmp_path, "bitbucket-pipelines.yml", BITBUCKET_PIPELINES)
    clone = tmp_path / "build"  # Bitbucket clones afresh into BITBUCKET_CLONE_DIR
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(origin), str(clone)],
                   check=True, capture_output=True)
    env = dict(os.environ)
    env.update({
        "CI": "true", "BITBUCKET_BRANCH": "main", "BITBUCKET_CLONE_DIR": str(clone),
        "BITBUCKET_COMMIT": git(clone, "rev-parse", "HEAD").strip(),
        "BITBUCKET_BUILD_NUMBER": "42", "BITBUCKET_WORKSPACE": "team",
        "BITBUCKET_REPO_SLUG": "memory", "BITBUCKET_REPO_FULL_NAME": "team/memory",
        "MEM_SYNC_PUBLISH": "push", "SOURCE_DATE_EPOCH": NOW,
    })
    for line in bitbucket_step_script(pipeline):
        result = subprocess.run(["bash", "-e", "-c", line], cwd=clone, env=env,
                                capture_output=True, text=True, check=False, timeout=300)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    assert_origin_has_the_merge(origin, tmp_path)


def test_gitlab_job_pushes_with_the_project_access_token_not_the_job_token(
        tmp_path: Path, isolated_git: None) -> None:
    """GitLab's checkout carries CI_JOB_TOKEN in origin's URL, and that token cannot push."""
    server = GitHttpServer(tmp_path / "git-root").start()
    try:
        bare = server.create_bare("team/memory.git")
        repo, _ = shared_repo_with_origin(tmp_path, ".gitlab-ci.yml", GITLAB_CI)
        git(repo, "push", "-q", server.url("team/memory.git"), "HEAD:main")
        host = server.base_url.removeprefix("http://")
        git(repo, "remote", "set-url", "origin",
            f"http://gitlab-ci-token:{JOB_TOKEN}@{host}/team/memory.git")
        git(repo, "update-ref", "refs/remotes/origin/main", "HEAD~1")
        git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
        server.credentials = ("oauth2", PROJECT_TOKEN)
        setup_requests = len(server.requests)

        result = subprocess.run(
            [gitlab_ci_local(), "--home", str(tmp_path / "glcl-home"), "--force-shell-executor",
             "--variable", "MEM_SYNC_PUBLISH=push", "--variable", f"SOURCE_DATE_EPOCH={NOW}",
             "--variable", f"GITLAB_TOKEN={PROJECT_TOKEN}"],
            cwd=repo, capture_output=True, text=True, check=False, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert PROJECT_TOKEN not in result.stdout + result.stderr
        pushes = [r for r in server.requests[setup_requests:]
                  if r.method == "POST" and r.path.endswith("/git-receive-pack")]
        assert pushes and all(r.authorization == BASIC_PROJECT for r in pushes)
        assert_origin_has_the_merge(bare, tmp_path)
    finally:
        server.stop()


def test_bitbucket_pipeline_merges_then_distills_into_one_review_pull_request(
        tmp_path: Path, isolated_git: None) -> None:
    from fakes.forge import FakeForge
    from fakes.llm import FakeLLM

    _, origin = shared_repo_with_origin(tmp_path, "bitbucket-pipelines.yml", BITBUCKET_PIPELINES)
    build = tmp_path / "build"
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(origin), str(build)],
                   check=True, capture_output=True)
    forge, llm = FakeForge().start(), FakeLLM().start()
    try:
        env = dict(os.environ)
        env.update({
            "CI": "true", "BITBUCKET_BRANCH": "main", "BITBUCKET_CLONE_DIR": str(build),
            "BITBUCKET_COMMIT": git(build, "rev-parse", "HEAD").strip(),
            "BITBUCKET_WORKSPACE": "team", "BITBUCKET_REPO_SLUG": "memory",
            "BITBUCKET_REPO_FULL_NAME": "team/memory", "SOURCE_DATE_EPOCH": NOW,
            "MEM_SYNC_PUBLISH": "push", "BITBUCKET_ACCESS_TOKEN": "good-token",
            "MEM_SYNC_BITBUCKET_API_URL": forge.base_url,
            # the repository variables a team sets to turn distillation on
            "MEM_SYNC_DISTILL": "true", "MEM_SYNC_DISTILL_BASE_URL": llm.base_url,
            "ANTHROPIC_API_KEY": "test-key", "MEM_SYNC_DISTILL_MIN_OBSERVATIONS": "1",
            "MEM_SYNC_DISTILL_REVIEWERS": "{reviewer-uuid}",
        })
        steps = [entry for entry in load_yaml(BITBUCKET_PIPELINES)["pipelines"]["branches"]["main"]
                 if entry["step"]["name"] in ("Merge memories", "Distill rules for review")]
        assert len(steps) == 2
        for entry in steps:  # the merge step, then the distill step, in one clone as a rerun
            for line in entry["step"]["script"]:
                result = subprocess.run(["bash", "-e", "-c", line], cwd=build, env=env,
                                        capture_output=True, text=True, check=False, timeout=300)
                assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        (pr,) = forge.open_prs("cloud")
        assert pr["head"] == "mem-sync/distill" and pr["base"] == "main"
        assert len(llm.requests) == 1
        check = tmp_path / "verify"
        subprocess.run(["git", "clone", "-q", str(origin), str(check)], check=True,
                       capture_output=True)
        assert (check / "merged" / "demo" / "latest.json").is_file()
        assert not (check / "distilled").exists()  # main gets the rules only if a human merges
        git(check, "checkout", "-q", "mem-sync/distill")
        assert (check / "distilled" / "demo" / "rules.json").is_file()

        off = dict(env, MEM_SYNC_DISTILL="false")
        gate = steps[1]["step"]["script"][0]
        result = subprocess.run(["bash", "-e", "-c", gate + "\nexit 3"], cwd=build, env=off,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0 and "distillation is off" in result.stdout
    finally:
        forge.stop()
        llm.stop()


def test_gitlab_distill_job_runs_only_when_the_team_opts_in(
        tmp_path: Path, isolated_git: None) -> None:
    repo, _ = gitlab_fixture(tmp_path)

    def jobs(*args: str) -> dict[str, dict]:
        listed = run_gitlab(repo, tmp_path, "--list-json", *args)
        assert listed.returncode == 0, listed.stderr
        return {job["name"]: job for job in json.loads(listed.stdout[listed.stdout.index("["):])}

    assert jobs()["distill-memories"]["when"] == "never"
    opted_in = jobs("--variable", "MEM_SYNC_DISTILL=true")["distill-memories"]
    assert opted_in["when"] != "never" and opted_in["stage"] == "distill"
