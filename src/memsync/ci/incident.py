"""``incident``: where a leaked credential sits in the shared repository's history, and the exact
commands that take it out. Nothing here prints or writes the secret itself: files and commits
are named, and history is rewritten with the rules' own patterns, not with the token.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from memsync.errors import RepoError
from memsync.publish import git as gitops

REPLACEMENT = "***REMOVED-BY-MEM-SYNC***"


@dataclass(frozen=True)
class LeakedBlob:
    """A stored file version that carries a credential: where it was seen and by which rules."""

    blob: str
    paths: tuple[str, ...]
    rules: tuple[str, ...]
    commits: tuple[str, ...] = ()


@dataclass
class IncidentReport:
    project: str
    remote: str  # where the rewritten history goes (URL or path, credentials scrubbed)
    branches: dict[str, str] = field(default_factory=dict)  # ref -> current commit (the lease)
    leaks: list[LeakedBlob] = field(default_factory=list)
    retracted_by_rules: int = 0

    @property
    def rules(self) -> list[str]:
        return sorted({rule for leak in self.leaks for rule in leak.rules})

    @property
    def commits(self) -> list[str]:
        return sorted({commit for leak in self.leaks for commit in leak.commits})

    @property
    def paths(self) -> list[str]:
        return sorted({path for leak in self.leaks for path in leak.paths})


def find_leaks(repo: Path, scan: object) -> list[LeakedBlob]:
    """Every blob reachable from any ref whose text a secret rule flags, with its paths and the
    commits that add or remove it. ``scan(text) -> list of rule ids`` is the secret scanner."""
    listing = _git(repo, ["rev-list", "--objects", "--all"])
    paths_of: dict[str, set[str]] = defaultdict(set)
    for line in listing.splitlines():
        sha, _, path = line.partition(" ")
        if path:
            paths_of[sha].add(path)
    blobs = _blob_ids(repo, sorted(paths_of))
    leaks: list[LeakedBlob] = []
    for sha, content in _read_blobs(repo, blobs):
        rules = scan(content.decode("utf-8", "replace"))  # type: ignore[operator]
        if rules:
            commits = _git(repo, ["log", "--all", "--format=%H", f"--find-object={sha}"]).split()
            leaks.append(LeakedBlob(sha, tuple(sorted(paths_of[sha])), tuple(sorted(set(rules))), tuple(commits)))
    return sorted(leaks, key=lambda leak: leak.paths)


def _blob_ids(repo: Path, candidates: list[str]) -> list[str]:
    if not candidates:
        return []
    out = subprocess.run(["git", "cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=repo,
                         input="\n".join(candidates) + "\n", capture_output=True, text=True, check=False)
    return [line.split()[0] for line in out.stdout.splitlines() if line.endswith(" blob")]


def _read_blobs(repo: Path, blobs: list[str]) -> list[tuple[str, bytes]]:
    if not blobs:
        return []
    out = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input=("\n".join(blobs) + "\n").encode(),
                         capture_output=True, check=False).stdout
    found: list[tuple[str, bytes]] = []
    position = 0
    while position < len(out):
        header_end = out.index(b"\n", position)
        sha, _kind, size = out[position:header_end].decode().split()
        start = header_end + 1
        found.append((sha, out[start:start + int(size)]))
        position = start + int(size) + 1
    return found


def branch_heads(repo: Path, remote: str) -> dict[str, str]:
    """Branches and tags as the shared repository has them now (the lease of each push); the
    clone's own refs when the remote cannot be reached."""
    answer = gitops.run_git(["ls-remote", "--heads", "--tags", remote], repo, check=False)
    if answer.returncode == 0 and answer.stdout.strip():
        pairs = (line.split("\t", 1) for line in answer.stdout.splitlines() if "\t" in line)
        return {ref: sha for sha, ref in pairs if not ref.endswith("^{}")}
    listing = _git(repo, ["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"])
    return dict(line.split(" ", 1) for line in listing.splitlines() if line)


def remote_of(repo: Path) -> str:
    """The shared repository's URL as origin knows it (credentials scrubbed), else the folder."""
    result = gitops.run_git(["remote", "get-url", "origin"], repo, check=False)
    return gitops.scrub(result.stdout.strip()) if result.returncode == 0 else str(repo.resolve())


def replace_text_expressions(rule_patterns: dict[str, str], rules: list[str]) -> str:
    """``git filter-repo --replace-text`` lines: each flagged rule's own pattern, never a token."""
    lines = []
    for rule in rules:
        pattern = rule_patterns[rule]
        re.compile(pattern.encode())  # filter-repo compiles the same bytes; fail here, not there
        lines.append(f"regex:{pattern}==>{REPLACEMENT}")
    return "\n".join(lines) + "\n"


def _git(repo: Path, args: list[str]) -> str:
    result = gitops.run_git(args, repo, check=False)
    if result.returncode != 0:
        raise RepoError(f"git {' '.join(args[:2])} failed in {repo}: {result.stderr.strip()[:200]}; "
                        "run mem-sync incident in a full clone of the shared repository (not shallow)")
    return result.stdout
