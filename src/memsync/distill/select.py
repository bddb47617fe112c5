"""What may be sent: the merged observations of a project, reduced to the fields the model
needs, each under a short id we assign. Pure.

Only type, title, narrative, facts, concepts, date and the number of contributors are sent.
Developer names stay here (they feed developer diversity, computed by us) and are also
blanked out of the sent text where a note happens to mention one. An observation with a
secret finding in any sent field is withheld, counted, never printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from memsync.model import composite_key, iso_from_millis, parse_string_list, to_millis

# SecretScanner.scan_observations: findings per observation, the usual "none" in one pass
ScanFn = Callable[[list[dict[str, Any]]], list[list[Any]]]
NAME_PLACEHOLDER = "[developer]"
# A name this short is also an ordinary word or abbreviation ("al", "qa"): blanking it would
# damage notes, and it identifies nobody on its own.
MIN_BLANKED_NAME = 3


@dataclass(frozen=True)
class SentObservation:
    short_id: str  # "O12": what the model cites
    key: tuple[str, str, int]  # composite key (session, title, created_at_epoch in ms)
    created_at_epoch: int  # as stored in latest.json (evidence keeps it verbatim)
    type: str
    concepts: tuple[str, ...]
    contributors: tuple[str, ...]  # names: never sent
    files: tuple[str, ...]  # files_read + files_modified: never sent
    payload: dict[str, Any]  # exactly what is sent for it


@dataclass(frozen=True)
class Selection:
    observations: tuple[SentObservation, ...]
    total: int  # in latest.json
    excluded_by_type: int
    withheld_for_secrets: int
    unique_devs: int  # contributors of the selected observations

    def by_id(self) -> dict[str, SentObservation]:
        return {obs.short_id: obs for obs in self.observations}


def select_observations(observations: Sequence[dict[str, Any]], *,
                        exclude_types: Iterable[str], scan: ScanFn) -> Selection:
    """Order is chronological (then by key), so ids and prompts are the same on every run."""
    excluded = set(exclude_types)
    kept = [obs for obs in observations if str(obs.get("type") or "") not in excluded]
    kept.sort(key=lambda obs: (to_millis(int(obs["created_at_epoch"])), composite_key(obs)))
    names = sorted({str(name) for obs in kept for name in obs.get("contributors") or ()})
    blank = _name_blanker(names)
    payloads = [_payload(obs, blank) for obs in kept]
    findings = scan(payloads)
    chosen: list[SentObservation] = []
    withheld = 0
    for obs, payload, found in zip(kept, payloads, findings, strict=True):
        if found:
            withheld += 1
            continue
        short_id = f"O{len(chosen) + 1}"
        chosen.append(SentObservation(
            short_id=short_id,
            key=composite_key(obs),
            created_at_epoch=int(obs["created_at_epoch"]),
            type=payload["type"],
            concepts=tuple(payload["concepts"]),
            contributors=tuple(sorted({str(n) for n in obs.get("contributors") or ()})),
            files=tuple(sorted(set(parse_string_list(obs.get("files_read")))
                               | set(parse_string_list(obs.get("files_modified"))))),
            payload={"id": short_id, **payload},
        ))
    devs = {name for obs in chosen for name in obs.contributors}
    return Selection(observations=tuple(chosen), total=len(observations),
                     excluded_by_type=len(observations) - len(kept),
                     withheld_for_secrets=withheld, unique_devs=len(devs))


def _payload(obs: dict[str, Any], blank: Callable[[str], str]) -> dict[str, Any]:
    return {
        "type": str(obs.get("type") or "change"),
        "title": blank(str(obs.get("title") or "")),
        "narrative": blank(str(obs.get("narrative") or "")),
        "facts": [blank(fact) for fact in parse_string_list(obs.get("facts"))],
        "concepts": [blank(c) for c in parse_string_list(obs.get("concepts"))],
        "date": iso_from_millis(to_millis(int(obs["created_at_epoch"])))[:10],
        "contributors": len(set(obs.get("contributors") or ())) or 1,
    }


def _name_blanker(names: Sequence[str]) -> Callable[[str], str]:
    usable = [re.escape(name) for name in names if len(name) >= MIN_BLANKED_NAME]
    if not usable:
        return lambda text: text
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(sorted(usable, key=len, reverse=True))
                         + r")(?![\w-])", re.IGNORECASE)
    return lambda text: pattern.sub(NAME_PLACEHOLDER, text)
