"""``mem-sync setup-repo``: scaffold a shared memory repository with CI for one forge.

Safe to run again: a file that already holds what setup-repo would write is left alone, a
file the user changed is skipped (and reported) unless ``--force``, and only setup-repo's own
files are ever committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import click

from memsync import __version__, release
from memsync.atomic import atomic_write_bytes
from memsync.errors import MemSyncError, UsageError
from memsync.publish.git import Identity, is_repository, run_git
from memsync.publish.remote import FORGES
from memsync.render import render_template

PROVIDERS = FORGES

# provider -> (file in memsync/scaffold/ci/, where the forge looks for it in the repository)
CI_TEMPLATES: dict[str, tuple[str, str]] = {
    "github": ("github/merge-memories.yml", ".github/workflows/merge-memories.yml"),
    "gitlab": ("gitlab/gitlab-ci.yml", ".gitlab-ci.yml"),
    "bitbucket": ("bitbucket/bitbucket-pipelines.yml", "bitbucket-pipelines.yml"),
}
# Further workflows a forge keeps in files of their own (GitLab and Bitbucket have one file).
EXTRA_CI_TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    # opt-in: does nothing until the repository variables of `rules sync` are set
    "github": (("github/sync-rules.yml", ".github/workflows/sync-rules.yml"),),
}
KEEP_DIRS = ("contributions", "merged", "profiles")
# `--pages`: how each forge's CI publishes `mem-sync dashboard --static` (memsync/scaffold/pages/)
PAGES_WORKFLOW = ".github/workflows/publish-dashboard.yml"
_BITBUCKET_MAIN_END = "  custom:\n"  # the dashboard step goes last in the main branch's pipeline
COMMIT_MESSAGE = "Set up the shared memory repository (mem-sync setup-repo)"


@dataclass(frozen=True)
class ScaffoldFile:
    path: str  # repository-relative, posix
    content: bytes


@dataclass
class SetupResult:
    initialized: bool = False
    created: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # differ from the scaffold: the user's edits
    refused: list[str] = field(default_factory=list)  # symlinks or directories in the way
    commit: str | None = None


def scaffold_files(provider: str, image: str | None = None, pages: bool = False) -> list[ScaffoldFile]:
    """Everything setup-repo writes for ``provider``, in a stable order.

    ``image`` (a pinned reference) replaces the released image the CI file names by default.
    ``pages`` adds publishing of the static dashboard: a second workflow on GitHub, a
    ``pages`` job on GitLab, a step building the pages as an artifact on Bitbucket.
    """
    if provider not in PROVIDERS:
        raise UsageError(f"unknown provider '{provider}'; use one of: {', '.join(PROVIDERS)}")
    package = resources.files("memsync")
    source, target = CI_TEMPLATES[provider]
    reference = release.chosen_reference(provider, image)
    ci_file = _with_reference(package.joinpath("scaffold", "ci", source).read_text("utf-8"),
                              release.default_reference(provider), reference, source)
    files = [ScaffoldFile(f"{name}/.gitkeep", b"") for name in KEEP_DIRS]
    if pages:
        ci_file, extra = _with_pages(provider, ci_file, reference)
        files.extend(extra)
    files.append(ScaffoldFile(target, ci_file.encode("utf-8")))
    for extra_source, extra_target in EXTRA_CI_TEMPLATES.get(provider, ()):
        text = _with_reference(package.joinpath("scaffold", "ci", extra_source).read_text("utf-8"),
                               release.default_reference(provider), reference, extra_source)
        files.append(ScaffoldFile(extra_target, text.encode("utf-8")))
    files.append(ScaffoldFile(".gitignore", package.joinpath("scaffold", "gitignore").read_bytes()))
    readme = render_template("shared_repo_readme.md.j2", provider=provider, reference=reference,
                             repository=release.published().repository, version=__version__)
    files.append(ScaffoldFile("README.md", readme.encode("utf-8")))
    return files


def _with_reference(text: str, default: str, reference: str, source: str) -> str:
    try:
        return release.replace_reference(text, default, reference)
    except ValueError as error:
        raise MemSyncError(f"the packaged template {source} {error}; reinstall mem-sync") from None


def _with_pages(provider: str, ci_file: str, reference: str) -> tuple[str, list[ScaffoldFile]]:
    """The CI file with the dashboard's publishing, and any file it needs beside it.

    The fragments name what they run by placeholder, filled here: the image the merge job
    runs (GitLab; Bitbucket's step inherits the file's image) or this mem-sync version from
    PyPI (GitHub's runner, whose workspace a non-root image could not write).
    """
    fragments = resources.files("memsync").joinpath("scaffold", "pages")
    if provider == "github":
        workflow = fragments.joinpath("github-publish-dashboard.yml").read_text("utf-8")
        filled = _fill(workflow, "@MEM_SYNC_VERSION@", __version__).encode("utf-8")
        return ci_file, [ScaffoldFile(PAGES_WORKFLOW, filled)]
    if provider == "gitlab":
        job = fragments.joinpath("gitlab-pages-job.yml").read_text("utf-8")
        return ci_file + _fill(job, "@MEM_SYNC_IMAGE@", reference), []
    step = fragments.joinpath("bitbucket-dashboard-step.yml").read_text("utf-8")
    head, marker, tail = ci_file.partition(_BITBUCKET_MAIN_END)
    if not marker:
        raise MemSyncError("the packaged Bitbucket template has no `custom:` pipelines to place the "
                           "dashboard step before; reinstall mem-sync")
    return head + step + marker + tail, []


def _fill(text: str, placeholder: str, value: str) -> str:
    if text.count(placeholder) != 1:
        raise MemSyncError(f"a packaged dashboard CI fragment does not name {placeholder} once; reinstall mem-sync")
    return text.replace(placeholder, value)


def setup_repository(directory: Path, provider: str, *, force: bool = False,
                     image: str | None = None, pages: bool = False) -> SetupResult:
    """Create or complete the shared repository at ``directory`` and commit setup-repo's files."""
    files = scaffold_files(provider, image, pages)
    directory = directory.resolve()
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory; pick another path")
    directory.mkdir(parents=True, exist_ok=True)
    result = SetupResult()
    if is_repository(directory):
        top = Path(run_git(["rev-parse", "--show-toplevel"], directory).stdout.strip()).resolve()
        if top != directory:
            raise UsageError(
                f"{directory} is inside the git repository {top}; CI files only work at a "
                f"repository's top level, so run setup-repo on {top} or on a new directory"
            )
    else:
        run_git(["init", "--quiet", "--initial-branch=main"], directory)
        result.initialized = True

    for item in files:
        _place(directory, item, force=force, result=result)
    result.commit = _commit_own_files(directory, result)
    return result


def _place(root: Path, item: ScaffoldFile, *, force: bool, result: SetupResult) -> None:
    target = root / item.path
    # A symlink anywhere on the way could send the write outside the repository.
    for part in [*reversed(target.relative_to(root).parents), Path(item.path)]:
        candidate = root / part
        if part != Path(".") and candidate.is_symlink():
            result.refused.append(item.path)
            return
    if target.is_dir():
        result.refused.append(item.path)
        return
    if target.exists():
        if target.read_bytes() == item.content:
            result.unchanged.append(item.path)
            return
        if not force:
            result.skipped.append(item.path)
            return
        atomic_write_bytes(target, item.content)
        result.overwritten.append(item.path)
        return
    atomic_write_bytes(target, item.content)
    result.created.append(item.path)


def _commit_own_files(root: Path, result: SetupResult) -> str | None:
    # Only files that now hold the scaffold's bytes; a skipped file holds the user's work.
    ours = [*result.created, *result.overwritten, *result.unchanged]
    if not ours:
        return None
    status = run_git(["status", "--porcelain", "--untracked-files=all", "--", *ours], root)
    if not status.stdout.strip():
        return None
    run_git(["add", "--", *ours], root)
    # A pathspec commit leaves anything the user had staged out of setup-repo's commit.
    run_git([*_identity_args(root), "commit", "--quiet", "-m", COMMIT_MESSAGE, "--", *ours], root)
    return run_git(["rev-parse", "HEAD"], root).stdout.strip()


def _identity_args(root: Path) -> list[str]:
    """Commit as the user when git knows who they are, else as the mem-sync bot."""
    fallback = Identity()
    args: list[str] = []
    for key, value in (("user.name", fallback.name), ("user.email", fallback.email)):
        if run_git(["config", key], root, check=False).returncode != 0:
            args += ["-c", f"{key}={value}"]
    return args


@click.command("setup-repo")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--provider", type=click.Choice(PROVIDERS), required=True,
              help="Forge whose CI runs the merge job.")
@click.option("--force", is_flag=True,
              help="Overwrite scaffold files you changed (they are skipped otherwise).")
@click.option("--image", metavar="REF",
              help="Run this image (pinned by tag or digest, e.g. a copy in your own registry) "
                   "instead of this mem-sync version's released image.")
@click.option("--pages", is_flag=True,
              help="Also publish the dashboard's static pages from CI (GitHub/GitLab Pages; "
                   "a build artifact on Bitbucket). Restrict who can see them: they show your memories.")
def setup_repo(directory: Path, provider: str, force: bool, image: str | None, pages: bool) -> int:
    """Scaffold a shared memory repository in DIRECTORY with CI for your forge."""
    try:
        result = setup_repository(directory, provider, force=force, image=image, pages=pages)
    except OSError as error:
        raise MemSyncError(f"cannot write the repository at {directory}: {error.strerror}; "
                           f"check the path and its permissions") from None
    if result.initialized:
        click.echo(f"initialized a git repository in {directory}")
    for label, paths in (("created", result.created), ("overwrote", result.overwritten),
                         ("unchanged", result.unchanged)):
        for path in paths:
            click.echo(f"{label:>10}  {path}")
    for path in result.skipped:
        click.echo(f"{'skipped':>10}  {path}  (you changed it; --force overwrites it)")
    for path in result.refused:
        click.echo(f"{'refused':>10}  {path}  (a symlink or directory is in the way)")
    if result.commit:
        click.echo(f"committed {result.commit[:12]}: {COMMIT_MESSAGE}")
    else:
        click.echo("nothing to commit")
    target = CI_TEMPLATES[provider][1]
    click.echo(f"{target} runs {release.chosen_reference(provider, image)}")
    click.echo("next: add the secret its README.md names (if any), then push the repository")
    return 0
