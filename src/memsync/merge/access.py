"""Team access counts (pure): how often the team's Claude retrieved each merged observation.

A developer's export carries, per observation, ``access_count``: the accesses of the last 180
days on that developer's machine (the PostToolUse hook's log). The team's count for a key is
the sum over developers of each developer's **latest** count for it: a re-export replaces that
developer's earlier count instead of adding to it. The merge only reads new contribution files,
so each developer's latest counts are kept between runs in ``merged/<project>/access-counts.json``
(this module's ``encode``/``decode``), beside latest.json, whose observations carry the team
count as ``access_count`` (``--strategy hook`` scores with it, importers see it).

"Latest" is by the file's ``exportedAtEpoch``, per key and developer: the files of one run are
folded oldest first (``fold_in_order``), whatever order the workers read them in, and a newer
export that holds the key without a count sets that developer's count to 0 (kept as a 0 entry,
so an older file arriving in a later run, a late pull request, cannot bring the count back).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress

import orjson

from memsync.errors import QuarantineReason
from memsync.model import CompositeKey

ACCESS_COUNTS_NAME = "access-counts.json"
ACCESS_COUNTS_VERSION = 1


class TeamAccess:
    """Per developer and key: (count, exportedAtEpoch ms of the export that said so)."""

    def __init__(self, by_dev: dict[str, dict[CompositeKey, tuple[int, int]]] | None = None) -> None:
        self.by_dev: dict[str, dict[CompositeKey, tuple[int, int]]] = by_dev or {}

    def __bool__(self) -> bool:
        return any(self.by_dev.values())

    def fold(self, dev: str, exported_at: int, keys: Sequence[CompositeKey], counts: Sequence[int] | None) -> None:
        """One contribution file of ``dev``: its count for each of its keys (0 when absent)."""
        known = self.by_dev.get(dev)
        has_counts = counts is not None and any(counts)
        if not known and not has_counts:
            return  # the usual file without access data, from a developer without any: nothing to do
        if known is None:
            known = self.by_dev[dev] = {}
        values: Iterable[int] = counts if counts is not None else [0] * len(keys)
        for key, count in zip(keys, values, strict=True):
            held = known.get(key)
            if held is None:
                if count:
                    known[key] = (count, exported_at)
            elif exported_at >= held[1]:
                # a zero stays as a marker, so an older file read later cannot bring the count back
                known[key] = (count, exported_at)

    def team_counts(self, keys: Sequence[CompositeKey]) -> list[int]:
        """The team's count for each of ``keys``."""
        totals = [0] * len(keys)
        if not self:
            return totals
        position = {key: i for i, key in enumerate(keys)}
        for known in self.by_dev.values():
            for key, (count, _) in known.items():
                i = position.get(key)
                if i is not None and count:
                    totals[i] += count
        return totals

    def restricted_to(self, keys: Iterable[CompositeKey]) -> TeamAccess:
        """Only the entries of ``keys`` (the merged set): an evicted key's counts go with it."""
        wanted = set(keys)
        kept: dict[str, dict[CompositeKey, tuple[int, int]]] = {}
        for dev, known in self.by_dev.items():
            entries = {key: value for key, value in known.items() if key in wanted}
            if entries:
                kept[dev] = entries
        return TeamAccess(kept)


FileCounts = tuple[int, str, Sequence[CompositeKey], Sequence[int] | None]  # (exportedAt ms, dev, keys, counts)


def fold_in_order(access: TeamAccess, files: Iterable[FileCounts]) -> None:
    """Fold one run's files oldest first (ties by developer), so the newest export wins."""
    for exported_at, dev, keys, counts in sorted(files, key=lambda f: (f[0], f[1])):
        access.fold(dev, exported_at, keys, counts)


def encode(access: TeamAccess, project: str) -> bytes:
    """Deterministic bytes: developers and keys sorted, one entry a line."""
    lines = [b'{\n  "version": %d,\n  "project": ' % ACCESS_COUNTS_VERSION + orjson.dumps(project)
             + b',\n  "developers": {']
    devs = sorted(dev for dev, known in access.by_dev.items() if known)
    for n, dev in enumerate(devs):
        entries = sorted(access.by_dev[dev].items())
        rows = b",\n".join(b"      " + orjson.dumps([*key, count, when]) for key, (count, when) in entries)
        comma = b"," if n < len(devs) - 1 else b""
        lines.append(b"\n    " + orjson.dumps(dev) + b": [\n" + rows + b"\n    ]" + comma)
    lines.append(b"\n  }\n}\n" if devs else b"}\n}\n")
    return b"".join(lines)


def decode(raw: bytes, project: str) -> TeamAccess:
    """Parse ``access-counts.json``; raise ``QuarantineReason`` for anything malformed."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise QuarantineReason(f"is not valid JSON ({error})") from None
    if not isinstance(doc, dict) or doc.get("version") != ACCESS_COUNTS_VERSION:
        raise QuarantineReason(f"is not a version {ACCESS_COUNTS_VERSION} access-counts document")
    if doc.get("project") != project:
        raise QuarantineReason(f"belongs to project {doc.get('project')!r}, not {project!r}")
    developers = doc.get("developers")
    if not isinstance(developers, dict):
        raise QuarantineReason("has no developers object")
    by_dev: dict[str, dict[CompositeKey, tuple[int, int]]] = {}
    for dev, rows in developers.items():
        if not isinstance(rows, list):
            raise QuarantineReason(f"developers.{dev} must be an array")
        known: dict[CompositeKey, tuple[int, int]] = {}
        for row in rows:
            if not (isinstance(row, list) and len(row) == 5 and isinstance(row[0], str) and isinstance(row[1], str)
                    and all(type(v) is int and v >= 0 for v in row[2:])):
                raise QuarantineReason(f"developers.{dev} holds a malformed entry {str(row)[:80]}")
            known[(row[0], row[1], row[2])] = (row[3], row[4])
        by_dev[dev] = known
    return TeamAccess(by_dev)


def changed_positions(old: Sequence[int], new: Sequence[int]) -> list[int]:
    """Positions whose count differs (their heads in latest.json must be written again)."""
    return list(compress(range(len(new)), (a != b for a, b in zip(old, new, strict=True))))
