"""Bytes of one contribution file -> compact per-observation records (pure, no I/O).

The merge never keeps parsed observations around: it keeps a few columns per copy
(key, type, keep, access) and re-reads the winning observations at the end. That bounds
memory by the number of distinct observations, not by input bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from memsync.errors import QuarantineReason
from memsync.merge.keep import has_keep_tag
from memsync.model import (
    FORMAT_VERSION,
    CompositeKey,
    ContributionFields,
    check_envelope,
    check_observation,
    to_millis,
)

_decode_contribution = msgspec.json.Decoder(ContributionFields).decode


@dataclass(frozen=True)
class SecretHit:
    """An observation withheld because it carries a credential. Holds no secret."""

    index: int
    key: CompositeKey  # title already redacted
    rules: tuple[str, ...]
    fields: tuple[str, ...]


@dataclass
class FileRecords:
    """Column-wise copies of one file: position i of every list describes one observation."""

    exported_at_millis: int
    observation_count: int
    keys: list[CompositeKey] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # position in the file's observations array
    kept: set[int] = field(default_factory=set)  # positions i (into the lists) that are keep-tagged
    access: list[int] | None = None  # hook strategy only
    secret_hits: list[SecretHit] = field(default_factory=list)


def parse_json_bytes(raw: bytes) -> Any:
    """orjson.loads with a message a user can act on."""
    if not raw.strip():
        raise QuarantineReason("the file is empty; export it again or delete it")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise QuarantineReason(
                f"the file is not UTF-8 text (invalid byte at offset {bad.start}); "
                "re-export it with mem-sync or claude-mem-sync"
            ) from None
        raise QuarantineReason(
            f"the file is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
            "it is probably truncated: export it again"
        ) from None


def ingest_contribution(
    raw: bytes,
    *,
    project: str,
    dev: str,
    keep_tags: tuple[str, ...],
    scan_secrets: bool,
    with_access: bool = False,
) -> FileRecords:
    """Validate a whole contribution file and reduce it to records; raise ``QuarantineReason``."""
    try:
        doc = _decode_contribution(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        doc = None
    if doc is None or not _envelope_ok(doc, project, dev):
        # slow path, only for files the typed decoder refused: find the precise problem
        observations = _checked_dicts(raw, project, dev)
        return _records_from_dicts(raw, observations, keep_tags, scan_secrets, with_access,
                                   exported_at=_dict_epoch(raw))
    records = FileRecords(to_millis(doc.exportedAtEpoch), doc.observationCount)
    hits = _secret_hits(raw, None) if scan_secrets else {}
    # one bytes search per file instead of three string searches per observation
    maybe_kept = bool(keep_tags) and (b"\\u" in raw or any(t.encode() in raw for t in keep_tags))
    keys, types, indexes = records.keys, records.types, records.indexes
    seen: dict[CompositeKey, int] = {}
    for index, obs in enumerate(doc.observations):
        epoch = obs.created_at_epoch
        key = (obs.memory_session_id, obs.title or "", epoch if epoch >= 10**12 else epoch * 1000)
        first = seen.setdefault(key, index)
        if first != index:
            raise _duplicate(first, index)
        if index in hits:
            records.secret_hits.append(hits[index])
            continue
        if maybe_kept and has_keep_tag((obs.title, obs.narrative, obs.text), keep_tags):
            records.kept.add(len(keys))
        keys.append(key)
        types.append(obs.type)
        indexes.append(index)
    if with_access:
        by_index = {i: o.access_count for i, o in enumerate(doc.observations)}
        records.access = [max(by_index[i] or 0, 0) for i in indexes]
    return records


def _envelope_ok(doc: ContributionFields, project: str, dev: str) -> bool:
    return (doc.version == FORMAT_VERSION and doc.exportedBy == dev and doc.project == project
            and doc.observationCount == len(doc.observations))


def _checked_dicts(raw: bytes, project: str, dev: str) -> list[dict[str, Any]]:
    doc = parse_json_bytes(raw)
    check_envelope(doc, project=project, dev=dev)
    observations = doc["observations"]
    for index, obs in enumerate(observations):
        check_observation(obs, index)
    return observations


def _dict_epoch(raw: bytes) -> int:
    return to_millis(orjson.loads(raw)["exportedAtEpoch"])


def _records_from_dicts(raw: bytes, observations: list[dict[str, Any]], keep_tags: tuple[str, ...],
                        scan_secrets: bool, with_access: bool, *, exported_at: int) -> FileRecords:
    """The same records from plain dicts (files the typed decoder was stricter about)."""
    records = FileRecords(exported_at, len(observations))
    hits = _secret_hits(raw, observations) if scan_secrets else {}
    seen: dict[CompositeKey, int] = {}
    access: list[int] = []
    for index, obs in enumerate(observations):
        key = (obs["memory_session_id"], obs.get("title") or "", to_millis(obs["created_at_epoch"]))
        first = seen.setdefault(key, index)
        if first != index:
            raise _duplicate(first, index)
        if index in hits:
            records.secret_hits.append(hits[index])
            continue
        if has_keep_tag((obs.get("title"), obs.get("narrative"), obs.get("text")), keep_tags):
            records.kept.add(len(records.keys))
        records.keys.append(key)
        records.types.append(obs["type"])
        records.indexes.append(index)
        count = obs.get("access_count")
        access.append(count if type(count) is int and count > 0 else 0)
    if with_access:
        records.access = access
    return records


def _duplicate(first: int, index: int) -> QuarantineReason:
    return QuarantineReason(
        f"observations[{first}] and observations[{index}] share the composite key "
        "(memory_session_id, title, created_at_epoch); remove the duplicate and export again"
    )


def _secret_hits(raw: bytes, observations: list[Any] | None) -> dict[int, SecretHit]:
    from memsync.safety import secrets  # lazy: the rule engine compiles on first use

    if not secrets.may_contain_secret(raw):
        return {}
    if observations is None:
        observations = orjson.loads(raw)["observations"]  # rare: only files with a candidate
    hits: dict[int, SecretHit] = {}
    for index, obs in enumerate(observations):
        if not isinstance(obs, dict):
            continue  # check_observation reports it
        findings = secrets.scan_observation(obs)
        if findings:
            hits[index] = secret_hit(index, obs, findings)
    return hits


def secret_hit(index: int, obs: dict[str, Any], findings: list[Any]) -> SecretHit:
    from memsync.safety import secrets

    title = obs.get("title") or ""
    title_findings = [f for f in findings if f.field == "title"]
    safe_title = secrets.redact(title, title_findings) if title_findings else title
    epoch = obs.get("created_at_epoch")
    return SecretHit(
        index=index,
        key=(str(obs.get("memory_session_id")), safe_title, to_millis(epoch) if type(epoch) is int else 0),
        rules=tuple(sorted({f.rule for f in findings})),
        fields=tuple(sorted({f.field for f in findings})),
    )
