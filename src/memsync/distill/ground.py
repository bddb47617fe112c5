"""Grounding the model's answer in what we sent. Pure.

A rule or section citing an id we did not send in that call is dropped whole (the model
made something up, so the rest of it is suspect too), as is one citing nothing. Evidence
count, type breakdown, developer diversity and files come from the cited observations,
never from the model.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from memsync.distill.answer import Answer, RuleAnswer, SectionAnswer
from memsync.distill.select import SentObservation

MIN_CONFIDENCE = 0.5  # claude-mem-sync leaves out rules below it
# Two rule texts are "too close" when their content words overlap this much (Jaccard index
# of the sets of lower-cased words, stop words left out): a rephrasing of a rejected rule
# ("Always use httpx for HTTP calls" / "Use httpx for all HTTP calls") scores ~0.8, two
# different rules about the same library ~0.3.
NEAR_DUPLICATE = 0.6
_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = frozenset(
    "a an the and or but of to in on at by for with from into onto as is are be been being it its "
    "this that these those all any each every always never do does not no use using when where "
    "which who whom than then there their them they we our you your should must can may".split())


@dataclass
class Dropped:
    unknown_citation: int = 0
    no_citation: int = 0
    low_confidence: int = 0
    near_rejected: int = 0
    near_adopted: int = 0
    duplicate: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"unknownCitation": self.unknown_citation, "noCitation": self.no_citation,
                "lowConfidence": self.low_confidence, "nearRejected": self.near_rejected,
                "nearAdopted": self.near_adopted,
                "duplicate": self.duplicate}


def _id_number(short_id: str) -> tuple[int, str]:
    digits = short_id[1:]
    return (int(digits), short_id) if digits.isdigit() else (10**9, short_id)


def ground_answer(answer: Answer, allowed: frozenset[str], dropped: Dropped) -> Answer:
    """The answer with only fully grounded rules and sections, sources de-duplicated and sorted."""
    rules: list[RuleAnswer] = []
    for rule in answer.rules:
        sources = _grounded(rule.sources, allowed, dropped)
        if sources is None:
            continue
        if rule.confidence < MIN_CONFIDENCE:
            dropped.low_confidence += 1
            continue
        rules.append(RuleAnswer(rule=rule.rule.strip(), rationale=rule.rationale.strip(),
                                category=rule.category.strip().lower() or "conventions",
                                confidence=rule.confidence, sources=sources))
    sections: list[SectionAnswer] = []
    for section in answer.knowledgeSections:
        sources = _grounded(section.sources, allowed, dropped)
        if sources is None:
            continue
        sections.append(SectionAnswer(
            title=section.title.strip(), concepts=_clean(section.concepts),
            description=section.description.strip(), patterns=_clean(section.patterns),
            antiPatterns=_clean(section.antiPatterns), sources=sources))
    return Answer(rules=rules, knowledgeSections=sections)


def _grounded(sources: Sequence[str], allowed: frozenset[str], dropped: Dropped) -> list[str] | None:
    cited = {s.strip() for s in sources if s.strip()}
    if not cited:
        dropped.no_citation += 1
        return None
    if not cited <= allowed:
        dropped.unknown_citation += 1
        return None
    return sorted(cited, key=_id_number)


def _clean(items: Iterable[str]) -> list[str]:
    return [text for text in dict.fromkeys(item.strip() for item in items) if text]


# ------------------------------------------------------------------ rule records


@dataclass(frozen=True)
class RuleRecord:
    """One rule of rules.json (CONTRACTS.md: field names and order)."""

    id: str
    rule: str
    rationale: str
    category: str
    confidence: float
    source_count: int
    source_types: tuple[str, ...]
    type_breakdown: Mapping[str, int]
    dev_diversity: int
    evidence: tuple[tuple[str, str, int], ...]
    files: tuple[str, ...]
    extra: Mapping[str, object] = field(default_factory=dict)  # unknown fields, kept

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "rule": self.rule, "rationale": self.rationale,
            "category": self.category, "confidence": self.confidence,
            "sourceCount": self.source_count, "sourceTypes": list(self.source_types),
            "typeBreakdown": dict(self.type_breakdown), "devDiversity": self.dev_diversity,
            "evidence": [list(e) for e in self.evidence], "files": list(self.files),
            **self.extra,
        }


@dataclass(frozen=True)
class SectionRecord:
    title: str
    concepts: tuple[str, ...]
    description: str
    patterns: tuple[str, ...]
    anti_patterns: tuple[str, ...]
    source_count: int
    type_breakdown: Mapping[str, int]


def rule_id(text: str) -> str:
    """Stable: the same rule text always gets the same id (case and spacing ignored)."""
    normal = " ".join(text.lower().split())
    return "R-" + hashlib.sha256(normal.encode()).hexdigest()[:8]


def words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS)


def closeness(a: str, b: str) -> float:
    """Jaccard index of the two texts' content words (1.0 for the same words)."""
    left, right = words(a), words(b)
    if not left or not right:
        return 1.0 if " ".join(a.lower().split()) == " ".join(b.lower().split()) else 0.0
    return len(left & right) / len(left | right)


def too_close(text: str, others: Iterable[str]) -> bool:
    return any(closeness(text, other) >= NEAR_DUPLICATE for other in others)


def evidence_of(sources: Sequence[str], by_id: Mapping[str, SentObservation]) -> dict[str, object]:
    cited = [by_id[s] for s in sources]
    types = Counter(obs.type for obs in cited)
    return {
        "source_count": len(cited),
        "type_breakdown": dict(sorted(types.items())),
        "source_types": tuple(sorted(types)),
        "dev_diversity": len({name for obs in cited for name in obs.contributors}),
        "evidence": tuple(sorted((obs.key[0], obs.key[1], obs.created_at_epoch) for obs in cited)),
        "files": tuple(sorted({f for obs in cited for f in obs.files})),
    }


def build_records(answer: Answer, by_id: Mapping[str, SentObservation], *,
                  rejected: Sequence[str], adopted: Sequence[str], taken_ids: Iterable[str],
                  dropped: Dropped) -> tuple[list[RuleRecord], list[SectionRecord]]:
    """Final rules and sections; near-duplicates of rejected or adopted rules are dropped."""
    taken = set(taken_ids)
    rules: list[RuleRecord] = []
    kept_texts: list[str] = []
    for rule in answer.rules:
        if too_close(rule.rule, rejected):
            dropped.near_rejected += 1
            continue
        if too_close(rule.rule, adopted):
            dropped.near_adopted += 1
            continue
        identity = rule_id(rule.rule)
        if identity in taken or too_close(rule.rule, kept_texts):
            dropped.duplicate += 1
            continue
        taken.add(identity)
        kept_texts.append(rule.rule)
        rules.append(RuleRecord(id=identity, rule=rule.rule, rationale=rule.rationale,
                                category=rule.category, confidence=round(rule.confidence, 3),
                                **evidence_of(rule.sources, by_id)))
    sections = []
    for section in answer.knowledgeSections:
        stats = evidence_of(section.sources, by_id)
        sections.append(SectionRecord(
            title=section.title, concepts=tuple(section.concepts),
            description=section.description, patterns=tuple(section.patterns),
            anti_patterns=tuple(section.antiPatterns), source_count=stats["source_count"],
            type_breakdown=stats["type_breakdown"]))
    return rules, sections
