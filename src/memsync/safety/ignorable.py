"""Default-ignorable code points: invisible characters that can hide a token from the scanner.

A zero-width space, joiner or non-joiner, a word joiner, a soft hyphen, a variation selector or
a tag character renders as nothing, so ``ghp_ab\u200bcd…`` reads (and, pasted into a terminal,
often works) as the token while no rule's pattern matches it. The scanner removes them before
matching, and only from text that holds one: the usual text holds none, and one search proves it.

The set is Unicode's ``Default_Ignorable_Code_Point`` property (DerivedCoreProperties.txt),
which tests check against the ``regex`` library's table. Pure module: no I/O.
"""

from __future__ import annotations

import re

# Default_Ignorable_Code_Point, Unicode 15/16 (unchanged since 6.0 apart from U+061C in 6.3)
IGNORABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)

_CHARS = re.compile("[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in IGNORABLE_RANGES) + "]")


def has_ignorable(text: str) -> bool:
    return _CHARS.search(text) is not None


def strip_ignorable(text: str) -> tuple[str, list[int]]:
    """``text`` without its ignorable code points, and for each character kept its position in
    ``text`` (plus ``len(text)`` at the end), so a span found in the stripped text maps back."""
    kept = [index for index, char in enumerate(text) if not _CHARS.match(char)]
    return "".join(map(text.__getitem__, kept)), [*kept, len(text)]


def original_span(positions: list[int], start: int, end: int) -> tuple[int, int]:
    """The span of ``text`` that ``[start, end)`` of its stripped form covers, the invisible
    characters inside it included."""
    return positions[start], positions[end - 1] + 1 if end > start else positions[start]


# Where raw contribution bytes may hold an ignorable: its UTF-8 encoding, or a JSON \uXXXX
# escape of one (a supplementary one as its high surrogate). An ASCII regex for hyperscan and
# for Python ``re`` on bytes. It may match more than the set (a few neighbours of rare blocks:
# Hangul jamo, Khmer, Mongolian, musical symbols), never less: tests check it against the table.
# Written compact on purpose: the same set spelled as ~130 alternatives (one per code point
# prefix) costs hyperscan a third of its throughput on the whole database; this form, ~2%.
BYTE_PATTERN = (
    r"\xc2\xad|\xcd\x8f|\xd8\x9c|\xe1[\x85\x9e\xa0]|\xe2\x80[\x8b-\x8f\xaa-\xae]|\xe2\x81[\xa0-\xaf]"
    r"|\xe3\x85\xa4|\xef\xb8[\x80-\x8f]|\xef\xbb\xbf|\xef\xbe\xa0|\xef\xbf[\xb0-\xb8]|\xf0\x9b\xb2|\xf0\x9d\x85"
    r"|\xf3\xa0"
    r"|\\u(?:00[aA][dD]|034[fF]|061[cC]|115[fF]|1160|17[bB][45]|180[b-fB-F]|200[b-fB-F]|202[a-eA-E]"
    r"|206[0-9a-fA-F]|3164|[fF][eE]0[0-9a-fA-F]|[fF][eE][fF][fF]|[fF][fF][aA]0|[fF][fF][fF][0-8]"
    r"|[dD]82[fF]|[dD]834|[dD][bB]4[0-3])"
)
