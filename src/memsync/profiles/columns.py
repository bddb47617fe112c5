"""One developer's observations as columns, counted in C: the fast path behind profiles.

``metrics.dev_facts`` + ``metrics.summarize`` build one record per observation, ~10-20 us of
Python each; at a million observations that was most of a profile run. Here a developer's
observations arrive as columns (one list per field, from the typed decoder), every step is a
``map``/``Counter``/``dict`` over a whole column, and a column that is not the common shape (a
JSON array of clean strings) falls back value by value to the very functions of the plain path,
so both paths give the same ``DevSummary`` (tests/profiles/test_profile_columns.py holds them
to it).

What crosses from a worker to the parent is small: counters, one string per composite key
(``key_token``; strings pickle and hash several times cheaper than tuples) and the type,
concepts and day of each observation packed in arrays, unpacked only for the few observations
another developer also exported (``PackedFacts.select``).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, compress, repeat
from operator import floordiv
from typing import Any, overload

import orjson

from memsync.profiles import metrics

_DAY_MILLIS = 86_400_000
_MILLIS_THRESHOLD = 10**12  # model.to_millis: below it an epoch is in seconds
_KEY_SEPARATOR = "\x00"


# --- composite keys as strings --------------------------------------------------------------

def key_token(session: str, title: str | None, millis: int) -> str:
    """One string per composite key (session, title or "", created_at in ms), injective: the
    common form has exactly two NULs; a session or title holding a NUL gets ``repr``, which has none."""
    title = title or ""
    if _KEY_SEPARATOR in session or _KEY_SEPARATOR in title:
        return repr((session, title, millis))
    return f"{session}{_KEY_SEPARATOR}{title}{_KEY_SEPARATOR}{millis}"


def key_tokens(sessions: list[str], titles: list[str | None], millis: list[int]) -> list[str]:
    """``key_token`` of every row, the common case joined in C."""
    if None in titles or "" in titles:
        titles = [title or "" for title in titles]
    if _KEY_SEPARATOR in "".join(sessions) or _KEY_SEPARATOR in "".join(titles):  # type: ignore[arg-type]
        return list(map(key_token, sessions, titles, millis))
    return list(map(_KEY_SEPARATOR.join, zip(sessions, titles, map(str, millis), strict=True)))  # type: ignore[arg-type]


def to_millis_column(epochs: list[int]) -> list[int]:
    """``model.to_millis`` of every (positive) epoch."""
    if not epochs or min(epochs) >= _MILLIS_THRESHOLD:
        return epochs
    return [epoch if epoch >= _MILLIS_THRESHOLD else epoch * 1000 for epoch in epochs]


# --- list fields, a column at a time -------------------------------------------------------

def _json_arrays(values: list[Any]) -> list[list[Any]] | None:
    """Each value parsed as a JSON array, or None unless every value is a string holding one.

    Parsed one value at a time (in C): joining them into one array would let a value that is
    not JSON on its own shift its neighbours' boundaries and still parse."""
    try:
        parsed = list(map(orjson.loads, values))
    except (orjson.JSONDecodeError, TypeError):
        return None
    return parsed if set(map(type, parsed)) <= {list} else None


def _clean_items(lists: list[list[Any]]) -> list[str] | None:
    """Every item of every list, when each is a non-empty string with nothing to strip."""
    flat = list(chain.from_iterable(lists))
    try:
        if list(map(str.strip, flat)) != flat:  # str.strip refuses a non-string
            return None
    except TypeError:
        return None
    return None if "" in flat else flat


def concept_lists(values: list[Any]) -> list[tuple[str, ...] | list[str]]:
    """``metrics.concept_list`` of every value (tuples or lists with the same items, in order)."""
    parsed = _json_arrays(values)
    if parsed is not None and _clean_items(parsed) is not None:
        if sum(map(len, parsed)) == sum(map(len, map(frozenset, parsed))):
            return parsed  # type: ignore[return-value]
        return list(map(tuple, map(dict.fromkeys, parsed)))
    return list(map(metrics.concept_list, values))


def file_sets(files_read: list[Any], files_modified: list[Any]) -> Iterable[Iterable[str]]:
    """Per observation, the distinct files of ``metrics.file_list`` (in no particular order)."""
    read = _json_arrays(["[]" if value is None else value for value in files_read] if None in files_read
                        else files_read)
    modified = _json_arrays(["[]" if value is None else value for value in files_modified]
                            if None in files_modified else files_modified)
    if read is not None and modified is not None:
        items = _clean_items(read + modified)
        if items is not None and all(metrics.normalize_path(path) == path for path in set(items)):
            return map(frozenset, map(list.__add__, read, modified))
    return list(map(metrics.file_list, files_read, files_modified))


# --- one developer --------------------------------------------------------------------------

@dataclass
class ObservationColumns:
    """Observations of one developer's readable files, newest file last, a list per field."""

    tokens: list[str] = field(default_factory=list)   # key_token of each row
    types: list[str] = field(default_factory=list)
    millis: list[int] = field(default_factory=list)  # created_at_epoch in ms
    concepts: list[Any] = field(default_factory=list)
    files_read: list[Any] = field(default_factory=list)
    files_modified: list[Any] = field(default_factory=list)

    def extend(self, other: ObservationColumns) -> None:
        for name in ("tokens", "types", "millis", "concepts", "files_read", "files_modified"):
            getattr(self, name).extend(getattr(other, name))

    def take(self, rows: list[int]) -> ObservationColumns:
        return ObservationColumns(*(list(map(column.__getitem__, rows)) for column in (
            self.tokens, self.types, self.millis, self.concepts, self.files_read, self.files_modified)))


def observation_columns(
    sessions: list[str], titles: list[str | None], epochs: list[int], types: list[str],
    concepts: list[Any], files_read: list[Any], files_modified: list[Any],
) -> ObservationColumns:
    """Columns of one file's (validated) observations."""
    millis = to_millis_column(epochs)
    return ObservationColumns(key_tokens(sessions, titles, millis), types, millis, concepts, files_read,
                              files_modified)


def latest_rows(files: Iterable[ObservationColumns]) -> ObservationColumns:
    """One row per composite key over a developer's files in export order: a later copy (a
    newer export) replaces an earlier one in place, as ``metrics.dev_facts`` does."""
    rows = ObservationColumns()
    position: dict[str, int] = {}
    for file_rows in files:
        start = len(rows.tokens)
        position.update(zip(file_rows.tokens, range(start, start + len(file_rows.tokens)), strict=True))
        rows.extend(file_rows)
    if len(position) == len(rows.tokens):
        return rows
    return rows.take(list(position.values()))


def summarize_columns(rows: ObservationColumns) -> metrics.DevSummary:
    """``metrics.summarize`` of deduplicated rows, with the facts packed (``PackedFacts``)."""
    concepts = concept_lists(rows.concepts)
    days = list(map(floordiv, rows.millis, repeat(_DAY_MILLIS)))
    day_counts = Counter(days)
    if days and max(days) > metrics.LAST_DAY:
        for day in [day for day in day_counts if day > metrics.LAST_DAY]:
            del day_counts[day]  # off the calendar: undated, as metrics.day_number says
    path_counts = Counter(chain.from_iterable(file_sets(rows.files_read, rows.files_modified)))
    directory_counts: Counter[str] = Counter()
    for path, count in path_counts.items():
        directory_counts[metrics.directory_of(path)] += count
    return metrics.DevSummary(
        facts=PackedFacts.pack(rows.tokens, rows.types, concepts, days),
        keys=frozenset(rows.tokens),
        type_counts=dict(Counter(rows.types)),
        concept_counts=dict(Counter(chain.from_iterable(concepts))),
        day_counts=dict(day_counts),
        directory_counts=dict(directory_counts),
        distinct_files=len(path_counts),
        file_references=sum(path_counts.values()),
    )


# --- facts packed for the trip between processes -------------------------------------------

def _vocabulary(values: Iterable[str]) -> tuple[list[str], dict[str, int]]:
    index = {value: number for number, value in enumerate(dict.fromkeys(values))}
    return list(index), index


class PackedFacts(Sequence[metrics.ObservationFacts]):
    """A developer's ``ObservationFacts`` (files left out: the team totals never need them) as
    arrays of numbers plus two vocabularies; cheap to pickle, unpacked only where asked."""

    def __init__(self, keys: list[str], type_names: list[str], type_ids: bytes, concept_names: list[str],
                 concept_ids: bytes, concept_lengths: bytes, days: bytes) -> None:
        self.keys = keys
        self._types = type_names, type_ids
        self._concepts = concept_names, concept_ids, concept_lengths
        self._days = days

    @classmethod
    def pack(cls, keys: list[str], types: list[str], concepts: list[Sequence[str]], days: list[int]) -> PackedFacts:
        type_names, type_index = _vocabulary(types)
        concept_names, concept_index = _vocabulary(chain.from_iterable(concepts))
        return cls(
            keys,
            type_names, array("I", map(type_index.__getitem__, types)).tobytes(),
            concept_names, array("I", map(concept_index.__getitem__, chain.from_iterable(concepts))).tobytes(),
            array("I", map(len, concepts)).tobytes(),
            array("q", days).tobytes(),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return PackedFacts, (self.keys, *self._types, *self._concepts, self._days)

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, index: int) -> metrics.ObservationFacts: ...
    @overload
    def __getitem__(self, index: slice) -> list[metrics.ObservationFacts]: ...

    def __getitem__(self, index: int | slice) -> metrics.ObservationFacts | list[metrics.ObservationFacts]:
        if isinstance(index, slice):
            return self._unpack(range(len(self))[index])
        return self._unpack([range(len(self))[index]])[0]

    def __iter__(self) -> Iterator[metrics.ObservationFacts]:
        return iter(self._unpack(range(len(self))))

    def select(self, keys: Iterable[Hashable]) -> list[metrics.ObservationFacts]:
        """The facts of those of ``keys`` this developer has, in this developer's order."""
        wanted = keys if isinstance(keys, (set, frozenset)) else set(keys)
        return self._unpack(list(compress(range(len(self)), map(wanted.__contains__, self.keys))))

    def _unpack(self, rows: Sequence[int]) -> list[metrics.ObservationFacts]:
        if not rows:
            return []
        type_names, type_ids = self._types
        concept_names, concept_ids, concept_lengths = self._concepts
        types, ids, lengths, days = (array(code, data) for code, data in (
            ("I", type_ids), ("I", concept_ids), ("I", concept_lengths), ("q", self._days)))
        ends = list(accumulate(lengths))
        facts = []
        for row in rows:
            end = ends[row]
            day = days[row]
            facts.append(metrics.ObservationFacts(
                self.keys[row],
                type_names[types[row]],
                tuple(map(concept_names.__getitem__, ids[end - lengths[row]:end])),
                (),
                day if day <= metrics.LAST_DAY else None,
            ))
        return facts
