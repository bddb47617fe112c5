"""Bytes of one contribution file -> compact column-wise records (pure, no I/O).

The merge never keeps parsed observations around: per copy it keeps the key, the type's
weight and the position in the file, and re-reads only the winning observations at the
end. That bounds memory by the number of distinct observations, not by input bytes.
This runs in worker processes, so the work per observation is done here, in list
comprehensions, rather than in the parent.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from memsync.errors import QuarantineReason
from memsync.merge.keep import has_keep_tag
from memsync.merge.retraction import title_digest
from memsync.merge.scoring import TYPE_WEIGHTS, UNKNOWN_TYPE_WEIGHT
from memsync.model import (
    FORMAT_VERSION,
    TYPED_DECODE_ERRORS,
    CompositeKey,
    ContributionFields,
    MergedFields,
    check_envelope,
    check_observation,
    check_writable,
    decode_contribution_fields,
    fields_match_path,
    loads_or_quarantine,
    to_millis,
    to_millis_column,
)

if TYPE_CHECKING:
    from memsync.safety.secrets import SecretScanner

_decode_merged = msgspec.json.Decoder(MergedFields).decode


@dataclass(frozen=True)
class SecretHit:
    """An observation withheld because it carries a credential. Holds no secret."""

    index: int
    key: CompositeKey  # title already redacted
    rules: tuple[str, ...]
    fields: tuple[str, ...]
    title_sha256: str = ""  # of the real title: what an automatic retraction names


@dataclass
class FileRecords:
    """Column-wise copies of one file: position i of every list describes one observation."""

    exported_at_millis: int
    observation_count: int
    sessions: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)  # null titles key as ""
    created: list[int] = field(default_factory=list)  # milliseconds
    type_weights: list[float] = field(default_factory=list)
    indexes: list[int] | None = None  # positions in the file's observations; None: position i is i
    kept: list[int] = field(default_factory=list)  # positions that carry a keep tag
    access: list[int] | None = None  # hook strategy only
    # a previous merged file's contributors, per position: sorted tuples of distinct names
    # (rows with the same names may share one tuple)
    contributors: list[tuple[str, ...]] | None = None
    # a previous merged file's stored (score, keep, contributors), by index in the file
    merge_fields: list[tuple[Any, Any, Any]] | None = None
    secret_hits: list[SecretHit] = field(default_factory=list)

    def keys(self) -> list[CompositeKey]:
        return list(zip(self.sessions, self.titles, self.created, strict=True))


parse_json_bytes = loads_or_quarantine  # orjson.loads with a message a user can act on


def ingest_contribution(
    raw: bytes,
    *,
    project: str,
    dev: str,
    keep_tags: tuple[str, ...],
    scanner: SecretScanner | None,
    with_access: bool = False,
) -> FileRecords:
    """Validate a whole contribution file and reduce it to records; raise ``QuarantineReason``."""
    try:
        doc = decode_contribution_fields(raw)
    except TYPED_DECODE_ERRORS:
        doc = None
    if doc is None or not fields_match_path(doc, project, dev):
        # slow path, only for files the typed decoder refused: find the precise problem
        return _records_from_dicts(raw, _checked_dicts(raw, project, dev), keep_tags, scanner,
                                   with_access)
    return _typed_records(raw, doc, keep_tags, scanner, with_access)


def ingest_merged(
    raw: bytes,
    *,
    project: str,
    keep_tags: tuple[str, ...],
    scanner: SecretScanner | None,
) -> FileRecords:
    """The same records from our own previous latest.json, with its contributors, keep flags and
    access counts (kept whatever the strategy: the merged set's index records them)."""
    try:
        doc = _decode_merged(raw)
    except TYPED_DECODE_ERRORS as error:
        _checked_dicts(raw, project, None)  # raises the precise message for anything it knows
        raise QuarantineReason(f"has an unexpected shape ({error})") from None
    if doc.version != FORMAT_VERSION or doc.project != project or doc.observationCount != len(doc.observations):
        _checked_dicts(raw, project, None)  # raises
    check_writable(raw)  # its observations' bytes are reused as they are: they must parse again
    records = _typed_records(raw, doc, keep_tags, None, True)
    stored = [i for i, o in enumerate(doc.observations) if o.keep]
    records.kept = sorted(set(records.kept).union(stored))
    records.contributors = contributor_tuples([o.contributors or () for o in doc.observations])
    records.merge_fields = [(o.score, o.keep, o.contributors) for o in doc.observations]
    if scanner is not None:
        _withhold(records, _secret_hits(scanner, raw, None))
    return records


def access_count(value: Any) -> int:
    """An observation's ``access_count`` as the hook strategy counts it: 0 unless a positive integer."""
    return value if type(value) is int and value > 0 else 0


def contributor_tuples(listed: list[Any]) -> list[tuple[str, ...]]:
    """Contributor lists as the candidate table takes them: sorted distinct non-empty names, one
    shared tuple per distinct list."""
    distinct = dict.fromkeys(map(tuple, listed))
    for names in distinct:
        distinct[names] = tuple(sorted(set(names) - {""}))
    return list(map(distinct.__getitem__, map(tuple, listed)))


_SESSION, _TITLE, _CREATED, _TYPE = (attrgetter(name) for name in ("memory_session_id", "title", "created_at_epoch",
                                                                   "type"))


def _typed_records(raw: bytes, doc: ContributionFields | MergedFields, keep_tags: tuple[str, ...],
                   scanner: SecretScanner | None, with_access: bool) -> FileRecords:
    observations = doc.observations
    # column by column with C-level maps; sessions interned: one string per session is smaller
    # to send to the parent, and smaller there
    titles = list(map(_TITLE, observations))
    if None in titles:
        titles = [title or "" for title in titles]
    created = to_millis_column(list(map(_CREATED, observations)))
    records = FileRecords(
        exported_at_millis=to_millis(doc.exportedAtEpoch),
        observation_count=doc.observationCount,
        sessions=list(map(sys.intern, map(_SESSION, observations))),
        titles=titles,
        created=created,
        type_weights=list(map(TYPE_WEIGHTS.get, map(_TYPE, observations), repeat(UNKNOWN_TYPE_WEIGHT))),
    )
    _check_unique(records)
    if keep_tags:
        records.kept = _kept_positions(raw, observations, keep_tags)
    if with_access:
        records.access = list(map(access_count, map(attrgetter("access_count"), observations)))
    if scanner is not None:
        _withhold(records, _secret_hits(scanner, raw, None))
    return records


def _kept_positions(raw: bytes, observations: Any, keep_tags: tuple[str, ...]) -> list[int]:
    """Positions of the observations whose title, narrative or text carries a keep tag."""
    # one bytes search per file spares three string searches per observation in most files
    if not keep_tags or not (any(tag.encode() in raw for tag in keep_tags) or _may_escape(raw, keep_tags)):
        return []
    if len(keep_tags) == 1:  # the usual case: a bare substring test skips almost every observation
        tag = keep_tags[0]
        maybe: Iterable[int] = [i for i, o in enumerate(observations)
                                if tag in (o.title or "") or tag in (o.narrative or "") or tag in (o.text or "")]
    else:
        maybe = range(len(observations))
    return [i for i in maybe
            if has_keep_tag((observations[i].title, observations[i].narrative, observations[i].text), keep_tags)]


_PRINTABLE_ASCII_ESCAPE = re.compile(rb"\\u00[2-7][0-9A-Fa-f]")
_ESCAPABLE = frozenset('"\\/')


def _may_escape(raw: bytes, keep_tags: tuple[str, ...]) -> bool:
    """Whether a tag could hide in ``raw`` behind JSON escapes, where a bytes search misses it.
    Tags of printable ASCII other than a quote, backslash or slash (which have short escapes:
    ``\\"``, ``\\\\``, ``\\/``) can only hide as \\u00XX escapes of
    printable characters; any other tag, behind any escape. (A plain search for a backslash
    costs more than decoding the file: every line break of a note is one.)"""
    if all(tag.isascii() and tag.isprintable() and not _ESCAPABLE.intersection(tag) for tag in keep_tags):
        return _PRINTABLE_ASCII_ESCAPE.search(raw) is not None
    return True


def _check_unique(records: FileRecords) -> None:
    keys = records.keys()
    if len(set(keys)) == len(keys):
        return
    first: dict[CompositeKey, int] = {}
    for index, key in enumerate(keys):
        earlier = first.setdefault(key, index)
        if earlier != index:
            raise QuarantineReason(
                f"observations[{earlier}] and observations[{index}] share the composite key "
                "(memory_session_id, title, created_at_epoch); remove the duplicate and export again"
            )


def _withhold(records: FileRecords, hits: dict[int, SecretHit]) -> None:
    """Drop the positions that carry credentials from every column (rare: a copy is fine)."""
    if not hits:
        return
    records.secret_hits = [hits[i] for i in sorted(hits)]
    keep = [i not in hits for i in range(len(records.sessions))]
    records.sessions = list(compress(records.sessions, keep))
    records.titles = list(compress(records.titles, keep))
    records.created = list(compress(records.created, keep))
    records.type_weights = list(compress(records.type_weights, keep))
    if records.access is not None:
        records.access = list(compress(records.access, keep))
    if records.contributors is not None:
        records.contributors = list(compress(records.contributors, keep))
    positions = [i for i, ok in enumerate(keep) if ok]
    new_position = {old: new for new, old in enumerate(positions)}
    records.kept = [new_position[i] for i in records.kept if i in new_position]
    records.indexes = positions


def _checked_dicts(raw: bytes, project: str, dev: str | None) -> tuple[int, list[dict[str, Any]]]:
    doc = parse_json_bytes(raw)
    envelope = check_envelope(doc, project=project, dev=dev)
    observations = doc["observations"]
    for index, obs in enumerate(observations):
        check_observation(obs, index)
    check_writable(raw)
    return to_millis(envelope.exported_at_epoch), observations


def _records_from_dicts(raw: bytes, checked: tuple[int, list[dict[str, Any]]], keep_tags: tuple[str, ...],
                        scanner: SecretScanner | None, with_access: bool) -> FileRecords:
    """The same records from plain dicts (files the typed decoder was stricter about)."""
    exported_at, observations = checked
    records = FileRecords(
        exported_at_millis=exported_at,
        observation_count=len(observations),
        sessions=[o["memory_session_id"] for o in observations],
        titles=[o.get("title") or "" for o in observations],
        created=[to_millis(o["created_at_epoch"]) for o in observations],
        type_weights=[TYPE_WEIGHTS.get(o["type"], UNKNOWN_TYPE_WEIGHT) for o in observations],
        kept=[i for i, o in enumerate(observations)
              if has_keep_tag((o.get("title"), o.get("narrative"), o.get("text")), keep_tags)],
    )
    _check_unique(records)
    if with_access:
        records.access = [access_count(o.get("access_count")) for o in observations]
    if scanner is not None:
        _withhold(records, _secret_hits(scanner, raw, observations))
    return records


def withheld_positions(scanner: SecretScanner, raw: bytes) -> set[int]:
    """Positions of a valid contribution's observations that the merge withholds for credentials."""
    return set(_secret_hits(scanner, raw, None))


def _secret_hits(scanner: SecretScanner, raw: bytes, observations: list[Any] | None) -> dict[int, SecretHit]:
    if not scanner.may_contain_secret(raw):
        return {}
    if observations is None:
        observations = orjson.loads(raw)["observations"]  # rare: only files with a candidate
    return {
        index: secret_hit(index, obs, findings)
        for index, (obs, findings) in enumerate(zip(observations, scanner.scan_observations(observations),
                                                    strict=True))
        if findings
    }


def secret_hit(index: int, obs: dict[str, Any], findings: list[Any]) -> SecretHit:
    from memsync.safety.secrets import redact  # lazy: its module compiles the rules

    # the key is printed (reports, annotations): every part of it that carries one is redacted
    title = obs.get("title") or ""
    title_findings = [f for f in findings if f.field == "title"]
    safe_title = redact(title, title_findings) if title_findings else title
    session = str(obs.get("memory_session_id"))
    session_findings = [f for f in findings if f.field == "memory_session_id"]
    safe_session = redact(session, session_findings) if session_findings else session
    epoch = obs.get("created_at_epoch")
    return SecretHit(
        index=index,
        key=(safe_session, safe_title, to_millis(epoch) if type(epoch) is int else 0),
        rules=tuple(sorted({f.rule for f in findings})),
        fields=tuple(sorted({f.field for f in findings})),
        title_sha256=title_digest(title),
    )
