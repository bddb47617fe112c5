"""Where a rule applies: its evidence's files, generalized to directory globs (pure).

claude-mem records the files an observation read or modified, often as absolute paths on the
developer's machine (``/home/alice/src/app/src/api/client.py``). A rule's scope is those files
made relative to the code repository, and a directory becomes ``dir/**`` as soon as the
evidence touched two or more files directly in it: one file is a fact about that file, two are
a pattern about the folder. A rule with no usable file evidence applies everywhere.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections import Counter
from collections.abc import Iterable

# Characters that would break the targets' formats: Cursor's `globs` and Copilot's `applyTo` are
# comma-separated lists, and every target keeps a pattern on one line.
_FORBIDDEN = re.compile(r"[,\n\r\t\x00]")
_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be delivered as a repository-relative glob, or None when it can."""
    if not pattern or not pattern.strip():
        return "it is empty"
    if pattern != pattern.strip():
        return "it starts or ends with a space"
    if pattern.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", pattern):
        return "it is absolute; write it relative to the repository root, e.g. src/api/**"
    if "\\" in pattern:
        return "it uses backslashes; write paths with /"
    if _FORBIDDEN.search(pattern):
        return "it contains a comma or a control character; list two paths instead of one"
    if ".." in pattern.split("/"):
        return "it climbs out of the repository with .."
    if pattern.count("[") != pattern.count("]") or pattern.count("{") != pattern.count("}"):
        return "its brackets or braces are unbalanced"
    return None


def relative_file(path: str, tracked: frozenset[str]) -> str | None:
    """``path`` as a path inside the code repository, or None when it cannot be placed there.

    A relative path is kept as written (the file may have moved since; the glob still says where
    the team worked). An absolute path is matched by its longest suffix that the repository
    tracks (a file, or a folder holding tracked files), so each developer's checkout location
    drops out.
    """
    text = str(path).strip().replace("\\", "/")
    if not text:
        return None
    if not text.startswith("/") and not re.match(r"^[A-Za-z]:/", text):
        clean = posixpath.normpath(text)
        if clean in (".", "") or clean.startswith("../") or clean == "..":
            return None
        return None if glob_problem(clean) else clean
    parts = [p for p in text.split("/") if p and not re.match(r"^[A-Za-z]:$", p)]
    folders = _tracked_folders(tracked)
    for start in range(len(parts)):
        candidate = "/".join(parts[start:])
        if candidate in tracked or candidate in folders:
            return None if glob_problem(candidate) else candidate
    return None


def _tracked_folders(tracked: frozenset[str]) -> frozenset[str]:
    folders: set[str] = set()
    for name in tracked:
        parent = posixpath.dirname(name)
        while parent and parent not in folders:
            folders.add(parent)
            parent = posixpath.dirname(parent)
    return frozenset(folders)


def scope_for_files(files: Iterable[str], tracked: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The sorted globs a rule applies to; ``()`` means everywhere."""
    paths = sorted({p for p in (relative_file(f, tracked) for f in files) if p})
    if not paths:
        return ()
    per_folder = Counter(posixpath.dirname(p) for p in paths)
    globs: set[str] = set()
    for path in paths:
        folder = posixpath.dirname(path)
        # Two files in the repository root are not a pattern about "everything": keep them.
        globs.add(f"{folder}/**" if folder and per_folder[folder] >= 2 else path)
    return tuple(sorted(g for g in globs if not _covered(g, globs)))


def _covered(pattern: str, globs: set[str]) -> bool:
    """Whether a broader ``folder/**`` in ``globs`` already matches everything ``pattern`` does."""
    for other in globs:
        if other != pattern and other.endswith("/**"):
            prefix = other[:-2]  # "src/api/"
            if pattern.startswith(prefix):
                return True
    return False


def scope_slug(scope: tuple[str, ...]) -> str:
    """A short, readable, stable file-name part for a scope (``src-api`` for ``src/api/**``)."""
    first = scope[0].removesuffix("/**") if scope else "everywhere"
    words = _SLUG_DROP.sub("-", first.lower()).strip("-")[:40].strip("-") or "files"
    if len(scope) > 1:
        words += f"-and-{len(scope) - 1}-more"
    return words


def scope_digest(scope: tuple[str, ...]) -> str:
    """Six hex digits that tell two scopes with the same slug apart."""
    return hashlib.sha256("\n".join(scope).encode()).hexdigest()[:6]
