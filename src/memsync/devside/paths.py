"""Where mem-sync's own files live, with nothing but the standard library.

Kept apart from ``config.py`` so the access hook, which runs after every claude-mem search
Claude makes, finds the state directory without loading the config machinery.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "MEM_SYNC_CONFIG"


def config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".claude-mem-sync" / "config.json"


def state_dir() -> Path:
    """Where mem-sync keeps its own local files (logs, ledger, backups): beside the config."""
    return config_path().parent
