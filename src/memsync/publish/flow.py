"""Publishing a merge: commit and push it, or keep one rolling PR/MR up to date.

Learnt from the PR bots teams trust (peter-evans/create-pull-request, Renovate): one rolling
branch rebuilt from the base on every run and force-pushed under a lease, the open PR/MR
updated in place and never duplicated, closed when the branch no longer differs from the
base, and nothing touched at all when a run changes nothing. A push that loses a race is
retried on the new tip by re-running the merge, so no contribution is ever lost.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from memsync import __version__
from memsync.errors import GitError, PushRejected, UsageError
from memsync.merge.report import MergeReport
from memsync.publish import git
from memsync.publish.git import Identity
from memsync.publish.providers.base import DEFAULT_BACKOFF, PullRequestSpec, sync_pull_request
from memsync.text import shorten

MODES = ("none", "push", "pr")
TITLE_LIMIT = 80
LIST_LIMIT = 50
# Branch variables CI systems set when they check out a detached HEAD.
_CI_BRANCH_VARIABLES = ("GITHUB_REF_NAME", "CI_COMMIT_BRANCH", "BITBUCKET_BRANCH")


@runtime_checkable
class SelfDescribing(Protocol):
    """A report that writes its own commit message and PR/MR text (``rules sync``); a merge
    report is described by :func:`summarize` and the merge templates instead."""

    changed_paths: list[str]
    dry_run: bool

    def commit_message(self) -> str: ...

    def pull_request_text(self, *, branch: str, base: str, kind: str) -> tuple[str, str]: ...


# what publish commits and describes: a merge report, or a report that words its own texts
Publishable = MergeReport | SelfDescribing


@dataclass(frozen=True)
class PublishOptions:
    mode: str = "none"  # none | push | pr
    branch: str = "mem-sync/merge"  # rolling PR branch (pr mode)
    base: str | None = None  # default: the checkout's current branch
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    draft: bool = False
    provider: str = "auto"  # github | gitlab | bitbucket | auto
    remote: str = "origin"
    identity: Identity = Identity()
    max_attempts: int = 3
    token_env: str | None = None  # variable holding the forge token (default per provider)
    # Where tokens and CI variables are read from; None means os.environ.
    env: Mapping[str, str] | None = field(default=None, compare=False)
    # Pauses between retries of transient forge failures (tests pass a recorder).
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    polite: bool = True  # GitHub request pacing; loopback tests turn it off


@dataclass(frozen=True)
class PublishResult:
    mode: str
    operation: str  # none | pushed | unchanged | created | updated | closed
    url: str | None
    commit: str | None
    attempts: int
    # The last merge's report (the one whose result was published), for printing/exit code.
    report: Publishable | None = field(default=None, compare=False, repr=False)


def publish(repo: Path, merge: Callable[[], Publishable],
            options: PublishOptions) -> PublishResult:
    """Run ``merge()`` on the checkout at ``repo`` and publish its result per ``options.mode``."""
    if options.mode not in MODES:
        raise UsageError(f"unknown --publish mode '{options.mode}'; use one of: {', '.join(MODES)}")
    if options.max_attempts < 1:
        raise UsageError("--max-attempts must be at least 1")
    if options.mode == "none":
        return PublishResult("none", "none", None, None, 0, report=merge())
    env = _environment(options)
    safe_env = git.safe_directory_env(repo)
    if not _is_repository(repo, safe_env):
        raise UsageError(f"{repo} is not a git checkout; --publish {options.mode} needs one")
    git_env = _git_credentials(repo, options, env, safe_env)
    _require_clean(repo, git_env)
    base = _resolve_base(repo, options, env, git_env)
    if options.mode == "push":
        return _publish_push(repo, merge, options, base, git_env)
    # pr mode builds the rolling branch in this checkout; hand the checkout back where it was,
    # so the next run (which defaults --base to the current branch) starts from the same place
    original = git.current_branch(repo, env=git_env)
    original_commit = git.head_commit(repo, env=git_env)
    try:
        return _publish_pr(repo, merge, options, base, env, git_env)
    finally:
        if original != "HEAD":
            git.run_git(["checkout", "--quiet", "--force", original], repo, env=git_env)
        else:
            git.run_git(["checkout", "--quiet", "--force", "--detach", original_commit], repo, env=git_env)


def open_pull_request(
    repo: Path,
    *,
    branch: str,
    base: str,
    title: str,
    body: str,
    provider: str = "auto",
    labels: tuple[str, ...] = (),
    reviewers: tuple[str, ...] = (),
    draft: bool = False,
    remote: str = "origin",
    env: Mapping[str, str] | None = None,
    token_env: str | None = None,
) -> PublishResult:
    """Push ``branch`` (already committed locally) and create or update its PR/MR into ``base``.

    Used by ``export`` when auto-merge is off: each developer's contribution branch gets one PR.
    """
    environment = dict(os.environ if env is None else env)
    options = PublishOptions(mode="pr", branch=branch, base=base, provider=provider,
                             remote=remote, token_env=token_env, env=environment)
    git_env = _git_credentials(repo, options, environment, git.safe_directory_env(repo))
    tips = git.fetch(repo, remote, [branch], env=git_env)
    local = git.rev_parse(repo, f"refs/heads/{branch}", env=git_env)
    if local is None:
        raise GitError(f"branch '{branch}' does not exist locally; commit the export first")
    if tips[branch] != local:
        git.push_force_with_lease(repo, remote, branch, expected=tips[branch],
                                  source=f"refs/heads/{branch}", env=git_env)
    forge = _provider(repo, options, environment, git_env)
    spec = PullRequestSpec(head=branch, base=base, title=title, body=body, labels=tuple(labels),
                           reviewers=tuple(reviewers), draft=draft)
    result = sync_pull_request(forge, spec, differs=True)
    return PublishResult("pr", result.operation, result.url, local, 1)


# ---------------------------------------------------------------------------- push mode
def _publish_push(repo: Path, merge: Callable[[], Publishable], options: PublishOptions,
                  branch: str, git_env: dict[str, str]) -> PublishResult:
    state: dict[str, Any] = {"report": merge(), "committed": False}
    state["committed"] = _commit(repo, state["report"], options, git_env)
    if not state["committed"]:
        return PublishResult("push", "unchanged", None, None, 0, report=state["report"])

    def redo() -> None:
        # The branch moved: start again from its new tip so the merge sees every contribution.
        previous = state["report"]
        # Files the last attempt created that the new tip does not track would otherwise be
        # read by the next merge as earlier merge output.
        git.reset_to_remote(repo, options.remote, branch, clean_paths=previous.changed_paths,
                            env=git_env)
        state["report"] = merge()
        state["committed"] = _commit(repo, state["report"], options, git_env)

    attempts = git.push_with_retry(repo, options.remote, branch, on_rejected=redo,
                                   attempts=options.max_attempts, env=git_env)
    if not state["committed"]:
        # Someone else's push already carried an identical merge: nothing of ours to add.
        return PublishResult("push", "unchanged", None, None, attempts, report=state["report"])
    return PublishResult("push", "pushed", None, git.head_commit(repo, env=git_env), attempts,
                         report=state["report"])


# ---------------------------------------------------------------------------- pr mode
def _publish_pr(repo: Path, merge: Callable[[], Publishable], options: PublishOptions,
                base: str, env: Mapping[str, str], git_env: dict[str, str]) -> PublishResult:
    if options.branch == base:
        raise UsageError(f"--branch and --base are both '{base}'; the rolling PR branch must be "
                         "a branch of its own, e.g. mem-sync/merge")
    forge = _provider(repo, options, env, git_env)  # fail on a missing token before any push
    report: Publishable | None = None
    for attempt in range(1, options.max_attempts + 1):
        tips = git.fetch(repo, options.remote, [base, options.branch], env=git_env)
        base_tip = tips[base]
        if base_tip is None:
            raise GitError(f"base branch '{base}' does not exist on remote '{options.remote}'; "
                           "check --base")
        previous_paths = report.changed_paths if report is not None else []
        git.reset_to(repo, base_tip, branch=options.branch, clean_paths=previous_paths,
                     env=git_env)
        report = merge()
        _commit(repo, report, options, git_env)
        head = git.head_commit(repo, env=git_env)
        differs = not git.trees_equal(repo, head, base_tip, env=git_env)
        remote_tip = tips[options.branch]
        pushed = False
        try:
            if differs and not (remote_tip and git.trees_equal(repo, remote_tip, head,
                                                                env=git_env)):
                git.push_force_with_lease(repo, options.remote, options.branch,
                                          expected=remote_tip, env=git_env)
                pushed = True
        except PushRejected:
            if attempt == options.max_attempts:
                raise PushRejected(
                    f"{options.remote}/{options.branch} kept changing while mem-sync rebuilt it "
                    f"({options.max_attempts} attempts); another job may be publishing to the "
                    "same branch: re-run this one after it finishes") from None
            continue
        kind = "mr" if forge.name == "gitlab" else "pr"
        if isinstance(report, MergeReport):
            title, body = render_pr_text(summarize(report), branch=options.branch, base=base, kind=kind)
        else:
            title, body = report.pull_request_text(branch=options.branch, base=base, kind=kind)
        spec = PullRequestSpec(head=options.branch, base=base, title=title, body=body,
                               labels=options.labels, reviewers=options.reviewers,
                               draft=options.draft)
        result = sync_pull_request(forge, spec, differs=differs)
        if not differs and remote_tip:
            # After closing: deleting a PR's head branch first would close it behind our back.
            _delete_rolling_branch(repo, options, remote_tip, git_env)
        operation = result.operation
        if operation == "unchanged" and pushed:
            operation = "updated"  # same text, new content: the PR did change
        if operation == "none":
            operation = "unchanged"
        # The commit the PR shows: ours when pushed, else the identical one already there.
        shown = None if not differs else (head if pushed else remote_tip)
        return PublishResult("pr", operation, result.url, shown, attempt, report=report)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


# ---------------------------------------------------------------------------- helpers
def _delete_rolling_branch(repo: Path, options: PublishOptions, expected: str,
                           git_env: dict[str, str]) -> None:
    try:
        git.delete_remote_branch(repo, options.remote, options.branch, expected=expected,
                                 env=git_env)
    except GitError:
        # Someone pushed to it meanwhile, or it is protected: leaving it is harmless, the
        # next run rebuilds it.
        pass


def _commit(repo: Path, report: Publishable, options: PublishOptions,
            git_env: dict[str, str]) -> bool:
    if not report.changed_paths or report.dry_run:
        return False  # a dry run lists what it would write; there is nothing to commit
    # git add fails on a path that is neither on disk nor tracked; such a path has nothing
    # to commit anyway.
    tracked = set(git.run_git(["ls-files", "-z", "--", *report.changed_paths], repo,
                              env=git_env).stdout.split("\0"))
    paths = [p for p in report.changed_paths if p in tracked or (repo / p).exists()]
    if not paths:
        return False
    message = (render_commit_message(summarize(report)) if isinstance(report, MergeReport)
               else report.commit_message())
    return git.commit_paths(repo, paths, message, options.identity, env=git_env)


def _require_clean(repo: Path, git_env: dict[str, str]) -> None:
    status = git.run_git(["status", "--porcelain", "--untracked-files=no"], repo, env=git_env)
    if status.stdout.strip():
        raise UsageError(f"the checkout at {repo} has uncommitted changes to tracked files; "
                         "commit or discard them first (publishing resets the checkout to the "
                         "remote branch when it retries)")


def _is_repository(repo: Path, git_env: dict[str, str]) -> bool:
    result = git.run_git(["rev-parse", "--is-inside-work-tree"], repo, env=git_env, check=False)
    return result.returncode == 0 and result.stdout.strip() == "true"


def _resolve_base(repo: Path, options: PublishOptions, env: Mapping[str, str],
                  git_env: dict[str, str]) -> str:
    if options.base:
        return options.base
    branch = git.current_branch(repo, env=git_env)
    if branch and branch != "HEAD":
        return branch
    for name in _CI_BRANCH_VARIABLES:
        if env.get(name):
            return env[name]
    raise UsageError("the checkout is on a detached HEAD and no CI branch variable is set; "
                     "pass --base BRANCH")


def _environment(options: PublishOptions) -> dict[str, str]:
    return dict(os.environ if options.env is None else options.env)


def _git_credentials(repo: Path, options: PublishOptions, env: Mapping[str, str],
                     base: dict[str, str]) -> dict[str, str]:
    """``base`` plus HTTP credentials for git when MEM_SYNC_GIT_TOKEN is set (environment only).

    Without it git uses whatever the checkout already has (actions/checkout's stored header,
    a credential helper, an SSH key), which is the right default on every CI.
    """
    if not env.get("MEM_SYNC_GIT_TOKEN"):
        return base
    return url_credentials(git.remote_url(repo, options.remote, env=base), options, env, base)


def url_credentials(url: str, options: PublishOptions, env: Mapping[str, str],
                    base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` plus git's HTTP credentials for ``url`` when MEM_SYNC_GIT_TOKEN is set; also for
    a URL not cloned yet (``rules sync --code-repo URL`` clones with the same token)."""
    token = env.get("MEM_SYNC_GIT_TOKEN")
    if not token or not url.startswith(("http://", "https://")):
        return dict(base or {})
    username = env.get("MEM_SYNC_GIT_USERNAME") or _default_git_username(url, options, env)
    return git.http_auth_env(url, username, token, base or {})


def _default_git_username(url: str, options: PublishOptions, env: Mapping[str, str]) -> str:
    from memsync.publish.remote import GIT_TOKEN_USERNAMES, detect_forge

    try:
        name = options.provider if options.provider != "auto" else detect_forge(env, url)
    except Exception:  # noqa: BLE001 - unknown forge: any username works with a token
        name = ""
    return GIT_TOKEN_USERNAMES.get(name, GIT_TOKEN_USERNAMES["github"])


def _provider(repo: Path, options: PublishOptions, env: Mapping[str, str],
              git_env: dict[str, str]) -> Any:
    from memsync.publish.providers.registry import make_provider

    try:
        remote = git.remote_url(repo, options.remote, env=git_env)
    except GitError:
        remote = None
    return make_provider(options.provider, env, remote_url=remote, token_env=options.token_env,
                         sleep=options.sleep, backoff=options.backoff, polite=options.polite)


# ---------------------------------------------------------------------------- text
def summarize(report: MergeReport) -> dict[str, Any]:
    """The merge report reduced to what commit messages and PR bodies show (pure).

    Titles are cut to one line; the templates render every such value as text (the ``md``
    filter). Secret findings keep rule names and counts only, so neither a secret nor where it
    sat reaches a PR.
    """
    projects = [
        {
            "project": _inert(p.project),
            "newFiles": len(p.new_files),
            "merged": p.merged,
            "added": p.added,
            "evicted": p.evicted,
            "keepProtected": p.keep_protected,
            "quarantinedFiles": p.quarantined_files,
            "secretFindings": p.secret_findings,
            "addedTitles": [_title(t) for t in p.added_titles[:LIST_LIMIT]],
            "evictedTitles": [_title(t) for t in p.evicted_titles[:LIST_LIMIT]],
            "retracted": p.retracted,
            "retractionNotes": [_title(t, limit=200) for t in p.retraction_notes[:LIST_LIMIT]],
        }
        for p in report.projects
    ]
    rules = Counter(str(rule) for finding in report.secret_findings for rule in finding["rules"])
    quarantined = report.quarantined
    return {
        "version": __version__,
        "projects": projects,
        "totals": report.totals(),
        "quarantined": [{"file": _inert(q.file), "reason": _title(q.reason, limit=200)}
                        for q in quarantined[:LIST_LIMIT]],
        "quarantinedMore": max(0, len(quarantined) - LIST_LIMIT),
        "secretRules": [{"rule": _inert(rule), "count": count}
                        for rule, count in sorted(rules.items())],
        "profilesWritten": list(report.profiles_written),
        "retentionDeleted": list(report.retention_deleted),
    }


def render_commit_message(summary: Mapping[str, Any]) -> str:
    from memsync.render import render_template

    return render_template("commit_message.txt.j2", s=summary).strip() + "\n"


def render_pr_text(summary: Mapping[str, Any], *, branch: str, base: str,
                   kind: str = "pr") -> tuple[str, str]:
    """(title, body) of the rolling PR/MR; the title is the commit message's subject."""
    from memsync.render import render_template

    title = render_commit_message(summary).splitlines()[0]
    body = render_template("pr_body.md.j2", s=summary, branch=branch, base=base, kind=kind)
    return title, body.strip() + "\n"


def _title(text: str, *, limit: int = TITLE_LIMIT) -> str:
    """One line, cut to ``limit``. The report's titles and reasons were scanned by the merge
    (titles redacted before any cut); Markdown escaping is the templates' ``md`` filter."""
    return shorten(text, limit, one_line=True)


def markdown_inert(text: str) -> str:
    """Markdown-safe in a list item, a table cell or a code span (no table breaks, HTML or
    @-mentions), for other reports' PR texts that build their Markdown in code. The merge's own
    templates use the stricter ``md`` filter (``safety.inert.markdown_text``)."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
            .replace(">", "&gt;").replace("@", "@\u200b").replace("`", "'")
            .replace("\n", " "))


def _inert(text: str) -> str:
    return shorten(text, 1000, one_line=True)
