"""The five per-developer metrics and the team aggregates, over observations already parsed.

Nothing here touches the filesystem or the clock: callers count each developer's observations
once into a ``DevSummary`` (``columns.summarize_columns``: deduplicated by composite key) and
pass the summaries with the merged set's keys and "now". (The per-observation reference
path these counts are held to lives with the tests: tests/profiles/metrics_oracle.py.) Every output is
sorted by explicit keys and every float is rounded here, so equal inputs give equal bytes.

Definitions that the reference tool leaves open are fixed here and documented in
docs/profiles.md:

- percentages are 0-100 rounded to 1 decimal; rates and indexes are 0-1 rounded to 3;
- ``teamAverage`` of a type is that type's share of the team's deduplicated observations;
- ``specializationIndex`` is 0.0 with no directories (no evidence of focus) and 1.0 with one;
- weeks are ISO weeks of the UTC date; the average and the consistency run over every week
  from the developer's first active week to their last, empty weeks included.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, chain, compress, repeat
from operator import getitem, not_, sub
from typing import Any, NamedTuple, Protocol

import orjson

from memsync.model import CompositeKey, iso_from_millis, to_millis
from memsync.model import parse_string_list as _parse_string_list

# The six code-mode types always appear in a spectrum, even at zero, so charts line up.
STANDARD_TYPES = ("decision", "bugfix", "feature", "discovery", "refactor", "change")
PERCENT_PLACES = 1
RATE_PLACES = 3
# A concept the team mentions at least this often but one developer alone holds is a bus-factor risk.
GAP_MIN_TEAM_COUNT = 2

_DAY_MILLIS = 86_400_000
_UNIX_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_MAX_ORDINAL = dt.date.max.toordinal()
# The last UTC day number ``day_number`` accepts (9999-12-31); later ones are off the calendar.
LAST_DAY = _MAX_ORDINAL - _UNIX_EPOCH_ORDINAL


# --- rounding -----------------------------------------------------------------------------

def percent(part: float, whole: float) -> float:
    return round(part / whole * 100, PERCENT_PLACES) if whole else 0.0


def rate(part: float, whole: float) -> float:
    return round(part / whole, RATE_PLACES) if whole else 0.0


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


# --- reading one observation --------------------------------------------------------------

def _string_list(value: Any) -> tuple[str, ...]:
    """Distinct non-empty stripped strings of a list field (see model.parse_string_list)."""
    if isinstance(value, str) and value.startswith("["):
        # The common case, a JSON array of strings, without a Python-level loop per item:
        # map/filter/fromkeys run in C, and str.strip refuses a non-string so odd arrays fall back.
        try:
            parsed = orjson.loads(value)
            if isinstance(parsed, list):
                return tuple(dict.fromkeys(filter(None, map(str.strip, parsed))))
        except (orjson.JSONDecodeError, TypeError):
            pass
    return tuple(dict.fromkeys(_parse_string_list(value)))


# Concepts come from a small vocabulary (how-it-works, gotcha, pattern, ...), so the same
# strings recur across thousands of observations: parse each distinct one once.
_cached_string_list = lru_cache(maxsize=1 << 14)(_string_list)


def concept_list(value: Any) -> tuple[str, ...]:
    """The distinct concepts of a ``concepts`` field value, in the order written."""
    return _cached_string_list(value) if isinstance(value, str) else _string_list(value)


def file_list(files_read: Any, files_modified: Any) -> tuple[str, ...]:
    """Distinct files read or modified (a file both read and modified counts once)."""
    read = "[]" if files_read is None else files_read
    modified = "[]" if files_modified is None else files_modified
    if type(read) is str and type(modified) is str and read[:1] == "[" and modified[:1] == "[":
        # Hot path: two JSON arrays of strings, one pass in C (see _string_list).
        try:
            items = orjson.loads(read) + orjson.loads(modified)
            return tuple(dict.fromkeys(filter(None, map(normalize_path, filter(None, map(str.strip, items))))))
        except (orjson.JSONDecodeError, TypeError):
            pass
    paths = _string_list(files_read) + _string_list(files_modified)
    return tuple(dict.fromkeys(filter(None, map(normalize_path, paths))))


@lru_cache(maxsize=1 << 16)
def normalize_path(path: str) -> str:
    """``.\\src\\a.py`` -> ``src/a.py``: one spelling per file whatever the exporter's OS."""
    normalized = path.replace("\\", "/")
    while normalized.startswith("./"):
        normalized = normalized[2:]
    return normalized


@lru_cache(maxsize=1 << 16)
def directory_of(path: str) -> str:
    """``src/app/main.py`` -> ``src/app``; a bare file name lives in ``.``."""
    head, sep, _ = normalize_path(path).rpartition("/")
    if not sep:
        return "."
    return head or "/"


@lru_cache(maxsize=1 << 14)
def _day_labels(day: int) -> tuple[str, str, int]:
    """(ISO week label, month label, ordinal of that week's Monday) of a UTC day number."""
    date = dt.date.fromordinal(_UNIX_EPOCH_ORDINAL + day)
    iso_year, iso_week, iso_weekday = date.isocalendar()
    return f"{iso_year}-W{iso_week:02d}", f"{date.year}-{date.month:02d}", date.toordinal() - iso_weekday + 1


def day_number(epoch: Any) -> int | None:
    """UTC day number since 1970 of ``created_at_epoch`` (seconds or ms); None if off the calendar."""
    if type(epoch) is not int or epoch <= 0:
        return None
    day = to_millis(epoch) // _DAY_MILLIS
    if day > LAST_DAY:
        return None
    return day


# --- one developer, counted once ---------------------------------------------------------

class ObservationCounts(NamedTuple):
    """Types, concepts and days of some observations, counted as their summary counts them."""

    types: Counter[str]
    concepts: Counter[str]
    days: Counter[int]


class PackedObservations(Protocol):
    """A developer's observations kept out of Python objects (``columns.PackedFacts``)."""

    def __len__(self) -> int: ...

    def fields(self) -> tuple[Any, ...]: ...

    def keys_by_session(self) -> tuple[Sequence[str], Sequence[int], Sequence[Hashable]]: ...

    def counts_of(self, rows: Iterable[int]) -> ObservationCounts: ...


@dataclass(frozen=True)
class DevSummary:
    """One developer's counts, computed once and shared by the team totals and their profile."""

    facts: PackedObservations           # deduplicated by composite key (columns.PackedFacts)
    keys: Collection[Hashable]          # distinct composite keys (or their columns.key_digest)
    type_counts: Mapping[str, int]
    concept_counts: Mapping[str, int]   # observations mentioning each concept
    day_counts: Mapping[int, int]       # observations per UTC day number (undated ones left out)
    directory_counts: Mapping[str, int]  # file references per directory
    distinct_files: int
    file_references: int

    @property
    def total(self) -> int:
        return len(self.facts)

    def keys_by_session(self) -> tuple[Sequence[str], Sequence[int], Sequence[Hashable]]:
        """(sessions, how many keys each has, the keys with each session's together): equal keys
        have equal sessions. ``counts_of`` takes positions in these keys."""
        return self.facts.keys_by_session()

    def counts_of(self, rows: Iterable[int]) -> ObservationCounts:
        """The counts of the observations at ``rows`` (positions in ``keys_by_session``'s keys)."""
        return self.facts.counts_of(rows)


# --- team statistics, computed once per project -------------------------------------------

@dataclass(frozen=True)
class TeamStats:
    """What every developer's profile is compared against."""

    devs: tuple[str, ...]
    total: int                                   # team observations, deduplicated across devs
    type_counts: Mapping[str, int]
    concept_counts: Mapping[str, int]            # observations mentioning the concept
    concept_holders: Mapping[str, frozenset[str]]  # developers who mention it at least once
    monthly: Mapping[str, int] = field(default_factory=dict)


class TeamTally:
    """The team's statistics built one developer at a time, in name order, so a caller can add
    each developer as soon as it is read.

    An observation two developers both exported counts once for the team (the copy of the
    alphabetically first developer), but both hold its concepts.
    """

    def __init__(self) -> None:
        self._devs: list[str] = []
        self._types: Counter[str] = Counter()
        self._concepts: Counter[str] = Counter()
        self._days: Counter[int] = Counter()
        self._holders: dict[str, set[str]] = {}
        self._total = 0
        # Equal keys have equal sessions, so keys are hashed only for a session a second
        # developer also has: ``_first`` holds where the only holder keeps a session's keys
        # (None once shared), ``_shared`` every key of the shared sessions.
        self._first: dict[Hashable, tuple[Sequence[Hashable], slice] | None] = {}
        self._shared: set[Hashable] = set()

    def add(self, dev: str, summary: DevSummary) -> None:
        if self._devs and dev <= self._devs[-1]:
            raise ValueError(f"developers must be added in name order: {dev!r} after {self._devs[-1]!r}")
        self._devs.append(dev)
        self._types.update(summary.type_counts)
        self._concepts.update(summary.concept_counts)
        self._days.update(summary.day_counts)
        sessions, sizes, keys = summary.keys_by_session()
        ends = list(accumulate(sizes))
        starts = list(map(sub, ends, sizes))
        first = self._first
        seen = list(map(first.__contains__, sessions))
        counted_before: list[int] = []  # rows (positions in ``keys``) another developer counted
        if any(seen):
            # All in C, session by session: the first holder's keys of each newly shared session
            # join ``_shared``, then this developer's rows in sessions seen before are looked up.
            seen_sessions = list(compress(sessions, seen))
            holders = list(filter(None, map(first.__getitem__, seen_sessions)))
            if holders:
                self._shared.update(chain.from_iterable(map(getitem, *zip(*holders, strict=True))))
            first.update(zip(seen_sessions, repeat(None)))
            rows = list(chain.from_iterable(map(range, compress(starts, seen), compress(ends, seen))))
            candidates = list(map(keys.__getitem__, rows))
            counted_before = list(compress(rows, map(self._shared.__contains__, candidates)))
            self._shared.update(candidates)
        unseen = list(map(not_, seen))
        first.update(zip(compress(sessions, unseen),
                         zip(repeat(keys), map(slice, compress(starts, unseen), compress(ends, unseen))), strict=True))
        self._total += len(keys) - len(counted_before)
        if counted_before:
            # Shared observations are few: take this developer's copies back out.
            shared = summary.counts_of(counted_before)
            self._types.subtract(shared.types)
            self._concepts.subtract(shared.concepts)
            self._days.subtract(shared.days)
        for concept in summary.concept_counts:
            self._holders.setdefault(concept, set()).add(dev)

    def stats(self) -> TeamStats:
        monthly: Counter[str] = Counter()
        for day, count in (+self._days).items():
            monthly[_day_labels(day)[1]] += count
        return TeamStats(
            devs=tuple(self._devs),
            total=self._total,
            type_counts=dict(+self._types),
            concept_counts=dict(+self._concepts),
            concept_holders={concept: frozenset(devs) for concept, devs in self._holders.items()},
            monthly=dict(monthly),
        )


# --- the five metrics ---------------------------------------------------------------------

def knowledge_spectrum(summary: DevSummary, team: TeamStats) -> dict[str, Any]:
    counts = summary.type_counts
    total = summary.total
    names = set(STANDARD_TYPES) | set(counts) | set(team.type_counts)
    types = [
        {
            "type": name,
            "count": counts.get(name, 0),
            "percentage": percent(counts.get(name, 0), total),
            "teamAverage": percent(team.type_counts.get(name, 0), team.total),
        }
        for name in names
    ]
    types.sort(key=lambda row: (-row["count"], -row["teamAverage"], row["type"]))
    return {"types": types, "total": total}


def concept_map(
    summary: DevSummary, team: TeamStats, *, dev: str = "", anonymize: bool = True
) -> dict[str, Any]:
    """Every team concept with this developer's count beside the team's.

    ``isGap``: the team mentions it at least twice and this developer never did. With
    ``anonymize`` off, a gap also says who holds it (``knownBy``), i.e. whom to ask.
    """
    own = summary.concept_counts
    team_counts = team.concept_counts
    # Sorting plain tuples, then building the rows, is much faster than sorting dicts.
    order = sorted(
        (-max(team_counts.get(name, 0), own.get(name, 0)), -own.get(name, 0), name)
        for name in team_counts.keys() | own.keys()
    )
    concepts = []
    gaps = 0
    for negative_team, negative_dev, name in order:
        is_gap = negative_dev == 0 and -negative_team >= GAP_MIN_TEAM_COUNT
        entry: dict[str, Any] = {
            "concept": name, "devCount": -negative_dev, "teamCount": -negative_team, "isGap": is_gap,
        }
        if is_gap:
            gaps += 1
            if not anonymize:
                entry["knownBy"] = sorted(team.concept_holders.get(name, frozenset()) - {dev})
        concepts.append(entry)
    return {
        "concepts": concepts,
        "totalUniqueConcepts": len(concepts),
        "devCoverage": percent(len(own), len(concepts)),
        "devUniqueConcepts": len(own),
        "gapCount": gaps,
    }


def specialization_index(counts: Iterable[int]) -> float:
    """1 − normalized Shannon entropy of the counts: 1 = all in one place, 0 = evenly spread.

    Zero places gives 0.0 (nothing shows a focus); one place gives 1.0 (fully focused).
    """
    values = [count for count in counts if count > 0]
    if not values:
        return 0.0
    if len(values) == 1:
        return 1.0
    total = sum(values)
    entropy = -sum(count / total * math.log(count / total) for count in values)
    return round(_clamp01(1 - entropy / math.log(len(values))), RATE_PLACES)


def file_coverage(summary: DevSummary) -> dict[str, Any]:
    """Directories of files read or modified.

    ``count`` is file references in the directory (a file counts once per observation that
    touches it), ``percentage`` its share of all references (``fileReferences``);
    ``totalFiles`` is the number of distinct files.
    """
    directories = summary.directory_counts
    references = summary.file_references
    rows = [
        {"directory": name, "count": -negative, "percentage": percent(-negative, references)}
        for negative, name in sorted((-count, name) for name, count in directories.items())
    ]
    return {
        "directories": rows,
        "totalFiles": summary.distinct_files,
        "fileReferences": references,
        "totalDirectories": len(rows),
        "specializationIndex": specialization_index(directories.values()),
    }


def temporal_pattern(summary: DevSummary) -> dict[str, Any]:
    """Weekly and monthly series (active periods only) plus the average and consistency over the
    span of weeks from the first active ISO week to the last, empty weeks counted as zero."""
    days = summary.day_counts
    if not days:
        return {"weekly": [], "monthly": [], "averagePerWeek": 0.0, "consistency": 0.0,
                "weeksSpanned": 0, "activeWeeks": 0}
    weekly: Counter[str] = Counter()
    monthly: Counter[str] = Counter()
    for day, count in days.items():
        week, month, _ = _day_labels(day)
        weekly[week] += count
        monthly[month] += count
    dated = sum(days.values())
    span = (_day_labels(max(days))[2] - _day_labels(min(days))[2]) // 7 + 1
    mean = dated / span
    # Population variance over the whole span; the empty weeks add (0 - mean)^2 each.
    variance = max(0.0, sum(count * count for count in weekly.values()) / span - mean * mean)
    consistency = _clamp01(1 - math.sqrt(variance) / mean)
    return {
        "weekly": [{"week": week, "count": weekly[week]} for week in sorted(weekly)],
        "monthly": [{"month": month, "count": monthly[month]} for month in sorted(monthly)],
        "averagePerWeek": round(mean, 2),
        "consistency": round(consistency, RATE_PLACES),
        "weeksSpanned": span,
        "activeWeeks": len(weekly),
    }


def survival_rate(summary: DevSummary, merged_keys: Iterable[CompositeKey]) -> dict[str, Any]:
    """Share of the developer's exported composite keys that are in the merged set."""
    merged = merged_keys if isinstance(merged_keys, (set, frozenset)) else set(merged_keys)
    keys = summary.keys
    survived = len(merged.intersection(keys))
    return {"exported": len(keys), "survived": survived, "rate": rate(survived, len(keys))}


# --- documents ----------------------------------------------------------------------------

def developer_profile(
    dev: str,
    project: str,
    summary: DevSummary,
    team: TeamStats,
    merged_keys: Iterable[CompositeKey],
    *,
    now_millis: int,
    anonymize: bool = True,
) -> dict[str, Any]:
    """``profile.json`` for one developer (field names as docs/profiles.md lists them, camelCase)."""
    return {
        "devName": dev,
        "project": project,
        "generatedAt": iso_from_millis(now_millis),
        "generatedAtEpoch": now_millis // 1000,
        "anonymized": anonymize,
        "teamSize": len(team.devs),
        "knowledgeSpectrum": knowledge_spectrum(summary, team),
        "conceptMap": concept_map(summary, team, dev=dev, anonymize=anonymize),
        "fileCoverage": file_coverage(summary),
        "temporalPattern": temporal_pattern(summary),
        "survivalRate": survival_rate(summary, merged_keys),
    }


def team_overview(
    project: str,
    profiles: Sequence[Mapping[str, Any]],
    team: TeamStats,
    *,
    now_millis: int,
    merged_count: int = 0,
) -> dict[str, Any]:
    """``team-overview.json``: averages over developers, never a ranking of them."""
    count = len(profiles)

    def mean(values: Iterable[float], places: int) -> float:
        return round(sum(values) / count, places) if count else 0.0

    distribution = [
        {
            "type": name,
            "count": team.type_counts.get(name, 0),
            "percentage": percent(team.type_counts.get(name, 0), team.total),
            "teamAverage": percent(team.type_counts.get(name, 0), team.total),
        }
        for name in set(STANDARD_TYPES) | set(team.type_counts)
    ]
    distribution.sort(key=lambda row: (-row["count"], row["type"]))
    return {
        "project": project,
        "generatedAt": iso_from_millis(now_millis),
        "generatedAtEpoch": now_millis // 1000,
        "totalDevs": count,
        "totalObservations": team.total,
        "mergedObservations": merged_count,
        "avgObservationsPerDev": mean((p["knowledgeSpectrum"]["total"] for p in profiles), PERCENT_PLACES),
        "avgSurvivalRate": mean((p["survivalRate"]["rate"] for p in profiles), RATE_PLACES),
        "avgConceptDiversity": mean((p["conceptMap"]["devCoverage"] for p in profiles), PERCENT_PLACES),
        "avgSpecializationIndex": mean(
            (p["fileCoverage"]["specializationIndex"] for p in profiles), RATE_PLACES
        ),
        "avgConsistency": mean((p["temporalPattern"]["consistency"] for p in profiles), RATE_PLACES),
        "typeDistribution": distribution,
        "monthly": [{"month": month, "count": team.monthly[month]} for month in sorted(team.monthly)],
    }


def team_concepts(
    project: str, team: TeamStats, *, now_millis: int, anonymize: bool = True
) -> dict[str, Any]:
    """``team-concepts.json``. In ``concepts`` here, ``devCount`` is how many developers hold a
    concept. A knowledge gap (bus-factor risk) is a concept the team mentions at least twice
    that one developer alone holds; ``totalTeamCount`` is the team's size."""
    concepts = []
    for name, team_count in team.concept_counts.items():
        holders = team.concept_holders.get(name, frozenset())
        concepts.append({
            "concept": name,
            "devCount": len(holders),
            "teamCount": team_count,
            "isGap": len(holders) == 1 and team_count >= GAP_MIN_TEAM_COUNT,
        })
    concepts.sort(key=lambda row: (-row["teamCount"], -row["devCount"], row["concept"]))
    gaps = []
    for row in concepts:
        if not row["isGap"]:
            continue
        gap: dict[str, Any] = {
            "concept": row["concept"],
            "contributorCount": row["devCount"],
            "totalTeamCount": len(team.devs),
            "occurrences": row["teamCount"],
        }
        if not anonymize:
            gap["heldBy"] = sorted(team.concept_holders[row["concept"]])
        gaps.append(gap)
    return {
        "project": project,
        "generatedAt": iso_from_millis(now_millis),
        "generatedAtEpoch": now_millis // 1000,
        "totalDevs": len(team.devs),
        "totalUniqueConcepts": len(concepts),
        "concepts": concepts,
        "knowledgeGaps": gaps,
    }
