"""Composite-key dedup: one candidate per key, a deterministic winner, contributors by name."""

from __future__ import annotations

from collections.abc import Iterable

from memsync.merge.ingest import FileRecords
from memsync.model import CompositeKey

# The previously merged copy outranks any new copy of the same key, so merged content
# does not flap between runs; new copies only add contributors.
PREVIOUS_EXPORT = 2**62
PREVIOUS_RANK = -1


class Candidate:
    """Everything the merge needs about one composite key, and nothing more (1M of these fit)."""

    __slots__ = ("type", "keep", "devs", "access", "export_millis", "dev", "rank", "index")

    def __init__(self, kind: str, keep: bool, dev: str, access: int,
                 export_millis: int, rank: int, index: int) -> None:
        self.type = kind
        self.keep = keep
        self.devs: str | set[str] = dev  # a lone name until a second developer shows up
        self.access = access
        self.export_millis = export_millis
        self.dev = dev
        self.rank = rank  # position of the source file in sorted path order; -1 = previous merge
        self.index = index

    def add_copy(self, kind: str, keep: bool, dev: str, access: int,
                 export_millis: int, rank: int, index: int) -> None:
        devs = self.devs
        if isinstance(devs, str):
            if dev != devs:
                self.devs = {devs, dev}
        else:
            devs.add(dev)
        # a keep tag on any copy protects the key: someone on the team asked for it
        self.keep = self.keep or keep
        self.access += access
        if _wins((export_millis, dev, rank, index), self):
            self.type = kind
            self.export_millis = export_millis
            self.dev = dev
            self.rank = rank
            self.index = index

    def add_contributors(self, names: Iterable[str]) -> None:
        for name in names:
            devs = self.devs
            if isinstance(devs, str):
                if name != devs:
                    self.devs = {devs, name}
            else:
                devs.add(name)

    @property
    def contributor_count(self) -> int:
        return 1 if isinstance(self.devs, str) else len(self.devs)

    def contributors(self) -> list[str]:
        if isinstance(self.devs, str):
            return [self.devs] if self.devs else []
        return sorted(name for name in self.devs if name)


def _wins(challenger: tuple[int, str, int, int], current: Candidate) -> bool:
    """Newest export wins; then the alphabetically first developer, file and position."""
    export_millis, dev, rank, index = challenger
    if export_millis != current.export_millis:
        return export_millis > current.export_millis
    return (dev, rank, index) < (current.dev, current.rank, current.index)


def add_copies(table: dict[CompositeKey, Candidate], records: FileRecords, *, dev: str, rank: int) -> None:
    """Fold one file's copies into ``table`` (the hot loop of a cold merge)."""
    get = table.get
    export_millis = records.exported_at_millis
    kept = records.kept
    access = records.access
    for position, (key, kind, index) in enumerate(zip(records.keys, records.types, records.indexes, strict=True)):
        keep = bool(kept) and position in kept
        accesses = access[position] if access else 0
        candidate = get(key)
        if candidate is None:
            table[key] = Candidate(kind, keep, dev, accesses, export_millis, rank, index)
        else:
            candidate.add_copy(kind, keep, dev, accesses, export_millis, rank, index)
