"""Input rendered as text only: checked against cmark-gfm (GitHub's own Markdown renderer) and
against the GitHub runner's command syntax."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memsync.safety.inert import log_text, markdown_code, markdown_text, runner_line

cmarkgfm = pytest.importorskip("cmarkgfm")
UNSAFE = cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE  # raw HTML let through: nothing hidden by a sanitizer

# the pieces markup is made of, so hypothesis reaches links, images, autolinks, HTML and tables
MARKUP = st.sampled_from(["[", "]", "(", ")", "!", "<", ">", "`", "*", "_", "~", "|", "#", "@", "&", ";",
                          "\\", ":", "/", ".", "-", "+", "=", "1.", "http://", "https://", "www.", "x@y.io",
                          "<img src=x>", "<b>", "&lt;", "&#60;", "[a](http://e.io)", "![i](http://e.io/p)",
                          " ", "\n", "\r", "\t", "a", "Z", "9", "\u00e9"])
TEXT = st.lists(MARKUP, max_size=25).map("".join) | st.text(max_size=60)
ALLOWED_TAGS = {"p", "/p", "ul", "/ul", "li", "/li", "table", "/table", "thead", "/thead", "tbody",
                "/tbody", "tr", "/tr", "th", "/th", "td", "/td", "code", "/code"}


def rendered(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=UNSAFE)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", fragment)).replace("\u200b", "").split())


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_markdown_text_renders_as_exactly_its_text_in_a_list_item_and_a_table_cell(value: str) -> None:
    shown = markdown_text(value)
    expected = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", " ",
                               value).split())
    for page, wrap in ((f"- {shown}\n", "li"), (f"| a | b |\n|---|---|\n| {shown} | x |\n", "td")):
        out = rendered(page)
        tags = {tag.split()[0] for tag in re.findall(r"<(/?[a-z]+[^>]*)>", out)}
        assert tags <= ALLOWED_TAGS - {"code", "/code"}, (value, out)
        cell = re.search(rf"<{wrap}>(.*?)</{wrap}>", out, re.S)
        assert cell is not None, (value, out)
        assert text_of(cell.group(1)) == expected, (value, out)
        assert not re.search(r"@[A-Za-z0-9]|#[0-9]", cell.group(1)), (value, out)  # mentions, references


def test_mentions_and_issue_references_are_broken_for_githubs_post_processing() -> None:
    out = rendered(f"- {markdown_text('ping @octo-org/admins about #12')}\n")
    assert "@\u200bocto-org" in out and "#\u200b12" in out


@given(st.text(max_size=40))
def test_markdown_code_keeps_plain_paths_in_a_code_span_and_escapes_the_rest(value: str) -> None:
    shown = markdown_code(value)
    if shown.startswith("`"):
        assert re.fullmatch(r"`[A-Za-z0-9._/-]+`", shown)
    else:
        assert shown == markdown_text(value)


@given(st.text(max_size=60))
def test_a_runner_line_is_one_line_and_never_a_workflow_command(value: str) -> None:
    line = runner_line(value)
    assert re.split(r"\r\n|\r|\n", line) == [line]
    assert not line.lstrip().startswith("::") and "##[" not in line
    assert log_text(value).count("\\x") >= sum(c in "\r\n" for c in value)
