"""Find credentials in observations before they are shared, and redact them.

Two stages keep scanning nearly free. A multi-pattern engine looks for every rule's *anchor*
at once (hyperscan when its wheel is installed, else ``in`` on each anchor's literal prefix
plus Python ``re``); only where an anchor hit does the rule's exact pattern run, with its
placeholder filters and checksum (see ``secret_rules``). Both engines compute the same
thing, "which anchors occur in which string", so their findings are identical.

The usual answer is "no anchor anywhere", and it is reached in one engine call: on a file's
raw bytes, or on the orjson serialisation of an observation or of a chunk of them.

``may_contain_secret`` runs the anchors over a contribution file's raw bytes. Anchors are
built to survive JSON encoding verbatim, and the one encoding trick that could hide them
(``\\u00XX`` escapes of printable ASCII) makes it answer True, so False is a proof: no
observation parsed from those bytes has a finding, and the file needs no parsing for it.

Findings carry rule id, field and span, never the matched text.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from memsync.atomic import atomic_write_bytes
from memsync.errors import SecretsFound, UsageError
from memsync.safety.secret_rules import CHECKS_REVISION, RULE_IDS, RULES, Rule

__all__ = [
    "RULE_IDS",
    "Finding",
    "active_engine",
    "gate_export",
    "may_contain_secret",
    "redact",
    "redact_observation",
    "safe_title",
    "scan_observation",
    "scan_observations",
    "scan_text",
    "select_engine",
]

ENGINE_ENV = "MEM_SYNC_SECRET_ENGINE"
_SEPARATOR = "\x00"  # no anchor can match a NUL, so anchors never straddle two strings
# A \u00XX escape of a printable ASCII character could hide an anchor from a raw-byte scan.
_ASCII_ESCAPE = r"\\u00[2-7][0-9A-Fa-f]"


@dataclass(frozen=True)
class Finding:
    rule: str  # e.g. "github-pat", "aws-access-key"
    field: str  # "narrative", "facts[2]", "meta.note"; "" for scan_text
    start: int  # character span in that field's text
    end: int
    verified: bool = False  # an embedded checksum validated


# --- anchors ----------------------------------------------------------------------------------


def _build_anchor_table() -> tuple[tuple[str, ...], tuple[tuple[Rule, ...], ...]]:
    anchors: dict[str, list[Rule]] = {}
    for rule in RULES:
        anchors.setdefault(rule.anchor, []).append(rule)
    return tuple(anchors), tuple(tuple(rules) for rules in anchors.values())


ANCHORS, _ANCHOR_RULES = _build_anchor_table()
_PRIORITY = {rule.id: index for index, rule in enumerate(RULES)}


# --- engines ----------------------------------------------------------------------------------
#
# An engine answers two questions: "does any anchor occur in these bytes?" (the hot path:
# one call per file, batch or observation, almost always "no") and, on the rare yes, "which
# anchors occur in which of these strings?". Both engines answer them exactly, so the rules
# then confirm the same candidates and findings are identical.

_LEADING_LITERAL = re.compile(r"(?:[A-Za-z0-9_~ =:-]|\\[.\-])+")


def leading_literal(anchor: str) -> str:
    """The fixed text every match of ``anchor`` starts with (``"ghp_"`` for ``ghp_[…]{16}``).
    The Python engine looks for these with ``in``, which runs at memory speed."""
    m = _LEADING_LITERAL.match(anchor)
    literal = m.group(0) if m else ""
    if m and m.end() < len(anchor) and anchor[m.end()] in "?*{":
        literal = literal[:-1]  # the last character is optional or repeated
    return re.sub(r"\\(.)", r"\1", literal)


class _PythonEngine:
    """Literal prefixes found with ``in``; only where one occurs does its anchor regex run."""

    name = "python"

    def __init__(self) -> None:
        by_literal: dict[str, list[int]] = {}
        for index, anchor in enumerate(ANCHORS):
            by_literal.setdefault(leading_literal(anchor), []).append(index)
        self._literals = tuple(
            (literal, literal.encode("ascii"), tuple(indexes))
            for literal, indexes in by_literal.items()
        )
        self._each = tuple(re.compile(a, re.ASCII) for a in ANCHORS)
        self._each_bytes = tuple(re.compile(a.encode("ascii")) for a in ANCHORS)
        self._escape = re.compile(_ASCII_ESCAPE.encode("ascii"))

    def anchors_in(self, text: str) -> list[int]:
        found: list[int] = []
        for literal, _, indexes in self._literals:
            if literal in text:
                found.extend(i for i in indexes if self._each[i].search(text))
        return sorted(found)

    def any_anchor(self, data: bytes) -> bool:
        for _, literal, indexes in self._literals:
            if literal in data and any(self._each_bytes[i].search(data) for i in indexes):
                return True
        return b"\\u00" in data and self._escape.search(data) is not None

    def segment_hits(self, texts: Sequence[str]) -> dict[int, list[int]]:
        hits: dict[int, list[int]] = {}
        for index, text in enumerate(texts):
            found = self.anchors_in(text)
            if found:
                hits[index] = found
        return hits


def _stop(anchor: int, start: int, end: int, flags: int, context: Any) -> bool:
    return True  # the first match answers "any anchor?"; hyperscan then stops scanning


class _HyperscanEngine:
    """All anchors in one compiled hyperscan database."""

    name = "hyperscan"

    def __init__(self) -> None:
        import hyperscan  # lazy: a native wheel that `mem-sync --help` must not pay for

        # one database serves both questions; the escape pattern's id is past the anchors'
        # and is ignored when listing anchors in decoded text
        patterns = (*ANCHORS, _ASCII_ESCAPE)
        self._db = _cached_database(hyperscan, patterns)
        self._escape_id = len(ANCHORS)
        self._terminated = hyperscan.ScanTerminated
        self._in_use = hyperscan.ScratchInUseError
        self._new_scratch = hyperscan.Scratch
        self._local = threading.local()

    def _scan(self, data: bytes, handler: Callable[..., Any]) -> None:
        try:
            # positional handler: the binding's keyword parsing costs more than the scan of
            # a 600-byte note
            self._db.scan(data, handler)
        except self._in_use:
            # another thread holds the database's own scratch space: use this thread's
            scratch = getattr(self._local, "scratch", None)
            if scratch is None:
                scratch = self._local.scratch = self._new_scratch(self._db)
            self._db.scan(data, handler, scratch=scratch)

    def any_anchor(self, data: bytes) -> bool:
        try:
            self._scan(data, _stop)
        except self._terminated:
            return True
        return False

    def segment_hits(self, texts: Sequence[str]) -> dict[int, list[int]]:
        events: list[tuple[int, int]] = []

        def on_match(anchor: int, start: int, end: int, flags: int, context: Any) -> None:
            if anchor != self._escape_id:
                events.append((anchor, end))

        if len(texts) == 1:
            data = texts[0].encode("utf-8", "surrogatepass")
        else:
            data = _SEPARATOR.join(texts).encode("utf-8", "surrogatepass")
        self._scan(data, on_match)
        if not events:
            return {}
        starts = []
        offset = 0
        for text in texts:
            starts.append(offset)
            offset += len(text.encode("utf-8", "surrogatepass")) + 1
        hits: dict[int, set[int]] = {}
        for anchor, end in events:
            hits.setdefault(bisect_right(starts, end - 1) - 1, set()).add(anchor)
        return {index: sorted(found) for index, found in hits.items()}


def _cached_database(hyperscan: Any, patterns: Sequence[str]) -> Any:
    """The compiled anchor database, from the cache when an earlier run left it there.

    Compiling takes ~70 ms, most of a merge of one new file; loading takes 0.1 ms. The cache
    is keyed by the patterns and the hyperscan version, and anything wrong with it (missing,
    corrupt, built for another CPU, unwritable) means compiling, as without a cache."""
    key = hashlib.sha256("\0".join((hyperscan.__version__, *patterns)).encode()).hexdigest()[:24]
    path = cache_dir() / f"anchors-{key}.hsdb"
    try:
        db = hyperscan.loadb(path.read_bytes(), mode=hyperscan.HS_MODE_BLOCK)
        db.scratch = hyperscan.Scratch(db)  # compile() makes one; a loaded database needs its own
        return db
    except Exception:  # noqa: BLE001 - no cache, or one hyperscan refuses: compile instead
        pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=[p.encode("ascii") for p in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=[0] * len(patterns),
    )
    with contextlib.suppress(Exception):
        atomic_write_bytes(path, hyperscan.dumpb(db))
    return db


def cache_dir() -> Path:
    """Where mem-sync keeps what it can rebuild: $MEM_SYNC_CACHE_DIR, else the XDG cache."""
    explicit = os.environ.get("MEM_SYNC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mem-sync"


_engine: _PythonEngine | _HyperscanEngine | None = None
_built: dict[str, _PythonEngine | _HyperscanEngine] = {}  # compile each engine once per process


def _build(kind: type[_PythonEngine] | type[_HyperscanEngine]) -> _PythonEngine | _HyperscanEngine:
    if kind.name not in _built:
        _built[kind.name] = kind()
    return _built[kind.name]


def select_engine(name: str | None = None) -> str:
    """Choose the anchor engine: "hyperscan", "python", or None for automatic (the
    ``MEM_SYNC_SECRET_ENGINE`` variable, else hyperscan when it works here, else python).
    The first scan calls this with None. Returns the engine now in use; findings never
    depend on the choice, only speed does."""
    global _engine
    choice = (name or os.environ.get(ENGINE_ENV) or "auto").strip().lower()
    if choice == "python":
        _engine = _build(_PythonEngine)
    elif choice == "hyperscan":
        try:
            _engine = _build(_HyperscanEngine)
        except ImportError as error:
            raise UsageError(
                f"{ENGINE_ENV}=hyperscan but the hyperscan package is not installed; "
                "install mem-sync[fast] or set it to python"
            ) from error
    elif choice == "auto":
        try:
            _engine = _build(_HyperscanEngine)
        except Exception:  # noqa: BLE001 - no wheel, or a CPU the bundled library refuses
            _engine = _build(_PythonEngine)
    else:
        raise UsageError(f"{ENGINE_ENV} must be hyperscan, python or auto, got {choice!r}")
    return _engine.name


def active_engine() -> str:
    return _get_engine().name


def _get_engine() -> _PythonEngine | _HyperscanEngine:
    if _engine is None:
        select_engine()
    assert _engine is not None
    return _engine


# --- confirming anchor hits -----------------------------------------------------------------------


def _confirm(text: str, anchors: Sequence[int]) -> list[tuple[int, int, str, bool]]:
    """Run the exact rules behind the anchors that hit; keep the longest of overlapping matches."""
    if len(anchors) == 1:
        rules = _ANCHOR_RULES[anchors[0]]
    else:
        rules = tuple(rule for a in anchors for rule in _ANCHOR_RULES[a])
    candidates = [
        (start, end, rule.id, verified)
        for rule in rules
        for start, end, verified in rule.matches(text)
    ]
    if len(candidates) <= 1:
        return candidates
    candidates.sort(key=lambda c: (c[0] - c[1], _PRIORITY[c[2]], c[0]))
    kept: list[tuple[int, int, str, bool]] = []
    for cand in candidates:
        if all(cand[1] <= k[0] or cand[0] >= k[1] for k in kept):
            kept.append(cand)
    kept.sort()
    return kept


def scan_text(text: str, field: str = "") -> list[Finding]:
    """Every credential in ``text``, in order of position."""
    engine = _engine or _get_engine()
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates, as json.loads can produce
        data = text.encode("utf-8", "surrogatepass")
    if not engine.any_anchor(data):
        return []
    hits = engine.segment_hits([text])
    if not hits:
        return []
    return [Finding(rule, field, s, e, v) for s, e, rule, v in _confirm(text, hits[0])]


# --- observations ---------------------------------------------------------------------------------

# Field names claude-mem and mem-sync write; any other key is scanned like a value, since a
# name can carry a credential as well as a value can.
_KNOWN_KEYS = frozenset(
    {
        "id", "memory_session_id", "type", "title", "subtitle", "narrative", "text", "facts",
        "concepts", "files_read", "files_modified", "created_at", "created_at_epoch", "project",
        "prompt_number", "discovery_tokens", "sdk_session_id", "branch", "commit_sha",
    }
)
_KEY = "#key"

_FieldPath = Any  # str for a top-level field, else a tuple of keys and list indexes


def _collect(obs: Any, paths: list[_FieldPath], texts: list[str]) -> None:
    """Every string in ``obs`` with its path; malformed input is scanned, not trusted."""
    if isinstance(obs, dict):
        _flatten(obs, paths, texts)
    elif isinstance(obs, (list, tuple)):
        _flatten_nested(obs, (), paths, texts)
    elif isinstance(obs, str):
        paths.append("")
        texts.append(obs)


def _flatten(obs: dict[str, Any], paths: list[_FieldPath], texts: list[str]) -> None:
    # isinstance, not type(): str/list/dict subclasses serialise like their bases and must
    # be scanned like them too
    for key, value in obs.items():
        if isinstance(value, str):
            paths.append(key)
            texts.append(value)
        elif isinstance(value, (list, tuple, dict)):
            _flatten_nested(value, (key,), paths, texts)
        if isinstance(key, str) and key not in _KNOWN_KEYS:
            paths.append((_KEY, key))
            texts.append(key)


def _flatten_nested(value: Any, path: tuple, paths: list[_FieldPath], texts: list[str]) -> None:
    if isinstance(value, dict):
        items = value.items()
    else:
        items = enumerate(value)
    for key, item in items:
        if isinstance(item, str):
            paths.append((*path, key))
            texts.append(item)
        elif isinstance(item, (list, tuple, dict)):
            _flatten_nested(item, (*path, key), paths, texts)
        if isinstance(key, str):
            paths.append((_KEY, *path, key))
            texts.append(key)


@dataclass(frozen=True)
class _RawFinding:
    path: _FieldPath
    start: int
    end: int
    rule: str
    verified: bool


def _raw_findings(
    paths: list[_FieldPath], texts: list[str], hits: dict[int, list[int]]
) -> list[_RawFinding]:
    return [
        _RawFinding(paths[index], s, e, rule, v)
        for index in sorted(hits)
        for s, e, rule, v in _confirm(texts[index], hits[index])
    ]


def _clean_by_serialisation(value: Any) -> bool:
    """True when no anchor occurs in any string (or key) of ``value``, decided on its orjson
    serialisation in one engine call. orjson writes printable ASCII other than quote and
    backslash verbatim, so an anchor in any string appears in the bytes (the same argument
    that makes the raw-file prefilter sound). False means "look closer", nothing more."""
    try:
        data = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return False  # lone surrogates, non-string keys, non-JSON values: take the long way
    return not _get_engine().any_anchor(data)


def _scan_raw(obs: dict[str, Any]) -> list[_RawFinding]:
    if _clean_by_serialisation(obs):
        return []
    paths: list[_FieldPath] = []
    texts: list[str] = []
    _collect(obs, paths, texts)
    hits = _get_engine().segment_hits(texts)
    return _raw_findings(paths, texts, hits) if hits else []


def _public(raw: list[_RawFinding]) -> list[Finding]:
    """Turn raw findings into public ones, naming fields without ever spelling a secret:
    a dictionary key that holds a credential appears in field paths in its redacted form."""
    bad_keys: dict[str, str] = {}
    for f in raw:
        if isinstance(f.path, tuple) and f.path[0] == _KEY:
            key = f.path[-1]
            if key not in bad_keys:
                bad_keys[key] = redact(key, [x for x in raw if x.path == f.path])
    out = []
    for f in raw:
        out.append(Finding(f.rule, _field_name(f.path, bad_keys), f.start, f.end, f.verified))
    return out


def _field_name(path: _FieldPath, bad_keys: dict[str, str]) -> str:
    if not isinstance(path, tuple):
        return str(bad_keys.get(path, path))
    parts = path[1:] if path[0] == _KEY else path
    name = ""
    for part in parts:
        if type(part) is int:
            name += f"[{part}]"
        else:
            shown = str(bad_keys.get(part, part))
            name = f"{name}.{shown}" if name else shown
    return name + _KEY if path[0] == _KEY else name


def scan_observation(obs: dict[str, Any]) -> list[Finding]:
    """Every credential in any string of ``obs``: known fields, unknown extra fields, strings
    inside lists and nested objects, and unknown field names. Fields are named like
    ``narrative``, ``facts[2]``, ``meta.note``; a name ending in ``#key`` means the
    credential is in the dictionary key itself."""
    raw = _scan_raw(obs)
    return _public(raw) if raw else []


# Clean chunks cost one serialisation and one engine call; a chunk with a hit is bisected,
# so one leaked token costs about one more serialisation of 64 observations, not of 500.
_CHUNK = 64


def _suspects(
    observations: Sequence[Any], lo: int, hi: int, known_dirty: bool = False
) -> list[int]:
    """Indexes in ``[lo, hi)`` whose observation may hold an anchor. No anchor can span two
    list elements (anchors contain no quote, comma or brace), so when a dirty range's left
    half is clean its right half is dirty without being serialised again."""
    if not known_dirty and _clean_by_serialisation(observations[lo:hi]):
        return []
    if hi - lo == 1:
        return [lo]
    mid = (lo + hi) // 2
    left = _suspects(observations, lo, mid)
    return left + _suspects(observations, mid, hi, known_dirty=not left)


def scan_observations(observations: Sequence[dict[str, Any]]) -> list[list[Finding]]:
    """``[scan_observation(o) for o in observations]``, in one engine call when (as usual)
    the whole batch is clean."""
    results: list[list[Finding]] = [[] for _ in observations]
    suspects = [
        number
        for first in range(0, len(observations), _CHUNK)
        for number in _suspects(observations, first, min(first + _CHUNK, len(observations)))
    ]
    if not suspects:
        return results
    paths: list[_FieldPath] = []
    texts: list[str] = []
    owners: list[int] = []
    for number in suspects:
        obs = observations[number]
        before = len(texts)
        _collect(obs, paths, texts)
        owners.extend([number] * (len(texts) - before))
    hits = _get_engine().segment_hits(texts) if texts else {}
    if not hits:
        return results
    by_obs: dict[int, dict[int, list[int]]] = {}
    for index, anchors in hits.items():
        by_obs.setdefault(owners[index], {})[index] = anchors
    for number, obs_hits in by_obs.items():
        raw = _raw_findings(paths, texts, obs_hits)
        results[number] = _public(raw) if raw else []
    return results


def rules_fingerprint() -> str:
    """Names the rule set: an index may skip re-scanning what these very rules already scanned.
    The package version is part of it because a rule's checks are code, not just patterns."""
    from memsync import __version__

    digest = hashlib.sha256(f"{__version__}\0{CHECKS_REVISION}".encode())
    for rule in RULES:
        digest.update(f"\0{rule.id}\0{rule.anchor}\0{rule.pattern.pattern}".encode())
    return digest.hexdigest()[:32]


def may_contain_secret(raw: bytes) -> bool:
    """Sound prefilter over a whole file's raw JSON bytes: False guarantees that no
    observation parsed from it has a finding; True only means "scan the observations"."""
    if b"\x00" in raw[:4]:
        return True  # UTF-16/32 text: anchors would not appear as plain bytes
    return _get_engine().any_anchor(raw)


# --- redaction ----------------------------------------------------------------------------------


def redact(text: str, findings: Sequence[Finding] | Sequence[_RawFinding]) -> str:
    """``text`` with each finding's span replaced by ``[REDACTED:<rule>]``."""
    spans = sorted(
        {(f.start, f.end, f.rule) for f in findings if 0 <= f.start < f.end <= len(text)}
    )
    pieces = []
    cursor = 0
    for start, end, rule in spans:
        if start < cursor:  # overlapping spans from a merged list: the first one wins
            continue
        pieces.append(text[cursor:start])
        pieces.append(f"[REDACTED:{rule}]")
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def redact_observation(obs: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
    """A copy of ``obs`` with every finding redacted, and the findings themselves."""
    raw = _scan_raw(obs)
    if not raw:
        return _copy(obs), []
    by_path: dict[_FieldPath, list[_RawFinding]] = {}
    for f in raw:
        by_path.setdefault(f.path, []).append(f)
    return _redacted_copy(obs, (), by_path), _public(raw)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _redacted_copy(
    value: Any, path: tuple, by_path: dict[_FieldPath, list[_RawFinding]]
) -> Any:
    def path_of(key: Any) -> _FieldPath:
        return key if not path and isinstance(key, str) else (*path, key)

    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            child = path_of(key)
            new_key = key
            key_findings = by_path.get((_KEY, *path, key))
            if key_findings:
                new_key = redact(key, key_findings)
            if isinstance(item, str):
                found = by_path.get(child)
                out[new_key] = redact(item, found) if found else item
            else:
                out[new_key] = _redacted_copy(item, (*path, key), by_path)
        return out
    if isinstance(value, (list, tuple)):
        out_list = []
        for index, item in enumerate(value):
            child = (*path, index)
            if isinstance(item, str):
                found = by_path.get(child)
                out_list.append(redact(item, found) if found else item)
            else:
                out_list.append(_redacted_copy(item, child, by_path))
        return out_list
    return value


# --- export gate ----------------------------------------------------------------------------------

_MAX_TITLES = 5
_TITLE_CHARS = 60


def gate_export(observations: list[dict[str, Any]], *, redact: bool) -> list[dict[str, Any]]:
    """The observations to export. With findings: ``redact=True`` returns copies with each
    credential replaced by ``[REDACTED:<rule>]``; ``redact=False`` raises ``SecretsFound``
    naming the observations (titles redacted) and rules, never a secret."""
    results = scan_observations(observations)
    flagged = [number for number, found in enumerate(results) if found]
    if not flagged:
        return list(observations)
    if redact:
        return [
            redact_observation(obs)[0] if results[number] else obs
            for number, obs in enumerate(observations)
        ]
    raise SecretsFound(_refusal([(observations[n], results[n]) for n in flagged]))


def safe_title(obs: dict[str, Any], limit: int = 80) -> str:
    """The observation's title with credentials redacted, then shortened to ``limit``
    characters (in that order, so a cut can never leave half a secret unrecognised)."""
    title = obs.get("title")
    if not isinstance(title, str) or not title.strip():
        return "(untitled)"
    shown = " ".join(redact(title, scan_text(title)).split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _refusal(flagged: list[tuple[dict[str, Any], list[Finding]]]) -> str:
    parts = []
    for obs, found in flagged[:_MAX_TITLES]:
        rules = ", ".join(sorted({f.rule for f in found}))
        parts.append(f'"{safe_title(obs, _TITLE_CHARS)}" ({rules})')
    more = len(flagged) - _MAX_TITLES
    listed = "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    count = len(flagged)
    noun = "observation contains" if count == 1 else "observations contain"
    return (
        f"export refused: {count} {noun} credentials: {listed}. Remove them, or export with "
        "redaction to replace each credential with [REDACTED:<rule>]; rotate any credential "
        "that was ever pushed"
    )
