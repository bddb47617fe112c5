"""Managed blocks: mem-sync's part of a file people own, between two marker lines (pure).

Everything outside the markers is kept byte for byte, line endings included. A file without a
block gets one appended after a blank line; an empty block is removed together with that blank
line, so a file whose rules are all withdrawn returns to the bytes its authors wrote (when it
ended with a newline, as files written in an editor do).
"""

from __future__ import annotations

from memsync.errors import RepoError

BEGIN = "<!-- BEGIN mem-sync team-memory"
END = "<!-- END mem-sync team-memory -->"
BEGIN_LINE = f"{BEGIN}: generated from the team's memory repository; edits inside are replaced -->"


def find_block(text: str, name: str) -> tuple[int, int] | None:
    """(start, end) offsets of the block's lines in ``text`` (end after END's line break)."""
    starts = _line_starts_with(text, BEGIN)
    ends = _line_starts_with(text, END)
    if not starts and not ends:
        return None
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise RepoError(f"{name} has {len(starts)} mem-sync BEGIN and {len(ends)} END marker lines "
                        "(one of each, in that order, is expected); restore the markers or delete "
                        "the whole block, then sync again")
    end = text.find("\n", ends[0])
    return starts[0], len(text) if end < 0 else end + 1


def _line_starts_with(text: str, marker: str) -> list[int]:
    found = []
    position = text.find(marker)
    while position >= 0:
        if position == 0 or text[position - 1] == "\n":
            found.append(position)
        position = text.find(marker, position + 1)
    return found


def newline_of(text: str) -> str:
    """The file's own line ending, so a block written into a CRLF file is CRLF too."""
    return "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"


def splice(text: str, body: str | None, name: str) -> str:
    """``text`` with its managed block set to ``body`` (markdown lines), or removed for None.

    ``body`` is written with ``\\n``; it takes the file's line ending here.
    """
    eol = newline_of(text)
    span = find_block(text, name)
    block = ""
    if body is not None:
        inner = body.strip("\n")
        block = eol.join([BEGIN_LINE, *inner.split("\n"), END]) + eol
    if span is None:
        if body is None:
            return text
        if not text:
            return block
        lead = "" if text.endswith("\n") else eol
        return text + lead + eol + block
    start, end = span
    if body is not None:
        return text[:start] + block + text[end:]
    before, after = text[:start], text[end:]
    if not after and before.endswith(eol + eol):
        before = before[: -len(eol)]  # the blank line appended with the block
    elif not after and before == "":
        return ""
    return before + after
