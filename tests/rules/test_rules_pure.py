"""The pure parts of rules sync: scope globs, managed blocks, selection and the budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rules_support import STANDARD_RULES, matches, rule

from memsync.errors import RepoError
from memsync.rules import blocks
from memsync.rules.scope import glob_problem, relative_file, scope_for_files
from memsync.rules.source import select_rules
from memsync.rules.targets import Links, fit, plan_targets

TRACKED = frozenset({"src/api/client.py", "src/api/retry.py", "src/db/store.py", "README.md",
                     "setup.py"})


# ------------------------------------------------------------------------------ scope
@pytest.mark.parametrize(("files", "scope"), [
    ([], ()),
    (["src/api/client.py"], ("src/api/client.py",)),
    (["src/api/client.py", "src/api/retry.py"], ("src/api/**",)),
    # a folder glob swallows a file below it
    (["src/api/client.py", "src/api/retry.py", "src/api/v2/new.py"], ("src/api/**",)),
    # two files in the root are not "everything"
    (["README.md", "setup.py"], ("README.md", "setup.py")),
    # absolute paths from any developer's machine map onto tracked files
    (["/Users/bob/code/billing/src/db/store.py"], ("src/db/store.py",)),
    (["/home/alice/x/src/api/client.py", "C:\\work\\billing\\src\\api\\retry.py"], ("src/api/**",)),
    # what cannot be placed in the repository is dropped: the rule then applies everywhere
    (["/etc/hosts", "../outside.py", "./"], ()),
    (["./src/db/store.py", "src//db/store.py"], ("src/db/store.py",)),
])
def test_scope_for_files(files, scope):
    assert scope_for_files(files, TRACKED) == scope


def test_scope_globs_match_exactly_the_evidence_folders():
    scope = scope_for_files(["src/api/client.py", "src/api/retry.py", "src/db/store.py"], TRACKED)
    assert scope == ("src/api/**", "src/db/store.py")
    assert matches(scope[0], "src/api/deep/er.py") and not matches(scope[0], "src/apix/a.py")


@pytest.mark.parametrize(("pattern", "problem"), [
    ("src/**", None), ("**/*.sql", None), ("src/{a,b}/**", "comma"), ("/src/**", "absolute"),
    ("src/../etc", ".."), ("", "empty"), ("src\\api", "backslashes"), ("src/[a", "unbalanced"),
])
def test_glob_problem(pattern, problem):
    found = glob_problem(pattern)
    assert (found is None) if problem is None else (problem in found)


def test_relative_file_keeps_a_moved_relative_path():
    assert relative_file("lib/old_name.py", TRACKED) == "lib/old_name.py"


# ------------------------------------------------------------------------------ blocks
human_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200).filter(
    lambda t: "mem-sync team-memory" not in t)


@given(human_text, st.text(min_size=1, max_size=80).filter(lambda t: "mem-sync" not in t))
def test_a_block_never_changes_the_text_around_it(original, body):
    body = " ".join(body.split()) or "x"
    added = blocks.splice(original, body, "F")
    assert added.startswith(original)
    start, end = blocks.find_block(added, "F")
    assert added[end:] == ""
    replaced = blocks.splice(added, body + " and more", "F")
    assert replaced.startswith(original) and "and more" in replaced
    removed = blocks.splice(replaced, None, "F")
    if original == "" or original.endswith("\n"):
        assert removed == original
    else:
        # the one line break added so the block starts on its own line stays with the file
        assert removed.startswith(original) and len(removed) - len(original) <= 2


def test_a_block_in_the_middle_is_replaced_in_place():
    text = "top\n\n" + blocks.BEGIN_LINE + "\nold\n" + blocks.END + "\nbottom\n"
    assert blocks.splice(text, "new", "F") == (
        "top\n\n" + blocks.BEGIN_LINE + "\nnew\n" + blocks.END + "\nbottom\n")
    assert blocks.splice(text, None, "F") == "top\n\nbottom\n"


def test_crlf_files_get_crlf_blocks():
    updated = blocks.splice("a\r\nb\r\n", "one\ntwo", "F")
    assert updated == ("a\r\nb\r\n\r\n" + blocks.BEGIN_LINE + "\r\none\r\ntwo\r\n" + blocks.END
                       + "\r\n")


@pytest.mark.parametrize("text", [
    blocks.BEGIN_LINE + "\n",
    blocks.END + "\n",
    blocks.END + "\n" + blocks.BEGIN_LINE + "\n",
    (blocks.BEGIN_LINE + "\n" + blocks.END + "\n") * 2,
])
def test_broken_markers_are_refused(text):
    with pytest.raises(RepoError, match="marker"):
        blocks.splice(text, "x", "AGENTS.md")


def test_a_marker_quoted_inside_a_line_is_not_a_marker():
    text = "Our tool writes `<!-- BEGIN mem-sync team-memory -->` blocks.\n"
    assert blocks.find_block(text, "F") is None


# ------------------------------------------------------------------------------ selection
def doc(rules):
    return {"version": 1, "project": "p", "generatedAt": "", "rules": rules}


def test_selection_takes_accepted_and_modified_only_highest_confidence_first():
    feedback = {"entries": [{"ruleId": "R-0000000a", "status": "accepted"},
                            {"ruleId": "R-0000000b", "status": "modified", "modifiedRule": "B!"},
                            {"ruleId": "R-0000000c", "status": "rejected"},
                            {"ruleId": "R-0000000d", "status": "proposed"},
                            {"ruleId": "R-000000ff", "status": "accepted"}]}
    chosen = select_rules(doc(STANDARD_RULES), feedback, project="p", tracked=TRACKED)
    assert [(r.id, r.text) for r in chosen.rules] == [
        ("R-0000000a", "Open every SQLite connection in WAL mode."), ("R-0000000b", "B!")]
    assert chosen.missing == ("R-000000ff",)


def test_a_later_feedback_entry_wins():
    feedback = {"entries": [{"ruleId": "R-0000000a", "status": "accepted"},
                            {"ruleId": "R-0000000a", "status": "rejected"}]}
    assert select_rules(doc(STANDARD_RULES), feedback, project="p").rules == ()


@pytest.mark.parametrize(("rules_doc", "message"), [
    ({"version": 2, "rules": []}, "version 2"),
    ({"version": 1}, "no \"rules\" list"),
    (doc([rule("R-XYZ", "x", 0.5)]), "is not R- and 8"),
])
def test_unreadable_rules_are_refused(rules_doc, message):
    feedback = {"entries": [{"ruleId": "R-XYZ", "status": "accepted"}]}
    with pytest.raises(RepoError, match=message):
        select_rules(rules_doc, feedback, project="p")


# ------------------------------------------------------------------------------ budget
def test_fit_takes_the_longest_prefix_that_fits():
    chosen = select_rules(
        doc([rule(f"R-{i:08x}", "x" * 100, 0.5 + i / 100) for i in range(30)]),
        {"entries": [{"ruleId": f"R-{i:08x}", "status": "accepted"} for i in range(30)]},
        project="p").rules

    def render(rules, left):
        return "".join(r.id + "\n" for r in rules) + ",".join(left)

    for budget in (0, 50, 200, 1000, 10_000):
        text, left = fit(chosen, budget, render)
        count = len(chosen) - len(left)
        assert len(text) <= budget or count == 0
        if count < len(chosen):  # one more would not have fitted
            longer = render(chosen[:count + 1], tuple(r.id for r in chosen[count + 1:]))
            assert len(longer) > budget


def test_the_plan_is_deterministic_and_has_no_run_specific_text():
    chosen = select_rules(doc(STANDARD_RULES),
                          {"entries": [{"ruleId": r["id"], "status": "accepted"}
                                       for r in STANDARD_RULES]}, project="p",
                          tracked=TRACKED).rules
    one = plan_targets(chosen, project="p", targets=("claude", "cursor", "copilot", "agents"),
                       links=Links())
    two = plan_targets(chosen, project="p", targets=("claude", "cursor", "copilot", "agents"),
                       links=Links())
    assert one == two
    # without a web address for the memory repository, rules keep their ids as code
    assert "`R-0000000a`" in one.owned[".claude/rules/team-memory.md"]


def test_the_pr_text_names_withheld_and_budgeted_rules_but_never_their_text():
    from memsync.rules.sync import RulesReport

    chosen = select_rules(doc(STANDARD_RULES), {"entries": [
        {"ruleId": "R-0000000a", "status": "accepted"}]}, project="p").rules
    report = RulesReport(project="p", targets=("agents",), rules=chosen, written=("AGENTS.md",),
                         removed=(), omitted={"AGENTS.md": ("R-0000000e",)},
                         withheld={"R-0000000b": ("github-pat",)})
    title, body = report.pull_request_text(branch="mem-sync/rules", base="main", kind="mr")
    assert title == report.commit_message().splitlines()[0]
    assert "This merge request is maintained by mem-sync" in body
    assert "`R-0000000b` (github-pat)" in body and "backoff" not in body
    assert "`AGENTS.md`: R-0000000e" in body
    # same report, same bytes: a rerun leaves the PR description untouched
    assert report.pull_request_text(branch="mem-sync/rules", base="main", kind="mr")[1] == body
