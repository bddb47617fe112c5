"""Composite-key dedup: one row per key, a deterministic winner, contributors by name.

The table is column-wise (lists indexed by row) rather than one object per
key: a cold merge of a million observations inserts most keys with a few C-level
``extend`` calls per file, and memory stays near the size of the keys themselves.
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import ne
from typing import Any

from memsync.merge.ingest import FileRecords
from memsync.model import CompositeKey

# The previously merged copy outranks any new copy of the same key, so merged content
# does not flap between runs; new copies only add contributors.
PREVIOUS_EXPORT = 2**62
PREVIOUS_RANK = -1


class CandidateTable:
    """Distinct observations of one project; row ``i`` is the ``i``-th key inserted."""

    def __init__(self) -> None:
        # Plain lists, not arrays: extending a list from a list is a pointer copy, while an array
        # converts every item; repeated values (weights, exports, developers) share one object.
        self.rows: dict[CompositeKey, int] = {}
        self.created: list[int] = []  # the key's created_at_epoch, in ms
        self.type_weight: list[float] = []  # of the winning copy
        self.export: list[int] = []  # winning copy: its file's exportedAtEpoch in ms
        self.dev: list[str] = []  # winning copy: its developer
        self.rank: list[int] = []  # winning copy: its file's position in sorted path order; -1 previous
        self.index: list[int] = []  # winning copy: its position in that file's observations array
        self.access: list[int] = []  # summed over copies (hook strategy)
        self.keep: set[int] = set()  # a keep tag on any copy protects the key
        # rows whose contributors are not just {dev[row]}: several developers, or a previous
        # merge (a sorted tuple, shared by every row with the same names, copied on first change)
        self.devs: dict[int, set[str] | tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self.dev)

    def keys(self) -> list[CompositeKey]:
        return list(self.rows)

    def add_file(self, records: FileRecords, *, dev: str, rank: int) -> None:
        """Fold one file's copies in (the hot loop of a cold merge)."""
        keys = records.keys()
        rows = self.rows
        is_new = [key not in rows for key in keys]
        start = len(self.dev)
        count = sum(is_new)
        indexes = records.indexes if records.indexes is not None else range(len(keys))
        access = records.access if records.access is not None else repeat(0, len(keys))
        rows.update(zip(compress(keys, is_new), range(start, start + count), strict=False))
        self.created.extend(compress(records.created, is_new))
        self.type_weight.extend(compress(records.type_weights, is_new))
        self.export.extend(repeat(records.exported_at_millis, count))
        self.dev.extend(repeat(dev, count))
        self.rank.extend(repeat(rank, count))
        self.index.extend(compress(indexes, is_new))
        self.access.extend(compress(access, is_new))
        if count == len(keys):
            self.keep.update(start + position for position in records.kept)
            return
        kept = set(records.kept)
        self.keep.update(rows[keys[position]] for position in kept if is_new[position])
        # only the copies of keys seen before need a row-by-row look (about a fifth of them)
        for position in [position for position, new in enumerate(is_new) if not new]:
            self._add_copy(rows[keys[position]], dev, records.type_weights[position], records.exported_at_millis,
                           rank, indexes[position], records.access[position] if records.access else 0,
                           position in kept)

    def add_previous(self, records: FileRecords) -> None:
        """The rows of the previous latest.json, before any new file: they win over new copies."""
        assert not self.rows, "the previous merged set goes in first"
        keys = records.keys()
        count = len(keys)
        self.rows.update(zip(keys, range(count), strict=True))
        self.created.extend(records.created)
        self.type_weight.extend(records.type_weights)
        self.export.extend(repeat(PREVIOUS_EXPORT, count))
        self.dev.extend(repeat("", count))
        self.rank.extend(repeat(PREVIOUS_RANK, count))
        self.index.extend(records.indexes if records.indexes is not None else range(count))
        self.access.extend(records.access if records.access is not None else repeat(0, count))
        self.devs.update(zip(range(count), records.contributors or repeat((), count), strict=False))
        self.keep.update(records.kept)

    def _add_copy(self, row: int, dev: str, type_weight: float, export: int, rank: int, index: int,
                  access: int, keep: bool) -> None:
        devs = self.devs.get(row)
        if devs is None:
            if dev != self.dev[row]:
                self.devs[row] = {self.dev[row], dev}
        elif type(devs) is tuple:
            if dev not in devs:
                self.devs[row] = {*devs, dev}
        else:
            devs.add(dev)
        if keep:
            self.keep.add(row)
        if access:
            self.access[row] += access
        # newest export wins; then the alphabetically first developer, file and position
        current = self.export[row]
        if export < current or (export == current and (dev, rank, index) >= (self.dev[row], self.rank[row],
                                                                               self.index[row])):
            return
        self.type_weight[row] = type_weight
        self.export[row] = export
        self.dev[row] = dev
        self.rank[row] = rank
        self.index[row] = index

    def contributors_of(self, rows: list[int]) -> list[tuple[str, ...]]:
        """The sorted developer names of each of ``rows``, as tuples (a previous merge's are
        shared, not copied: do not mutate them)."""
        found: list[Any] = list(map(self.devs.get, rows))
        # most rows hold a shared tuple already; only the others are looked at one by one
        for position in compress(range(len(found)), map(ne, map(type, found), repeat(tuple))):
            names = found[position]
            found[position] = (self.dev[rows[position]],) if names is None else tuple(sorted(names))
        return found
