"""Building millions of small objects without the cyclic garbage collector in the way."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """No cyclic GC while millions of acyclic tuples and strings are built: its full passes
    over a growing heap made a cold merge superlinear. Nothing built under it forms cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            # what was built is long-lived and acyclic: keep it out of the first full
            # collection after re-enabling, which would otherwise walk all of it
            gc.freeze()
            gc.enable()
