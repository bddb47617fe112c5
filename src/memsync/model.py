"""The data that crosses module boundaries: observations, contribution files, merge state.

Observations stay plain dicts exactly as parsed, so every column a newer claude-mem adds
(``subtitle``, ``prompt_number``, …) travels through merge and import verbatim. The
envelope and the state are dataclasses, parsed and dumped here and nowhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from typing import Annotated, Any

import msgspec
import orjson

from memsync.errors import QuarantineReason, StateError

FORMAT_VERSION = 1
STATE_SCHEMA_VERSION = 1
MERGE_EXPORTER = "ci-merge"

Observation = dict[str, Any]
# (memory_session_id, title or "", created_at_epoch in milliseconds)
CompositeKey = tuple[str, str, int]

ARRAY_FIELDS = ("facts", "concepts", "files_read", "files_modified")
TEXT_FIELDS = ("title", "narrative", "text", "subtitle")
_MILLIS_THRESHOLD = 10**12

# The ranges every value we keep must fit, so that what merges also writes back, imports and
# reads in claude-mem: JavaScript's Date ends 8.64e15 ms after 1970 (year 275760) and its
# numbers hold integers exactly up to 2^53 - 1, inside SQLite's INTEGER and orjson's 64 bits.
MAX_EPOCH_MILLIS = 8_640_000_000_000_000
SAFE_INTEGER = 2**53 - 1
SafeInt = Annotated[int, msgspec.Meta(ge=-SAFE_INTEGER, le=SAFE_INTEGER)]
Epoch = Annotated[int, msgspec.Meta(gt=0, le=MAX_EPOCH_MILLIS)]
# orjson refuses to write a value nested deeper than this (counting the document itself)
MAX_NESTING = 254
# How far a clock may run ahead of the one that judges it (a developer's laptop, a CI runner)
CLOCK_SKEW_MILLIS = 15 * 60 * 1000


# --- epochs -----------------------------------------------------------------------------

def to_millis(epoch: int) -> int:
    """claude-mem 13.x stores milliseconds, older rows and tools seconds; 10^12 tells them apart."""
    return epoch if epoch >= _MILLIS_THRESHOLD else epoch * 1000


def to_millis_column(epochs: list[int]) -> list[int]:
    """``to_millis`` of every (positive) epoch; the list itself when all are milliseconds already."""
    if not epochs or min(epochs) >= _MILLIS_THRESHOLD:
        return epochs
    return [epoch if epoch >= _MILLIS_THRESHOLD else epoch * 1000 for epoch in epochs]


def iso_from_millis(millis: int) -> str:
    """``2026-03-19T18:30:00.000Z``, the shape JavaScript's ``toISOString`` gives, over all of
    JavaScript's dates (``+010000-01-01T00:00:00.000Z`` past year 9999, where datetime stops)."""
    day, in_day = divmod(millis, 86_400_000)
    hours, rest = divmod(in_day, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, ms = divmod(rest, 1000)
    return f"{_iso_day(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}Z"


def stamp_from_millis(millis: int) -> str:
    """The contribution file stamp ``YYYY-MM-DDTHH-MM-SS`` (no colons: Windows-safe)."""
    return iso_from_millis(millis)[:-5].replace(":", "-")


@functools.lru_cache(maxsize=4096)
def _iso_day(day: int) -> str:
    """Days since 1970-01-01 as ``YYYY-MM-DD`` in the proleptic Gregorian calendar (H. Hinnant's
    civil_from_days), extended years signed with six digits as JavaScript writes them."""
    shifted = day + 719_468
    era = shifted // 146_097
    day_of_era = shifted - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day_of_month = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    year = year_of_era + era * 400 + (month <= 2)
    shown = f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):06d}"
    return f"{shown}-{month:02d}-{day_of_month:02d}"


# --- observations -----------------------------------------------------------------------

def composite_key(obs: Observation) -> CompositeKey:
    """Identity across developers. The exporter-local ``id`` is deliberately not part of it."""
    return (obs["memory_session_id"], obs.get("title") or "", to_millis(obs["created_at_epoch"]))


def newest_per_key(observations: list[Observation]) -> tuple[list[Observation], int]:
    """The observations less those a later one shares its ``composite_key`` with, and how many
    that dropped. The merge takes one observation per key, so the exporter sends one: the
    newest (rows come in database order, and claude-mem stamps a whole batch with one
    ``Date.now()``, so two same-titled rows of a batch share a key)."""
    last = {composite_key(obs): index for index, obs in enumerate(observations)}
    if len(last) == len(observations):
        return observations, 0
    kept = [obs for index, obs in enumerate(observations) if last[composite_key(obs)] == index]
    return kept, len(observations) - len(kept)


def parse_string_list(value: Any) -> list[str]:
    """Concepts, facts and file lists arrive as JSON-array strings, comma-separated strings,
    real lists or null; all become a list of non-empty stripped strings."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item).strip() for item in value if item is not None and str(item).strip()]
    if not isinstance(value, str):
        return [str(value)]
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return parse_string_list(parsed)
    return [part.strip() for part in text.split(",") if part.strip()]


def check_observation(obs: Any, index: int) -> None:
    """Raise ``QuarantineReason`` naming the first field of ``observations[index]`` that is wrong."""
    where = f"observations[{index}]"
    if not isinstance(obs, dict):
        raise QuarantineReason(f"{where} must be an object, got {_json_type(obs)}")
    session = obs.get("memory_session_id")
    if not isinstance(session, str) or not session:
        raise QuarantineReason(_field_problem(where, "memory_session_id", session, "a non-empty string"))
    kind = obs.get("type")
    if not isinstance(kind, str) or not kind:
        raise QuarantineReason(_field_problem(where, "type", kind, "a non-empty string"))
    epoch = obs.get("created_at_epoch")
    if type(epoch) is not int or not 0 < epoch <= MAX_EPOCH_MILLIS:
        raise QuarantineReason(_field_problem(where, "created_at_epoch", epoch, _EPOCH_RANGE))
    access = obs.get("access_count")
    if type(access) is int and abs(access) > SAFE_INTEGER:
        raise QuarantineReason(_field_problem(where, "access_count", access, _SAFE_RANGE))
    for name in TEXT_FIELDS:
        value = obs.get(name)
        if value is not None and not isinstance(value, str):
            raise QuarantineReason(_field_problem(where, name, value, "a string or null"))
    for name in ARRAY_FIELDS:
        value = obs.get(name)
        if value is not None and not isinstance(value, (str, list)):
            raise QuarantineReason(_field_problem(where, name, value, "a string, an array or null"))


_EPOCH_RANGE = (f"a positive integer up to {MAX_EPOCH_MILLIS} (JavaScript's last date, in milliseconds; "
                "claude-mem reads nothing later)")
_SAFE_RANGE = f"an integer between -{SAFE_INTEGER} and {SAFE_INTEGER} (what JavaScript holds exactly)"


def check_writable(raw: bytes) -> None:
    """Raise ``QuarantineReason`` unless every value of the JSON document ``raw`` is one the
    pipeline can write back (JSON with orjson, claude-mem's database through import): valid
    UTF-8 without lone surrogates, finite numbers, integers JavaScript holds exactly, nesting
    orjson writes. The typed decoders check the fields they know; this covers the rest."""
    try:
        doc = msgspec.json.decode(raw)  # keeps big integers exact, where orjson makes them floats
    except RecursionError:
        raise _too_deep() from None
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        loads_or_quarantine(raw)  # orjson's words for what is wrong, when it refuses too
        raise QuarantineReason(f"the file is not valid JSON ({error}); export it again") from None
    try:
        orjson.dumps(doc, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError as error:
        if "53-bit" in str(error) or "Integer" in str(error):
            raise QuarantineReason(
                f"the file holds an integer beyond {SAFE_INTEGER} (2^53 - 1), more than JavaScript and so "
                "claude-mem can hold exactly; fix the field or export again"
            ) from None
        if "ecursion" in str(error):
            raise _too_deep() from None
        raise QuarantineReason(
            f"the file holds a value mem-sync cannot write back ({error}); export it again") from None


def _too_deep() -> QuarantineReason:
    return QuarantineReason(
        f"the file holds arrays or objects nested more than {MAX_NESTING} levels deep, more than "
        "mem-sync can write back; remove that field and export again"
    )


def loads_or_quarantine(raw: bytes) -> Any:
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
        if "surrogate" in error.msg:
            raise QuarantineReason(
                f"the file is not valid UTF-8 text (a lone surrogate escape at line {error.lineno}, column "
                f"{error.colno}); fix that string or export again"
            ) from None
        if "depth" in error.msg:
            raise _too_deep() from None
        if "infinity" in error.msg:
            raise QuarantineReason(
                f"the file holds a number too large for a double (line {error.lineno}, column {error.colno}); "
                "fix that field or export again"
            ) from None
        raise QuarantineReason(
            f"the file is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
            "it is probably truncated: export it again"
        ) from None


def _field_problem(where: str, name: str, value: Any, expected: str) -> str:
    if value is None:
        return f"{where}.{name} is missing; it must be {expected}"
    return f"{where}.{name} must be {expected}, got {_json_type(value)}"


def _shown(value: str, limit: int) -> str:
    """An input string as a message may quote it: whole, or not at all (its length), never cut.
    The merge scans every reason before it prints one (``safety.shown``); a quoted prefix could
    be the start of a token the scanner recognises only in full."""
    return repr(value) if len(value) <= limit else f"a {len(value)}-character string"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_shown(value, 48)}"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --- fast typed decoding (the merge's hot path) ---------------------------------------------

class ObservationFields(msgspec.Struct, gc=False):
    """The fields the merge reads, typed as ``check_observation`` demands; the rest is skipped.

    msgspec validates while it decodes, in C, so the cold merge pays less than an untyped
    parse. Any file this refuses goes through ``check_envelope``/``check_observation`` to
    get a precise message, so these types may only be stricter, never looser.
    """

    memory_session_id: Annotated[str, msgspec.Meta(min_length=1)]
    type: Annotated[str, msgspec.Meta(min_length=1)]
    created_at_epoch: Epoch
    title: str | None = None
    narrative: str | None = None
    text: str | None = None
    subtitle: str | None = None
    facts: str | list[Any] | None = None
    concepts: str | list[Any] | None = None
    files_read: str | list[Any] | None = None
    files_modified: str | list[Any] | None = None
    access_count: SafeInt | None = None


class ContributionFields(msgspec.Struct, gc=False):
    version: int
    exportedBy: str
    project: str
    exportedAtEpoch: Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MILLIS)]
    observations: list[ObservationFields]
    observationCount: int


# A JSON scalar as claude-mem's array columns hold them (nothing nested: nesting is checked
# by ``check_writable``)
_Scalar = str | SafeInt | float | bool | None


class KnownObservationFields(ObservationFields, gc=False, forbid_unknown_fields=True):
    """Every column claude-mem 13.x has and our exporter writes, typed as the database holds
    it: a file made only of these is fully validated by one typed decode (the common case)."""

    facts: str | list[_Scalar] | None = None
    concepts: str | list[_Scalar] | None = None
    files_read: str | list[_Scalar] | None = None
    files_modified: str | list[_Scalar] | None = None
    id: SafeInt | None = None
    project: str | None = None
    prompt_number: SafeInt | None = None
    discovery_tokens: SafeInt | None = None
    created_at: str | None = None
    content_hash: str | None = None
    generated_by_model: str | None = None
    merged_into_project: str | None = None
    agent_type: str | None = None
    agent_id: str | None = None
    metadata: str | None = None
    relevance_count: SafeInt | None = None
    synced_at: SafeInt | None = None
    origin_device_id: str | None = None
    origin_local_id: str | None = None
    sync_rev: str | None = None


class KnownContributionFields(ContributionFields, gc=False, forbid_unknown_fields=True):
    observations: list[KnownObservationFields]  # type: ignore[assignment]
    exportedAt: str | None = None
    packageVersion: str | None = None
    filters: dict[str, list[str]] | None = None


_decode_known = msgspec.json.Decoder(KnownContributionFields).decode
_decode_lenient = msgspec.json.Decoder(ContributionFields).decode
TYPED_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


def decode_contribution_fields(raw: bytes) -> ContributionFields:
    """The typed fields of a contribution in which every value, known or not, is one the pipeline
    can write back. Raises one of ``TYPED_DECODE_ERRORS`` when a field the merge reads has the
    wrong type (the caller then finds the precise problem), ``QuarantineReason`` when an
    unknown field holds what cannot be written back."""
    try:
        return _decode_known(raw)
    except TYPED_DECODE_ERRORS:
        pass
    doc = _decode_lenient(raw)  # a column we do not know: it travels, once checked
    check_writable(raw)
    return doc


def fields_match_path(doc: ContributionFields, project: str, dev: str) -> bool:
    """A typed-decoded v1 file that ``check_envelope`` would accept under ``<project>/<dev>/``."""
    return (doc.version == FORMAT_VERSION and doc.exportedBy == dev and doc.project == project
            and doc.observationCount == len(doc.observations))


class MergedObservationFields(ObservationFields, gc=False):
    """An observation of our own latest.json: the contribution fields plus what the merge added."""

    score: float | None = None
    keep: bool | None = None
    contributors: list[str] | None = None


class MergedFields(msgspec.Struct, gc=False):
    version: int
    project: str
    exportedAtEpoch: Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MILLIS)]
    observations: list[MergedObservationFields]
    observationCount: int


class ObservationsOnly(msgspec.Struct, gc=False):
    """Locate observations without parsing them: the merge re-reads only the winners."""

    observations: list[msgspec.Raw]


# --- the contribution / merged file envelope ----------------------------------------------

@dataclass(frozen=True)
class Envelope:
    """The header of a v1 contribution or merged file (everything but the observations)."""

    version: int
    exported_by: str
    exported_at: str
    exported_at_epoch: int
    project: str
    package_version: str
    filters: dict[str, Any]
    observation_count: int


def check_envelope(doc: Any, *, project: str | None, dev: str | None) -> Envelope:
    """Validate the envelope of a parsed contribution file against the path it came from."""
    if not isinstance(doc, dict):
        raise QuarantineReason(f"the file must hold a JSON object, got {_json_type(doc)}")
    version = doc.get("version")
    if type(version) is not int:
        raise QuarantineReason(_field_problem("the file", "version", version, "the integer 1"))
    if version > FORMAT_VERSION:
        raise QuarantineReason(
            f"format version {version} is newer than this mem-sync understands "
            f"(version {FORMAT_VERSION}); upgrade mem-sync to merge it"
        )
    if version < 1:
        raise QuarantineReason(f"format version {version} is not a valid version (expected 1)")
    exported_by = doc.get("exportedBy")
    if not isinstance(exported_by, str):
        raise QuarantineReason(_field_problem("the file", "exportedBy", exported_by, "a string"))
    if dev is not None and exported_by != dev:
        raise QuarantineReason(
            f"exportedBy is {_shown(exported_by, 80)} but the file sits under the developer folder "
            f"{dev!r}; move it to the folder exportedBy names, or fix the field"
        )
    file_project = doc.get("project")
    if not isinstance(file_project, str):
        raise QuarantineReason(_field_problem("the file", "project", file_project, "a string"))
    if project is not None and file_project != project:
        raise QuarantineReason(
            f"project is {_shown(file_project, 80)} but the file sits under the project folder "
            f"{project!r}; move it or fix the field"
        )
    epoch = doc.get("exportedAtEpoch")
    if type(epoch) is not int or not 0 <= epoch <= MAX_EPOCH_MILLIS:
        raise QuarantineReason(_field_problem(
            "the file", "exportedAtEpoch", epoch, f"a non-negative integer up to {MAX_EPOCH_MILLIS}"))
    observations = doc.get("observations")
    if not isinstance(observations, list):
        raise QuarantineReason(_field_problem("the file", "observations", observations, "an array"))
    count = doc.get("observationCount")
    if type(count) is not int:
        raise QuarantineReason(_field_problem("the file", "observationCount", count, "an integer"))
    if count != len(observations):
        raise QuarantineReason(
            f"observationCount says {count} but the file holds {len(observations)} observations; "
            "the file is probably truncated or hand-edited: export it again"
        )
    filters = doc.get("filters")
    exported_at = doc.get("exportedAt")
    package_version = doc.get("packageVersion")
    return Envelope(
        version=version,
        exported_by=exported_by,
        exported_at=exported_at if isinstance(exported_at, str) else iso_from_millis(to_millis(epoch)),
        exported_at_epoch=epoch,
        project=file_project,
        package_version=package_version if isinstance(package_version, str) else "",
        filters=filters if isinstance(filters, dict) else {},
        observation_count=count,
    )


def build_envelope(
    *,
    project: str,
    exported_by: str,
    now_millis: int,
    observations: list[Observation],
    package_version: str,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A v1 document in claude-mem-sync's field order (its importer reads ours unchanged)."""
    return {
        "version": FORMAT_VERSION,
        "exportedBy": exported_by,
        "exportedAt": iso_from_millis(now_millis),
        "exportedAtEpoch": now_millis // 1000,
        "project": project,
        "packageVersion": package_version,
        "filters": filters if filters is not None else {"types": [], "keywords": [], "tags": []},
        "observations": observations,
        "observationCount": len(observations),
    }


# How dump_document lays out a merged file: each observation at nesting level 2 of the
# document, our fields last. An incremental merge rewrites every score of a large merged set,
# and re-serializing tens of thousands of unchanged observations would cost more than the rest
# of the run, so a document is assembled from per-observation *heads* (everything up to our
# fields, reused byte for byte from last time) and *tails* (score, keep, contributors).
_SCORE_FIELD = b'\n      "score": '
_FIRST_ITEM = b"[\n    "
_NEXT_ITEM = b",\n    "
_LAST_ITEM = b"\n  ]"
# what the merged-set index checks its recorded spans against
SCORE_FIELD, FIRST_ITEM, NEXT_ITEM = _SCORE_FIELD, _FIRST_ITEM, _NEXT_ITEM


def merge_tail_parts(keep: bool, contributors: list[str]) -> bytes:
    """The bytes after the score that ``dump_document`` writes for ``keep`` and ``contributors``."""
    if contributors:
        names = b",\n".join(b"        " + orjson.dumps(name) for name in contributors)
        listing = b"[\n" + names + b"\n      ]"
    else:
        listing = b"[]"
    return b"".join((b',\n      "keep": ', b"true" if keep else b"false", b',\n      "contributors": ', listing,
                     b"\n    }"))


def merge_tail(score: float, keep: bool, contributors: list[str]) -> bytes:
    """An observation's tail: our three fields and its closing brace."""
    return b"".join((_SCORE_FIELD, orjson.dumps(score), merge_tail_parts(keep, contributors)))


def observation_head(obs: Observation) -> bytes:
    """A fresh observation's head (``obs`` holds none of our fields), nested as in a document."""
    body = orjson.dumps(obs, option=orjson.OPT_INDENT_2)
    if body == b"{}":
        return b"{"
    # JSON strings hold no raw newline, so every newline starts a line to indent one level deeper
    return body[:-2].replace(b"\n", b"\n    ") + b","


def merged_head(raw: bytes, old: tuple[Any, Any, Any]) -> bytes | None:
    """The head of an observation we wrote last time, whose (score, keep, contributors) are ``old``.

    Returns None unless ``raw`` ends exactly in the tail our writer made of ``old`` (another
    writer, a hand edit): the caller then re-serializes the parsed observation.
    """
    old_score, old_keep, old_contributors = old
    if type(old_score) is not float or type(old_keep) is not bool or old_contributors is None:
        return None
    old_tail = merge_tail(old_score, old_keep, old_contributors)
    cut = len(raw) - len(old_tail)
    if cut < 1 or raw[cut - 1] not in b",{" or not raw.endswith(old_tail):
        return None
    return raw[:cut]


def document_frame(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """``dump_document(document)`` split where its observations array goes."""
    marked = dump_document({**document, "observations": orjson.Fragment(b"@")})
    before, _, after = marked.rpartition(b"@")  # nothing after the array can hold an "@"
    return before, after


def lay_out_document(frame: tuple[bytes, bytes], heads: list[Any], scores: list[float],
                     parts: list[bytes]) -> tuple[list[Any], list[int], list[int]]:
    """The pieces whose concatenation is the document (``frame`` around the observations: each
    a head, its score, then ``parts``, the rest of its tail from ``merge_tail_parts``), with
    where each observation starts and where its head ends. Heads may be memoryviews into last
    time's file. Every step is a C-level pass over a whole column: nothing is built per
    observation, and nothing is copied."""
    before, after = frame
    if not heads:
        return [before, b"[]", after], [], []
    count = len(heads)
    # one orjson call for every score: the same bytes as one call per score, at a fraction of the cost
    dumped = orjson.dumps(scores)[1:-1].split(b",")
    pieces: list[Any] = [before, _FIRST_ITEM]
    pieces += chain.from_iterable(zip(heads, repeat(_SCORE_FIELD, count), dumped, parts,
                                      repeat(_NEXT_ITEM, count), strict=True))
    pieces[-1] = _LAST_ITEM
    pieces.append(after)
    ends = list(accumulate(map(len, pieces)))  # pieces[2 + 5k] is the head of observation k
    return pieces, ends[1:1 + 5 * count:5], ends[2:2 + 5 * count:5]


def document_chunks(pieces: list[Any], per_chunk: int = 20_000) -> Iterator[bytes]:
    """The document's bytes in runs of a few megabytes, to write while the next is joined."""
    for start in range(0, len(pieces), per_chunk):
        yield b"".join(pieces[start:start + per_chunk])


def dump_document(doc: Any) -> bytes:
    """Pretty JSON with a trailing newline: readable diffs in the shared repo, stable bytes."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


# --- .merge-state.json --------------------------------------------------------------------

@dataclass
class ProcessedFile:
    hash: str
    processed_at: int
    observations_count: int


@dataclass
class ProjectState:
    processed_files: dict[str, ProcessedFile] = field(default_factory=dict)
    total_observations: int = 0
    cap: int = 500
    last_eviction_at: int | None = None


@dataclass
class MergeState:
    last_merged_at: int = 0
    schema_version: int = STATE_SCHEMA_VERSION
    projects: dict[str, ProjectState] = field(default_factory=dict)


def parse_state(data: bytes, source: str) -> MergeState:
    """Read ``.merge-state.json`` (claude-mem-sync's shape). Refuses rather than guesses."""
    try:
        doc = orjson.loads(data)
        if not isinstance(doc, dict):
            raise TypeError("not an object")
        projects: dict[str, ProjectState] = {}
        for name, entry in (doc.get("projects") or {}).items():
            files = {
                path: ProcessedFile(
                    hash=str(info.get("hash", "")),
                    processed_at=int(info.get("processedAt", 0)),
                    observations_count=int(info.get("observationsCount", 0)),
                )
                for path, info in (entry.get("processedFiles") or {}).items()
            }
            last_eviction = entry.get("lastEvictionAt")
            projects[name] = ProjectState(
                processed_files=files,
                total_observations=int(entry.get("totalObservations", 0)),
                cap=int(entry.get("cap", 500)),
                last_eviction_at=int(last_eviction) if last_eviction is not None else None,
            )
        return MergeState(
            last_merged_at=int(doc.get("lastMergedAt", 0)),
            schema_version=int(doc.get("schemaVersion", STATE_SCHEMA_VERSION)),
            projects=projects,
        )
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as error:
        raise StateError(
            f"{source} is not a valid merge state ({error}); restore it from git history "
            "(git checkout -- <file>) or delete it to reprocess every contribution"
        ) from None


def dump_state(state: MergeState) -> bytes:
    doc = {
        "lastMergedAt": state.last_merged_at,
        "schemaVersion": state.schema_version,
        "projects": {
            name: {
                "processedFiles": {
                    path: {
                        "hash": info.hash,
                        "processedAt": info.processed_at,
                        "observationsCount": info.observations_count,
                    }
                    for path, info in sorted(project.processed_files.items())
                },
                "totalObservations": project.total_observations,
                "cap": project.cap,
                "lastEvictionAt": project.last_eviction_at,
            }
            for name, project in sorted(state.projects.items())
        },
    }
    return dump_document(doc)
