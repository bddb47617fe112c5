"""The cap: keep-tagged always survive, then the best-scored rest; ties break by key."""

from __future__ import annotations

import heapq
from collections.abc import Set
from dataclasses import dataclass
from itertools import compress, filterfalse, islice, repeat
from operator import eq, ge, not_

from memsync.model import CompositeKey


@dataclass(frozen=True)
class Selection:
    survivors: list[CompositeKey]  # output order: keep-tagged by key, then score desc, key asc
    survivor_rows: list[int]  # the same, as positions in the input lists
    evicted: list[CompositeKey]  # in input order (sorting a million keys is not worth it)
    keep_count: int


def select_survivors(keys: list[CompositeKey], scores: list[float], keep: Set[int], cap: int,
                     excluded: Set[int] = frozenset()) -> Selection:
    """Choose the rows in ``keep`` plus the best ``cap - len(keep)`` others. Independent of
    input order: equal scores rank by key. ``excluded`` rows (retracted) neither survive nor
    count as evicted."""
    if excluded:
        keep = set(keep) - excluded
    kept = sorted(keep, key=keys.__getitem__)
    room = max(cap - len(kept), 0)
    count = len(keys)
    if room == 0:
        ranked: list[int] = []
    elif room + len(kept) >= count // 8:  # most rows stay: ranking them all is the cheapest
        skip = keep | excluded if excluded else keep
        ranked = rank_rows(list(filterfalse(skip.__contains__, range(count))), scores, keys)[:room]
    else:
        # the smallest score that can still make it, found on bare floats (C-speed comparisons);
        # only the rows at or above it are ranked
        floor = heapq.nlargest(room + len(kept) + len(excluded), scores)[-1]
        skip = keep | excluded if excluded else keep
        contenders = filterfalse(skip.__contains__, compress(range(count), map(ge, scores, repeat(floor))))
        ranked = rank_rows(list(contenders), scores, keys)[:room]
    rows = kept + ranked
    taken = set(rows) | excluded if excluded else set(rows)
    evicted = list(compress(keys, map(not_, map(taken.__contains__, range(count)))))
    return Selection(survivors=list(map(keys.__getitem__, rows)), survivor_rows=rows, evicted=evicted,
                     keep_count=len(kept))


def rank_rows(rows: list[int], scores: list[float], keys: list[CompositeKey]) -> list[int]:
    """``rows`` by score, best first, equal scores by key. Sorting on the bare floats runs in C;
    only the (rare) runs of equal scores are then put in key order."""
    order = sorted(rows, key=scores.__getitem__, reverse=True)
    ordered = list(map(scores.__getitem__, order))
    ties = list(compress(range(len(order) - 1), map(eq, ordered, islice(ordered, 1, None))))
    position = 0
    while position < len(ties):
        first = last = ties[position]
        while position + 1 < len(ties) and ties[position + 1] == last + 1:
            position += 1
            last += 1
        order[first:last + 2] = sorted(order[first:last + 2], key=keys.__getitem__)
        position += 1
    return order
