"""The per-observation reference path of the profile metrics: the oracle the fast path is held to.

Each observation becomes one ``ObservationFacts`` record (``dev_facts``: parsed once,
deduplicated by composite key), a developer's records are counted in one pass (``summarize``)
and the team's statistics added up developer by developer (``team_stats``). The product counts
columns instead (``memsync.profiles.columns``); tests check both give the same summaries and
the same documents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

from memsync.model import CompositeKey, Observation, composite_key
from memsync.profiles.metrics import (
    DevSummary,
    ObservationCounts,
    TeamStats,
    TeamTally,
    concept_list,
    day_number,
    directory_of,
    file_list,
)


class ObservationFacts(NamedTuple):
    """What the metrics need from one observation, parsed once (narratives are not kept)."""

    key: CompositeKey
    type: str
    concepts: tuple[str, ...]
    files: tuple[str, ...]
    day: int | None


_KEY, _TYPE, _CONCEPTS, _FILES, _DAY = (itemgetter(index) for index in range(5))


def observation_facts(obs: Observation) -> ObservationFacts:
    """The record of a validated observation dict (``model.check_observation``)."""
    return ObservationFacts(
        key=composite_key(obs),
        type=str(obs.get("type") or "unknown"),
        concepts=concept_list(obs.get("concepts")),
        files=file_list(obs.get("files_read"), obs.get("files_modified")),
        day=day_number(obs.get("created_at_epoch")),
    )


def dev_facts(observations: Iterable[Observation]) -> list[ObservationFacts]:
    """One record per composite key; a later copy (a newer export) replaces an earlier one in
    place, so the order of first appearance is kept."""
    by_key: dict[CompositeKey, ObservationFacts] = {}
    for obs in observations:
        facts = observation_facts(obs)
        by_key[facts.key] = facts
    return list(by_key.values())


class PlainFacts(list):
    """A developer's records as a plain list, answering what ``DevSummary`` asks of its facts."""

    def fields(self) -> tuple[Any, ...]:
        return tuple(self)

    def keys_by_session(self) -> tuple[Sequence[str], Sequence[int], Sequence[Hashable]]:
        groups = self._by_session()
        return list(groups), list(map(len, groups.values())), [facts.key for facts in chain(*groups.values())]

    def counts_of(self, rows: Iterable[int]) -> ObservationCounts:
        grouped = list(chain.from_iterable(self._by_session().values()))
        chosen = [grouped[row] for row in rows]
        days = Counter(map(_DAY, chosen))
        days.pop(None, None)
        return ObservationCounts(Counter(map(_TYPE, chosen)), Counter(chain.from_iterable(map(_CONCEPTS, chosen))),
                                 days)

    def _by_session(self) -> dict[str, list[ObservationFacts]]:
        groups: dict[str, list[ObservationFacts]] = {}
        for facts in self:
            groups.setdefault(facts.key[0], []).append(facts)
        return groups


def summarize(facts: Sequence[ObservationFacts]) -> DevSummary:
    """Count everything in one pass per column."""
    paths = list(chain.from_iterable(map(_FILES, facts)))
    day_counts = Counter(map(_DAY, facts))
    day_counts.pop(None, None)
    return DevSummary(
        facts=PlainFacts(facts),
        keys=frozenset(map(_KEY, facts)),
        type_counts=Counter(map(_TYPE, facts)),
        concept_counts=Counter(chain.from_iterable(map(_CONCEPTS, facts))),
        day_counts=day_counts,
        directory_counts=Counter(map(directory_of, paths)),
        distinct_files=len(set(paths)),
        file_references=len(paths),
    )


def team_stats(summaries: Mapping[str, DevSummary]) -> TeamStats:
    """Add up every developer's counts (see ``TeamTally``)."""
    tally = TeamTally()
    for dev in sorted(summaries):
        tally.add(dev, summaries[dev])
    return tally.stats()
