"""Candidates + settings -> what the merged set becomes (pure)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from memsync.merge.dedup import Candidate
from memsync.merge.evict import select_survivors
from memsync.merge.scoring import Weights, access_weight, diffusion_weight, score
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
    scores: dict[CompositeKey, float]  # survivors only
    evicted: list[CompositeKey]
    added: list[CompositeKey]  # survivors that were not in the previous merged set
    keep_count: int


def plan_project(
    table: dict[CompositeKey, Candidate],
    previous: Collection[CompositeKey],
    total_devs: int,
    settings: MergeSettings,
) -> ProjectPlan:
    keys = list(table)
    candidates = list(table.values())
    scores = score_candidates(keys, candidates, total_devs, settings)
    selection = select_survivors(keys, scores, [c.keep for c in candidates], settings.cap)
    position = {key: i for i, key in enumerate(keys)} if selection.survivors else {}
    survivor_scores = {key: scores[position[key]] for key in selection.survivors}
    added = sorted(key for key in selection.survivors if key not in previous)
    return ProjectPlan(
        survivors=selection.survivors,
        scores=survivor_scores,
        evicted=selection.evicted,
        added=added,
        keep_count=selection.keep_count,
    )


def score_candidates(
    keys: list[CompositeKey],
    candidates: list[Candidate],
    total_devs: int,
    settings: MergeSettings,
) -> list[float]:
    weights = settings.weights
    now = settings.now_millis
    if settings.strategy == "hook":
        max_access = max((c.access for c in candidates), default=0)
        thirds = [access_weight(c.access, max_access) for c in candidates]
    else:
        thirds = [diffusion_weight(c.contributor_count, total_devs) for c in candidates]
    return [
        score(c.type, key[2], third, now, weights)
        for key, c, third in zip(keys, candidates, thirds, strict=True)
    ]
