"""What a checkout of the shared repository says is retracted, as the developer side reads it."""

from __future__ import annotations

from pathlib import Path

from memsync.errors import QuarantineReason, RepoError
from memsync.merge.retraction import (
    RETRACTED_NAME,
    RETRACTIONS_DIR,
    RetractedKey,
    RetractedSet,
    parse_retracted,
    parse_retraction,
)


def read_retracted_set(root: Path, project: str) -> RetractedSet:
    """``merged/<project>/retracted.json`` of a checkout; an absent file means nothing is retracted."""
    return read_retracted_file(root / "merged" / project / RETRACTED_NAME)


def read_retracted_file(path: Path) -> RetractedSet:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return RetractedSet()
    except OSError as error:
        raise RepoError(f"cannot read {path} ({error.strerror})") from None
    try:
        return parse_retracted(raw, str(path))
    except QuarantineReason as reason:
        raise RepoError(f"{reason}; restore it from the shared repository's history or re-run ci-merge") from None


def own_retractions(root: Path, project: str, dev: str) -> tuple[set[RetractedKey], set[RetractedKey]]:
    """What ``dev``'s own retraction files say last about each key, merged or not: the keys they
    take back, and the keys an undo lifted (oldest file first)."""
    folder = root / RETRACTIONS_DIR / project / dev
    if not folder.is_dir() or folder.is_symlink():
        return set(), set()
    parsed = []
    for path in sorted(folder.glob("*.json")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            parsed.append(parse_retraction(path.read_bytes(), path=str(path), project=project, dev=dev))
        except (OSError, QuarantineReason):
            continue  # the merge reports a broken file; here it only cannot add keys
    keys: set[RetractedKey] = set()
    undone: set[RetractedKey] = set()
    for retraction in sorted(parsed, key=lambda item: (item.created_at_millis, item.path)):
        if retraction.undo:
            keys.difference_update(retraction.keys)
            undone.update(retraction.keys)
        else:
            keys.update(retraction.keys)
            undone.difference_update(retraction.keys)
    return keys, undone


def retracted_for_export(root: Path, project: str, dev: str) -> set[RetractedKey]:
    """Keys an export must not send: its developer's own retractions and the team's retracted set,
    less what the developer's own undo lifted (the merge applies that undo with this export)."""
    try:
        team = set(read_retracted_set(root, project).entries)
    except RepoError:
        team = set()
    retracted, undone = own_retractions(root, project, dev)
    return retracted | (team - undone)
