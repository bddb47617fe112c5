"""Commit messages and PR/MR bodies rendered from merge reports (jinja2 templates)."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from memsync.merge.report import MergeReport, ProjectReport, Quarantined
from memsync.publish.flow import render_commit_message, render_pr_text, summarize


def report(**overrides) -> MergeReport:
    """A report as ci-merge returns it."""
    demo = ProjectReport(
        project="demo", changed=True, new_files=["contributions/demo/alice/x.json"], merged=12, added=3,
        evicted=1, keep_protected=2, quarantined_files=1, secret_findings=2,
        added_titles=["Use WAL mode", "Pin SQLite", "Cache | table <b>"], evicted_titles=["Old note"])
    fields = {
        "now_millis": 1773945000_000, "dry_run": False,
        "changed_paths": ["merged/demo/latest.json", ".merge-state.json"],
        "projects": [demo],
        "quarantined": [Quarantined("contributions/demo/bob/bad.json", "demo",
                                    "observations[3].created_at_epoch must be an integer")],
        "secret_findings": [
            {"file": "contributions/demo/carol/c.json", "project": "demo",
             "rules": ["github-pat"], "fields": ["narrative"],
             "key": {"memory_session_id": "sess-carol", "title": "Deploy with [REDACTED]",
                     "created_at_epoch": 1773900000000}},
            {"file": "contributions/demo/carol/c.json", "project": "demo",
             "rules": ["github-pat", "aws-access-key"], "fields": ["facts"],
             "key": {"memory_session_id": "sess-carol", "title": "AWS setup",
                     "created_at_epoch": 1773900000001}}],
        "retention_deleted": ["contributions/demo/alice/old.json"],
        "profiles_written": ["profiles/demo/alice/profile.json"],
    }
    fields.update(overrides)
    return MergeReport(**fields)


def test_pr_body_shows_counts_titles_and_how_to_review():
    title, body = render_pr_text(summarize(report()), branch="mem-sync/merge", base="main")
    assert title == "mem-sync: merge 3 new observations into demo"
    assert "| demo | 1 | 3 | 1 | 2 | 1 | 2 | 12 |" in body
    assert "- Use WAL mode" in body and "- Old note" in body
    assert "`contributions/demo/bob/bad.json`: observations\\[3\\].created\\_at\\_epoch" in body
    assert "### How to review" in body and "`mem-sync/merge` from `main`" in body
    assert "1 profile file(s) regenerated" in body


def test_secret_findings_appear_by_rule_only():
    _, body = render_pr_text(summarize(report()), branch="b", base="main")
    assert "- `aws-access-key`: 1" in body and "- `github-pat`: 2" in body
    for leak in ("carol", "sess-carol", "Deploy with", "AWS setup", "narrative"):
        assert leak not in body
    message = render_commit_message(summarize(report()))
    assert "aws-access-key, github-pat" in message and "carol" not in message


def test_titles_are_truncated_and_inert_in_markdown():
    long = "x" * 200
    r = report()
    r.projects[0].added_titles = [long, "ping @octocat", "a|b <script>"]
    _, body = render_pr_text(summarize(r), branch="b", base="main")
    assert "x" * 79 + "…" in body and "x" * 80 not in body
    assert "@octocat" not in body and "@\u200boctocat" in body
    assert "a\\|b \\<script\\>" in body


def test_same_report_renders_same_bytes_and_nothing_run_specific():
    one = render_pr_text(summarize(report()), branch="b", base="main")
    two = render_pr_text(summarize(report(now_millis=1800000000_000)),
                         branch="b", base="main")
    assert one == two


def test_commit_message_of_several_projects():
    r = report()
    r.projects.append(dataclasses.replace(r.projects[0], project="api", added=1))
    message = render_commit_message(summarize(r))
    assert message.splitlines()[0] == "mem-sync: merge 4 new observations across 2 projects"
    assert "- api: 1 added" in message


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=8), st.lists(st.text(max_size=30), max_size=4))
def test_any_titles_and_rules_render_without_breaking_the_table(titles, rules):
    r = report(secret_findings=[{"rules": rules, "file": "f", "key": {"title": "t"}}])
    r.projects[0].added_titles = titles
    s = summarize(r)
    _, body = render_pr_text(s, branch="b", base="main")
    for item in s["projects"][0]["addedTitles"]:
        assert "\n" not in item and len(item) <= 200
    table = [line for line in body.splitlines() if line.startswith("| ")]
    assert {line.replace("\\|", "").count("|") for line in table} == {9}  # no title split a row
    assert body.endswith("\n")
