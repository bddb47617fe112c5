"""The index beside a merged file: what an incremental merge needs of latest.json, unparsed.

``merged/<project>/.latest-index.msgpack`` is written in the same run as the latest.json it
describes. Per observation, in file order, it holds the composite key, the type's weight,
the keep flag, the contributors, the access count and where the observation's head lies in
the file. An incremental merge that can trust it neither parses nor rescans the previous
merged set: it reuses the heads and writes new tails.

It is trusted only while latest.json's digest is the one it records, the keep tags it was
made with cover the current ones, and its secret rules are the current ones; otherwise the
merge parses latest.json as before and writes a fresh index. It is a cache: deleting it
costs one slower merge, never data.
"""

from __future__ import annotations

from itertools import islice
from operator import lt
from pathlib import Path
from typing import Any

import msgspec
import xxhash

from memsync.ci.repo import map_nofollow, read_bytes_nofollow
from memsync.errors import QuarantineReason
from memsync.merge.ingest import FileRecords, contributor_tuples
from memsync.model import FIRST_ITEM, NEXT_ITEM, SCORE_FIELD

INDEX_NAME = ".latest-index.msgpack"
INDEX_FORMAT = 1  # bump whenever what a field means changes (type weights included)


class MergedIndex(msgspec.Struct, array_like=True, gc=False):
    format: int
    digest: str  # file_digest of the latest.json described
    exported_at_millis: int
    keep_tags: list[str]  # the tags every keep flag below was computed with
    secret_rules: str  # fingerprint of the rules every observation was scanned with; "" unscanned
    session_names: list[str]  # distinct memory_session_ids (a session holds many observations)
    session_ids: list[int]
    titles: list[str]
    created: list[int]  # milliseconds
    type_weights: list[float]
    kept: list[int]  # positions with keep: true
    access: list[int]  # each observation's own access_count (0 when absent)
    contributor_sets: list[list[str]]  # the distinct contributor lists; observations point in
    contributor_ids: list[int]
    starts: list[int]  # byte offset of each observation's "{"
    head_ends: list[int]  # byte offset where its tail ("score" onwards) begins

    def sessions(self) -> list[str]:
        """Each observation's memory_session_id."""
        return list(map(self.session_names.__getitem__, self.session_ids))


_decode = msgspec.msgpack.Decoder(MergedIndex).decode
_encode = msgspec.msgpack.Encoder().encode


DIGEST_PREFIX = "xxh3-128:"


def file_digest(data: Any) -> str:
    """Fingerprint of a merged file (bytes or any buffer). It detects edits, not attackers:
    whoever can push a forged latest.json can push any content anyway."""
    return DIGEST_PREFIX + xxhash.xxh3_128_hexdigest(data)


def digester() -> Any:
    """A streaming ``file_digest``: ``update`` it chunk by chunk, then ``digest_of`` it."""
    return xxhash.xxh3_128()


def digest_of(hasher: Any) -> str:
    return DIGEST_PREFIX + hasher.hexdigest()


def encode_index(index: MergedIndex) -> bytes:
    return _encode(index)


def decode_index(raw: bytes) -> MergedIndex | None:
    """The index, or None when it is unreadable, of another format or inconsistent."""
    try:
        index = _decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    count = len(index.session_ids)
    columns = (index.titles, index.created, index.type_weights, index.access, index.contributor_ids,
               index.starts, index.head_ends)
    if index.format != INDEX_FORMAT or any(len(column) != count for column in columns):
        return None
    ids, kept, sessions = index.contributor_ids, index.kept, index.session_ids
    if ids and not 0 <= min(ids) <= max(ids) < len(index.contributor_sets):
        return None
    if sessions and not 0 <= min(sessions) <= max(sessions) < len(index.session_names):
        return None
    if kept and not 0 <= min(kept) <= max(kept) < count:
        return None
    # one row per key: rows that shared a key would fold into one and lose the others
    if len(set(zip(index.session_ids, index.titles, index.created, strict=True))) != count:
        return None
    return index


def covers(index: MergedIndex, *, keep_tags: tuple[str, ...], secret_rules: str) -> bool:
    """Whether the index answers for this run's settings (its digest is checked apart).

    Keep flags are sticky (a kept observation stays kept), so tags already looked for need no
    new look; tags the index was not made with do. ``secret_rules`` is "" when scanning is off.
    """
    return (set(keep_tags) <= set(index.keep_tags)
            and (not secret_rules or index.secret_rules == secret_rules))


def load_matching(latest: Path) -> tuple[MergedIndex, Any] | None:
    """The index beside ``latest`` and a map of ``latest``, when the index still describes that
    file (its digest matches and its spans fit); None for no, broken or stale index."""
    try:
        index = decode_index(read_bytes_nofollow(str(latest.parent / INDEX_NAME)))
        if index is None:
            return None
        raw = map_nofollow(str(latest))
    except (OSError, QuarantineReason):
        return None
    if file_digest(raw) != index.digest or not spans_fit(index, len(raw)) or not heads_fit(index, raw):
        return None  # edited since (by hand, by another tool), or spans that cannot be our writer's
    return index, raw


def spans_fit(index: MergedIndex, size: int) -> bool:
    """Whether the recorded heads lie inside a file of ``size`` bytes, in order, apart from one
    another, as our writer lays them out. (That each one is a whole observation up to our
    fields is what the matching digest vouches for: checking it byte by byte would cost more
    than the rest of reading the index.)"""
    starts, ends = index.starts, index.head_ends
    return not starts or (0 < starts[0] and ends[-1] < size and all(map(lt, starts, ends))
                          and all(map(lt, ends, islice(starts, 1, None))))


class UntrustedIndex(Exception):
    """A merged file laid out from an index does not hold the keys the index claimed: the
    index lied (a forgery that passed every structural check). The run starts over without it."""


class _Keys(msgspec.Struct, gc=False):
    memory_session_id: str
    created_at_epoch: int
    title: str | None = None


class _KeysOnly(msgspec.Struct, gc=False):
    observations: list[_Keys]


_decode_keys = msgspec.json.Decoder(_KeysOnly).decode


def check_layout(document: Any, keys: list[tuple[str, str, int]]) -> None:
    """Raise ``UntrustedIndex`` unless ``document`` (a merged file's bytes, or a map of them)
    parses and holds exactly ``keys`` (session, title or "", created in ms), in order. Run on a
    merged file laid out from an index's spans before it replaces the old one: it costs a parse
    of the file's keys (msgspec, in C), the price of never writing a file nobody checked, and
    runs while the disk syncs the file, so a merge waits for it little or not at all."""
    from memsync.model import to_millis

    try:
        found = _decode_keys(document).observations
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        raise UntrustedIndex from None
    if len(found) != len(keys) or any(
            (obs.memory_session_id, obs.title or "", to_millis(obs.created_at_epoch)) != key
            for obs, key in zip(found, keys, strict=True)):
        raise UntrustedIndex


def heads_fit(index: MergedIndex, raw: Any) -> bool:
    """Whether every recorded head sits where our writer puts one: after the bytes that open an
    item of the observations array, and right before the bytes that open its tail. The digest
    proves only that nobody edited latest.json since the index was written, not who wrote the
    index: a forger recomputes it. (Spans that pass this and still lie about which head is
    which are caught when the merge checks the file it wrote; see merge_job.)"""
    view = memoryview(raw)
    first, following, score = (len(marker) for marker in (FIRST_ITEM, NEXT_ITEM, SCORE_FIELD))
    try:
        return all(
            (view[start - following:start] == NEXT_ITEM or view[start - first:start] == FIRST_ITEM)
            and view[start:start + 1] == b"{" and view[end - 1:end] == b","
            and view[end:end + score] == SCORE_FIELD
            for start, end in zip(index.starts, index.head_ends, strict=True))
    finally:
        view.release()


def index_records(index: MergedIndex) -> FileRecords:
    """The previous merged set as the records the candidate table takes."""
    sets = contributor_tuples(index.contributor_sets)
    return FileRecords(
        exported_at_millis=index.exported_at_millis,
        observation_count=len(index.session_ids),
        sessions=index.sessions(),
        titles=index.titles,
        created=index.created,
        type_weights=index.type_weights,
        kept=index.kept,
        access=index.access,
        contributors=list(map(sets.__getitem__, index.contributor_ids)),
    )


def build_index(
    *,
    digest: str,
    exported_at_millis: int,
    keep_tags: tuple[str, ...],
    secret_rules: str,
    keys: list[tuple[str, str, int]],
    type_weights: list[float],
    kept: list[int],
    access: list[int],
    contributors: list[tuple[str, ...]],
    starts: list[int],
    head_ends: list[int],
) -> MergedIndex:
    distinct = dict.fromkeys(contributors)
    for number, names in enumerate(distinct):
        distinct[names] = number
    sessions, titles, created = (list(column) for column in zip(*keys, strict=True)) if keys else ([], [], [])
    names = dict.fromkeys(sessions)
    for number, name in enumerate(names):
        names[name] = number
    return MergedIndex(
        format=INDEX_FORMAT,
        digest=digest,
        exported_at_millis=exported_at_millis,
        keep_tags=sorted(set(keep_tags)),
        secret_rules=secret_rules,
        session_names=list(names),
        session_ids=list(map(names.__getitem__, sessions)),
        titles=titles,
        created=created,
        type_weights=type_weights,
        kept=kept,
        access=access,
        contributor_sets=[list(names) for names in distinct],
        contributor_ids=list(map(distinct.__getitem__, contributors)),
        starts=starts,
        head_ends=head_ends,
    )
