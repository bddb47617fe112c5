"""Recovering a run that died between its merged files and its state (``--strategy hook``).

The state is written last, so a run that dies after renaming latest.json leaves its new
files unmarked and the next run merges them again. With diffusion that lands on the same
bytes; with access counts it does not: the previous latest.json already holds the new
copies' counts, and folding the same copies in again adds them a second time.

So before renaming anything a hook run writes ``<state file>.pending``: the state it is about
to write and the digest of each latest.json it is about to put in place. The next run
compares those digests with the files it finds: if they match, the renames happened and
the pending state is the truth (its files were merged, not to be counted again); if not,
the run died before them and the pending state is dropped. A run that ends well removes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import orjson

from memsync.ci.merged_index import file_digest
from memsync.ci.repo import read_bytes_nofollow
from memsync.ci.staging import write_now
from memsync.errors import StateError
from memsync.model import MergeState, dump_document, dump_state, parse_state

PENDING_SUFFIX = ".pending"


def pending_path(repo: Path, state_file: str) -> Path:
    return repo / (state_file + PENDING_SUFFIX)


def record_pending(repo: Path, state_file: str, state: MergeState, now_millis: int,
                   digests: dict[str, str]) -> None:
    """Write the state this run is about to reach, bound to the latest.json digests it stages."""
    final = dataclasses.replace(state, last_merged_at=now_millis // 1000)
    doc = {"latest": dict(sorted(digests.items())), "state": orjson.loads(dump_state(final))}
    write_now(repo, pending_path(repo, state_file), dump_document(doc))


def adopt_pending(repo: Path, state_file: str, output_dir: str, state: MergeState) -> tuple[MergeState, list[str]]:
    """The state to start from, and the projects a died run completed (their profiles may be
    stale). A pending state whose merged files are not in place is ignored."""
    path = pending_path(repo, state_file)
    try:
        doc = orjson.loads(read_bytes_nofollow(str(path)))
        digests = doc["latest"]
        pending = parse_state(orjson.dumps(doc["state"]), state_file + PENDING_SUFFIX)
        if not isinstance(digests, dict):
            raise TypeError("latest is not an object")
    except FileNotFoundError:
        return state, []
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, StateError):
        return state, []  # unreadable: as if the run had died before it (merging again is safe)
    for project, digest in digests.items():
        try:
            current = file_digest(read_bytes_nofollow(str(repo / output_dir / str(project) / "latest.json")))
        except OSError:
            current = None
        if current != digest:
            return state, []
    return pending, sorted(digests)


def clear_pending(repo: Path, state_file: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pending_path(repo, state_file))
