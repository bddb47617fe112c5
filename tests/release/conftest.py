"""The release checks share tests/ci's helpers (paths, YAML loading, the linters)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ci"))
