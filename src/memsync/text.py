"""Text for one line of a report, a message or a PR body (pure)."""

from __future__ import annotations


def shorten(text: str, limit: int, *, one_line: bool = False) -> str:
    """``text`` cut to at most ``limit`` characters, the last one an ellipsis when cut;
    ``one_line`` first folds every run of whitespace (newlines included) into one space."""
    if one_line:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
