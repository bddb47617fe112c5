"""One developer's observations as columns, counted in C: the fast path behind profiles.

The reference path (tests/profiles/metrics_oracle.py) builds one Python record per observation;
at a million observations that was most of a profile run (docs/profiles.md has the figures). Here a developer's
observations arrive as columns (one list per field, from the typed decoder), every step is a
``map``/``Counter``/``dict`` over a whole column, and a column that is not the common shape (a
JSON array of clean strings) falls back value by value to the very functions of the plain path,
so both paths give the same ``DevSummary`` (tests/profiles/test_profile_columns.py holds this
path to the oracle).

What crosses from a worker to the parent is small: counters, and ``PackedFacts``: a 16-byte
digest per composite key (``key_digest``; it pickles, hashes and stores cheaper
than a tuple, and names no session or title), grouped by session, with the type, day and raw
concepts of each observation in flat buffers, read again only for the observations another
developer also exported (``counts_of``). ``summary_store`` keeps the same between runs.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate, chain, count, repeat
from operator import floordiv, le, methodcaller
from typing import Any

import msgspec
import xxhash

from memsync.model import to_millis_column
from memsync.profiles import metrics

_DAY_MILLIS = 86_400_000
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


# Lone surrogates (a JSON "\ud800" escape) are kept, so every string has a digest.
_UTF8 = methodcaller("encode", "utf-8", "surrogatepass")


def digests(strings: Iterable[str]) -> list[bytes]:
    """xxh3-128 of each string's UTF-8: equal exactly when the strings are (128 bits: a collision
    among a team's keys is not a practical event)."""
    return list(map(xxhash.xxh3_128_digest, map(_UTF8, strings)))


def key_digest(session: str, title: str | None, millis: int) -> bytes:
    """The digest of one composite key (see ``key_token``), as the profiles compare keys."""
    return digests([key_token(session, title, millis)])[0]


# --- list fields, a column at a time -------------------------------------------------------

# A JSON array of strings straight into a set: the per-observation dedup happens in C, during
# decoding. msgspec and orjson (the plain path's parser) accept and read such arrays alike; any
# value this refuses takes the plain path.
_STRING_SET = msgspec.json.Decoder(set[str])
_ENCODE_JSON = msgspec.json.Encoder().encode
_STRINGS = msgspec.json.Decoder(list[str])


def _decode_each(decoder: msgspec.json.Decoder[Any], values: list[Any]) -> list[Any] | None:
    """Each value decoded, or None unless every value is a string the decoder accepts."""
    if None in values:
        values = ["[]" if value is None else value for value in values]
    try:
        return list(map(decoder.decode, values))
    except (msgspec.DecodeError, msgspec.ValidationError, TypeError):
        return None


def _all_clean(items: list[str]) -> bool:
    """No item is empty or has anything to strip (the plain path would drop or merge it)."""
    return "" not in items and list(map(str.strip, items)) == items


def _needs_normalizing(path: str) -> bool:
    return "\\" in path or path.startswith("./")  # metrics.normalize_path would change it


def concept_counts(values: list[Any]) -> Counter[str]:
    """Observations mentioning each concept: ``metrics.concept_list`` of every value, counted."""
    # Concepts are tags from a small vocabulary (how-it-works, gotcha, pattern, ...), so whole
    # values repeat: each distinct one is read once and counted as often as it occurs.
    distinct = _repeated(values)
    keys, weights = (values, None) if distinct is None else (list(distinct), list(distinct.values()))
    parsed = _decode_each(_STRING_SET, keys)
    if parsed is not None:
        counts = _count(parsed, weights)
        if _all_clean(list(counts)):
            return counts
    return _count(list(map(metrics.concept_list, keys)), weights)


def _repeated(values: list[Any]) -> Counter[Any] | None:
    """Each distinct value with how often it occurs, when values repeat enough to pay for it."""
    try:
        distinct = Counter(values)
    except TypeError:  # a real list among them
        return None
    return distinct if len(distinct) * 2 <= len(values) else None


def _count(item_lists: list[Iterable[str]], weights: list[int] | None) -> Counter[str]:
    """Items counted once per list, or ``weights[i]`` times for list i."""
    if weights is None:
        return Counter(chain.from_iterable(item_lists))
    counts: Counter[str] = Counter()
    for items, times in zip(item_lists, weights, strict=True):
        for item in items:
            counts[item] += times
    return counts


def path_counts(files_read: list[Any], files_modified: list[Any]) -> Counter[str]:
    """Observations referencing each file: ``metrics.file_list`` of every row, counted."""
    read = _decode_each(_STRING_SET, files_read)
    modified = _decode_each(_STRINGS, files_modified) if read is not None else None
    if read is not None and modified is not None:
        for _ in map(set.update, read, modified):  # each row's read set becomes its union
            pass
        counts = Counter(chain.from_iterable(read))
        if _all_clean(list(counts)) and not any(map(_needs_normalizing, counts)):
            return counts
    return Counter(chain.from_iterable(map(metrics.file_list, files_read, files_modified)))


def day_counts(millis: Iterable[int]) -> Counter[int]:
    """Observations per UTC day number (``metrics.day_number``), days off the calendar left out."""
    return _on_calendar(Counter(map(floordiv, millis, repeat(_DAY_MILLIS))))


def _on_calendar(counts: Counter[int]) -> Counter[int]:
    """The counts without days past 9999-12-31 (``metrics.day_number`` has none)."""
    for day in [day for day in counts if day > metrics.LAST_DAY]:
        del counts[day]
    return counts


# --- one developer --------------------------------------------------------------------------

_FIELDS = ("tokens", "sessions", "types", "millis", "concepts", "files_read", "files_modified")


@dataclass
class ObservationColumns:
    """Observations of one developer's readable files, newest file last, a list per field."""

    tokens: list[str] = field(default_factory=list)   # key_token of each row
    sessions: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    millis: list[int] = field(default_factory=list)  # created_at_epoch in ms
    concepts: list[Any] = field(default_factory=list)
    files_read: list[Any] = field(default_factory=list)
    files_modified: list[Any] = field(default_factory=list)

    def extend(self, other: ObservationColumns) -> None:
        for name in _FIELDS:
            getattr(self, name).extend(getattr(other, name))

    def take(self, rows: list[int], fields: Iterable[str] = _FIELDS) -> ObservationColumns:
        """These rows, in this order (only ``fields`` filled)."""
        return ObservationColumns(**{name: list(map(getattr(self, name).__getitem__, rows)) for name in fields})

    def grouped_by_session(self) -> tuple[ObservationColumns, list[str], list[int]]:
        """The key, type, day and concepts of each row, reordered so each session's rows are
        together (sessions in order of first appearance, rows stable), with the sessions and how
        many rows each has."""
        first = _numbered(self.sessions)
        numbers = list(map(first.__getitem__, self.sessions))
        counts = Counter(numbers)
        sizes = [counts[number] for number in range(len(first))]
        if all(map(le, numbers, numbers[1:])):
            return self, list(first), sizes
        order = sorted(range(len(numbers)), key=numbers.__getitem__)
        return self.take(order, ("tokens", "types", "millis", "concepts")), list(first), sizes


def _numbered(values: Iterable[Any]) -> dict[Any, int]:
    """Each distinct value and its number, in order of first appearance."""
    return dict(zip(dict.fromkeys(values), count()))


def observation_columns(
    sessions: list[str], titles: list[str | None], epochs: list[int], types: list[str],
    concepts: list[Any], files_read: list[Any], files_modified: list[Any],
) -> ObservationColumns:
    """Columns of one file's (validated) observations."""
    millis = to_millis_column(epochs)
    return ObservationColumns(key_tokens(sessions, titles, millis), sessions, types, millis, concepts, files_read,
                              files_modified)


def latest_rows(files: Iterable[ObservationColumns]) -> ObservationColumns:
    """One row per composite key over a developer's files in export order: a later copy (a
    newer export) replaces an earlier one in place, as the oracle's ``dev_facts`` does."""
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
    """The ``DevSummary`` of deduplicated rows; the facts stay packed (``PackedFacts``)."""
    paths = path_counts(rows.files_read, rows.files_modified)
    directories: Counter[str] = Counter()
    for path, references in paths.items():
        directories[metrics.directory_of(path)] += references
    counted = {
        "type_counts": dict(Counter(rows.types)),
        "concept_counts": dict(concept_counts(rows.concepts)),
        "day_counts": dict(day_counts(rows.millis)),
    }
    grouped, sessions, sizes = rows.grouped_by_session()
    facts = PackedFacts.pack(grouped, sessions, sizes)
    return metrics.DevSummary(
        facts=facts,
        keys=facts.keys,
        **counted,
        directory_counts=dict(directories),
        distinct_files=len(paths),
        file_references=sum(paths.values()),
    )


# --- facts packed for the trip between processes -------------------------------------------

def pack_ints(values: Iterable[int]) -> bytes:
    """Non-negative ints as an array of the narrowest type that holds them, its typecode first:
    a type id takes one byte, a day two."""
    numbers = values if isinstance(values, list) else list(values)
    top = max(numbers, default=0)
    code = "B" if top < 1 << 8 else "H" if top < 1 << 16 else "I" if top < 1 << 32 else "q"
    return code.encode() + array(code, numbers).tobytes()


def unpack_ints(data: bytes) -> array[int]:
    """The ints ``pack_ints`` packed; ValueError for anything it cannot have made."""
    if not data or chr(data[0]) not in "BHIq":
        raise ValueError("not a packed int buffer")
    return array(chr(data[0]), data[1:])


class PackedFacts:
    """What the team totals need of a developer's observations (key, type, concepts, day) as a
    few flat buffers: cheap to pickle and to store, and only the rows asked for are ever read
    again. Every int buffer is a ``pack_ints`` one."""

    def __init__(self, keys: list[bytes], sessions: list[bytes], session_sizes: bytes, type_names: list[str],
                 type_ids: bytes, days: bytes, concept_text: str, concept_ends: bytes, concept_ids: bytes) -> None:
        self.keys = keys                      # key_digest of each row; a session's rows are together
        self._sessions = sessions             # digests of the sessions' names
        self._session_sizes = session_sizes
        self._type_names = type_names
        self._type_ids = type_ids             # positions in type_names
        self._days = days                     # UTC day number of each row
        # Each distinct raw concepts value once, joined (concepts are tags from a small
        # vocabulary, so whole values repeat), and each row's position among them.
        self._concept_text = concept_text
        self._concept_ends = concept_ends
        self._concept_ids = concept_ids

    @classmethod
    def pack(cls, rows: ObservationColumns, sessions: list[str], sizes: list[int]) -> PackedFacts:
        values = rows.concepts
        if not set(map(type, values)) <= {str}:
            # null and a loose file's real arrays become the JSON array of what they mean, which
            # every later reading counts alike
            values = [value if type(value) is str else _ENCODE_JSON(list(metrics.concept_list(value))).decode()
                      for value in values]
        type_index = _numbered(rows.types)
        value_index = _numbered(values)
        return cls(
            digests(rows.tokens),
            digests(sessions),
            pack_ints(sizes),
            list(type_index),
            pack_ints(map(type_index.__getitem__, rows.types)),
            pack_ints(map(floordiv, rows.millis, repeat(_DAY_MILLIS))),
            "".join(value_index),
            pack_ints(accumulate(map(len, value_index))),
            pack_ints(map(value_index.__getitem__, values)),
        )

    def fields(self) -> tuple[Any, ...]:
        """What ``PackedFacts(*fields)`` is made of (pickled, and stored by ``summary_store``)."""
        return (self.keys, self._sessions, self._session_sizes, self._type_names, self._type_ids, self._days,
                self._concept_text, self._concept_ends, self._concept_ids)

    def __reduce__(self) -> tuple[Any, ...]:
        return PackedFacts, self.fields()

    def __len__(self) -> int:
        return len(self.keys)

    def keys_by_session(self) -> tuple[list[bytes], array[int], list[bytes]]:
        """(sessions, how many rows each has, the keys), the rows being grouped by session."""
        return self._sessions, unpack_ints(self._session_sizes), self.keys

    def counts_of(self, rows: Iterable[int]) -> metrics.ObservationCounts:
        """Types, concepts and days of the observations at ``rows``, counted as ``summarize_columns`` does."""
        rows = list(rows)
        type_ids = unpack_ints(self._type_ids)
        concept_ids = unpack_ints(self._concept_ids)
        ends = unpack_ints(self._concept_ends)
        text = self._concept_text
        values = [text[ends[number - 1] if number else 0:ends[number]] for number in map(concept_ids.__getitem__, rows)]
        return metrics.ObservationCounts(
            types=Counter(map(self._type_names.__getitem__, map(type_ids.__getitem__, rows))),
            concepts=concept_counts(values),
            days=_on_calendar(Counter(map(unpack_ints(self._days).__getitem__, rows))),
        )
