"""A developer's counted contributions, kept beside their profile so the next run need not re-read them.

``profiles/<project>/<dev>/.summary.msgpack`` holds what ``columns.summarize_columns`` made of
the developer's contribution files: the counters and the packed facts (key digests, never a
session name or title). It is trusted only while its fingerprint matches: the names, sizes and
xxh3-128 digests of every file in ``contributions/<project>/<dev>/``, the project, the developer,
the size limit and the mem-sync version that counted them. Any other file (a new export, an
edited one, a deleted one, an upgrade) means the developer is read again and the summary
rewritten. Hashing a developer's files costs a few milliseconds; decoding and counting them,
about a hundred per ten thousand observations.

It is a cache: deleting it costs one slower run, never a different page. A summary whose
buffers do not fit together is ignored like a missing one.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from itertools import islice
from operator import le
from typing import Annotated

import msgspec
import xxhash

from memsync import __version__
from memsync.ci.merged_index import file_digest
from memsync.profiles import columns, metrics

SUMMARY_NAME = ".summary.msgpack"
SUMMARY_FORMAT = 2  # bump whenever what a field means changes (2: withheld observations left out)


_Digest = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]  # checked in C while decoding


class StoredFacts(msgspec.Struct, array_like=True, gc=False):
    """``columns.PackedFacts``, field for field (``PackedFacts.fields()`` order)."""

    keys: list[_Digest]
    sessions: list[_Digest]
    session_sizes: bytes
    type_names: list[str]
    type_ids: bytes
    days: bytes
    concept_text: str
    concept_ends: bytes
    concept_ids: bytes


class StoredSummary(msgspec.Struct, array_like=True, gc=False):
    format: int
    fingerprint: bytes  # see Fingerprint
    newest_export_millis: int
    type_counts: dict[str, int]
    concept_counts: dict[str, int]
    day_counts: dict[int, int]
    directory_counts: dict[str, int]
    distinct_files: int
    file_references: int
    facts: StoredFacts


_decode = msgspec.msgpack.Decoder(StoredSummary).decode
_encode = msgspec.msgpack.Encoder().encode


class Fingerprint:
    """The inputs a summary was counted from, fed file by file in name order."""

    def __init__(self, *, project: str, dev: str, max_file_bytes: int, gate: str = "") -> None:
        """``gate``: the secret rules observations were withheld by ("" for none)."""
        self._hash = xxhash.xxh3_128()
        self._update(f"mem-sync {__version__} summary {SUMMARY_FORMAT} {max_file_bytes}", project, dev, gate)

    def add_file(self, name: str, data: bytes | None) -> None:
        """A contribution file and its bytes (None: it could not be read, or is over the limit)."""
        self._update(name, "-" if data is None else f"{len(data)}:{file_digest(data)}")

    def digest(self) -> bytes:
        return self._hash.digest()

    def _update(self, *parts: str) -> None:
        for part in parts:
            encoded = part.encode("utf-8", "surrogatepass")
            self._hash.update(b"%d:" % len(encoded))  # length-prefixed: no two lists hash alike
            self._hash.update(encoded)


def encode_summary(summary: metrics.DevSummary, *, fingerprint: bytes, newest_export_millis: int) -> bytes | None:
    """The stored form of a summary from ``columns.summarize_columns``."""
    facts = summary.facts
    stored = StoredSummary(
        format=SUMMARY_FORMAT,
        fingerprint=fingerprint,
        newest_export_millis=newest_export_millis,
        # sorted: a counter's order follows string hashes, and the file must not churn
        type_counts=dict(sorted(summary.type_counts.items())),
        concept_counts=dict(sorted(summary.concept_counts.items())),
        day_counts=dict(sorted(summary.day_counts.items())),
        directory_counts=dict(sorted(summary.directory_counts.items())),
        distinct_files=summary.distinct_files,
        file_references=summary.file_references,
        facts=StoredFacts(*facts.fields()),
    )
    try:
        return _encode(stored)
    except (UnicodeEncodeError, msgspec.EncodeError):  # a string no JSON parser lets through; keep none
        return None


def decode_summary(data: bytes, *, fingerprint: bytes) -> tuple[int, metrics.DevSummary] | None:
    """(newest exportedAt, the summary) stored for exactly these inputs, else None."""
    try:
        stored = _decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if stored.format != SUMMARY_FORMAT or stored.fingerprint != fingerprint or not _fits(stored):
        return None
    facts = columns.PackedFacts(*msgspec.structs.astuple(stored.facts))
    return stored.newest_export_millis, metrics.DevSummary(
        facts=facts,
        keys=facts.keys,
        type_counts=stored.type_counts,
        concept_counts=stored.concept_counts,
        day_counts=stored.day_counts,
        directory_counts=stored.directory_counts,
        distinct_files=stored.distinct_files,
        file_references=stored.file_references,
    )


# Counts are written into JSON pages: past 2**53 a JavaScript reader loses digits.
MAX_COUNT = 2**53
# The newest export is shown as a date: it must be one (up to 9999-12-31).
MAX_MILLIS = (metrics.LAST_DAY + 1) * 86_400_000 - 1


def _fits(stored: StoredSummary) -> bool:
    """The buffers describe the same rows, every id points inside its table (so ``counts_of``
    cannot index past one), every count and date lies in the range the pages can show, and
    keys are unique. The file is committed, and its fingerprint is of public bytes, so a forger
    can make it match: it is trusted only as far as this checks, and rebuilt otherwise. (What a
    forged summary can still do is bend its own developer's numbers, as editing their
    contributions could.)"""
    facts = stored.facts
    rows = len(facts.keys)
    try:
        sizes, type_ids, days, ends, concept_ids = map(columns.unpack_ints, (
            facts.session_sizes, facts.type_ids, facts.days, facts.concept_ends, facts.concept_ids))
    except ValueError:
        return False
    return (
        rows > 0
        and len(sizes) == len(facts.sessions) and sum(sizes) == rows
        and len(type_ids) == rows and _all_below(type_ids, len(facts.type_names))
        and len(days) == rows and (days.typecode != "q" or min(days) >= 0)
        and len(concept_ids) == rows and _all_below(concept_ids, len(ends))
        and len(ends) > 0 and ends[-1] == len(facts.concept_text) and all(map(le, ends, islice(ends, 1, None)))
        and sum(stored.type_counts.values()) == rows
        and _counts_within(stored.type_counts.values(), 1, rows)
        and _counts_within(stored.concept_counts.values(), 1, rows)
        and _counts_within(stored.day_counts.values(), 1, rows)
        and _counts_within(stored.day_counts, 0, metrics.LAST_DAY)
        and _counts_within(stored.directory_counts.values(), 1, MAX_COUNT)
        and 0 <= stored.distinct_files <= stored.file_references <= MAX_COUNT
        and 0 <= stored.newest_export_millis <= MAX_MILLIS
        and len(set(facts.keys)) == rows and len(set(facts.sessions)) == len(facts.sessions)
    )


def _counts_within(values: Iterable[int], low: int, high: int) -> bool:
    numbers = list(values)
    return not numbers or (low <= min(numbers) and max(numbers) <= high)


_BYTES = bytes(range(256))


def _all_below(values: array[int], limit: int) -> bool:
    """Every value is under ``limit`` (the values are unsigned)."""
    if values.typecode == "B":
        # one pass in C: delete every byte in range, and nothing may be left (max() makes an int per row)
        return not values.tobytes().translate(None, _BYTES[:limit])
    return not values or max(values) < limit
