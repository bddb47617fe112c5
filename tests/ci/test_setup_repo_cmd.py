"""`mem-sync setup-repo`: scaffolding, first commit, idempotence, and respect for the user's edits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from ci_support import TEMPLATES, load_yaml, run_tool, tool

PLACES = {
    "github": (".github/workflows/merge-memories.yml", TEMPLATES / "github" / "merge-memories.yml"),
    "gitlab": (".gitlab-ci.yml", TEMPLATES / "gitlab" / ".gitlab-ci.yml"),
    "bitbucket": ("bitbucket-pipelines.yml", TEMPLATES / "bitbucket" / "bitbucket-pipelines.yml"),
}
BASE_FILES = {"contributions/.gitkeep", "merged/.gitkeep", "profiles/.gitkeep", ".gitignore",
              "README.md"}
# Workflows GitHub keeps in files of their own (the opt-in rules sync).
EXTRA_FILES = {"github": {".github/workflows/sync-rules.yml"}}


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # No user identity anywhere: setup-repo must still manage its first commit.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                 "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def setup_repo(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mem-sync", "setup-repo", str(directory), *args],
                          capture_output=True, text=True, check=False)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def tracked(repo: Path) -> set[str]:
    return set(git(repo, "ls-files").split())


@pytest.mark.parametrize("provider", sorted(PLACES))
def test_new_directory_gets_layout_ci_file_and_a_first_commit(
        provider: str, tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "team-memory"
    result = setup_repo(repo, "--provider", provider)
    assert result.returncode == 0, result.stderr
    ci_path, template = PLACES[provider]
    assert tracked(repo) == BASE_FILES | {ci_path} | EXTRA_FILES.get(provider, set())
    assert (repo / ci_path).read_bytes() == template.read_bytes()
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(repo, "log", "--format=%an").strip() == "mem-sync[bot]"
    readme = (repo / "README.md").read_text()
    assert ci_path.rsplit("/", 1)[-1] in readme
    other_files = {p for name, (p, _) in PLACES.items() if name != provider}
    assert not any((repo / p).exists() for p in other_files)


def test_second_run_changes_nothing_and_commits_nothing(tmp_path: Path,
                                                        git_env: dict[str, str]) -> None:
    repo = tmp_path / "r"
    setup_repo(repo, "--provider", "github")
    head = git(repo, "rev-parse", "HEAD")
    result = setup_repo(repo, "--provider", "github")
    assert result.returncode == 0
    assert git(repo, "rev-parse", "HEAD") == head
    assert "nothing to commit" in result.stdout
    assert result.stdout.count("unchanged") == len(BASE_FILES) + 1 + len(EXTRA_FILES["github"])


def test_user_edits_are_skipped_and_reported_then_overwritten_with_force(
        tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "r"
    setup_repo(repo, "--provider", "gitlab")
    (repo / ".gitlab-ci.yml").write_text("# our own pipeline\n")
    result = setup_repo(repo, "--provider", "gitlab")
    assert result.returncode == 0
    assert "skipped" in result.stdout and ".gitlab-ci.yml" in result.stdout
    assert "--force" in result.stdout
    assert (repo / ".gitlab-ci.yml").read_text() == "# our own pipeline\n"

    forced = setup_repo(repo, "--provider", "gitlab", "--force")
    assert forced.returncode == 0
    assert (repo / ".gitlab-ci.yml").read_bytes() == PLACES["gitlab"][1].read_bytes()
    assert "overwrote" in forced.stdout


def test_existing_repository_keeps_its_history_and_the_users_staged_work(
        tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "existing"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "trunk")
    git(repo, "config", "user.name", "Dana")
    git(repo, "config", "user.email", "dana@example.com")
    (repo / "notes.txt").write_text("v1\n")
    (repo / "README.md").write_text("# Our memory repo\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "start")
    (repo / "notes.txt").write_text("v2, staged but not ready\n")
    git(repo, "add", "notes.txt")

    result = setup_repo(repo, "--provider", "bitbucket")
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stdout and "README.md" in result.stdout
    assert (repo / "README.md").read_text() == "# Our memory repo\n"
    assert git(repo, "log", "--format=%s").splitlines()[1] == "start"
    assert git(repo, "log", "-1", "--format=%an").strip() == "Dana"
    committed = set(git(repo, "show", "--name-only", "--format=", "HEAD").split())
    assert committed == (BASE_FILES - {"README.md"}) | {"bitbucket-pipelines.yml"}
    # The user's staged change is still staged, not swept into setup-repo's commit.
    assert git(repo, "diff", "--cached", "--name-only").split() == ["notes.txt"]


def test_a_subdirectory_of_another_repository_is_refused(tmp_path: Path,
                                                         git_env: dict[str, str]) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q")
    result = setup_repo(outer / "memories", "--provider", "github")
    assert result.returncode == 2
    assert "top level" in result.stderr and "Traceback" not in result.stderr
    assert not (outer / "memories" / ".github").exists()


def test_a_symlink_in_the_way_is_refused_never_followed(tmp_path: Path,
                                                        git_env: dict[str, str]) -> None:
    repo = tmp_path / "r"
    outside = tmp_path / "outside"
    outside.mkdir()
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".github").symlink_to(outside, target_is_directory=True)
    result = setup_repo(repo, "--provider", "github")
    assert result.returncode == 0
    assert "refused" in result.stdout
    assert list(outside.iterdir()) == []


def test_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    result = setup_repo(tmp_path / "r", "--provider", "sourcehut")
    assert result.returncode == 2
    assert not (tmp_path / "r").exists()


def test_scaffolded_ci_file_is_the_valid_template(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "r"
    setup_repo(repo, "--provider", "github")
    workflow = load_yaml(repo / ".github/workflows/merge-memories.yml")
    assert workflow["on"]["push"]["paths"] == ["contributions/**", "retractions/**", "MAINTAINERS",
                                               "merged/**"]
    assert workflow["jobs"]["distill"]["needs"] == "merge"  # the opt-in distill job ships too


def version() -> str:
    from memsync import __version__

    return __version__


@pytest.mark.parametrize("provider", sorted(PLACES))
def test_scaffold_names_this_versions_release_and_no_placeholder(
        provider: str, tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "r"
    result = setup_repo(repo, "--provider", provider)
    assert result.returncode == 0, result.stderr
    ci_path = PLACES[provider][0]
    text = (repo / ci_path).read_text()
    for path in [ci_path, "README.md"]:
        body = (repo / path).read_text()
        assert "your-org" not in body and "your_org" not in body, path
    from memsync.release import published

    images = published()
    if provider == "github":
        expected = f"uses: {images.repository}@v{version()}"
    elif images.version == version() and images.digest:  # a release commit: by digest
        expected = f"{images.image}@{images.digest}"
    else:
        expected = f"{images.image}:{version()}"
    assert expected in text
    assert expected.removeprefix("uses: ") in result.stdout
    assert expected.removeprefix("uses: ") in (repo / "README.md").read_text()
    assert "your-org" not in result.stdout


IMAGE = "registry.example.com:5000/platform/mem-sync@sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("provider", sorted(PLACES))
def test_image_override_is_written_and_the_file_stays_valid(
        provider: str, tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "r"
    result = setup_repo(repo, "--provider", provider, "--image", IMAGE)
    assert result.returncode == 0, result.stderr
    ci_path = PLACES[provider][0]
    text = (repo / ci_path).read_text()
    assert "ghcr.io" not in text and "mem-sync/mem-sync@" not in text
    doc = load_yaml(repo / ci_path)
    if provider == "github":
        steps = doc["jobs"]["merge"]["steps"]
        assert [s["uses"] for s in steps if s.get("id") == "merge"] == [f"docker://{IMAGE}"]
        lint = run_tool([tool("actionlint"), "-shellcheck", tool("shellcheck"), "-no-color",
                         str(repo / ci_path)])
        assert lint.returncode == 0, lint.stdout
        schema = "vendor.github-workflows"
    elif provider == "gitlab":
        assert doc["merge-memories"]["image"]["name"] == IMAGE
        schema = "vendor.gitlab-ci"
    else:
        assert doc["image"] == IMAGE
        schema = "vendor.bitbucket-pipelines"
    check = run_tool([tool("check-jsonschema"), "--builtin-schema", schema, str(repo / ci_path)])
    assert check.returncode == 0, check.stdout


@pytest.mark.parametrize("bad", ["mem-sync", "ghcr.io/team/mem-sync:latest", "Ghcr.io/X:1",
                                 "ghcr.io/team/mem-sync@sha256:abc", "a b:1"])
def test_an_unpinned_or_malformed_image_is_refused_in_one_line(
        bad: str, tmp_path: Path, git_env: dict[str, str]) -> None:
    result = setup_repo(tmp_path / "r", "--provider", "gitlab", "--image", bad)
    assert result.returncode == 2
    assert "not a pinned image reference" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
