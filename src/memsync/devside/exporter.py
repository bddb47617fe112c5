"""Export: claude-mem rows -> filter -> secret gate -> contributions/<project>/<dev>/<stamp>.json -> git.

The filter and the document are pure; the database read, the checkout and the push are at the
edges. Rows travel with every column exactly as claude-mem stored them (epochs in
milliseconds, arrays as JSON text), so a newer claude-mem's columns reach the merge untouched.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memsync import __version__
from memsync.atomic import atomic_write_bytes
from memsync.devside.claude_mem import (
    count_observations,
    open_read_only,
    project_counts,
    read_schema,
    select_observations,
)
from memsync.devside.config import ExportFilters, ProjectConfig, RemoteConfig
from memsync.errors import DatabaseError, GitError, PushRejected, RepoError, SecretsFound
from memsync.model import (
    build_envelope,
    dump_document,
    iso_from_millis,
    newest_per_key,
    stamp_from_millis,
    to_millis,
)
from memsync.publish import git as gitops
from memsync.safety.names import check_safe_name
from memsync.text import shorten

if TYPE_CHECKING:
    from memsync.safety.secrets import Finding, SecretScanner
    from memsync.scanner_cache import ScannerSetup

MAX_PUSH_ATTEMPTS = 3


# --- the pure part -----------------------------------------------------------------------


def matches_filter(
    type_: str | None, title: str | None, narrative: str | None, text: str | None, filters: ExportFilters
) -> bool:
    """The export rule: type in ``types`` OR a tag (case-sensitive, e.g. ``#shared``) OR a keyword
    (case-insensitive) inside the title, the narrative or the text. All filters empty match
    nothing: sharing is opt-in. ``select_observations`` runs this same rule in SQL."""
    if type_ in filters.types:
        return True
    fields = [part for part in (title, narrative, text) if part]
    if any(tag in field for tag in filters.tags for field in fields):
        return True
    return keyword_match(filters.keywords)(title, narrative, text)


def keyword_match(keywords: Sequence[str]) -> Callable[[str | None, str | None, str | None], bool]:
    lowered = [keyword.lower() for keyword in keywords]

    def match(title: str | None, narrative: str | None, text: str | None) -> bool:
        for field in (title, narrative, text):
            if field:
                folded = field.lower()
                if any(keyword in folded for keyword in lowered):
                    return True
        return False

    return match


@dataclass(frozen=True)
class ExportPlan:
    project: str  # folder name in the shared repo
    mem_project: str  # claude-mem's project column
    dev: str
    observations: list[dict[str, Any]]
    total_in_project: int
    filters: ExportFilters
    now_millis: int
    document: bytes
    superseded: int = 0  # rows dropped for a newer one with the same composite key

    @property
    def count(self) -> int:
        return len(self.observations)

    @property
    def relative_path(self) -> str:
        return f"contributions/{self.project}/{self.dev}/{stamp_from_millis(self.now_millis)}.json"

    @property
    def type_counts(self) -> list[tuple[str, int]]:
        counts = Counter(str(obs.get("type")) for obs in self.observations)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    @property
    def date_range(self) -> tuple[str, str] | None:
        epochs = [
            to_millis(int(obs["created_at_epoch"]))
            for obs in self.observations
            if isinstance(obs.get("created_at_epoch"), int)
        ]
        if not epochs:
            return None
        return iso_from_millis(min(epochs))[:10], iso_from_millis(max(epochs))[:10]


def build_document(
    observations: list[dict[str, Any]], *, project: str, dev: str, filters: ExportFilters, now_millis: int
) -> bytes:
    doc = build_envelope(
        project=project,
        exported_by=dev,
        now_millis=now_millis,
        observations=observations,
        package_version=__version__,
        filters=filters.to_dict(),
    )
    return dump_document(doc)


# --- reading the database ----------------------------------------------------------------


def plan_export(
    project: ProjectConfig,
    *,
    dev: str,
    db_path: Path,
    now_millis: int,
    scanner_setup: ScannerSetup,
    redact: bool = False,
    access_log: Path | None = None,
) -> ExportPlan:
    """Read, filter and gate (with the scanner ``scanner_setup`` asks for); raises
    ``SecretsFound`` unless ``redact``. Writes nothing but the scanner's cache.

    With ``access_log`` (the PostToolUse hook's log), each observation Claude retrieved in the
    last 180 days carries ``access_count``: the team's merge sums each developer's latest count.
    """
    check_safe_name(project.name, "project")
    check_safe_name(dev, "developer")
    conn = open_read_only(db_path)
    try:
        read_schema(conn, db_path)
        total = count_observations(conn, project.mem_project, db_path)
        if not total:
            raise DatabaseError(_unknown_project_message(project, project_counts(conn), db_path))
        filters = project.export
        observations = select_observations(
            conn,
            project.mem_project,
            db_path,
            types=filters.types,
            tags=filters.tags,
            keyword_match=keyword_match(filters.keywords) if filters.keywords else None,
        )
    finally:
        conn.close()
    observations, superseded = newest_per_key(observations)
    if observations and access_log is not None:
        add_access_counts(observations, access_log, now_millis)
    if observations:
        # the scanner is built only when there is something to scan (it may load hyperscan)
        from memsync.scanner_cache import open_scanner

        observations = gate_export(open_scanner(scanner_setup), observations, redact=redact)
    document = build_document(
        observations, project=project.name, dev=dev, filters=project.export, now_millis=now_millis
    )
    return ExportPlan(
        project=project.name,
        mem_project=project.mem_project,
        dev=dev,
        observations=observations,
        total_in_project=total,
        filters=project.export,
        now_millis=now_millis,
        document=document,
        superseded=superseded,
    )


def add_access_counts(observations: list[dict[str, Any]], access_log: Path, now_millis: int) -> None:
    """``access_count`` on the observations the access log saw in the window (ids are this
    database's own, as the hook logged them); none on the others, as claude-mem-sync writes it."""
    import sqlite3

    from memsync.devside.access_log import access_counts, window_start

    try:
        counts = access_counts(access_log, since_ms=window_start(now_millis))
    except sqlite3.Error as error:
        raise DatabaseError(
            f"mem-sync's access log {access_log} cannot be read ({error}); move it aside (the hook "
            "starts a new one) and export again"
        ) from None
    if not counts:
        return
    for obs in observations:
        count = counts.get(obs.get("id"))  # type: ignore[arg-type]
        if count:
            obs["access_count"] = count


def superseded_line(plan: ExportPlan) -> str | None:
    """What export says when it dropped rows that repeat a composite key."""
    if not plan.superseded:
        return None
    count = plan.superseded
    shares = "observation shares its" if count == 1 else "observations share their"
    return (f"  {count} {shares} (memory_session_id, title, created_at_epoch) key with a newer one: only "
            "the newest of each key is exported, as the merge keeps one per key")


_MAX_TITLES = 5
_TITLE_CHARS = 60


def gate_export(scanner: SecretScanner, observations: list[dict[str, Any]], *,
                redact: bool) -> list[dict[str, Any]]:
    """The observations to export. With findings: ``redact=True`` returns copies with each
    credential replaced by ``[REDACTED:<rule>]``; ``redact=False`` raises ``SecretsFound``
    naming the observations (titles redacted) and rules, never a secret."""
    results = scanner.scan_observations(observations)
    flagged = [number for number, found in enumerate(results) if found]
    if not flagged:
        return list(observations)
    if redact:
        return [
            scanner.redact_observation(obs)[0] if results[number] else obs
            for number, obs in enumerate(observations)
        ]
    raise SecretsFound(_refusal(scanner, [(observations[n], results[n]) for n in flagged]))


def safe_title(scanner: SecretScanner, obs: dict[str, Any], limit: int = 80) -> str:
    """The observation's title with credentials redacted, then shortened to ``limit``
    characters (in that order, so a cut can never leave half a secret unrecognised)."""
    title = obs.get("title")
    if not isinstance(title, str) or not title.strip():
        return "(untitled)"
    from memsync.safety.secrets import redact as redact_text

    return shorten(redact_text(title, scanner.scan_text(title)), limit, one_line=True)


def _refusal(scanner: SecretScanner, flagged: list[tuple[dict[str, Any], list[Finding]]]) -> str:
    parts = []
    for obs, found in flagged[:_MAX_TITLES]:
        rules = ", ".join(sorted({f.rule for f in found}))
        parts.append(f'"{safe_title(scanner, obs, _TITLE_CHARS)}" ({rules})')
    more = len(flagged) - _MAX_TITLES
    listed = "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    count = len(flagged)
    noun = "observation contains" if count == 1 else "observations contain"
    return (
        f"export refused: {count} {noun} credentials: {listed}. Remove them, or export with "
        "redaction to replace each credential with [REDACTED:<rule>]; rotate any credential "
        "that was ever pushed"
    )


def _unknown_project_message(project: ProjectConfig, counts: list[tuple[str, int]], db_path: Path) -> str:
    if not counts:
        return (
            f"claude-mem's database {db_path} holds no observations yet; "
            "use Claude Code with claude-mem for a while, then export"
        )
    shown = ", ".join(f"{name} ({count})" for name, count in counts[:20])
    more = f" and {len(counts) - 20} more" if len(counts) > 20 else ""
    return (
        f"no observations for claude-mem project {project.mem_project!r} in {db_path}; "
        f"projects there: {shown}{more}; set it with: mem-sync update-project "
        f"--project {project.name} --mem-project NAME"
    )


# --- the shared repository checkout ------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    path: Path
    branch: str
    remote: str | None  # None: a local checkout without an origin; commit only
    url: str
    temporary: bool = False  # our own shallow fetch, safe to reset; else the user's checkout


@contextlib.contextmanager
def shared_checkout(remote: RemoteConfig, repo_dir: Path | None, *, need_git: bool = True) -> Iterator[Checkout]:
    """``--repo-dir`` as given, or a shallow fetch of the configured branch into a temp dir."""
    if repo_dir is not None:
        yield _existing_checkout(remote, repo_dir, need_git=need_git)
        return
    tmp = Path(tempfile.mkdtemp(prefix="mem-sync-"))
    try:
        yield _fetch_branch(remote.clone_url, remote.branch, tmp / "repo")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _existing_checkout(remote: RemoteConfig, repo_dir: Path, *, need_git: bool) -> Checkout:
    if not repo_dir.is_dir():
        raise RepoError(f"--repo-dir {repo_dir} is not a directory; pass a checkout of the shared repository")
    if not gitops.is_repository(repo_dir):
        if need_git:
            raise RepoError(f"--repo-dir {repo_dir} is not a git checkout; clone the shared repository there first")
        return Checkout(path=repo_dir, branch=remote.branch, remote=None, url=str(repo_dir))
    branch = gitops.run_git(["symbolic-ref", "--quiet", "--short", "HEAD"], repo_dir, check=False).stdout.strip()
    has_origin = gitops.run_git(["remote", "get-url", "origin"], repo_dir, check=False)
    return Checkout(
        path=repo_dir,
        branch=branch or remote.branch,
        remote="origin" if has_origin.returncode == 0 else None,
        url=gitops.scrub(has_origin.stdout.strip()) if has_origin.returncode == 0 else str(repo_dir),
    )


def _fetch_branch(url: str, branch: str, dest: Path) -> Checkout:
    gitops.run_git(["init", "--quiet", str(dest)], None)
    gitops.run_git(["remote", "add", "origin", url], dest)
    heads = gitops.run_git(["ls-remote", "--heads", "origin", branch], dest, check=False)
    if heads.returncode != 0:
        detail = gitops.scrub(
            (heads.stderr or heads.stdout).strip().splitlines()[-1:][0]
            if (heads.stderr or heads.stdout).strip()
            else "no answer"
        )
        raise RepoError(
            f"cannot reach the shared repository {gitops.scrub(url)} ({detail}); check the "
            "project's remote.url / remote.repo, your network and your git credentials"
        )
    if heads.stdout.strip():
        gitops.run_git(
            [
                "fetch",
                "--quiet",
                "--depth",
                "1",
                "origin",
                f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
            ],
            dest,
        )
        gitops.run_git(["checkout", "--quiet", "-B", branch, f"origin/{branch}"], dest)
    else:
        # A brand-new shared repository: our commit starts the branch.
        gitops.run_git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], dest)
    return Checkout(path=dest, branch=branch, remote="origin", url=gitops.scrub(url), temporary=True)


# --- writing and publishing --------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    path: str  # repo-relative contribution file
    count: int
    committed: bool
    pushed: bool
    target: str  # where it went: "<url> <branch>", a PR URL, or the local checkout
    pull_request_url: str | None = None


@dataclass(frozen=True)
class NewFile:
    """One file a developer adds to the shared repository: an export or a retraction."""

    folder: str  # "contributions" or "retractions"
    branch_kind: str  # the rolling PR branch's middle part: "export" or "retract"
    project: str
    dev: str
    now_millis: int
    document: bytes
    count: int
    message: str  # commit message
    pr_title: str
    pr_body: Callable[[str], str]  # repository-relative path -> PR/MR body (rendered in PR mode only)


def _free_relative_path(new: NewFile, root: Path) -> str:
    """The stamp has one-second resolution; a second file in the same second takes the next one."""
    millis = new.now_millis
    while True:
        relative = f"{new.folder}/{new.project}/{new.dev}/{stamp_from_millis(millis)}.json"
        if not (root / relative).exists():
            return relative
        millis += 1000


def publish_export(plan: ExportPlan, remote: RemoteConfig, repo_dir: Path | None, *, push: bool = True) -> ExportResult:
    """Write the file, commit it as the developer, and push (or open a PR when autoMerge is false)."""

    def body(relative: str) -> str:
        from memsync.render import render_template

        return render_template("export_pr.md.j2", plan=plan, relative=relative,
                               exported_at=iso_from_millis(plan.now_millis))

    new = NewFile(
        folder="contributions",
        branch_kind="export",
        project=plan.project,
        dev=plan.dev,
        now_millis=plan.now_millis,
        document=plan.document,
        count=plan.count,
        message=f"mem-sync: export {plan.count} observations from {plan.dev} ({plan.project})",
        pr_title=f"mem-sync: {plan.dev} export for {plan.project} ({plan.count} observations)",
        pr_body=body,
    )

    def without_retracted(root: Path) -> NewFile:
        kept = drop_retracted(plan, root)
        if kept is plan:
            return new
        return replace(new, document=kept.document, count=kept.count,
                       message=new.message.replace(f" {plan.count} ", f" {kept.count} ", 1),
                       pr_title=new.pr_title.replace(f"({plan.count} ", f"({kept.count} ", 1))

    return publish_new_file(new, remote, repo_dir, push=push, adjust=without_retracted)


def drop_retracted(plan: ExportPlan, root: Path) -> ExportPlan:
    """The plan without the keys its developer retracted, or the team's merge has (a checkout at ``root``)."""
    from memsync.devside.retracted import retracted_for_export

    retracted = retracted_for_export(root, plan.project, plan.dev)
    if not retracted:
        return plan
    from memsync.merge.retraction import RetractedKey
    from memsync.model import composite_key

    kept = [obs for obs in plan.observations if RetractedKey.of(composite_key(obs)) not in retracted]
    if len(kept) == len(plan.observations):
        return plan
    document = build_document(kept, project=plan.project, dev=plan.dev, filters=plan.filters,
                              now_millis=plan.now_millis)
    return replace(plan, observations=kept, document=document)


def publish_new_file(new: NewFile, remote: RemoteConfig, repo_dir: Path | None, *, push: bool = True,
                     adjust: Callable[[Path], NewFile] | None = None) -> ExportResult:
    """Write ``new`` under its folder, commit it as the developer, push with retry or open a PR.

    ``adjust`` sees the checkout before anything is written (export drops retracted keys there).
    """
    with shared_checkout(remote, repo_dir) as checkout:
        if adjust is not None:
            new = adjust(checkout.path)
        relative = _free_relative_path(new, checkout.path)
        identity = gitops.Identity(name=new.dev, email=_email_for(checkout.path, new.dev))

        def write_and_commit() -> bool:
            atomic_write_bytes(checkout.path / relative, new.document)
            return gitops.commit_paths(checkout.path, [relative], new.message, identity)

        if not remote.auto_merge and checkout.remote:
            return _publish_by_pull_request(new, remote, checkout, relative, write_and_commit, push=push)
        committed = write_and_commit()
        if not push or checkout.remote is None:
            where = str(checkout.path) if checkout.remote is None else f"{checkout.url} (not pushed: --no-push)"
            return ExportResult(relative, new.count, committed, False, where)

        def on_rejected() -> None:
            # Someone pushed first. Our change is one new file: start again from their tip.
            _refetch(checkout)
            if checkout.temporary:
                write_and_commit()

        _push_with_retry(checkout, checkout.branch, on_rejected)
        return ExportResult(relative, new.count, committed, True, f"{checkout.url} {checkout.branch}")


def _publish_by_pull_request(
    new: NewFile,
    remote: RemoteConfig,
    checkout: Checkout,
    relative: str,
    write_and_commit: Callable[[], bool],
    *,
    push: bool,
) -> ExportResult:
    branch = f"mem-sync/{new.branch_kind}/{new.dev}/{new.project}/{stamp_from_millis(new.now_millis)}"
    gitops.run_git(["checkout", "--quiet", "-B", branch], checkout.path)
    try:
        return _commit_and_open(new, remote, checkout, relative, branch, write_and_commit, push=push)
    finally:
        if not checkout.temporary:
            gitops.run_git(["checkout", "--quiet", checkout.branch], checkout.path, check=False)


def _commit_and_open(
    new: NewFile,
    remote: RemoteConfig,
    checkout: Checkout,
    relative: str,
    branch: str,
    write_and_commit: Callable[[], bool],
    *,
    push: bool,
) -> ExportResult:
    committed = write_and_commit()
    if not push:
        return ExportResult(relative, new.count, committed, False, f"{checkout.url} {branch} (not pushed)")
    from memsync.publish.flow import open_pull_request  # PyGithub & co. load only for PR mode

    result = open_pull_request(
        checkout.path,
        branch=branch,
        base=remote.branch,
        title=new.pr_title,
        body=new.pr_body(relative),
        provider=remote.type,
        remote=checkout.remote or "origin",
    )
    return ExportResult(
        relative,
        new.count,
        committed,
        True,
        result.url or f"{checkout.url} {branch}",
        pull_request_url=result.url,
    )


def _refetch(checkout: Checkout) -> None:
    remote = checkout.remote or "origin"
    refspec = f"+refs/heads/{checkout.branch}:refs/remotes/{remote}/{checkout.branch}"
    if checkout.temporary:
        gitops.run_git(["fetch", "--quiet", "--depth", "1", remote, refspec], checkout.path)
        gitops.run_git(["reset", "--quiet", "--hard", f"{remote}/{checkout.branch}"], checkout.path)
    else:
        # The developer's own checkout: keep their history, replay local commits on top.
        gitops.run_git(["fetch", "--quiet", remote, refspec], checkout.path)
        gitops.run_git(["rebase", "--quiet", f"{remote}/{checkout.branch}"], checkout.path)


def _push_with_retry(checkout: Checkout, branch: str, on_rejected: Callable[[], None]) -> int:
    try:
        return gitops.push_with_retry(
            checkout.path, checkout.remote or "origin", branch, on_rejected=on_rejected, attempts=MAX_PUSH_ATTEMPTS
        )
    except PushRejected:
        raise PushRejected(
            f"the shared repository's {branch} kept moving ({MAX_PUSH_ATTEMPTS} push attempts); run the export again"
        ) from None
    except GitError as error:
        raise GitError(f"{error}; check your push access to {checkout.url}") from None


def _email_for(repo: Path, dev: str) -> str:
    configured = gitops.run_git(["config", "user.email"], repo, check=False).stdout.strip()
    return configured or f"{dev}@users.noreply.mem-sync.local"


def describe_plan(plan: ExportPlan, *, limit: int | None = 50) -> list[str]:
    """Lines for ``preview`` and ``export --dry-run``: count, types, dates, titles, size."""
    lines = [
        f"{plan.project}: {plan.count} of {plan.total_in_project} observations in claude-mem project "
        f"{plan.mem_project!r} match the export filters"
    ]
    if plan.filters.empty:
        lines.append(
            "  no filters configured (types, keywords, tags all empty): nothing is shared; "
            f"set them with: mem-sync update-project --project {plan.project} --types decision,bugfix"
        )
        return lines
    if not plan.count:
        return lines
    lines.append("  types: " + ", ".join(f"{kind} {count}" for kind, count in plan.type_counts))
    superseded = superseded_line(plan)
    if superseded:
        lines.append(superseded)
    dates = plan.date_range
    if dates:
        lines.append(f"  dates: {dates[0]} .. {dates[1]}")
    lines.append(f"  size:  {_human_size(len(plan.document))} -> {plan.relative_path}")
    shown: Sequence[dict[str, Any]] = plan.observations if limit is None else plan.observations[:limit]
    for obs in shown:
        epoch = obs.get("created_at_epoch")
        day = iso_from_millis(to_millis(epoch))[:10] if isinstance(epoch, int) else "?"
        title = obs.get("title") or "(untitled)"
        lines.append(f"  {day}  {str(obs.get('type')):<14} {title}")
    if limit is not None and plan.count > limit:
        lines.append(f"  ... and {plan.count - limit} more (--all-titles shows every one)")
    return lines


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"
