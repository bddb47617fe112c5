"""Retention: processed contribution files older than the retention period leave the repository."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from memsync.model import MergeState
from memsync.safety.names import is_safe_name

SECONDS_PER_DAY = 86_400


def expired_files(repo: Path, contributions_dir: str, state: MergeState, now_millis: int,
                  retention_days: int, project: str | None) -> list[tuple[str, Path]]:
    """Processed files older than ``retention_days``, aged by the run's one "now", as
    (state key, path); each is dropped from ``state``. 0 days keeps everything. Nothing the
    state names outside ``contributions_dir`` (or through a symlink) is ever returned."""
    if retention_days == 0:
        return []
    cutoff = now_millis // 1000 - retention_days * SECONDS_PER_DAY
    expired: list[tuple[str, Path]] = []
    for name, project_state in sorted(state.projects.items()):
        if project is not None and name != project:
            continue
        for rel, info in sorted(project_state.processed_files.items()):
            if info.processed_at >= cutoff:
                continue
            path = contribution_path(repo, contributions_dir, rel)
            if path is None:
                continue
            del project_state.processed_files[rel]
            expired.append((rel, path))
    return expired


def contribution_path(repo: Path, contributions_dir: str, rel: str) -> Path | None:
    """The path of ``<contributions_dir>/<project>/<dev>/<file>`` named by the state, or None
    when ``rel`` is anything else or a part of it is a symlink."""
    parts = PurePosixPath(rel).parts
    base = PurePosixPath(contributions_dir).parts
    if len(parts) != len(base) + 3 or parts[: len(base)] != base:
        return None
    if not all(is_safe_name(part) for part in parts[len(base):]):
        return None
    current = repo
    for part in parts:
        current = current / part
        if current.is_symlink():
            return None
    return current
