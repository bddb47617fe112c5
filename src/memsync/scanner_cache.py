"""The secret scanner as an entry point builds it: engine choice and cache folder from the
environment, and hyperscan's compiled database cached on disk between runs.

``memsync.safety.secrets`` is pure; this is its edge. A command reads the environment once
(``scanner_setup(os.environ)``) and hands the setup down; whoever scans first calls
``open_scanner`` and passes the scanner on (to ingest, to a worker pool, to export).

The cached database is bound to the rule set it was compiled from: the file carries the
digest of the patterns (and of hyperscan's version) and is used only when that digest is this
rule set's. A stale, foreign, truncated or substituted file is compiled over. What the digest
cannot tell apart is a file forged to carry the right digest around other patterns: anyone
who can write the cache folder can also replace the code that reads it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memsync.atomic import atomic_write_bytes
from memsync.errors import UsageError
from memsync.safety.secrets import (
    SecretScanner,
    compile_database,
    database_digest,
    hyperscan_scanner,
    load_database,
    python_scanner,
)

ENGINE_ENV = "MEM_SYNC_SECRET_ENGINE"
CACHE_ENV = "MEM_SYNC_CACHE_DIR"
ENGINES = ("auto", "hyperscan", "python")
CACHE_MAGIC = b"mem-sync anchor database\n"  # then the 64-hex database digest, a newline, dumpb's bytes


@dataclass(frozen=True)
class ScannerSetup:
    engine: str = "auto"  # "hyperscan", "python", or "auto": hyperscan when it works here
    cache_dir: Path | None = None  # where a compiled database is kept; None: compile every run


def scanner_setup(environ: Mapping[str, str]) -> ScannerSetup:
    """The setup the environment asks for: ``MEM_SYNC_SECRET_ENGINE`` and the cache folder."""
    return ScannerSetup(engine=(environ.get(ENGINE_ENV) or "auto").strip().lower(), cache_dir=cache_dir(environ))


def cache_dir(environ: Mapping[str, str]) -> Path:
    """Where mem-sync keeps what it can rebuild: $MEM_SYNC_CACHE_DIR, else the XDG cache."""
    explicit = environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / "mem-sync"


def open_scanner(setup: ScannerSetup) -> SecretScanner:
    """Build the scanner ``setup`` asks for. Findings never depend on the engine, only speed does."""
    if setup.engine == "python":
        return python_scanner()
    if setup.engine == "hyperscan":
        try:
            return _hyperscan(setup.cache_dir)
        except ImportError as error:
            raise UsageError(
                f"{ENGINE_ENV}=hyperscan but the hyperscan package is not installed; "
                "install mem-sync[fast] or set it to python"
            ) from error
    if setup.engine == "auto":
        try:
            return _hyperscan(setup.cache_dir)
        except Exception:  # noqa: BLE001 - no wheel, or a CPU the bundled library refuses
            return python_scanner()
    raise UsageError(f"{ENGINE_ENV} must be hyperscan, python or auto, got {setup.engine!r}")


def _hyperscan(folder: Path | None) -> SecretScanner:
    import hyperscan  # lazy: a native wheel that `mem-sync --help` must not pay for

    if folder is None:
        return hyperscan_scanner()
    return hyperscan_scanner(cached_database(hyperscan, folder))


def cached_database(hyperscan: Any, folder: Path) -> Any:
    """The compiled anchor database, from ``folder`` when an earlier run left one there for
    this very rule set, else compiled (and saved for the next run).

    Loading is far cheaper than compiling, which is most of a one-file merge (see
    docs/secrets.md). Anything wrong with the cache (missing, another rule set, corrupt,
    built for another CPU, unwritable) means compiling, as without a cache."""
    digest = database_digest(hyperscan.__version__)
    path = folder / f"anchors-{digest[:24]}.hsdb"
    expected = CACHE_MAGIC + digest.encode() + b"\n"
    try:
        data = path.read_bytes()
        if data.startswith(expected):
            return load_database(hyperscan, data[len(expected):])
    except Exception:  # noqa: BLE001 - no cache, or one hyperscan refuses: compile instead
        pass
    db = compile_database(hyperscan)
    with contextlib.suppress(Exception):
        atomic_write_bytes(path, expected + hyperscan.dumpb(db))
    return db
