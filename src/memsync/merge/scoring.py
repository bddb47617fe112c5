"""Eviction scores: how much an observation is worth keeping, in [0, 1] (docs/merge-semantics.md, Scoring)."""

from __future__ import annotations

import math
from dataclasses import dataclass

TYPE_WEIGHTS: dict[str, float] = {
    "decision": 1.0,
    "bugfix": 0.9,
    "feature": 0.7,
    "discovery": 0.5,
    "refactor": 0.4,
    "change": 0.3,
}
UNKNOWN_TYPE_WEIGHT = TYPE_WEIGHTS["change"]
MILLIS_PER_DAY = 86_400_000
RECENCY_HALF_DAYS = 150  # the age at which recency has lost ln 2 of its weight


@dataclass(frozen=True)
class Weights:
    """Blend of type, recency and a third signal (diffusion in passive mode, access in hook mode)."""

    type: float
    recency: float
    third: float

    def __post_init__(self) -> None:
        """ValueError for weights no score can use; the caller names the setting that set them."""
        parts = (self.type, self.recency, self.third)
        if any(part < 0 for part in parts):
            raise ValueError(f"scoring weights must not be negative, got {parts}")
        if not math.isclose(sum(parts), 1.0, abs_tol=1e-9):
            raise ValueError(
                f"scoring weights must sum to 1, got {self.type} + {self.recency} + {self.third} "
                f"= {sum(parts):g}"
            )


STRATEGY_WEIGHTS: dict[str, Weights] = {
    "passive": Weights(type=0.4, recency=0.3, third=0.3),
    "hook": Weights(type=0.3, recency=0.2, third=0.5),
}


def type_weight(kind: str) -> float:
    return TYPE_WEIGHTS.get(kind, UNKNOWN_TYPE_WEIGHT)


def recency_weight(days_old: float) -> float:
    """1 today, about 0.59 after 150 days; a future date counts as today."""
    return 1.0 / (1.0 + math.log1p(max(days_old, 0.0) / RECENCY_HALF_DAYS))


def diffusion_weight(devs_having_it: int, total_devs: int) -> float:
    # counts developers, never exporter-local ids: ids collide across machines
    return devs_having_it / total_devs if total_devs > 0 else 0.0


def access_weight(accesses: int, max_accesses: int) -> float:
    return accesses / max_accesses if max_accesses > 0 else 0.0


def score(type_weight_value: float, created_millis: int, third: float, now_millis: int,
          weights: Weights) -> float:
    """``weights.type·type + weights.recency·recency + weights.third·third``.

    ``merge/plan.py`` computes the same sum column-wise for a whole project.
    """
    days_old = (now_millis - created_millis) / MILLIS_PER_DAY
    return (
        weights.type * type_weight_value
        + weights.recency * recency_weight(days_old)
        + weights.third * third
    )
