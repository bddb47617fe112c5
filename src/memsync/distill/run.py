"""``mem-sync distill`` for one project: read the shared repository, plan, call, write.

Phases, in order: read (merged set, feedback, previous outputs) -> select (what may be sent)
-> plan (parts under the budget, requests, estimates, digest) -> gate (dry run, opt-in,
up to date, cost cap) -> call (each part, retried once on an invalid or truncated answer,
then the merge) -> ground -> write every file at once. Nothing is written unless every call
succeeded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import orjson

from memsync.distill import budget, outputs
from memsync.distill.answer import Answer, InvalidAnswer, decode_answer
from memsync.distill.budget import Part
from memsync.distill.clients import ModelClient, ModelReply
from memsync.distill.feedback import (
    Feedback,
    distilled_dir,
    dump_feedback,
    read_feedback,
    with_proposals,
)
from memsync.distill.ground import Dropped, RuleRecord, build_records, ground_answer
from memsync.distill.pricing import cost, price_of
from memsync.distill.prompt import (
    PROMPT_VERSION,
    ModelRequest,
    ReviewContext,
    merge_request,
    part_request,
    requests_digest,
)
from memsync.distill.select import Selection, select_observations
from memsync.distill.settings import DistillSettings
from memsync.errors import MemSyncError, RepoError
from memsync.model import iso_from_millis, to_millis

REPORT_VERSION = 1


class DistillError(MemSyncError):
    """The run cannot go on: opt-in missing, cost cap, an answer invalid twice, a secret."""


@dataclass(frozen=True)
class DistillOptions:
    repo: Path
    project: str
    settings: DistillSettings
    dry_run: bool = False
    max_cost: float | None = None
    now: int | None = None  # epoch (s or ms); default SOURCE_DATE_EPOCH, else the merge's time
    env: Mapping[str, str] | None = field(default=None, compare=False)
    # memsync.safety.secrets.SecretScanner, built once by the caller for every project;
    # None opens one from the environment (memsync.scanner_cache).
    scanner: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class CallEstimate:
    kind: str  # part | merge
    label: str  # the concept cluster(s) of a part
    observations: int
    input_tokens: int
    output_tokens: int


@dataclass
class DistillOutcome:
    project: str
    status: str  # written | unchanged | up-to-date | dry-run | skipped
    message: str
    selection: Selection | None = None
    estimates: list[CallEstimate] = field(default_factory=list)
    estimated_cost: float | None = None
    digest: str | None = None
    report: dict[str, Any] | None = None
    changed_paths: list[str] = field(default_factory=list)
    sample_request: ModelRequest | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"project": self.project, "status": self.status,
                               "message": self.message, "changedPaths": self.changed_paths}
        if self.selection is not None:
            doc["observations"] = {
                "inMergedSet": self.selection.total, "sent": len(self.selection.observations),
                "excludedByType": self.selection.excluded_by_type,
                "withheldForSecrets": self.selection.withheld_for_secrets}
        if self.estimates:
            doc["estimate"] = {
                "calls": [{"kind": e.kind, "label": e.label, "observations": e.observations,
                           "inputTokens": e.input_tokens, "outputTokens": e.output_tokens}
                          for e in self.estimates],
                "inputTokens": sum(e.input_tokens for e in self.estimates),
                "outputTokens": sum(e.output_tokens for e in self.estimates),
                "estimatedCost": self.estimated_cost}
        if self.digest:
            doc["digest"] = self.digest
        if self.report is not None:
            doc["tokenUsage"] = self.report["tokenUsage"]
            doc["outputStats"] = self.report["outputStats"]
        return doc


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Previous:
    rules: dict[str, RuleRecord]
    report: dict[str, Any]
    feedback: Feedback | None
    complete: bool  # every output file is there


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as error:
        raise RepoError(f"cannot read {path} ({error}); restore it from git history or delete "
                        "it to distill from scratch") from None


def read_merged(repo: Path, project: str) -> dict[str, Any]:
    path = repo / "merged" / project / "latest.json"
    doc = _read_json(path)
    if doc is None:
        raise RepoError(f"no merged set for project {project!r} at {path}; run mem-sync ci-merge "
                        "first (or pass --repo with the shared repository's checkout)")
    if not isinstance(doc, dict) or not isinstance(doc.get("observations"), list):
        raise RepoError(f"{path} has no observations array; regenerate it with mem-sync ci-merge")
    return doc


def read_previous(repo: Path, project: str) -> Previous:
    folder = distilled_dir(repo, project)
    rules_doc = _read_json(folder / outputs.RULES_FILE) or {}
    rules = {}
    for item in rules_doc.get("rules") or () if isinstance(rules_doc, dict) else ():
        record = outputs.parse_rule(item) if isinstance(item, dict) else None
        if record is not None:
            rules[record.id] = record
    report = _read_json(folder / outputs.REPORT_FILE)
    complete = all((folder / name).is_file() for name in (
        outputs.RULES_FILE, outputs.RULES_MD, outputs.KNOWLEDGE_MD, outputs.REPORT_FILE,
        outputs.FEEDBACK_FILE))
    return Previous(rules=rules, report=report if isinstance(report, dict) else {},
                    feedback=read_feedback(repo, project), complete=complete)


def with_branch_rules(previous: Previous, rules: Mapping[str, RuleRecord],
                      rejected: Mapping[str, str]) -> Previous:
    """Rules (and remembered rejected texts) of the review branch that the base lacks."""
    known = {**rules, **previous.rules}
    remembered = [*(previous.report.get("rejectedRules") or ()),
                  *({"id": i, "rule": t} for i, t in sorted(rejected.items()))]
    return replace(previous, rules=known, report={**previous.report, "rejectedRules": remembered})


# ------------------------------------------------------------------------------ review state


@dataclass(frozen=True)
class ReviewState:
    kept: tuple[RuleRecord, ...]  # accepted / modified rules, verbatim from the previous run
    rejected: tuple[tuple[str, str], ...]  # (id, text): never proposed again
    context: ReviewContext  # what the model is told


def review_state(previous: Previous, scan_text: Callable[[str], list[Any]]) -> ReviewState:
    verdicts = previous.feedback.by_rule() if previous.feedback else {}
    remembered = {item["id"]: item["rule"] for item in previous.report.get("rejectedRules") or ()
                  if isinstance(item, dict) and isinstance(item.get("id"), str)
                  and isinstance(item.get("rule"), str)}
    kept, rejected = [], []
    for rule_id, entry in sorted(verdicts.items()):
        record = previous.rules.get(rule_id)
        if entry.status in ("accepted", "modified") and record is not None:
            kept.append(record)
        elif entry.status == "rejected":
            text = record.rule if record is not None else remembered.get(rule_id)
            if text:
                rejected.append((rule_id, text))
    adopted = [verdicts[r.id].modified_rule or r.rule if verdicts[r.id].status == "modified"
               else r.rule for r in kept]
    # A text that carries a secret is still used here to drop near-duplicates, never sent.
    context = ReviewContext(
        adopted=tuple(t for t in adopted if not scan_text(t)),
        rejected=tuple(text for _, text in rejected if not scan_text(text)))
    return ReviewState(tuple(kept), tuple(rejected), context)


# ------------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...]
    requests: tuple[ModelRequest, ...]
    estimates: tuple[CallEstimate, ...]
    digest: str


def plan_calls(project: str, selection: Selection, review: ReviewContext,
               settings: DistillSettings, feedback: Feedback | None) -> Plan:
    empty = part_request(project, [], review, number=1, count=1,
                         max_output_tokens=settings.max_output_tokens)
    overhead = budget.estimate_tokens(empty.system + empty.user)
    sizes = {obs.short_id: budget.estimate_tokens(orjson.dumps(obs.payload).decode()) + 1
             for obs in selection.observations}
    parts = budget.split_into_parts(selection.observations, sizes,
                                    settings.max_token_budget - overhead)
    requests = tuple(part_request(project, part.observations, review, number=index,
                                  count=len(parts), max_output_tokens=settings.max_output_tokens)
                     for index, part in enumerate(parts, start=1))
    estimates = [CallEstimate("part", part.cluster, len(part.observations),
                              budget.estimate_tokens(r.system + r.user),
                              budget.estimate_output_tokens(len(part.observations),
                                                            settings.max_output_tokens))
                 for part, r in zip(parts, requests, strict=True)]
    if len(parts) > 1:
        partial_output = sum(e.output_tokens for e in estimates)
        estimates.append(CallEstimate(
            "merge", "", len(selection.observations), overhead + partial_output,
            min(settings.max_output_tokens, partial_output)))
    digest = requests_digest(requests, model=settings.model, provider=settings.provider,
                             feedback=feedback.statuses() if feedback else [])
    return Plan(tuple(parts), requests, tuple(estimates), digest)


def run_now(options: DistillOptions, merged: Mapping[str, Any]) -> int:
    """One "now" in ms: --now, else SOURCE_DATE_EPOCH, else when the merged set was made."""
    env = os.environ if options.env is None else options.env
    if options.now is not None:
        return to_millis(options.now)
    if env.get("SOURCE_DATE_EPOCH", "").isdigit():
        return to_millis(int(env["SOURCE_DATE_EPOCH"]))
    stamp = merged.get("exportedAtEpoch")
    return to_millis(int(stamp)) if isinstance(stamp, int) and stamp > 0 else 0


# ------------------------------------------------------------------------------ the run


ClientFactory = Callable[[DistillSettings, Mapping[str, str]], ModelClient]


class ReviewBranchLike(Protocol):
    """The open review branch, when publishing (memsync.distill.publishing.ReviewBranch)."""

    def files(self, project: str, digest: str) -> Mapping[str, bytes] | None: ...

    def rules(self, project: str) -> tuple[dict[str, RuleRecord], dict[str, str]]: ...


def distill_project(options: DistillOptions, *, client_factory: ClientFactory | None = None,
                    answers: dict[str, Any] | None = None,
                    review_branch: ReviewBranchLike | None = None) -> DistillOutcome:
    """Distill one project.

    ``answers`` (digest -> grounded answer) lets a retried publish reuse a result instead of
    paying twice. ``review_branch`` is the open review PR's branch: its files are reused as
    they are when they carry the same digest (no call), and the rules its verdicts name are
    known even before the base holds them.
    """
    settings, project, repo = options.settings, options.project, options.repo
    scanner = options.scanner
    if scanner is None:
        from memsync.scanner_cache import open_scanner, scanner_setup

        scanner = open_scanner(scanner_setup(os.environ if options.env is None else options.env))
    scan_text = scanner.scan_text
    merged = read_merged(repo, project)
    previous = read_previous(repo, project)
    if review_branch is not None:
        previous = with_branch_rules(previous, *review_branch.rules(project))
    selection = select_observations(merged["observations"], exclude_types=settings.exclude_types,
                                    scan=scanner.scan_observations)
    outcome = DistillOutcome(project, "skipped", "", selection=selection)
    sent = len(selection.observations)
    if sent < max(settings.min_observations, 1):
        outcome.message = (f"{sent} observation(s) to distill, below distillation."
                           f"minObservations ({settings.min_observations}); nothing sent")
        return outcome
    review = review_state(previous, scan_text)
    plan = plan_calls(project, selection, review.context, settings, previous.feedback)
    price = price_of(settings.model, settings.price_per_mtok)
    outcome.estimates = list(plan.estimates)
    outcome.estimated_cost = cost(price, sum(e.input_tokens for e in plan.estimates),
                                  sum(e.output_tokens for e in plan.estimates))
    outcome.digest = plan.digest
    outcome.sample_request = plan.requests[0]
    if options.dry_run:
        outcome.status = "dry-run"
        outcome.message = settings.opt_in_problem() or "ready to send"
        if options.max_cost is not None and (outcome.estimated_cost or 0) > options.max_cost:
            outcome.message += f"; but the estimate exceeds --max-cost ${options.max_cost:.4f}"
        return outcome
    problem = settings.opt_in_problem()
    if problem:
        raise DistillError(problem)
    if previous.complete and previous.report.get("inputDigest") == plan.digest:
        outcome.status = "up-to-date"
        outcome.message = "up to date: nothing sent, nothing written (same input, model and feedback)"
        return outcome
    if options.max_cost is not None:
        if outcome.estimated_cost is None:
            raise DistillError(f"no price known for model {settings.model!r}, so --max-cost cannot "
                               "be enforced; set distillation.pricePerMTok or drop --max-cost")
        if outcome.estimated_cost > options.max_cost:
            raise DistillError(f"estimated cost ${outcome.estimated_cost:.4f} exceeds --max-cost "
                               f"${options.max_cost:.4f}; raise the cap or distill fewer "
                               "observations (distillation.excludeTypes)")
    for request in plan.requests:
        _refuse_secrets(request, scan_text)
    earlier = review_branch.files(project, plan.digest) if review_branch is not None else None
    if earlier is not None:
        outcome.changed_paths = outputs_write(repo, project, earlier)
        outcome.report = orjson.loads(earlier[outputs.REPORT_FILE])
        outcome.status = "written" if outcome.changed_paths else "unchanged"
        outcome.message = "same input as the open review branch: its files reused, nothing sent"
        return outcome
    cached = answers.get(plan.digest) if answers is not None else None
    if cached is None:
        env = os.environ if options.env is None else options.env
        client = (client_factory or _default_factory)(settings, env)
        cached = _call_and_ground(client, project, plan, review, settings, scan_text)
        if answers is not None:
            answers[plan.digest] = cached
    final, usage, calls, dropped = cached
    dropped = replace(dropped)  # rendering adds to the counts: a reused answer starts afresh
    now_ms = run_now(options, merged)
    files = _render(options, merged, selection, plan, review, previous, final, usage, calls,
                    dropped, now_ms, price)
    changed = outputs_write(repo, project, files)
    outcome.changed_paths = changed
    outcome.report = orjson.loads(files[outputs.REPORT_FILE])
    outcome.status = "written" if changed else "unchanged"
    rules = outcome.report["outputStats"]["rulesGenerated"]
    outcome.message = (f"{rules} rule(s), {outcome.report['outputStats']['knowledgeSections']} "
                       f"knowledge section(s) in distilled/{project}/")
    return outcome


def _default_factory(settings: DistillSettings, env: Mapping[str, str]) -> ModelClient:
    from memsync.distill.clients import make_client

    return make_client(settings, env)


def _refuse_secrets(request: ModelRequest, scan_text: Callable[[str], list[Any]]) -> None:
    # Selection already withheld flagged observations; this is the last look at the exact
    # strings before they leave, so nothing added later (a reviewer's text) slips through.
    for text in request.texts():
        findings = scan_text(text)
        if findings:
            rules = ", ".join(sorted({f.rule for f in findings}))
            raise DistillError(f"refusing to send: the request would carry a credential ({rules}); "
                               "remove it from the observation or feedback it came from")


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


def _ask(client: ModelClient, request: ModelRequest, usage: Usage) -> Answer:
    """One call, retried once when the answer is missing, truncated or off-schema."""
    problem, hint = "", ""
    for _ in range(2):
        reply: ModelReply = client.complete(request)
        usage.input_tokens += reply.input_tokens
        usage.output_tokens += reply.output_tokens
        if reply.truncated:
            problem = f"was truncated (stop reason {reply.stop_reason})"
            hint = "; raise distillation.maxOutputTokens or lower maxTokenBudget for smaller parts"
            continue
        if reply.answer is None:
            problem = f"carried no structured answer (stop reason {reply.stop_reason})"
            hint = "; the model may not support tool use / JSON schema output: pick another"
            continue
        try:
            return decode_answer(reply.answer)
        except InvalidAnswer as error:
            problem = str(error).removeprefix("the model's answer ")
            hint = ""
    raise DistillError(f"{client.label}: the answer {problem}, twice; nothing was written{hint}")


def _call_and_ground(client: ModelClient, project: str, plan: Plan, review: ReviewState,
                     settings: DistillSettings, scan_text: Callable[[str], list[Any]]) -> Any:
    usage, dropped = Usage(), Dropped()
    calls = 0
    results: list[Answer] = []
    for request in plan.requests:
        results.append(ground_answer(_ask(client, request, usage), request.allowed_ids, dropped))
        calls += 1
    while len(results) > 1:
        merged: list[Answer] = []
        for group in _merge_groups(project, results, review.context, settings):
            if len(group) == 1:
                merged.append(group[0])
                continue
            request = merge_request(project, group, review.context,
                                    max_output_tokens=settings.max_output_tokens)
            _refuse_secrets(request, scan_text)
            merged.append(ground_answer(_ask(client, request, usage), request.allowed_ids,
                                        dropped))
            calls += 1
        if len(merged) == len(results):
            raise DistillError("the partial results are too large to merge two at a time within "
                               "distillation.maxTokenBudget; raise it")
        results = merged
    return results[0], usage, calls, dropped


def _merge_groups(project: str, results: Sequence[Answer], review: ReviewContext,
                  settings: DistillSettings) -> list[list[Answer]]:
    """Consecutive partial results, as many per merge call as the budget allows."""
    from memsync.distill.prompt import partial_text

    empty = merge_request(project, [], review, max_output_tokens=settings.max_output_tokens)
    room = settings.max_token_budget - budget.estimate_tokens(empty.system + empty.user)
    groups: list[list[Answer]] = []
    used = 0
    for result in results:
        size = budget.estimate_tokens(partial_text(result)) + 16
        if groups and used + size <= room:
            groups[-1].append(result)
            used += size
        else:
            groups.append([result])
            used = size
    return groups


def _render(options: DistillOptions, merged: Mapping[str, Any], selection: Selection, plan: Plan,
            review: ReviewState, previous: Previous, final: Answer, usage: Usage, calls: int,
            dropped: Dropped, now_ms: int, price: Any) -> dict[str, bytes]:
    settings, project = options.settings, options.project
    generated_at = iso_from_millis(now_ms)
    adopted_texts = [r.rule for r in review.kept] + list(review.context.adopted)
    new_rules, sections = build_records(
        final, selection.by_id(), rejected=[text for _, text in review.rejected],
        adopted=adopted_texts, taken_ids=[r.id for r in review.kept] + [i for i, _ in review.rejected],
        dropped=dropped)
    rules = outputs.order_rules([*review.kept, *new_rules])
    feedback = with_proposals(previous.feedback, project, [r.id for r in new_rules], generated_at)
    epochs = sorted(to_millis(o.created_at_epoch) for o in selection.observations)
    types: dict[str, int] = {}
    for obs in selection.observations:
        types[obs.type] = types.get(obs.type, 0) + 1
    confidences = [r.confidence for r in rules]
    report = {
        "project": project,
        "generatedAt": generated_at,
        "generatedAtEpoch": now_ms // 1000,
        "inputStats": {
            "totalObservations": len(selection.observations),
            "uniqueDevs": selection.unique_devs,
            "typeBreakdown": dict(sorted(types.items())),
            "dateRange": {"oldest": iso_from_millis(epochs[0]), "newest": iso_from_millis(epochs[-1])},
        },
        "outputStats": {
            "rulesGenerated": len(rules),
            "knowledgeSections": len(sections),
            "avgConfidence": round(sum(confidences) / len(confidences), 3) if confidences else 0,
        },
        "tokenUsage": {
            "inputTokens": usage.input_tokens,
            "outputTokens": usage.output_tokens,
            "totalTokens": usage.input_tokens + usage.output_tokens,
            "estimatedCost": cost(price, usage.input_tokens, usage.output_tokens),
        },
        "model": settings.model,
        # ours
        "version": REPORT_VERSION,
        "provider": settings.provider,
        "inHouse": settings.in_house,
        "promptVersion": PROMPT_VERSION,
        "inputDigest": plan.digest,
        "parts": len(plan.parts),
        "calls": calls,
        "selection": {"inMergedSet": selection.total, "excludedByType": selection.excluded_by_type,
                      "withheldForSecrets": selection.withheld_for_secrets},
        "dropped": dropped.to_dict(),
        "keptRules": len(review.kept),
        "newRules": len(new_rules),
        # Rejected texts must outlive the rules.json that held them: the next runs still
        # need them for "do not propose" and for dropping near-duplicates.
        "rejectedRules": [{"id": rule_id, "rule": text} for rule_id, text in review.rejected],
    }
    return {
        outputs.RULES_FILE: outputs.rules_json(project, generated_at, rules),
        outputs.RULES_MD: outputs.rules_markdown(report, rules, feedback),
        outputs.KNOWLEDGE_MD: outputs.knowledge_markdown(project, generated_at, sections),
        outputs.REPORT_FILE: outputs.dump_json(report),
        outputs.FEEDBACK_FILE: dump_feedback(feedback),
    }


def outputs_write(repo: Path, project: str, files: Mapping[str, bytes]) -> list[str]:
    from memsync.atomic import write_all_if_changed

    folder = distilled_dir(repo, project)
    names = sorted(files)
    written = write_all_if_changed([(folder / name, files[name]) for name in names])
    return [f"distilled/{project}/{name}" for name, changed in zip(names, written, strict=True)
            if changed]


__all__ = ["DistillError", "DistillOptions", "DistillOutcome", "distill_project"]
