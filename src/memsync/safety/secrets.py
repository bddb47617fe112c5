"""Find credentials in observations before they are shared, and redact them.

Two stages keep scanning nearly free. A multi-pattern engine looks for every rule's *anchor*
at once (hyperscan when its wheel is installed, else ``in`` on each anchor's literal prefix
plus Python ``re``); only where an anchor hit does the rule's exact pattern run, with its
placeholder filters and checksum (see ``secret_rules``). Both engines compute the same
thing, "which anchors occur in which string", so their findings are identical.

The usual answer is "no anchor anywhere", and it is reached in one engine call: on a file's
raw bytes, or on the orjson serialisation of an observation or of a chunk of them.

``SecretScanner.may_contain_secret`` runs the anchors over a contribution file's raw bytes.
Anchors are built to survive JSON encoding verbatim, and the one encoding trick that could
hide them (``\\u00XX`` escapes of printable ASCII) makes it answer True, so False is a proof:
no observation parsed from those bytes has a finding, and the file needs no parsing for it.

Pure: no environment, no files. The scanner is an object the caller builds (choosing the
engine, loading a cached hyperscan database: ``memsync.scanner_cache``) and hands down.
Findings carry rule id, field and span, never the matched text.
"""

from __future__ import annotations

import hashlib
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from memsync.safety.ignorable import BYTE_PATTERN as _IGNORABLE
from memsync.safety.ignorable import has_ignorable, strip_ignorable
from memsync.safety.secret_rules import CHECKS_REVISION, RULE_IDS, RULES, Rule

__all__ = [
    "RULE_IDS",
    "Finding",
    "HyperscanEngine",
    "PythonEngine",
    "SecretScanner",
    "hyperscan_scanner",
    "python_scanner",
    "redact",
    "rules_fingerprint",
]

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


class PythonEngine:
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
        self._ignorable = re.compile(_IGNORABLE.encode("ascii"))

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
        if b"\\u00" in data and self._escape.search(data) is not None:
            return True
        # an invisible character may split a token: UTF-8 outside ASCII, or a \u escape
        return (not data.isascii() or b"\\u" in data) and self._ignorable.search(data) is not None

    def segment_hits(self, texts: Sequence[str]) -> dict[int, list[int]]:
        hits: dict[int, list[int]] = {}
        for index, text in enumerate(texts):
            found = self.anchors_in(text)
            if found:
                hits[index] = found
        return hits


def _stop(anchor: int, start: int, end: int, flags: int, context: Any) -> bool:
    return True  # the first match answers "any anchor?"; hyperscan then stops scanning


# What a compiled hyperscan database holds: every anchor, then the escape pattern and the
# invisible-character pattern (``safety.ignorable``), whose ids are past the anchors' and are
# ignored when listing anchors in decoded text: they only send text to the closer look.
DATABASE_PATTERNS = (*ANCHORS, _ASCII_ESCAPE, _IGNORABLE)
# The whole invisible character, raw UTF-8 or \uXXXX-escaped: the detection pattern names only
# the first bytes of a sequence (and the high half of an escaped surrogate pair).
_IGNORABLE_BYTES = re.compile(
    b"(?:" + _IGNORABLE.encode("ascii") + rb")(?:[\x80-\xbf]+|\\u[dD][c-fC-F][0-9a-fA-F]{2})?")


def database_digest(hyperscan_version: str) -> str:
    """Names what a compiled database must hold: these patterns, compiled by this hyperscan.
    A cached database is used only when it carries this digest (see ``memsync.scanner_cache``)."""
    return hashlib.sha256("\0".join((hyperscan_version, *DATABASE_PATTERNS)).encode()).hexdigest()


def compile_database(hyperscan: Any) -> Any:
    """Compile ``DATABASE_PATTERNS`` into a block-mode database (pure CPU work)."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=[p.encode("ascii") for p in DATABASE_PATTERNS],
        ids=list(range(len(DATABASE_PATTERNS))),
        elements=len(DATABASE_PATTERNS),
        flags=[0] * len(DATABASE_PATTERNS),
    )
    return db


class HyperscanEngine:
    """All anchors in one compiled hyperscan database: ``compile_database``'s, or one the
    caller loaded from its cache (with its own scratch space)."""

    name = "hyperscan"

    def __init__(self, database: Any) -> None:
        import hyperscan  # lazy: a native wheel that `mem-sync --help` must not pay for

        self._db = database
        self._anchor_count = len(ANCHORS)  # ids from here on are not anchors
        self._terminated = hyperscan.ScanTerminated
        self._in_use = hyperscan.ScratchInUseError
        self._new_scratch = hyperscan.Scratch
        self._local = threading.local()

    def __reduce__(self) -> tuple[Any, ...]:
        # a worker started by spawn (not fork) gets the database as bytes: no compile, no cache
        import hyperscan

        return (_loaded_engine, (hyperscan.dumpb(self._db),))

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
            if anchor < self._anchor_count:
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


def load_database(hyperscan: Any, serialized: bytes) -> Any:
    """A database from ``hyperscan.dumpb`` bytes, with the scratch space a loaded one lacks."""
    db = hyperscan.loadb(serialized, mode=hyperscan.HS_MODE_BLOCK)
    db.scratch = hyperscan.Scratch(db)  # compile() makes one; a loaded database needs its own
    return db


def _loaded_engine(serialized: bytes) -> HyperscanEngine:
    import hyperscan

    return HyperscanEngine(load_database(hyperscan, serialized))


Engine = PythonEngine | HyperscanEngine


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
    paths: list[_FieldPath], texts: list[str], hits: dict[int, list[int]],
    positions: dict[int, list[int]] | None = None,
) -> list[_RawFinding]:
    """Findings in ``texts`` (as ``_visible`` made them); spans are mapped back through
    ``positions`` to the original strings, invisible characters inside a token included."""
    found = []
    for index in sorted(hits):
        where = positions.get(index) if positions else None
        for s, e, rule, v in _confirm(texts[index], hits[index]):
            if where is not None:
                s, e = where[s], where[e - 1] + 1
            found.append(_RawFinding(paths[index], s, e, rule, v))
    return found


def _visible(texts: list[str]) -> tuple[list[str], dict[int, list[int]]]:
    """``texts`` with default-ignorable code points removed (zero-width spaces and joiners,
    soft hyphens, word joiners...: ``safety.ignorable``) so a token they split still matches,
    and for each text that changed, where its characters came from. Most texts hold none, and
    are returned as they are."""
    positions: dict[int, list[int]] = {}
    visible = texts
    for index, text in enumerate(texts):
        if has_ignorable(text):
            if visible is texts:
                visible = list(texts)
            visible[index], positions[index] = strip_ignorable(text)
    return visible, positions


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


def rules_fingerprint() -> str:
    """Names the rule set: an index may skip re-scanning what these very rules already scanned.
    The package version is part of it because a rule's checks are code, not just patterns."""
    from memsync import __version__

    digest = hashlib.sha256(f"{__version__}\0{CHECKS_REVISION}".encode())
    for rule in RULES:
        digest.update(f"\0{rule.id}\0{rule.anchor}\0{rule.pattern.pattern}".encode())
    return digest.hexdigest()[:32]


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


# --- the scanner ----------------------------------------------------------------------------------

# Clean chunks cost one serialisation and one engine call; a chunk with a hit is bisected,
# so one leaked token costs about one more serialisation of 64 observations, not of 500.
_CHUNK = 64


class SecretScanner:
    """Finds credentials with one anchor engine, built by the caller and handed to whoever scans
    (``memsync.scanner_cache.open_scanner`` builds it at an entry point, from a cached database
    when there is one). Findings never depend on the engine, only speed does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def scan_text(self, text: str, field: str = "") -> list[Finding]:
        """Every credential in ``text``, in order of position."""
        try:
            data = text.encode()
        except UnicodeEncodeError:  # lone surrogates, as json.loads can produce
            data = text.encode("utf-8", "surrogatepass")
        if not self.engine.any_anchor(data):
            return []
        visible, positions = _visible([text])
        hits = self.engine.segment_hits(visible)
        if not hits:
            return []
        return [Finding(f.rule, field, f.start, f.end, f.verified)
                for f in _raw_findings([field], visible, hits, positions)]

    def may_contain_secret(self, raw: bytes) -> bool:
        """Sound prefilter over a whole file's raw JSON bytes: False guarantees that no
        observation parsed from it has a finding; True only means "scan the observations"."""
        if b"\x00" in raw[:4]:
            return True  # UTF-16/32 text: anchors would not appear as plain bytes
        if not self.engine.any_anchor(raw):
            return False
        # The engine also answers True for any invisible character (one may split a token);
        # emoji and soft hyphens are common in real notes, so look again at the bytes without
        # them: a split token is whole there, and a file that only holds such characters is not
        # scanned observation by observation.
        visible = _IGNORABLE_BYTES.sub(b"", raw)
        return visible == raw or self.engine.any_anchor(visible)

    def scan_observation(self, obs: dict[str, Any]) -> list[Finding]:
        """Every credential in any string of ``obs``: known fields, unknown extra fields, strings
        inside lists and nested objects, and unknown field names. Fields are named like
        ``narrative``, ``facts[2]``, ``meta.note``; a name ending in ``#key`` means the
        credential is in the dictionary key itself."""
        raw = self._scan_raw(obs)
        return _public(raw) if raw else []

    def scan_observations(self, observations: Sequence[dict[str, Any]]) -> list[list[Finding]]:
        """``[scan_observation(o) for o in observations]``, in one engine call when (as usual)
        the whole batch is clean."""
        results: list[list[Finding]] = [[] for _ in observations]
        suspects = [
            number
            for first in range(0, len(observations), _CHUNK)
            for number in self._suspects(observations, first, min(first + _CHUNK, len(observations)))
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
        texts, positions = _visible(texts)
        hits = self.engine.segment_hits(texts) if texts else {}
        if not hits:
            return results
        by_obs: dict[int, dict[int, list[int]]] = {}
        for index, anchors in hits.items():
            by_obs.setdefault(owners[index], {})[index] = anchors
        for number, obs_hits in by_obs.items():
            raw = _raw_findings(paths, texts, obs_hits, positions)
            results[number] = _public(raw) if raw else []
        return results

    def redact_observation(self, obs: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
        """A copy of ``obs`` with every finding redacted, and the findings themselves."""
        raw = self._scan_raw(obs)
        if not raw:
            return _copy(obs), []
        by_path: dict[_FieldPath, list[_RawFinding]] = {}
        for f in raw:
            by_path.setdefault(f.path, []).append(f)
        return _redacted_copy(obs, (), by_path), _public(raw)

    def _clean_by_serialisation(self, value: Any) -> bool:
        """True when no anchor occurs in any string (or key) of ``value``, decided on its orjson
        serialisation in one engine call. orjson writes printable ASCII other than quote and
        backslash verbatim, so an anchor in any string appears in the bytes (the same argument
        that makes the raw-file prefilter sound). False means "look closer", nothing more."""
        try:
            data = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            return False  # lone surrogates, non-string keys, non-JSON values: take the long way
        return not self.engine.any_anchor(data)

    def _scan_raw(self, obs: dict[str, Any]) -> list[_RawFinding]:
        if self._clean_by_serialisation(obs):
            return []
        paths: list[_FieldPath] = []
        texts: list[str] = []
        _collect(obs, paths, texts)
        texts, positions = _visible(texts)
        hits = self.engine.segment_hits(texts)
        return _raw_findings(paths, texts, hits, positions) if hits else []

    def _suspects(self, observations: Sequence[Any], lo: int, hi: int, known_dirty: bool = False) -> list[int]:
        """Indexes in ``[lo, hi)`` whose observation may hold an anchor. No anchor can span two
        list elements (anchors contain no quote, comma or brace), so when a dirty range's left
        half is clean its right half is dirty without being serialised again."""
        if not known_dirty and self._clean_by_serialisation(observations[lo:hi]):
            return []
        if hi - lo == 1:
            return [lo]
        mid = (lo + hi) // 2
        left = self._suspects(observations, lo, mid)
        return left + self._suspects(observations, mid, hi, known_dirty=not left)


def python_scanner() -> SecretScanner:
    """A scanner on the pure-Python engine (no native wheel, nothing cached)."""
    return SecretScanner(PythonEngine())


def hyperscan_scanner(database: Any = None) -> SecretScanner:
    """A scanner on hyperscan, with ``database`` (from ``load_database``) or a fresh compile.
    Raises ImportError without the wheel, and hyperscan's error on a CPU it refuses."""
    import hyperscan

    return SecretScanner(HyperscanEngine(database if database is not None else compile_database(hyperscan)))
