"""Input shown as text and nothing else: in a log line, in Markdown, in a GitHub runner.

A contribution's title, file name or session id is chosen by whoever pushed it. Printed raw,
a newline in one starts a line the GitHub runner reads as a workflow command (``::error::``,
``::stop-commands::``), a terminal escape repaints the console, and in a PR body or job summary
``[x](https://…)``, ``![x](…)``, ``<img>`` or ``@team`` become links, images, HTML and mentions.
Every template that repeats input passes it through one of these filters (pure functions).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional
# overrides and isolates (which can make a log line read other than it is)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# what can start markup inside a line: emphasis, code, links and images, HTML and entities,
# table cells, headings, strikethrough, autolinks (scheme ":", "www.", "@" of an email)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>!|#&~:@])")
_WWW = re.compile(r"(?i)(www)\.")
# what starts a block at the beginning of a line: a list item, a setext underline
_BLOCK_START = re.compile(r"^([-+=]|\d+(?=[.)]))")
# after an escaped @ or #, a zero-width space: GitHub links mentions and issue references
# after rendering, in the text, where a backslash no longer stands between them
_REFERENCE = re.compile(r"\\([@#])")
_WHITESPACE = re.compile(r"\s+")


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def log_text(value: object) -> str:
    """``value`` on one line of a log or console: every control character, line break,
    separator and bidi override written as a visible ``\\xNN`` / ``\\uNNNN`` escape."""
    return _CONTROL.sub(_escape_control, str(value))


def markdown_text(value: object) -> str:
    """``value`` as literal text in GitHub/GitLab-flavoured Markdown (a paragraph, a list item
    or a table cell): one line, every character that could start markup backslash-escaped (so
    no link, image, autolink, HTML, emphasis, code, heading or table break can start), and
    mentions and issue references broken by a zero-width space."""
    text = _WHITESPACE.sub(" ", _CONTROL.sub(" ", str(value))).strip()
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    text = _BLOCK_START.sub(lambda m: "\\" + m.group(1) if not m.group(1).isdigit() else m.group(1) + "\\", text)
    text = _WWW.sub(r"\1\\.", text)
    return _REFERENCE.sub("\\\\\\1\u200b", text)


_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/-]+")


def markdown_code(value: object) -> str:
    """A name or path in a code span when it is made only of name characters (so nothing in
    it can end the span or split a table), else as ``markdown_text``."""
    text = str(value)
    return f"`{text}`" if _PLAIN_PATH.fullmatch(text) else markdown_text(text)


# The GitHub runner reads a workflow command from a line that starts, after any whitespace,
# with "::", and (the older form) from "##[" anywhere in a line; .NET's line reader also ends a
# line at a bare \r, which log_text escapes.
_COMMAND_START = re.compile(r"^(\s*):(?=:)")
_OLD_COMMAND = "##["


def runner_line(line: str) -> str:
    """One line we print in a GitHub runner that must not be read as a workflow command: its
    control characters escaped, a leading ``::`` and any ``##[`` broken by a zero-width space
    (which the runner's whitespace trimming leaves in place)."""
    line = log_text(line).replace(_OLD_COMMAND, "#\u200b#[")
    return _COMMAND_START.sub("\\1:\u200b", line)
