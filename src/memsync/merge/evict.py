"""The cap: keep-tagged always survive, then the best-scored rest; ties break by key."""

from __future__ import annotations

import heapq
from collections.abc import Set
from dataclasses import dataclass

from memsync.model import CompositeKey


@dataclass(frozen=True)
class Selection:
    survivors: list[CompositeKey]  # output order: keep-tagged by key, then score desc, key asc
    survivor_rows: list[int]  # the same, as positions in the input lists
    evicted: list[CompositeKey]  # in input order (sorting a million keys is not worth it)
    keep_count: int


def select_survivors(keys: list[CompositeKey], scores: list[float], keep: Set[int], cap: int) -> Selection:
    """Choose the rows in ``keep`` plus the best ``cap - len(keep)`` others. Independent of
    input order: equal scores rank by key."""
    kept = sorted(keep, key=keys.__getitem__)
    room = max(cap - len(kept), 0)
    if room == 0:
        chosen: list[int] = []
    elif len(keys) - len(kept) <= room:
        chosen = [i for i in range(len(keys)) if i not in keep]
    else:
        # the smallest score that can still make it, found on bare floats (C-speed comparisons);
        # only the few rows at or above it are ranked with their keys
        floor = heapq.nlargest(room + len(kept), scores)[-1]
        contenders = [i for i, score in enumerate(scores) if score >= floor and i not in keep]
        chosen = sorted(contenders, key=lambda i: (-scores[i], keys[i]))[:room]
    ranked = sorted(chosen, key=lambda i: (-scores[i], keys[i]))
    rows = kept + ranked
    taken = set(rows)
    evicted = [key for i, key in enumerate(keys) if i not in taken]
    return Selection(survivors=[keys[i] for i in rows], survivor_rows=rows, evicted=evicted,
                     keep_count=len(kept))
