"""Project and developer names come from directory names and must never escape the repository."""

from __future__ import annotations

import re

from memsync.errors import UnsafeName

# A leading alphanumeric, then at most 63 of [A-Za-z0-9._-] (docs/merge-semantics.md, Quarantine).
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def is_safe_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def check_safe_name(name: str, what: str) -> str:
    """Return ``name`` or raise ``UnsafeName`` explaining the rule it breaks."""
    if is_safe_name(name):
        return name
    if len(name) > 64:
        problem = f"is {len(name)} characters long (at most 64)"
    elif name.startswith("."):
        problem = "starts with a dot"
    elif ".." in name:
        problem = "contains '..'"
    elif any(sep in name for sep in "/\\"):
        problem = "contains a path separator"
    else:
        problem = "uses characters outside A-Z a-z 0-9 . _ -"
    raise UnsafeName(
        f"{what} name {name!r} {problem}; rename it to match [A-Za-z0-9][A-Za-z0-9._-]{{0,63}}"
    )
