"""Real claude-mem databases (see claude_mem_db.py)."""

from claude_mem.claude_mem_db import (  # noqa: F401 - fixtures are found by name
    _seeded_cache,
    claude_mem_db,
    claude_mem_install,
    pristine_claude_mem_db,
    seeded_db,
)
