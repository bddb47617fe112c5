"""Keeping each call under the token budget: estimates and the split into parts. Pure.

An input over the budget is split by concept clusters (each observation joins the cluster of
its most widespread concept that still tells observations apart, so clusters are few and
coherent), packed largest first into
parts; a cluster that alone exceeds a part is cut by date into consecutive runs. Each part
is distilled on its own and the partial results merged in a final call.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from memsync.distill.select import SentObservation
from memsync.errors import MemSyncError

# Characters per token of English prose and compact JSON, on the low side so the estimate
# errs towards more tokens (claude-mem-sync uses 4).
CHARS_PER_TOKEN = 3.5
NO_CONCEPT = ""


class BudgetError(MemSyncError):
    """The budget cannot fit even one observation beside the instructions."""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_output_tokens(observation_count: int, max_output_tokens: int) -> int:
    """A rule or section per few observations: about 15 tokens of answer per observation on top
    of a fixed share (claude-mem-sync's table: 100 observations ~5K, 500 ~10K)."""
    return min(max_output_tokens, 2_000 + 16 * observation_count)


@dataclass(frozen=True)
class Part:
    observations: tuple[SentObservation, ...]
    cluster: str  # the concept(s) it holds, for the dry run ("" = several or none)


def primary_concepts(observations: Sequence[SentObservation]) -> dict[str, str]:
    """short id -> the concept whose cluster it joins: of its concepts held by at most half
    of all observations, the most widespread (ties: by name). A tag nearly every note carries
    ("team", the project's name) would put everything in one cluster, so it counts only
    when the observation has nothing else."""
    spread = Counter(c for obs in observations for c in set(obs.concepts))
    limit = max(1, len(observations) // 2)

    def primary(concepts: tuple[str, ...]) -> str:
        telling = [c for c in set(concepts) if spread[c] <= limit] or list(set(concepts))
        return min(telling, key=lambda c: (-spread[c], c), default=NO_CONCEPT)

    return {obs.short_id: primary(obs.concepts) for obs in observations}


def split_into_parts(observations: Sequence[SentObservation], sizes: dict[str, int],
                     capacity: int) -> list[Part]:
    """Parts whose observations' estimated tokens (``sizes``) each stay within ``capacity``."""
    if not observations:
        return []
    largest = max(sizes[o.short_id] for o in observations)
    if largest > capacity:
        raise BudgetError(
            f"one observation alone needs ~{largest} tokens but a call leaves room for "
            f"{max(capacity, 0)}; raise distillation.maxTokenBudget")
    if sum(sizes.values()) <= capacity:
        return [Part(tuple(observations), "")]
    primary = primary_concepts(observations)
    clusters: dict[str, list[SentObservation]] = {}
    for obs in observations:  # chronological already: runs cut by date come out in order
        clusters.setdefault(primary[obs.short_id], []).append(obs)
    pieces: list[tuple[str, list[SentObservation], int]] = []
    for concept, members in clusters.items():
        run: list[SentObservation] = []
        run_size = 0
        for obs in members:
            size = sizes[obs.short_id]
            if run and run_size + size > capacity:
                pieces.append((concept, run, run_size))
                run, run_size = [], 0
            run.append(obs)
            run_size += size
        pieces.append((concept, run, run_size))
    # First fit, largest first: few parts, and the same input always packs the same way.
    pieces.sort(key=lambda piece: (-piece[2], piece[0], piece[1][0].short_id))
    bins: list[tuple[list[str], list[SentObservation], list[int]]] = []
    for concept, members, size in pieces:
        for names, held, used in bins:
            if used[0] + size <= capacity:
                names.append(concept)
                held.extend(members)
                used[0] += size
                break
        else:
            bins.append(([concept], list(members), [size]))
    order = {obs.short_id: index for index, obs in enumerate(observations)}
    parts = []
    for names, held, _ in bins:
        held.sort(key=lambda o: order[o.short_id])
        distinct = sorted(set(names))
        parts.append(Part(tuple(held), distinct[0] if len(distinct) == 1 else ", ".join(distinct)))
    parts.sort(key=lambda p: order[p.observations[0].short_id])
    return parts
