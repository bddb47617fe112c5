"""The data that crosses module boundaries: observations, contribution files, merge state.

Observations stay plain dicts exactly as parsed, so every column a newer claude-mem adds
(``subtitle``, ``prompt_number``, …) travels through merge and import verbatim. The
envelope and the state are dataclasses, parsed and dumped here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
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
    """``2026-03-19T18:30:00.000Z``, the shape JavaScript's ``toISOString`` gives."""
    moment = dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def stamp_from_millis(millis: int) -> str:
    """The contribution file stamp ``YYYY-MM-DDTHH-MM-SS`` (no colons: Windows-safe)."""
    moment = dt.datetime.fromtimestamp(millis // 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H-%M-%S")


# --- observations -----------------------------------------------------------------------

def composite_key(obs: Observation) -> CompositeKey:
    """Identity across developers. The exporter-local ``id`` is deliberately not part of it."""
    return (obs["memory_session_id"], obs.get("title") or "", to_millis(obs["created_at_epoch"]))


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
    if type(epoch) is not int or epoch <= 0:
        raise QuarantineReason(_field_problem(where, "created_at_epoch", epoch, "a positive integer"))
    for name in TEXT_FIELDS:
        value = obs.get(name)
        if value is not None and not isinstance(value, str):
            raise QuarantineReason(_field_problem(where, name, value, "a string or null"))
    for name in ARRAY_FIELDS:
        value = obs.get(name)
        if value is not None and not isinstance(value, (str, list)):
            raise QuarantineReason(_field_problem(where, name, value, "a string, an array or null"))


def _field_problem(where: str, name: str, value: Any, expected: str) -> str:
    if value is None:
        return f"{where}.{name} is missing; it must be {expected}"
    return f"{where}.{name} must be {expected}, got {_json_type(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"the string {shown!r}"
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
    created_at_epoch: Annotated[int, msgspec.Meta(gt=0)]
    title: str | None = None
    narrative: str | None = None
    text: str | None = None
    subtitle: str | None = None
    facts: str | list[Any] | None = None
    concepts: str | list[Any] | None = None
    files_read: str | list[Any] | None = None
    files_modified: str | list[Any] | None = None
    access_count: int | None = None


class ContributionFields(msgspec.Struct, gc=False):
    version: int
    exportedBy: str
    project: str
    exportedAtEpoch: Annotated[int, msgspec.Meta(ge=0)]
    observations: list[ObservationFields]
    observationCount: int


decode_contribution_fields = msgspec.json.Decoder(ContributionFields).decode


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
    exportedAtEpoch: Annotated[int, msgspec.Meta(ge=0)]
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
            f"exportedBy is {exported_by!r} but the file sits under the developer folder "
            f"{dev!r}; move it to contributions/<project>/{exported_by}/ or fix the field"
        )
    file_project = doc.get("project")
    if not isinstance(file_project, str):
        raise QuarantineReason(_field_problem("the file", "project", file_project, "a string"))
    if project is not None and file_project != project:
        raise QuarantineReason(
            f"project is {file_project!r} but the file sits under the project folder "
            f"{project!r}; move it or fix the field"
        )
    epoch = doc.get("exportedAtEpoch")
    if type(epoch) is not int or epoch < 0:
        raise QuarantineReason(_field_problem("the file", "exportedAtEpoch", epoch, "a non-negative integer"))
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
