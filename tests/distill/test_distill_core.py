"""The pure core of distillation: parts under the budget, grounding, closeness, opt-in,
prices, the feedback file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memsync.distill.answer import Answer, InvalidAnswer, RuleAnswer, decode_answer
from memsync.distill.budget import BudgetError, split_into_parts
from memsync.distill.feedback import dump_feedback, parse_feedback, set_rule_status
from memsync.distill.ground import Dropped, closeness, ground_answer, too_close
from memsync.distill.pricing import price_of
from memsync.distill.select import SentObservation, select_observations
from memsync.distill.settings import DistillSettings, is_private_url
from memsync.errors import RepoError, UsageError


def sent(index: int, concepts: tuple[str, ...]) -> SentObservation:
    return SentObservation(short_id=f"O{index}", key=(f"s{index}", "t", index), created_at_epoch=index,
                           type="decision", concepts=concepts, contributors=("alice",), files=(),
                           payload={"id": f"O{index}"})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.lists(st.sampled_from("abcdef"), max_size=3)),
                min_size=1, max_size=60),
       st.integers(50, 400))
def test_parts_hold_every_observation_once_and_stay_within_capacity(items, capacity) -> None:
    observations = [sent(i + 1, tuple(c)) for i, (_, c) in enumerate(items)]
    sizes = {f"O{i + 1}": size for i, (size, _) in enumerate(items)}
    parts = split_into_parts(observations, sizes, capacity)
    ids = [o.short_id for part in parts for o in part.observations]
    assert sorted(ids) == sorted(sizes)
    assert all(sum(sizes[o.short_id] for o in part.observations) <= capacity for part in parts)
    for part in parts:  # chronological inside a part
        numbers = [int(o.short_id[1:]) for o in part.observations]
        assert numbers == sorted(numbers)
    assert split_into_parts(observations, sizes, capacity) == parts  # deterministic
    if sum(sizes.values()) <= capacity:
        assert len(parts) == 1


def test_clusters_follow_concepts_and_skip_the_tag_every_note_carries() -> None:
    observations = [sent(i, (("http", "sqlite")[i % 2], "team")) for i in range(1, 21)]
    sizes = {o.short_id: 10 for o in observations}
    parts = split_into_parts(observations, sizes, 100)
    assert [{c for o in p.observations for c in o.concepts} - {"team"} for p in parts] == [
        {"sqlite"}, {"http"}]  # parts in the order of their first observation (O1: sqlite)
    assert [p.cluster for p in parts] == ["sqlite", "http"]


def test_an_observation_larger_than_a_call_is_a_clear_error() -> None:
    with pytest.raises(BudgetError, match="raise distillation.maxTokenBudget"):
        split_into_parts([sent(1, ())], {"O1": 500}, 100)


def test_grounding_drops_invented_uncited_and_unsure_rules() -> None:
    def rule(text: str, sources: list[str], confidence: float = 0.8) -> RuleAnswer:
        return RuleAnswer(rule=text, rationale="r", category="Testing", confidence=confidence,
                          sources=sources)

    answer = Answer(rules=[rule("kept", ["O2", "O1", "O2"]), rule("invented", ["O1", "O9"]),
                           rule("uncited", []), rule("unsure", ["O1"], 0.4)], knowledgeSections=[])
    dropped = Dropped()
    grounded = ground_answer(answer, frozenset({"O1", "O2"}), dropped)
    assert [(r.rule, r.sources, r.category) for r in grounded.rules] == [
        ("kept", ["O1", "O2"], "testing")]
    assert (dropped.unknown_citation, dropped.no_citation, dropped.low_confidence) == (1, 1, 1)


def test_answers_off_the_schema_are_invalid() -> None:
    with pytest.raises(InvalidAnswer, match="confidence"):
        decode_answer({"rules": [{"rule": "r", "rationale": "r", "category": "c",
                                  "confidence": 7, "sources": []}], "knowledgeSections": []})
    with pytest.raises(InvalidAnswer):
        decode_answer('{"rules": [')


@pytest.mark.parametrize(("a", "b", "close"), [
    ("Always use httpx for HTTP calls", "Use httpx for all HTTP calls", True),
    ("Follow the team's sqlite practice: WAL mode", "Always follow our sqlite practice: WAL mode",
     True),
    ("Use httpx for HTTP calls", "Pin the SQLite version in CI", False),
    ("Use httpx with explicit timeouts", "Retry httpx calls on 429 with backoff", False),
])
def test_closeness_separates_rephrasings_from_other_rules(a: str, b: str, close: bool) -> None:
    assert too_close(a, [b]) is close, closeness(a, b)


@pytest.mark.parametrize(("url", "private"), [
    ("http://127.0.0.1:8000/v1", True), ("http://localhost:11434", True),
    ("https://10.2.3.4/llm", True), ("http://[::1]:8080", True), ("https://192.168.1.9", True),
    ("https://api.anthropic.com", False), ("https://llm.internal", False),
    ("https://8.8.8.8", False), ("not a url", False),
])
def test_in_house_means_loopback_or_private_addresses(url: str, private: bool) -> None:
    assert is_private_url(url) is private


def test_double_opt_in() -> None:
    assert "disabled" in DistillSettings().opt_in_problem()
    assert "allowExternalApi" in DistillSettings(enabled=True).opt_in_problem()
    assert DistillSettings(enabled=True, allow_external_api=True).opt_in_problem() is None
    assert DistillSettings(enabled=True, base_url="http://127.0.0.1:9").opt_in_problem() is None
    github_models = DistillSettings(enabled=True, provider="openai")
    assert "models.github.ai" in github_models.opt_in_problem()


@pytest.mark.parametrize(("model", "prices"), [
    ("claude-sonnet-4-20250514", (3.0, 15.0)),
    ("anthropic.claude-sonnet-4-20250514-v1:0", (3.0, 15.0)),  # Bedrock
    ("claude-sonnet-4@20250514", (3.0, 15.0)),  # Vertex
    ("openai/gpt-4o-mini", (0.15, 0.6)),  # GitHub Models
    ("gpt-4o", (2.5, 10.0)),
])
def test_one_price_table_for_every_spelling(model: str, prices: tuple[float, float]) -> None:
    price = price_of(model)
    assert price is not None and (price.input, price.output) == prices
    assert price_of("llama-3.3-70b") is None
    assert price_of("llama-3.3-70b", {"input": 0, "output": 0}).input == 0


def test_names_are_blanked_as_whole_words_only() -> None:
    obs = {"memory_session_id": "s", "title": "Ask bob, not bobsled-team", "created_at_epoch": 1,
           "narrative": "BOB said so", "contributors": ["bob", "al"], "type": "decision",
           "facts": '["al wrote it"]', "concepts": "[]"}
    selection = select_observations([obs], exclude_types=(), scan=lambda payloads: [[] for _ in payloads])
    payload = selection.observations[0].payload
    assert payload["title"] == "Ask [developer], not bobsled-team"
    assert payload["narrative"] == "[developer] said so"
    assert payload["facts"] == ["al wrote it"]  # two letters identify nobody
    assert selection.observations[0].contributors == ("al", "bob")


def write_rules(repo: Path, ids: list[str]) -> None:
    folder = repo / "distilled" / "demo"
    folder.mkdir(parents=True)
    (folder / "rules.json").write_text(json.dumps({"rules": [{"id": i, "rule": i} for i in ids]}))


def test_set_rule_status_records_verdicts_and_keeps_unknown_fields(tmp_path: Path) -> None:
    write_rules(tmp_path, ["R-0000000a", "R-0000000b"])
    (tmp_path / "distilled/demo/feedback.json").write_text(json.dumps({
        "project": "demo", "updatedAt": "x",
        "entries": [{"ruleId": "R-0000000a", "status": "proposed", "note": "from the dashboard"}]}))
    set_rule_status(tmp_path, "demo", "R-0000000a", "modified", modified_rule="Better words",
                    reviewer="carol", paths=["src/api/**"], now_ms=1_773_945_000_000)
    set_rule_status(tmp_path, "demo", "R-0000000b", "rejected", modified_rule=None,
                    reviewer=None, paths=None, now_ms=1_773_945_000_000)
    data = (tmp_path / "distilled/demo/feedback.json").read_bytes()
    doc = json.loads(data)
    assert doc["entries"] == [
        {"ruleId": "R-0000000a", "status": "modified", "modifiedRule": "Better words",
         "reviewedBy": "carol", "reviewedAt": "2026-03-19T18:30:00.000Z",
         "paths": ["src/api/**"], "note": "from the dashboard"},
        {"ruleId": "R-0000000b", "status": "rejected", "reviewedAt": "2026-03-19T18:30:00.000Z"}]
    assert dump_feedback(parse_feedback(data, "f")) == data


@pytest.mark.parametrize(("rule_id", "status", "text", "message"), [
    ("rule-1", "accepted", None, "not a rule id"),
    ("R-0000000f", "accepted", None, "no rule R-0000000f"),
    ("R-0000000a", "modified", None, "new wording"),
    ("R-0000000a", "accepted", "words", "only modify"),
    ("R-0000000a", "approved", None, "status must be one of"),
])
def test_bad_verdicts_are_one_clear_error(tmp_path: Path, rule_id: str, status: str,
                                          text: str | None, message: str) -> None:
    write_rules(tmp_path, ["R-0000000a"])
    with pytest.raises(UsageError, match=message):
        set_rule_status(tmp_path, "demo", rule_id, status, modified_rule=text, reviewer=None,
                        paths=None, now_ms=0)
    assert not (tmp_path / "distilled/demo/feedback.json").exists()


def test_a_damaged_feedback_file_is_refused_not_guessed(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="status must be one of"):
        parse_feedback(b'{"entries": [{"ruleId": "R-0000000a", "status": "ok"}]}', "feedback.json")
    with pytest.raises(RepoError, match="not valid JSON"):
        parse_feedback(b"{", "feedback.json")


def test_verdicts_on_the_review_branch_win_over_none_and_over_older_ones() -> None:
    from memsync.distill.feedback import Feedback, FeedbackEntry, with_verdicts_from

    base = Feedback("demo", "t0", (
        FeedbackEntry("R-0000000a", "proposed"),
        FeedbackEntry("R-0000000b", "accepted", reviewed_at="2026-03-21T00:00:00.000Z"),
        FeedbackEntry("R-0000000c", "accepted", reviewed_at="2026-03-19T00:00:00.000Z")))
    review = Feedback("demo", "t1", (
        FeedbackEntry("R-0000000a", "rejected", reviewed_at="2026-03-20T00:00:00.000Z"),
        FeedbackEntry("R-0000000b", "rejected", reviewed_at="2026-03-20T00:00:00.000Z"),
        FeedbackEntry("R-0000000c", "rejected", reviewed_at="2026-03-20T00:00:00.000Z"),
        FeedbackEntry("R-0000000d", "proposed")))
    merged = with_verdicts_from(base, review, "t2")
    assert merged is not None
    assert {e.rule_id: e.status for e in merged.entries} == {
        "R-0000000a": "rejected", "R-0000000b": "accepted", "R-0000000c": "rejected"}
    assert with_verdicts_from(merged, review, "t3") is None  # nothing new: nothing to write
