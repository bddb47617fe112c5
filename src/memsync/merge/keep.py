"""Keep tags: an observation mentioning one (default ``#keep``) is never evicted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=32)
def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    # "#keep" must not match "#keeper" or "#keep-out": a tag ends where a word would go on.
    alternatives = "|".join(re.escape(tag) for tag in sorted(tags, key=len, reverse=True))
    return re.compile(rf"(?:{alternatives})(?![\w-])")


def has_keep_tag(texts: Sequence[str | None], tags: tuple[str, ...]) -> bool:
    """True when any of ``texts`` (title, narrative, text) carries one of ``tags``."""
    if not tags:
        return False
    pattern = None
    for text in texts:
        if not text:
            continue
        # cheap substring test first: almost no observation carries a tag
        if any(tag in text for tag in tags):
            pattern = pattern or _tag_pattern(tags)
            if pattern.search(text):
                return True
    return False
