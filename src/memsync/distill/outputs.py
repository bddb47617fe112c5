"""The files under ``distilled/<project>/`` (formats in CONTRACTS.md and docs/distill.md). Pure
rendering to bytes: sorted keys where order is ours, fixed key order where the contract names
it, the run's "now" as the only timestamp, so the same answer gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from memsync.distill.feedback import Feedback
from memsync.distill.ground import RuleRecord, SectionRecord

RULES_VERSION = 1
RULES_FILE = "rules.json"
RULES_MD = "rules.md"
KNOWLEDGE_MD = "knowledge-base.md"
REPORT_FILE = "distillation-report.json"
FEEDBACK_FILE = "feedback.json"


def dump_json(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def rules_json(project: str, generated_at: str, rules: Sequence[RuleRecord]) -> bytes:
    return dump_json({"version": RULES_VERSION, "project": project, "generatedAt": generated_at,
                      "rules": [rule.to_json() for rule in rules]})


def parse_rule(doc: Mapping[str, Any]) -> RuleRecord | None:
    """A rule of a previous rules.json, or None when it is not one (kept rules come from here)."""
    try:
        known = ("id", "rule", "rationale", "category", "confidence", "sourceCount", "sourceTypes",
                 "typeBreakdown", "devDiversity", "evidence", "files")
        return RuleRecord(
            id=str(doc["id"]), rule=str(doc["rule"]), rationale=str(doc.get("rationale", "")),
            category=str(doc.get("category", "conventions")),
            confidence=float(doc.get("confidence", 0)),
            source_count=int(doc.get("sourceCount", 0)),
            source_types=tuple(doc.get("sourceTypes") or ()),
            type_breakdown=dict(doc.get("typeBreakdown") or {}),
            dev_diversity=int(doc.get("devDiversity", 0)),
            evidence=tuple(tuple(e) for e in doc.get("evidence") or ()),
            files=tuple(doc.get("files") or ()),
            extra={k: v for k, v in doc.items() if k not in known})
    except (KeyError, TypeError, ValueError):
        return None


def order_rules(rules: Sequence[RuleRecord]) -> list[RuleRecord]:
    return sorted(rules, key=lambda r: (r.category, -r.confidence, r.id))


def _environment() -> Any:
    from memsync.render import template_environment

    env = template_environment()
    # Model text is one line in Markdown: a newline could open a heading or a code block.
    env.filters.setdefault("oneline", lambda text: " ".join(str(text).split()))
    return env


def rules_markdown(report: Mapping[str, Any], rules: Sequence[RuleRecord],
                   feedback: Feedback) -> bytes:
    verdicts = feedback.by_rule()
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in order_rules(rules):
        entry = verdicts.get(rule.id)
        status = entry.status if entry else "proposed"
        modified = entry.modified_rule if entry and status == "modified" else None
        groups.setdefault(rule.category, []).append({
            "id": rule.id, "text": modified or rule.rule, "original": rule.rule if modified else None,
            "status": status, "reviewedBy": entry.reviewed_by if entry else None,
            "rationale": rule.rationale, "confidence": rule.confidence,
            "sourceCount": rule.source_count, "typeBreakdown": dict(rule.type_breakdown),
            "devDiversity": rule.dev_diversity})
    text = _environment().get_template("distill_rules.md.j2").render(
        report=report, groups=sorted(groups.items()))
    return text.encode()


def knowledge_markdown(project: str, generated_at: str, sections: Sequence[SectionRecord]) -> bytes:
    ordered = sorted(sections, key=lambda s: (-s.source_count, s.title))
    text = _environment().get_template("distill_knowledge_base.md.j2").render(
        project=project, generated_at=generated_at, sections=ordered)
    return text.encode()
