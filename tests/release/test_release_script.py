"""scripts/release.py: the release commit that pins images by digest, the tag move, bump, notes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci_support import ROOT, load_yaml, run_tool, tool

SCRIPT = ROOT / "scripts" / "release.py"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
COPIED = ("action.yml", "CHANGELOG.md", "ci-templates", "src", "pyproject.toml", ".claude-plugin")


def version() -> str:
    from memsync import __version__

    return __version__


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def release(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(repo), *args],
                          capture_output=True, text=True, check=False)


@pytest.fixture
def tagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A clone of a bare origin holding this checkout's release files, tagged v<version>."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    seed = tmp_path / "seed"
    seed.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, seed / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, seed / name)
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", ".")
    git(seed, "-c", "user.name=Maintainer", "-c", "user.email=m@example.com",
        "commit", "-q", "-m", "prepare release")
    git(seed, "-c", "user.name=Maintainer", "-c", "user.email=m@example.com",
        "tag", "-a", f"v{version()}", "-m", "release")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    git(work, "checkout", "-q", f"v{version()}")
    return work, origin


def pin(work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return release(work, "pin", "--repository", "Acme/Mem-Sync", "--image-digest", D1,
                   "--action-digest", D2, "--tag", f"v{version()}", "--push", "origin", *extra)


def test_pin_commits_digests_on_the_tag_and_moves_the_tag_with_a_lease(
        tagged: tuple[Path, Path], tmp_path: Path) -> None:
    work, origin = tagged
    tag = f"v{version()}"
    before = git(origin, "rev-parse", f"{tag}^{{commit}}")
    result = pin(work)
    assert result.returncode == 0, result.stderr
    after = git(origin, "rev-parse", f"{tag}^{{commit}}")
    assert after == result.stdout.strip() != before
    assert git(origin, "rev-parse", f"{after}^") == before  # the release commit sits on the tag
    assert git(origin, "cat-file", "-t", f"refs/tags/{tag}") == "tag"  # still annotated
    assert set(git(origin, "diff", "--name-only", before, after).split()) == {
        "action.yml", "src/memsync/release/published.json",
        "ci-templates/github/merge-memories.yml", "ci-templates/gitlab/.gitlab-ci.yml",
        "ci-templates/bitbucket/bitbucket-pipelines.yml",
        "src/memsync/scaffold/ci/github/merge-memories.yml",
        "src/memsync/scaffold/ci/gitlab/gitlab-ci.yml",
        "src/memsync/scaffold/ci/bitbucket/bitbucket-pipelines.yml"}
    # What a user gets at that tag: the Action runs the pushed image by digest...
    released = tmp_path / "released"
    git(tmp_path, "clone", "-q", "--branch", tag, str(origin), str(released))
    action = load_yaml(released / "action.yml")
    assert action["runs"]["image"] == f"docker://ghcr.io/acme/mem-sync-action@{D2}"
    check = run_tool([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions",
                      str(released / "action.yml")])
    assert check.returncode == 0, check.stdout
    # ...the templates name the CI image by digest and the Action by this release's tag...
    gitlab = load_yaml(released / "ci-templates/gitlab/.gitlab-ci.yml")
    assert gitlab["merge-memories"]["image"]["name"] == f"ghcr.io/acme/mem-sync@{D1}"
    assert load_yaml(released / "ci-templates/bitbucket/bitbucket-pipelines.yml")["image"] == \
        f"ghcr.io/acme/mem-sync@{D1}"
    steps = load_yaml(released / "ci-templates/github/merge-memories.yml")["jobs"]["merge"]["steps"]
    assert f"Acme/Mem-Sync@{tag}" in [step.get("uses") for step in steps]
    # ...and the package built from it (what PyPI gets) scaffolds by digest with no edit.
    env = {**os.environ, "PYTHONPATH": str(released / "src")}
    scaffold = subprocess.run([sys.executable, "-c", "import sys; from memsync.cli import main; "
                               "sys.exit(main())", "setup-repo",
                               str(tmp_path / "team"), "--provider", "bitbucket"],
                              capture_output=True, text=True, check=False, env=env)
    assert scaffold.returncode == 0, scaffold.stderr
    assert load_yaml(tmp_path / "team" / "bitbucket-pipelines.yml")["image"] == \
        f"ghcr.io/acme/mem-sync@{D1}"


def test_the_lease_refuses_to_move_a_tag_that_moved_meanwhile(
        tagged: tuple[Path, Path], tmp_path: Path) -> None:
    work, origin = tagged
    tag = f"v{version()}"
    before = git(origin, "rev-parse", f"{tag}^{{commit}}")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    (other / "extra.txt").write_text("someone else\n")
    git(other, "add", "extra.txt")
    git(other, "-c", "user.name=O", "-c", "user.email=o@example.com", "commit", "-q", "-m", "x")
    git(other, "tag", "-f", tag)
    git(other, "push", "-q", "--force", "origin", f"refs/tags/{tag}")
    moved = git(origin, "rev-parse", f"{tag}^{{commit}}")
    result = pin(work)
    assert result.returncode == 1
    assert result.stderr.startswith(f"release: origin refused to move {tag}: either the tag "
                                    f"no longer names {before[:12]}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert git(origin, "rev-parse", f"{tag}^{{commit}}") == moved


@pytest.mark.parametrize(("args", "message"), [
    (["--image-digest", "sha256:abc"], "--image-digest 'sha256:abc' is not an image digest"),
    (["--repository", "not a repo"], "--repository 'not a repo' is not OWNER/NAME"),
    (["--tag", "v9.9.9"], "the tag v9.9.9 does not match the package version"),
])
def test_pin_refuses_bad_input_in_one_line_and_changes_nothing(
        tagged: tuple[Path, Path], args: list[str], message: str) -> None:
    work, origin = tagged
    before = git(origin, "rev-parse", f"refs/tags/v{version()}")
    base = {"--repository": "Acme/Mem-Sync", "--image-digest": D1, "--action-digest": D2,
            "--tag": f"v{version()}"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    flat = [part for pair in base.items() for part in pair]
    result = release(work, "pin", *flat, "--push", "origin")
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert git(work, "status", "--porcelain") == ""
    assert git(origin, "rev-parse", f"refs/tags/v{version()}") == before


def test_pin_refuses_a_checkout_that_is_not_the_tagged_commit(tagged: tuple[Path, Path]) -> None:
    work, _ = tagged
    (work / "CHANGELOG.md").write_text((work / "CHANGELOG.md").read_text() + "\n")
    git(work, "-c", "user.name=M", "-c", "user.email=m@e.com", "commit", "-qam", "later")
    result = pin(work)
    assert result.returncode == 1
    assert "HEAD is not the commit" in result.stderr


def test_a_second_pin_is_refused(tagged: tuple[Path, Path]) -> None:
    work, _ = tagged
    assert pin(work).returncode == 0
    again = release(work, "pin", "--repository", "Acme/Mem-Sync", "--image-digest", D1,
                    "--action-digest", D2)
    assert again.returncode == 1
    assert "already names a release" in again.stderr


def test_bump_moves_version_templates_and_changelog_together(tagged: tuple[Path, Path]) -> None:
    work, _ = tagged
    major, minor, _patch = version().split(".")
    new = f"{major}.{int(minor) + 1}.0"
    result = release(work, "bump", new)
    assert result.returncode == 0, result.stderr
    assert f'__version__ = "{new}"' in (work / "src/memsync/__init__.py").read_text()
    plugin = json.loads((work / ".claude-plugin/plugin.json").read_text())
    (entry,) = json.loads((work / ".claude-plugin/marketplace.json").read_text())["plugins"]
    assert plugin["version"] == entry["version"] == new
    changelog = (work / "CHANGELOG.md").read_text()
    assert f"## [Unreleased]\n\n## [{new}] - {dt.date.today().isoformat()}\n" in changelog
    assert f"[{new}]: https://github.com/mem-sync/mem-sync/releases/tag/v{new}" in changelog
    assert f"uses: mem-sync/mem-sync@v{new}" in (
        work / "ci-templates/github/merge-memories.yml").read_text()
    for name in ("ci-templates/gitlab/.gitlab-ci.yml", "src/memsync/scaffold/ci/gitlab/gitlab-ci.yml"):
        assert f"ghcr.io/mem-sync/mem-sync:{new}" in (work / name).read_text()
    check = release(work, "check-tag", f"v{new}")
    assert check.returncode == 0 and check.stdout.strip() == new


def test_check_tag_wants_a_dated_changelog_section(tagged: tuple[Path, Path]) -> None:
    work, _ = tagged
    changelog = work / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(f"## [{version()}] -", "## [0.0.0] -"))
    result = release(work, "check-tag", f"v{version()}")
    assert result.returncode == 1
    assert f"CHANGELOG.md has no '## [{version()}] - YYYY-MM-DD' section" in result.stderr


def test_release_notes_carry_the_changes_digests_and_how_to_verify() -> None:
    result = release(ROOT, "notes", "--image-digest", D1, "--action-digest", D2)
    assert result.returncode == 0, result.stderr
    notes = result.stdout
    assert f"ghcr.io/mem-sync/mem-sync@{D1}" in notes
    assert f"ghcr.io/mem-sync/mem-sync-action@{D2}" in notes
    assert "cosign verify" in notes and "--certificate-oidc-issuer" in notes
    assert "### Added" in notes and "{{" not in notes.replace("{{ json", "")


def test_one_version_source_and_a_changelog_section_for_it() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "memsync.__version__"}
    # main is always releasable as tagged: `check-tag v<version>` is the workflow's first step.
    result = release(ROOT, "check-tag", f"v{version()}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == version()
