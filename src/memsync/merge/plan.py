"""Candidates + settings -> what the merged set becomes (pure)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from math import log1p

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


def plan_project(
    table: CandidateTable,
    previous: Collection[CompositeKey],
    total_devs: int,
    settings: MergeSettings,
) -> ProjectPlan:
    keys = table.keys()
    scores = score_rows(table, total_devs, settings)
    selection = select_survivors(keys, scores, table.keep, settings.cap)
    added = sorted(key for key in selection.survivors if key not in previous)
    return ProjectPlan(
        survivors=selection.survivors,
        survivor_rows=selection.survivor_rows,
        scores=[scores[row] for row in selection.survivor_rows],
        evicted=selection.evicted,
        added=added,
        keep_count=selection.keep_count,
    )


def score_rows(table: CandidateTable, total_devs: int, settings: MergeSettings) -> list[float]:
    """``scoring.score`` for every row at once: the common part column-wise, the third term
    row by row only where it differs (several contributors, or access counts)."""
    weights = settings.weights
    now = settings.now_millis
    hook = settings.strategy == "hook"
    # diffusion of a key only one developer has: most keys; the others are corrected below
    lone = weights.third / total_devs if total_devs > 0 and not hook else 0.0
    # recency_weight inlined: a function call per row is a third of a cold merge's planning
    w_type, w_recency, scale = weights.type, weights.recency, MILLIS_PER_DAY * RECENCY_HALF_DAYS
    scores = [
        w_type * type_weight + w_recency / (1.0 + log1p((now - created if now > created else 0) / scale)) + lone
        for created, type_weight in zip(table.created, table.type_weight, strict=True)
    ]
    if hook:
        top = max(table.access, default=0)
        if top > 0:
            third = weights.third / top
            scores = [s + third * accesses for s, accesses in zip(scores, table.access, strict=True)]
    elif total_devs > 0:
        for row, devs in table.devs.items():
            scores[row] += weights.third * (len(devs) - 1) / total_devs
    return scores
