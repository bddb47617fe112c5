"""The byte layout of a new latest.json (pure): which heads, in which order, with which tails.

A merged file is a frame around its observations; each observation is a *head* (its own
fields, reused byte for byte when it was in the previous file) and a *tail* (our score, keep
flag and contributors, new every run). This module decides the pieces; the merge job fetches
the winning new observations from their files beforehand and writes the pieces afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress, repeat
from operator import ne, not_
from typing import Any

import msgspec
import orjson

from memsync import __version__
from memsync.merge.access import changed_positions
from memsync.merge.dedup import PREVIOUS_RANK, CandidateTable
from memsync.merge.plan import ProjectPlan
from memsync.model import (
    MERGE_EXPORTER,
    Observation,
    ObservationsOnly,
    build_envelope,
    document_frame,
    lay_out_document,
    merge_tail_parts,
    merged_head,
    observation_head,
)

MERGE_FIELDS = ("score", "keep", "contributors")  # our additive per-observation fields


@dataclass(frozen=True)
class PreviousFile:
    """The previous latest.json, as the layout reuses its observations."""

    raw: Any  # its bytes, or a read-only map of the file
    spans: tuple[list[int], list[int]] | None  # (starts, head_ends) by position, when its index was trusted
    fields: list[tuple[Any, Any, Any]]  # stored (score, keep, contributors) by position, when it was parsed
    access: list[int]  # access counts by position


@dataclass(frozen=True)
class Survivors:
    """Where each survivor's winning copy lies: file rank (``PREVIOUS_RANK`` for the previous
    merged set) and position in that file, in output order."""

    ranks: list[int]
    indexes: list[int]
    is_new: list[bool]

    def new_copies(self) -> list[tuple[int, int]]:
        """(rank, index) of the survivors whose winning copy is in a new file."""
        return list(compress(zip(self.ranks, self.indexes, strict=True), self.is_new))


@dataclass(frozen=True)
class Layout:
    """The new latest.json as pieces to concatenate, and the columns its index records."""

    pieces: list[Any]
    starts: list[int]  # byte offset of each observation's "{"
    head_ends: list[int]  # byte offset where each observation's tail begins
    type_weights: list[float]
    kept: list[int]  # positions with keep: true
    access: list[int]
    contributors: list[tuple[str, ...]]


def survivors_of(table: CandidateTable, plan: ProjectPlan) -> Survivors:
    ranks = list(map(table.rank.__getitem__, plan.survivor_rows))
    indexes = list(map(table.index.__getitem__, plan.survivor_rows))
    return Survivors(ranks, indexes, list(map(ne, ranks, repeat(PREVIOUS_RANK))))


def lay_out_project(name: str, table: CandidateTable, plan: ProjectPlan, survivors: Survivors,
                    previous: PreviousFile | None, fresh: list[Observation], now_millis: int) -> Layout:
    """The pieces of a project's new latest.json. ``fresh`` holds the winning new copies, in the
    order of ``survivors.new_copies()``; previous ones keep their bytes and get a new tail."""
    rows = plan.survivor_rows
    positions = list(compress(survivors.indexes, map(not_, survivors.is_new)))
    slots = list(compress(range(len(survivors.is_new)), survivors.is_new))
    # each survivor's access_count is the team's (merge/access.py): set on new heads, and a
    # previous head is written again only when its count changed
    access = list(map(table.access.__getitem__, rows))
    fresh_counts = list(compress(access, survivors.is_new))
    old_heads = previous_heads(previous, positions)
    if positions:
        assert previous is not None
        counts = list(compress(access, map(not_, survivors.is_new)))
        changed = changed_positions(list(map(previous.access.__getitem__, positions)), counts)
        if changed:
            located = locate_observations(previous.raw)
            for j in changed:
                obs = orjson.loads(bytes(located[positions[j]]))
                old_heads[j] = fresh_head(with_access_count(obs, counts[j]))
    heads = interleave(old_heads, list(map(fresh_head, map(with_access_count, fresh, fresh_counts))), slots)
    contributors = table.contributors_of(rows)
    kept = list(map(table.keep.__contains__, rows))
    # a tail's keep flag and contributors repeat across the set: serialize each pair once
    tails = dict.fromkeys(zip(kept, contributors, strict=True))
    for pair in tails:
        tails[pair] = merge_tail_parts(*pair)
    frame = document_frame(build_envelope(project=name, exported_by=MERGE_EXPORTER, now_millis=now_millis,
                                          observations=[], package_version=__version__)
                           | {"observationCount": len(heads)})
    pieces, starts, head_ends = lay_out_document(
        frame, heads, plan.scores, list(map(tails.__getitem__, zip(kept, contributors, strict=True))))
    return Layout(pieces=pieces, starts=starts, head_ends=head_ends,
                  type_weights=list(map(table.type_weight.__getitem__, rows)),
                  kept=list(compress(range(len(kept)), kept)), access=access, contributors=contributors)


def with_access_count(obs: Observation, count: int) -> Observation:
    """``obs`` carrying the team's ``count`` (no field when nobody used it, as exports write it)."""
    if obs.get("access_count") == count or (count == 0 and "access_count" not in obs):
        return obs
    changed = dict(obs)
    if count:
        changed["access_count"] = count
    else:
        del changed["access_count"]
    return changed


def interleave(previous: list[Any], new: list[Any], slots: list[int]) -> list[Any]:
    """``previous`` with ``new[j]`` placed at output position ``slots[j]`` (ascending): a run
    adds few observations to many, so whole slices of ``previous`` are copied at a time."""
    merged: list[Any] = []
    taken = 0
    for placed, (slot, item) in enumerate(zip(slots, new, strict=True)):
        merged += previous[taken:slot - placed]
        merged.append(item)
        taken = slot - placed
    merged += previous[taken:]
    return merged


def fresh_head(obs: Observation) -> bytes:
    """The head of a new observation: its own fields, without any of ours it may carry."""
    return observation_head({k: v for k, v in obs.items() if k not in MERGE_FIELDS})


def previous_heads(previous: PreviousFile | None, positions: list[int]) -> list[Any]:
    """Heads of the previous latest.json's observations at ``positions``: views into its bytes
    when the index was trusted, else located by parsing (and re-serialized if need be)."""
    if not positions:
        return []
    assert previous is not None
    if previous.spans is not None:
        view = memoryview(previous.raw)
        starts, ends = previous.spans
        return list(map(view.__getitem__, map(slice, map(starts.__getitem__, positions),
                                              map(ends.__getitem__, positions))))
    located = locate_observations(previous.raw)
    heads: list[Any] = []
    for index in positions:
        raw = bytes(located[index])
        head = merged_head(raw, previous.fields[index])
        heads.append(head if head is not None else fresh_head(orjson.loads(raw)))
    return heads


_locate = msgspec.json.Decoder(ObservationsOnly).decode


def locate_observations(raw: bytes) -> list[msgspec.Raw]:
    """The raw bytes of each observation of a v1 document, without parsing them."""
    return _locate(raw).observations
