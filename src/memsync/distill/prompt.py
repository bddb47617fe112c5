"""Requests to the model, provider-neutral: a system text, a user text, the answer schema. Pure.

Observations travel one JSON object a line (compact and easy for a model to cite); the
exact bytes depend only on the selection and the feedback, so the digest of the requests
decides whether anything changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from memsync.distill.answer import CATEGORIES, TOOL_NAME, Answer
from memsync.distill.select import SentObservation

# Part of the digest: a change of wording or schema distills again.
PROMPT_VERSION = "distill-1"


@dataclass(frozen=True)
class ModelRequest:
    system: str
    user: str
    max_output_tokens: int
    allowed_ids: frozenset[str]  # the observation ids this request carries
    kind: str = "part"  # part | merge

    def texts(self) -> tuple[str, str]:
        return self.system, self.user


@dataclass(frozen=True)
class ReviewContext:
    """What the reviewers said, as the model sees it."""

    adopted: tuple[str, ...] = ()  # accepted rules verbatim, modified ones as modified
    rejected: tuple[str, ...] = ()  # "do not propose"


def observation_line(obs: SentObservation) -> str:
    return orjson.dumps(obs.payload).decode()


def system_prompt(project: str, review: ReviewContext) -> str:
    from memsync.render import render_template

    return render_template("distill_system.txt.j2", project=project, tool_name=TOOL_NAME,
                           categories=CATEGORIES, adopted=bool(review.adopted),
                           rejected=bool(review.rejected))


def part_request(project: str, observations: Sequence[SentObservation], review: ReviewContext,
                 *, number: int, count: int, max_output_tokens: int) -> ModelRequest:
    from memsync.render import render_template

    user = render_template("distill_user.txt.j2", project=project, tool_name=TOOL_NAME,
                           observations=[observation_line(o) for o in observations],
                           part_number=number, part_count=count, adopted=review.adopted,
                           rejected=review.rejected)
    return ModelRequest(system_prompt(project, review), user, max_output_tokens,
                        frozenset(o.short_id for o in observations))


def merge_request(project: str, partials: Sequence[Answer], review: ReviewContext, *,
                  max_output_tokens: int) -> ModelRequest:
    from memsync.render import render_template

    results = [partial_text(answer) for answer in partials]
    user = render_template("distill_merge.txt.j2", project=project, tool_name=TOOL_NAME,
                           results=results, adopted=review.adopted, rejected=review.rejected)
    cited = {source for answer in partials for item in (*answer.rules, *answer.knowledgeSections)
             for source in item.sources}
    return ModelRequest(system_prompt(project, review), user, max_output_tokens,
                        frozenset(cited), kind="merge")


def partial_text(answer: Answer) -> str:
    import msgspec

    return msgspec.json.encode(answer).decode()


def requests_digest(requests: Sequence[ModelRequest], *, model: str, provider: str,
                    feedback: Sequence[tuple[str, str, str]]) -> str:
    """sha256 of (what would be sent, prompt version, model, feedback statuses)."""
    doc: dict[str, Any] = {
        "promptVersion": PROMPT_VERSION,
        "provider": provider,
        "model": model,
        "requests": [[r.kind, r.system, r.user, r.max_output_tokens] for r in requests],
        "feedback": [list(entry) for entry in sorted(feedback)],
    }
    return "sha256:" + hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()
