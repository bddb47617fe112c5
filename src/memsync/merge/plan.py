"""Candidates + settings -> what the merged set becomes (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress, repeat
from math import log1p
from operator import add, ge, mul, ne, sub, truediv

from memsync.merge.dedup import CandidateTable
from memsync.merge.evict import select_survivors
from memsync.merge.scoring import MILLIS_PER_DAY, RECENCY_HALF_DAYS, Weights
from memsync.model import CompositeKey


@dataclass(frozen=True)
class MergeSettings:
    cap: int
    weights: Weights
    strategy: str  # "passive" (diffusion) or "hook" (access counts)
    now_millis: int


@dataclass(frozen=True)
class ProjectPlan:
    survivors: list[CompositeKey]  # in output order
    survivor_rows: list[int]  # the same, as table rows
    scores: list[float]  # of the survivors, in output order
    evicted: list[CompositeKey]
    added: list[CompositeKey]  # survivors that were not in the previous merged set
    keep_count: int
    retracted: list[CompositeKey] = field(default_factory=list)  # excluded rows, by key


def plan_project(
    table: CandidateTable,
    previous_rows: int,
    total_devs: int,
    settings: MergeSettings,
    excluded: frozenset[int] = frozenset(),
) -> ProjectPlan:
    """``previous_rows``: how many of the table's first rows are the previous merged set;
    ``excluded``: rows that may not survive whatever their score (retracted keys)."""
    keys = table.keys()
    scores = score_rows(table, total_devs, settings)
    selection = select_survivors(keys, scores, table.keep, settings.cap, excluded)
    added = sorted(compress(selection.survivors, map(ge, selection.survivor_rows, repeat(previous_rows))))
    return ProjectPlan(
        survivors=selection.survivors,
        survivor_rows=selection.survivor_rows,
        scores=list(map(scores.__getitem__, selection.survivor_rows)),
        evicted=selection.evicted,
        added=added,
        keep_count=selection.keep_count,
        retracted=sorted(map(keys.__getitem__, excluded)),
    )


def score_rows(table: CandidateTable, total_devs: int, settings: MergeSettings) -> list[float]:
    """``scoring.score`` for every row at once: the common part column-wise, the third term
    row by row only where it differs (several contributors, or access counts).

    Each column is one chain of C-level ``map`` passes, in exactly the order of operations of
    ``type + recency + third`` in ``scoring.score`` (the bytes of every score depend on it):
    a function call per row cost a large share of a cold merge's planning."""
    weights = settings.weights
    hook = settings.strategy == "hook"
    # diffusion of a key only one developer has: most keys; the others are corrected below
    lone = weights.third / total_devs if total_devs > 0 and not hook else 0.0
    now, created = settings.now_millis, table.created
    ages = map(sub, repeat(now), created)
    if created and max(created) > now:  # a clock ahead of "now" somewhere: those ages count as 0
        ages = map(max, ages, repeat(0))
    recency = map(truediv, repeat(weights.recency),
                  map(add, repeat(1.0), map(log1p, map(truediv, ages, repeat(MILLIS_PER_DAY * RECENCY_HALF_DAYS)))))
    typed = map(add, map(mul, repeat(weights.type), table.type_weight), recency)
    scores = list(map(add, typed, repeat(lone)))
    if hook:
        top = max(table.access, default=0)
        if top > 0:
            scores = list(map(add, scores, map(mul, repeat(weights.third / top), table.access)))
    elif total_devs > 0:
        counts = list(map(len, table.devs.values()))
        several = list(map(ne, counts, repeat(1)))  # one developer: the lone share is already in
        extra = {count: weights.third * (count - 1) / total_devs for count in set(counts)}
        for row, count in zip(compress(table.devs, several), compress(counts, several), strict=True):
            scores[row] += extra[count]
    return scores
