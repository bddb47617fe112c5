"""The cap: keep-tagged always survive, then the best-scored rest; ties break by key."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from memsync.model import CompositeKey


@dataclass(frozen=True)
class Selection:
    survivors: list[CompositeKey]  # output order: keep-tagged by key, then score desc, key asc
    survivor_rows: list[int]  # the same, as positions in the input lists
    evicted: list[CompositeKey]  # in input order (sorting a million keys is not worth it)
    keep_count: int


def select_survivors(
    keys: list[CompositeKey], scores: list[float], keep: list[bool], cap: int
) -> Selection:
    """Choose at most ``max(cap, keep-tagged)`` keys. Independent of input order."""
    kept = sorted((i for i, is_kept in enumerate(keep) if is_kept), key=keys.__getitem__)
    rest = [i for i, is_kept in enumerate(keep) if not is_kept]
    room = max(cap - len(kept), 0)
    if len(rest) <= room:
        chosen = rest
    elif room == 0:
        chosen = []
    else:
        # threshold on bare floats first (C-speed comparisons), tuples only for the boundary
        threshold = heapq.nlargest(room, (scores[i] for i in rest))[-1]
        above = [i for i in rest if scores[i] > threshold]
        tied = sorted((i for i in rest if scores[i] == threshold), key=keys.__getitem__)
        chosen = above + tied[: room - len(above)]
    chosen_set = set(chosen)
    ranked = sorted(chosen, key=lambda i: (-scores[i], keys[i]))
    rows = kept + ranked
    evicted = [keys[i] for i in rest if i not in chosen_set]
    return Selection(survivors=[keys[i] for i in rows], survivor_rows=rows, evicted=evicted,
                     keep_count=len(kept))
