"""Scanners for the tests, built once per engine and session (compiling is the slow part)."""

from __future__ import annotations

from memsync.safety.secrets import SecretScanner
from memsync.scanner_cache import ScannerSetup, open_scanner

_BUILT: dict[str, SecretScanner] = {}


def scanner_for(engine: str) -> SecretScanner:
    if engine not in _BUILT:
        _BUILT[engine] = open_scanner(ScannerSetup(engine=engine))
    return _BUILT[engine]
