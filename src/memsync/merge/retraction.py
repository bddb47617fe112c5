"""Retractions: taking observations back from the whole team (pure, no I/O).

A retraction file names composite keys, never content: the title is reduced to its sha256, so a
retraction of a note that carried a credential does not publish the credential again. The merge
folds new retraction files, oldest first, into the project's retracted set; an ``undo`` file
lifts keys from it. Who may retract a key: a developer who contributed it, or a maintainer.
The rules are in docs/retraction.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from memsync.errors import QuarantineReason
from memsync.model import CompositeKey, iso_from_millis

RETRACTIONS_DIR = "retractions"  # retractions/<project>/<dev>/<stamp>.json
RETRACTED_NAME = "retracted.json"  # merged/<project>/retracted.json
RETRACTION_VERSION = 1
RETRACTED_VERSION = 1
MAX_REASON_CHARS = 500
MAX_KEYS_PER_FILE = 10_000
MERGE_RETRACTOR = "ci-merge"  # who writes the automatic retractions of secret incidents
_MAX_MILLIS = 8_640_000_000_000_000  # JavaScript's Date range, claude-mem's epochs


def title_digest(title: str) -> str:
    """The title as retraction files and reports carry it: a digest, never the text."""
    return hashlib.sha256(title.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, order=True)
class RetractedKey:
    """A composite key with its title reduced to a digest."""

    session: str
    title_sha256: str
    created_at_epoch: int  # milliseconds

    @classmethod
    def of(cls, key: CompositeKey) -> RetractedKey:
        return cls(key[0], title_digest(key[1]), key[2])

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session, "titleSha256": self.title_sha256, "createdAtEpoch": self.created_at_epoch}

    def short(self) -> str:
        """How reports name a key: session, a title digest prefix and the epoch."""
        return f"({self.session}, title sha256 {self.title_sha256[:12]}, {self.created_at_epoch})"


@dataclass(frozen=True)
class Retraction:
    """One retraction file, checked."""

    path: str  # repository-relative
    project: str
    by: str
    created_at_millis: int
    reason: str
    undo: bool
    keys: tuple[RetractedKey, ...]


@dataclass(frozen=True)
class RetractedEntry:
    """One key of ``merged/<project>/retracted.json``: what was taken back, by whom, why."""

    key: RetractedKey
    reason: str
    by: str
    at_millis: int
    source: str  # the retraction file, or "secret-rule:<rule>" for an automatic one
    contributors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            **self.key.to_json(),
            "reason": self.reason,
            "retractedBy": self.by,
            "retractedAt": iso_from_millis(self.at_millis),
            "retractedAtEpoch": self.at_millis,
            "source": self.source,
            "contributors": list(self.contributors),
        }


@dataclass
class RetractedSet:
    """The project's retracted keys and the retraction files already judged (path -> sha256)."""

    entries: dict[RetractedKey, RetractedEntry] = field(default_factory=dict)
    processed: dict[str, str] = field(default_factory=dict)

    def __contains__(self, key: object) -> bool:
        return key in self.entries


# --- retraction files --------------------------------------------------------------------


def build_retraction(
    *, project: str, dev: str, keys: Iterable[CompositeKey], reason: str, undo: bool, now_millis: int
) -> bytes:
    """The bytes of ``retractions/<project>/<dev>/<stamp>.json``: keys, reason, who, when."""
    retracted = sorted({RetractedKey.of(key) for key in keys})
    doc = {
        "version": RETRACTION_VERSION,
        "kind": "undo" if undo else "retraction",
        "project": project,
        "retractedBy": dev,
        "createdAt": iso_from_millis(now_millis),
        "createdAtEpoch": now_millis,
        "reason": reason,
        "keys": [key.to_json() for key in retracted],
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def parse_retraction(raw: bytes, *, path: str, project: str, dev: str) -> Retraction:
    """Check one retraction file against the folder it sits in; raises ``QuarantineReason``."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise QuarantineReason(f"not valid JSON ({error})") from None
    if not isinstance(doc, dict):
        raise QuarantineReason("a retraction file must hold a JSON object")
    version = doc.get("version")
    if type(version) is not int or version < 1:
        raise QuarantineReason("version must be the integer 1")
    if version > RETRACTION_VERSION:
        raise QuarantineReason(f"version {version} is newer than this mem-sync reads; upgrade mem-sync")
    kind = doc.get("kind")
    if kind not in ("retraction", "undo"):
        raise QuarantineReason('kind must be "retraction" or "undo"')
    if doc.get("project") != project:
        raise QuarantineReason(f"project must be {project!r}, the folder it is in")
    if doc.get("retractedBy") != dev:
        raise QuarantineReason(f"retractedBy must be {dev!r}, the folder it is in")
    created = doc.get("createdAtEpoch")
    if type(created) is not int or not 0 <= created <= _MAX_MILLIS:
        raise QuarantineReason("createdAtEpoch must be milliseconds since 1970 within JavaScript's date range")
    reason = doc.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise QuarantineReason(f"reason must be text of at most {MAX_REASON_CHARS} characters")
    listed = doc.get("keys")
    if not isinstance(listed, list) or not listed or len(listed) > MAX_KEYS_PER_FILE:
        raise QuarantineReason(f"keys must be a list of 1 to {MAX_KEYS_PER_FILE} keys")
    keys = tuple(_parse_key(item, index) for index, item in enumerate(listed))
    return Retraction(path, project, dev, created, reason, kind == "undo", keys)


def _parse_key(item: Any, index: int) -> RetractedKey:
    if not isinstance(item, dict):
        raise QuarantineReason(f"keys[{index}] must be an object with session, titleSha256, createdAtEpoch")
    session, digest, epoch = item.get("session"), item.get("titleSha256"), item.get("createdAtEpoch")
    if not isinstance(session, str) or not session:
        raise QuarantineReason(f"keys[{index}].session must be a non-empty string")
    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise QuarantineReason(f"keys[{index}].titleSha256 must be 64 lowercase hex digits")
    if type(epoch) is not int or not 0 <= epoch <= _MAX_MILLIS:
        raise QuarantineReason(f"keys[{index}].createdAtEpoch must be milliseconds within JavaScript's date range")
    return RetractedKey(session, digest, epoch)


# --- folding retractions into the retracted set ------------------------------------------


@dataclass(frozen=True)
class Judged:
    """What one run decided: the new set, the files applied, the files refused and why."""

    retracted: RetractedSet
    applied: list[Retraction]
    refused: list[tuple[str, str]]  # (path, reason)


def fold_retractions(
    current: RetractedSet,
    retractions: Sequence[tuple[Retraction, str]],
    *,
    contributors_of: Callable[[RetractedKey], tuple[str, ...]],
    maintainers: frozenset[str],
) -> Judged:
    """Apply new retraction files (with their sha256) oldest first.

    A file is all or nothing, like a contribution: if its author may not retract one of its keys,
    the whole file is refused with that reason and stays unprocessed (a maintainer can take it
    over). Undo is allowed to whoever retracted the key, a maintainer, or a contributor.
    """
    entries = dict(current.entries)
    processed = dict(current.processed)
    applied: list[Retraction] = []
    refused: list[tuple[str, str]] = []
    for retraction, digest in sorted(retractions, key=lambda item: (item[0].created_at_millis, item[0].path)):
        if processed.get(retraction.path) == digest:
            continue
        allowed_everything = retraction.by in maintainers
        denied: list[RetractedKey] = []
        for key in retraction.keys:
            if allowed_everything:
                continue
            owners = set(contributors_of(key))
            entry = entries.get(key)
            if entry is not None:
                owners.update(entry.contributors)
                owners.add(entry.by)
            if retraction.by not in owners:
                denied.append(key)
        if denied:
            refused.append((retraction.path, _denied_reason(retraction, denied)))
            continue
        for key in retraction.keys:
            if retraction.undo:
                entries.pop(key, None)
                continue
            if key in entries:
                continue
            contributors = tuple(sorted(set(contributors_of(key))))
            entry = RetractedEntry(key, retraction.reason, retraction.by, retraction.created_at_millis,
                                   retraction.path, contributors)
            entries[key] = entry
        processed[retraction.path] = digest
        applied.append(retraction)
    return Judged(RetractedSet(entries, processed), applied, refused)


def _denied_reason(retraction: Retraction, denied: list[RetractedKey]) -> str:
    action = "undo" if retraction.undo else "retract"
    return (
        f"{retraction.by} may not {action} {len(denied)} of its {len(retraction.keys)} keys "
        f"(e.g. {denied[0].short()}): "
        "only a developer who contributed an observation, or a maintainer listed in MAINTAINERS, may"
    )


def retract_for_secrets(
    current: RetractedSet, hits: Mapping[RetractedKey, tuple[str, ...]], *,
    contributors_of: Callable[[RetractedKey], tuple[str, ...]], now_millis: int,
) -> list[RetractedEntry]:
    """Automatic retractions of merged observations a (new) secret rule now flags; added in place."""
    added: list[RetractedEntry] = []
    for retracted, rules in sorted(hits.items()):
        if retracted in current.entries:
            continue
        entry = RetractedEntry(retracted, f"credential found by secret rule {', '.join(rules)}", MERGE_RETRACTOR,
                               now_millis, f"secret-rule:{rules[0]}", tuple(sorted(set(contributors_of(retracted)))))
        current.entries[retracted] = entry
        added.append(entry)
    return added


def _entry_order(entry: RetractedEntry) -> tuple[Any, ...]:
    return (entry.key.session, entry.key.created_at_epoch, entry.key.title_sha256)


# --- merged/<project>/retracted.json -----------------------------------------------------


def dump_retracted(project: str, retracted: RetractedSet) -> bytes:
    doc = {
        "version": RETRACTED_VERSION,
        "project": project,
        "retractedCount": len(retracted.entries),
        "retracted": [entry.to_json() for entry in sorted(retracted.entries.values(), key=_entry_order)],
        "processedRetractions": {path: retracted.processed[path] for path in sorted(retracted.processed)},
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def parse_retracted(raw: bytes, source: str) -> RetractedSet:
    """Read a retracted set back; raises ``QuarantineReason`` (the caller names the file)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise QuarantineReason(f"{source} is not valid JSON ({error})") from None
    if not isinstance(doc, dict) or type(doc.get("version")) is not int:
        raise QuarantineReason(f"{source} is not a retracted-set file")
    if doc["version"] > RETRACTED_VERSION:
        raise QuarantineReason(
            f"{source} has version {doc['version']}, newer than this mem-sync reads; upgrade mem-sync")
    entries: dict[RetractedKey, RetractedEntry] = {}
    for index, item in enumerate(doc.get("retracted") or []):
        key = _parse_key(item, index)
        at = item.get("retractedAtEpoch")
        contributors = item.get("contributors") or []
        if not isinstance(contributors, list) or not all(isinstance(name, str) for name in contributors):
            raise QuarantineReason(f"{source}: retracted[{index}].contributors must be a list of names")
        entries[key] = RetractedEntry(
            key,
            str(item.get("reason", "")),
            str(item.get("retractedBy", "")),
            at if type(at) is int else 0,
            str(item.get("source", "")),
            tuple(contributors),
        )
    processed = doc.get("processedRetractions") or {}
    if not isinstance(processed, dict) or not all(isinstance(value, str) for value in processed.values()):
        raise QuarantineReason(f"{source}: processedRetractions must map paths to digests")
    return RetractedSet(entries, dict(processed))


def retracted_matcher(retracted: Collection[RetractedKey]) -> Callable[[CompositeKey], bool]:
    """Whether a composite key is retracted. Only keys of a session that has a retracted key are
    digested, so the check costs next to nothing on the rows of other sessions."""
    sessions = {key.session for key in retracted}
    return lambda key: key[0] in sessions and RetractedKey.of(key) in retracted


def without_retracted(keys: Sequence[CompositeKey], retracted: RetractedSet) -> list[bool]:
    """Per key, True where it may stay (it is not retracted)."""
    if not retracted.entries:
        return [True] * len(keys)
    is_retracted = retracted_matcher(retracted.entries.keys())
    return [not is_retracted(key) for key in keys]


def retracted_digest(keys: Iterable[RetractedKey]) -> str:
    """One digest of a set of retracted keys (order-free): what a profile summary was counted without."""
    digest = hashlib.sha256()
    for key in sorted(keys):
        digest.update(f"{key.session}\0{key.title_sha256}\0{key.created_at_epoch}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def parse_maintainers(text: str) -> frozenset[str]:
    """``MAINTAINERS``: one developer name a line; blank lines and ``#`` comments ignored."""
    names = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(name for name in names if name)

