"""git through subprocess with argument lists, never a shell.

Tokens never appear on a command line: HTTP credentials reach git through configuration
passed in the environment (``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``,
see :func:`http_auth_env`), and error messages are scrubbed of anything that looks like a
URL credential before they reach the user.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from memsync.errors import GitError, PushRejected
from memsync.safety.urls import scrub_urls, strip_userinfo

_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*\w+\s+)\S+")

# Words git prints when the remote branch is not where our push expected it: a plain
# non-fast-forward, a lease that no longer holds, or a concurrent ref update on the server.
_MOVED_MARKERS = (
    "[rejected]",
    "non-fast-forward",
    "fetch first",
    "stale info",
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
)


@dataclass(frozen=True)
class Identity:
    """Who commits. The CI bot uses a configurable bot identity; export uses the developer's."""

    name: str = "mem-sync[bot]"
    email: str = "mem-sync[bot]@users.noreply.local"


def scrub(text: str) -> str:
    """Mask the userinfo and query values of any URL (``safety.urls``) and the value of any
    Authorization header in ``text``."""
    return _AUTH_HEADER.sub(r"\1***", scrub_urls(text))


def run_git(
    args: Sequence[str],
    cwd: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``git <args>`` in ``cwd``; on failure raise ``GitError`` carrying git's own message."""
    full_env = dict(os.environ)
    # Never block on a credential prompt in CI or in tests.
    full_env.setdefault("GIT_TERMINAL_PROMPT", "0")
    full_env["LC_ALL"] = "C"
    if env:
        full_env.update(env)
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            input=input_text,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; install git and retry") from None
    if check and result.returncode != 0:
        raise GitError(f"git {args[0]} failed: {_last_line(result)}")
    return result


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or result.stdout or "").strip()
    if not text:
        return "no output"
    lines = [line for line in text.splitlines() if line.strip()]
    # git's most useful line is usually the last "error:"/"fatal:" one, not a hint.
    for line in reversed(lines):
        if line.startswith(("fatal:", "error:")):
            return scrub(line)
    return scrub(lines[-1])


def is_repository(path: Path) -> bool:
    result = run_git(["rev-parse", "--is-inside-work-tree"], path, check=False)
    return result.returncode == 0 and result.stdout.strip() == "true"


def clone(
    url: str, dest: Path, *, branch: str | None = None, env: Mapping[str, str] | None = None
) -> None:
    args = ["clone", "--quiet"]
    if branch:
        args += ["--branch", branch]
    run_git([*args, "--", url, str(dest)], None, env=env)


def has_changes(
    repo: Path, paths: Sequence[str] = (), *, env: Mapping[str, str] | None = None
) -> bool:
    result = run_git(
        ["status", "--porcelain", "--untracked-files=all", "--", *paths], repo, env=env
    )
    return bool(result.stdout.strip())


def commit_paths(
    repo: Path,
    paths: Sequence[str],
    message: str,
    identity: Identity,
    *,
    env: Mapping[str, str] | None = None,
) -> bool:
    """Stage ``paths`` (additions, changes and deletions) and commit. False when nothing changed."""
    if not paths:
        return False
    run_git(["add", "--all", "--", *paths], repo, env=env)
    staged = run_git(["diff", "--cached", "--quiet"], repo, env=env, check=False)
    if staged.returncode == 0:
        return False
    run_git(
        [
            "-c",
            f"user.name={identity.name}",
            "-c",
            f"user.email={identity.email}",
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            message,
        ],
        repo,
        env=env,
    )
    return True


def current_branch(repo: Path, *, env: Mapping[str, str] | None = None) -> str:
    return run_git(["rev-parse", "--abbrev-ref", "HEAD"], repo, env=env).stdout.strip()


def head_commit(repo: Path, *, env: Mapping[str, str] | None = None) -> str:
    return run_git(["rev-parse", "HEAD"], repo, env=env).stdout.strip()


def push(repo: Path, remote: str, refspec: str, *, env: Mapping[str, str] | None = None) -> None:
    run_git(["push", "--quiet", remote, refspec], repo, env=env)


def remote_url(repo: Path, remote: str = "origin", *, env: Mapping[str, str] | None = None) -> str:
    result = run_git(["remote", "get-url", remote], repo, env=env, check=False)
    if result.returncode != 0:
        raise GitError(
            f"git remote '{remote}' is not configured in {repo}; add it with "
            f"`git remote add {remote} <url>`"
        )
    return result.stdout.strip()


def fetch(
    repo: Path,
    remote: str,
    branches: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Fetch ``branches`` into ``refs/remotes/<remote>/*``; return each tip (None: absent).

    A branch missing on the remote is not an error: the rolling PR branch may not exist yet.
    """
    tips: dict[str, str | None] = {}
    listed = run_git(
        ["ls-remote", "--heads", remote, *[f"refs/heads/{b}" for b in branches]], repo, env=env
    )
    for line in listed.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        tips[ref.removeprefix("refs/heads/")] = sha
    present = [b for b in branches if b in tips]
    if present:
        refspecs = [f"+refs/heads/{b}:refs/remotes/{remote}/{b}" for b in present]
        run_git(["fetch", "--quiet", "--no-tags", remote, *refspecs], repo, env=env)
        # The tip we record is the one we fetched, which may be newer than ls-remote's answer.
        for b in present:
            tips[b] = rev_parse(repo, f"refs/remotes/{remote}/{b}", env=env)
    return {b: tips.get(b) for b in branches}


def rev_parse(repo: Path, rev: str, *, env: Mapping[str, str] | None = None) -> str | None:
    result = run_git(
        ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo, env=env, check=False
    )
    return result.stdout.strip() or None


def reset_to(
    repo: Path,
    rev: str,
    *,
    branch: str | None = None,
    clean_paths: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> None:
    """Point the work tree (and ``branch``, checked out, when given) at ``rev``, discarding edits.

    Untracked files under ``clean_paths`` are removed too (what an earlier attempt wrote), so
    a re-run starts from the remote tree there; other untracked files are left alone.
    """
    if branch:
        run_git(["checkout", "--quiet", "--force", "-B", branch, rev], repo, env=env)
    else:
        run_git(["reset", "--quiet", "--hard", rev], repo, env=env)
    if clean_paths:
        run_git(["clean", "--quiet", "-d", "--force", "--", *clean_paths], repo, env=env)


def reset_to_remote(
    repo: Path,
    remote: str,
    branch: str,
    *,
    clean_paths: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> str:
    """Fetch ``branch`` and hard-reset the checkout to its remote tip; return that commit."""
    tip = fetch(repo, remote, [branch], env=env)[branch]
    if tip is None:
        raise GitError(
            f"branch '{branch}' does not exist on remote '{remote}'; "
            f"check --base/--branch or push it first"
        )
    reset_to(repo, tip, clean_paths=clean_paths, env=env)
    return tip


def _is_moved(result: subprocess.CompletedProcess[str]) -> bool:
    text = f"{result.stdout}\n{result.stderr}"
    if "[remote rejected]" in text and not any(
        marker in text
        for marker in ("cannot lock ref", "failed to update ref", "incorrect old value")
    ):
        # A server-side hook or branch protection said no: retrying cannot help.
        return False
    return any(marker in text for marker in _MOVED_MARKERS)


def push_with_retry(
    repo: Path,
    remote: str,
    branch: str,
    *,
    on_rejected: Callable[[], None],
    attempts: int = 3,
    env: Mapping[str, str] | None = None,
) -> int:
    """Push ``HEAD`` to ``branch``; when the branch moved, call ``on_rejected`` and retry.

    ``on_rejected`` must bring the checkout onto the new remote tip and redo the work (for the
    CI merge: :func:`reset_to_remote`, merge again, commit). It is called at most
    ``attempts - 1`` times. Returns the number of push attempts used. Raises ``PushRejected``
    when the branch kept moving, and ``GitError`` for any other refusal (auth, protection).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        result = run_git(
            ["push", "--porcelain", remote, f"HEAD:refs/heads/{branch}"], repo, env=env, check=False
        )
        if result.returncode == 0:
            return attempt
        if not _is_moved(result):
            raise GitError(f"git push to {remote}/{branch} failed: {_last_line(result)}")
        if attempt == attempts:
            break
        on_rejected()
    raise PushRejected(
        f"push to {remote}/{branch} was rejected {attempts} times because the branch kept moving; "
        f"re-run the job (or raise --max-attempts)"
    )


def push_force_with_lease(
    repo: Path,
    remote: str,
    branch: str,
    *,
    expected: str | None,
    source: str = "HEAD",
    env: Mapping[str, str] | None = None,
) -> None:
    """Force ``source`` onto ``branch`` only if the remote still has ``expected`` there.

    ``expected=None`` means the branch must not exist yet. Losing the lease raises
    ``PushRejected``: someone else rewrote the rolling branch since we fetched it.
    """
    ref = f"refs/heads/{branch}"
    lease = f"--force-with-lease={ref}:{expected or ''}"
    result = run_git(
        ["push", "--porcelain", lease, remote, f"{source}:{ref}"], repo, env=env, check=False
    )
    if result.returncode == 0:
        return
    if _is_moved(result):
        raise PushRejected(
            f"{remote}/{branch} changed while mem-sync was rebuilding it; re-run the job"
        )
    raise GitError(f"git push to {remote}/{branch} failed: {_last_line(result)}")


def delete_remote_branch(
    repo: Path,
    remote: str,
    branch: str,
    *,
    expected: str | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    lease = [f"--force-with-lease=refs/heads/{branch}:{expected}"] if expected else []
    run_git(["push", "--porcelain", *lease, remote, f":refs/heads/{branch}"], repo, env=env)


def trees_equal(repo: Path, a: str, b: str, *, env: Mapping[str, str] | None = None) -> bool:
    """Whether two commits hold the same tree (what a PR would show as 'no changes')."""
    return rev_parse_tree(repo, a, env=env) == rev_parse_tree(repo, b, env=env)


def rev_parse_tree(repo: Path, rev: str, *, env: Mapping[str, str] | None = None) -> str:
    return run_git(["rev-parse", f"{rev}^{{tree}}"], repo, env=env).stdout.strip()


def config_env(
    pairs: Sequence[tuple[str, str]], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """git configuration carried by environment variables (command-line scope, never argv).

    Appends to any ``GIT_CONFIG_COUNT`` entries already present in ``base`` or the process
    environment so a CI's own settings survive.
    """
    source = dict(os.environ)
    if base:
        source.update(base)
    out = dict(base or {})
    count = int(source.get("GIT_CONFIG_COUNT", "0") or "0")
    if count and "GIT_CONFIG_COUNT" not in out:
        for i in range(count):
            for prefix in ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"):
                out[f"{prefix}{i}"] = source.get(f"{prefix}{i}", "")
    for key, value in pairs:
        out[f"GIT_CONFIG_KEY_{count}"] = key
        out[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    out["GIT_CONFIG_COUNT"] = str(count)
    return out


def safe_directory_env(repo: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Trust ``repo`` for this process only when another user owns it (CI containers).

    A container running as root over a workspace checked out by the runner's user makes git
    refuse with "detected dubious ownership". mem-sync works on the repository it was pointed
    at explicitly, so it trusts that one path through command-line-scope configuration rather
    than editing anybody's global git config.
    """
    try:
        owner = Path(repo).stat().st_uid
    except OSError:
        return dict(base or {})
    if not hasattr(os, "geteuid") or owner == os.geteuid():
        return dict(base or {})
    return config_env([("safe.directory", str(Path(repo).resolve()))], base)


def http_auth_env(
    url: str, username: str, password: str, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment that makes git send HTTP Basic credentials to ``url`` (and only there).

    The header travels in ``GIT_CONFIG_VALUE_n``, never in argv, so ``ps`` and CI logs that
    echo commands do not show it.
    """
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    scope = _strip_credentials(url)
    return config_env([(f"http.{scope}.extraHeader", f"Authorization: Basic {token}")], base)


def _strip_credentials(url: str) -> str:
    return strip_userinfo(url)
