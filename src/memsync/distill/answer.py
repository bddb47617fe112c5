"""The model's structured answer: its JSON schema (sent as the tool / response format) and
its validation (msgspec). Pure.

The model supplies text and citations only. Evidence counts, type breakdowns and developer
diversity are ours (``ground``), so the schema does not even ask for them.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from memsync.errors import MemSyncError

TOOL_NAME = "record_distillation"
TOOL_DESCRIPTION = ("Record the rules and knowledge sections distilled from the observations, "
                    "each citing the ids of the observations it rests on.")
CATEGORIES = ("architecture", "testing", "security", "performance", "conventions", "workflow",
              "data", "dependencies")

_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2_000)]
_Ids = Annotated[list[Annotated[str, msgspec.Meta(max_length=16)]], msgspec.Meta(max_length=500)]


class RuleAnswer(msgspec.Struct, forbid_unknown_fields=False):
    rule: _Text
    rationale: _Text
    category: Annotated[str, msgspec.Meta(max_length=40)]
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]
    sources: _Ids


class SectionAnswer(msgspec.Struct, forbid_unknown_fields=False):
    title: _Text
    concepts: list[str]
    description: _Text
    patterns: list[str]
    antiPatterns: list[str]  # noqa: N815 - claude-mem-sync's field name
    sources: _Ids


class Answer(msgspec.Struct, forbid_unknown_fields=False):
    rules: list[RuleAnswer]
    knowledgeSections: list[SectionAnswer]  # noqa: N815


class InvalidAnswer(MemSyncError):
    """The answer is missing, truncated, or does not match the schema (retried once)."""


def decode_answer(value: Any) -> Answer:
    """A tool input (dict) or a JSON text, validated; raise ``InvalidAnswer`` saying what is wrong."""
    try:
        if isinstance(value, (str, bytes)):
            return msgspec.json.decode(value, type=Answer)
        return msgspec.convert(value, type=Answer)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise InvalidAnswer(f"the model's answer does not match the schema: {error}") from None


def _string_list() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


# Written out rather than generated: OpenAI's strict mode needs every property required and
# additionalProperties false, and the descriptions are part of the instructions.
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["rules", "knowledgeSections"],
    "properties": {
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["rule", "rationale", "category", "confidence", "sources"],
                "properties": {
                    "rule": {"type": "string", "description": "Imperative, actionable, "
                             "CLAUDE.md-compatible rule."},
                    "rationale": {"type": "string", "description": "Why, from the evidence."},
                    "category": {"type": "string", "enum": list(CATEGORIES)},
                    "confidence": {"type": "number", "description": "0.5 to 1."},
                    "sources": {**_string_list(), "description": "Ids (O1, O2, ...) of the "
                                "observations supporting the rule; only ids you were given."},
                },
            },
        },
        "knowledgeSections": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["title", "concepts", "description", "patterns", "antiPatterns",
                             "sources"],
                "properties": {
                    "title": {"type": "string"},
                    "concepts": _string_list(),
                    "description": {"type": "string"},
                    "patterns": _string_list(),
                    "antiPatterns": _string_list(),
                    "sources": {**_string_list(), "description": "Ids of the observations "
                                "in this cluster; only ids you were given."},
                },
            },
        },
    },
}
