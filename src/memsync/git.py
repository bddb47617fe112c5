"""git through subprocess with argument lists, never a shell.

Tokens never appear on a command line: HTTP credentials reach git through
``GIT_ASKPASS``/environment (see ``memsync.publish``), and error messages are scrubbed
of anything that looks like a URL credential before they reach the user.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from memsync.errors import GitError

_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


@dataclass(frozen=True)
class Identity:
    """Who commits. The CI bot uses a configurable bot identity; export uses the developer's."""

    name: str = "mem-sync[bot]"
    email: str = "mem-sync[bot]@users.noreply.local"


def scrub(text: str) -> str:
    """Remove ``user:token@`` from any URL in ``text``."""
    return _URL_CREDENTIALS.sub("***@", text)


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
        message = scrub((result.stderr or result.stdout).strip().splitlines()[-1:][0]
                        if (result.stderr or result.stdout).strip() else "no output")
        raise GitError(f"git {args[0]} failed: {message}")
    return result


def is_repository(path: Path) -> bool:
    result = run_git(["rev-parse", "--is-inside-work-tree"], path, check=False)
    return result.returncode == 0 and result.stdout.strip() == "true"


def clone(url: str, dest: Path, *, branch: str | None = None, env: Mapping[str, str] | None = None) -> None:
    args = ["clone", "--quiet"]
    if branch:
        args += ["--branch", branch]
    run_git([*args, "--", url, str(dest)], None, env=env)


def has_changes(repo: Path, paths: Sequence[str] = ()) -> bool:
    result = run_git(["status", "--porcelain", "--untracked-files=all", "--", *paths], repo)
    return bool(result.stdout.strip())


def commit_paths(repo: Path, paths: Sequence[str], message: str, identity: Identity) -> bool:
    """Stage ``paths`` (additions, changes and deletions) and commit. False when nothing changed."""
    run_git(["add", "--all", "--", *paths], repo)
    staged = run_git(["diff", "--cached", "--quiet"], repo, check=False)
    if staged.returncode == 0:
        return False
    run_git(
        ["-c", f"user.name={identity.name}", "-c", f"user.email={identity.email}",
         "commit", "--quiet", "--no-verify", "-m", message],
        repo,
    )
    return True


def current_branch(repo: Path) -> str:
    return run_git(["rev-parse", "--abbrev-ref", "HEAD"], repo).stdout.strip()


def push(repo: Path, remote: str, refspec: str, *, env: Mapping[str, str] | None = None) -> None:
    run_git(["push", "--quiet", remote, refspec], repo, env=env)
