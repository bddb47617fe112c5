"""Bytes of one contribution file -> compact per-observation records (pure, no I/O).

The merge never keeps parsed observations around: it keeps one small tuple per copy
(key, type, keep, access, index) and re-reads the few winning observations at the end.
That bounds memory by the number of distinct observations, not by input bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from memsync.errors import QuarantineReason
from memsync.merge.keep import has_keep_tag
from memsync.model import CompositeKey, Envelope, check_envelope, check_observation, to_millis

# (composite key, type, keep-tagged, access count, index in the file's observations array)
Copy = tuple[CompositeKey, str, bool, int, int]


@dataclass(frozen=True)
class SecretHit:
    """An observation withheld because it carries a credential. Holds no secret."""

    index: int
    key: CompositeKey  # title already redacted
    rules: tuple[str, ...]
    fields: tuple[str, ...]


@dataclass
class FileRecords:
    exported_at_millis: int
    observation_count: int
    copies: list[Copy] = field(default_factory=list)
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
) -> FileRecords:
    """Validate a whole contribution file and reduce it to records; raise ``QuarantineReason``."""
    doc = parse_json_bytes(raw)
    envelope: Envelope = check_envelope(doc, project=project, dev=dev)
    observations: list[Any] = doc["observations"]
    records = FileRecords(
        exported_at_millis=to_millis(envelope.exported_at_epoch),
        observation_count=envelope.observation_count,
    )
    hits = _secret_hits(raw, observations) if scan_secrets else {}
    seen: dict[CompositeKey, int] = {}
    append = records.copies.append
    for index, obs in enumerate(observations):
        check_observation(obs, index)
        title = obs.get("title") or ""
        epoch = obs["created_at_epoch"]
        key = (obs["memory_session_id"], title, to_millis(epoch))
        first = seen.setdefault(key, index)
        if first != index:
            raise QuarantineReason(
                f"observations[{first}] and observations[{index}] share the composite key "
                "(memory_session_id, title, created_at_epoch); remove the duplicate and export again"
            )
        if index in hits:
            records.secret_hits.append(hits[index])
            continue
        keep = has_keep_tag((title, obs.get("narrative"), obs.get("text")), keep_tags)
        access = obs.get("access_count", obs.get("accessCount", 0))
        append((key, obs["type"], keep, access if type(access) is int and access > 0 else 0, index))
    return records


def _secret_hits(raw: bytes, observations: list[Any]) -> dict[int, SecretHit]:
    from memsync.safety import secrets  # lazy: the rule engine compiles on first use

    if not secrets.may_contain_secret(raw):
        return {}
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
