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
from itertools import groupby

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


def _byte_pattern() -> str:
    """An ASCII regex (for hyperscan and for Python ``re`` on bytes) that matches where raw
    contribution bytes may hold an ignorable: its UTF-8 encoding, or a JSON ``\\uXXXX`` escape
    of one (a supplementary one as its high surrogate). It may match more, never less."""
    points = [point for low, high in IGNORABLE_RANGES for point in range(low, high + 1)]
    alternatives = []
    for low, high in IGNORABLE_RANGES:
        encoded = [chr(point).encode("utf-8") for point in range(low, high + 1)]
        # within one range, code points that share all but the last byte have consecutive last bytes
        for prefix, group in groupby(encoded, key=lambda data: data[:-1]):
            lasts = [data[-1] for data in group]
            head = "".join(f"\\x{byte:02x}" for byte in prefix)
            alternatives.append(f"{head}[\\x{min(lasts):02x}-\\x{max(lasts):02x}]" if len(lasts) > 1
                                else f"{head}\\x{lasts[0]:02x}")
    escapes = sorted({f"{point:04x}" for point in points if point <= 0xFFFF}
                     | {f"{0xD800 + ((point - 0x10000) >> 10):04x}" for point in points if point > 0xFFFF})
    cased = ["".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in digits) for digits in escapes]
    return "|".join([*alternatives, *(f"\\\\u{digits}" for digits in cased)])


BYTE_PATTERN = _byte_pattern()
