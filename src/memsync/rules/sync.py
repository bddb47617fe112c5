"""The shell of ``rules sync``: read the code repository, write only what differs, remove what is
stale. Every file is computed (and every refusal raised) before the first one is written, and
each write is atomic, so a failed run leaves the checkout as it found it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memsync.errors import RepoError
from memsync.rules import blocks
from memsync.rules.source import Rule, read_selection
from memsync.rules.targets import DEFAULT_BUDGET, STEM, Links, plan_targets

# The first line of every file mem-sync owns, right after its front matter when it has one.
OWNED_MARKER = "<!-- mem-sync: generated file"


@dataclass(frozen=True)
class SyncOptions:
    project: str
    memory_repo: Path  # checkout of the shared memory repository
    code_repo: Path  # checkout (work tree) of the code repository
    targets: tuple[str, ...]
    links: Links = Links()
    budget: int = DEFAULT_BUDGET
    dry_run: bool = False
    # The secret scanner the entry point built (memsync.scanner_cache); None: the pure-Python one.
    scanner: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RulesReport:
    """What a sync did (or, dry, would do); publish commits ``changed_paths``."""

    project: str
    targets: tuple[str, ...]
    rules: tuple[Rule, ...]
    written: tuple[str, ...]  # created or changed
    removed: tuple[str, ...]
    omitted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    # id -> secret-scanner rules matched: never written to the code repository
    withheld: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dry_run: bool = False
    exit_code: int = 0

    @property
    def changed_paths(self) -> list[str]:
        return sorted({*self.written, *self.removed})

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "targets": list(self.targets),
            "dryRun": self.dry_run,
            "rules": [{"id": r.id, "status": r.status, "confidence": r.confidence,
                       "scope": list(r.scope), "text": r.text} for r in self.rules],
            "written": list(self.written),
            "removed": list(self.removed),
            "omitted": {path: list(ids) for path, ids in sorted(self.omitted.items())},
            "missing": list(self.missing),
            "withheld": {rule_id: list(names) for rule_id, names in sorted(self.withheld.items())},
        }

    def commit_message(self) -> str:
        from memsync.render import render_template

        return render_template("rules_commit_message.txt.j2", r=self, **_text_context(self)).strip() + "\n"

    def pull_request_text(self, *, branch: str, base: str, kind: str) -> tuple[str, str]:
        from memsync.render import render_template

        title = self.commit_message().splitlines()[0]
        body = render_template("rules_pr_body.md.j2", r=self, branch=branch, base=base, kind=kind,
                               **_text_context(self))
        return title, body.strip() + "\n"


def _text_context(report: RulesReport) -> dict[str, Any]:
    from memsync.publish.flow import markdown_inert

    def clip(text: str, limit: int = 160) -> str:
        return markdown_inert(text if len(text) <= limit else text[: limit - 1] + "…")

    return {
        "items": [{"id": r.id, "text": clip(r.text), "confidence": round(r.confidence * 100),
                   "scope": ", ".join(f"`{markdown_inert(g)}`" for g in r.scope)}
                  for r in report.rules],
    }


def sync_rules(options: SyncOptions) -> RulesReport:
    """Bring the selected targets of ``options.code_repo`` in line with the reviewed rules."""
    code = options.code_repo
    if not code.is_dir():
        raise RepoError(f"the code repository {code} is not a directory; pass a checkout with "
                        "--code-repo")
    tracked = tracked_files(code)
    selection = read_selection(options.memory_repo, options.project, tracked)
    delivered, withheld = withhold_credentials(selection.rules, options.scanner)
    plan = plan_targets(delivered, project=options.project, targets=options.targets,
                        links=options.links, budget=options.budget)
    for relative in [*plan.owned, *plan.blocks]:
        _refuse_links(code, relative)
    desired: dict[str, bytes | None] = {}  # path -> new bytes, None: delete
    for relative, text in plan.owned.items():
        current = _read(code / relative)
        if current is not None and not _is_ours(current):
            raise RepoError(f"{relative} exists and was not written by mem-sync; rename it (files "
                            f"named {STEM}* in that folder are mem-sync's) and sync again")
        desired[relative] = text.encode()
    for folder, suffix in plan.owned_patterns:
        _refuse_links(code, folder)
        for relative in _owned_files(code, folder, suffix):
            if relative not in plan.owned:
                desired[relative] = None  # a scope or target no rule needs any more
    for relative, body in plan.blocks.items():
        current_bytes = _read(code / relative)
        current = _decode(current_bytes, relative) if current_bytes is not None else ""
        updated = blocks.splice(current, body, relative)
        if updated == current:
            continue
        # A file that held nothing but our block (we created it) goes away with the block.
        desired[relative] = updated.encode() if updated else None
    written, removed = [], []
    for relative, data in sorted(desired.items()):
        current = _read(code / relative)
        if data is None:
            if current is not None:
                removed.append(relative)
        elif current != data:
            written.append(relative)
    if not options.dry_run:
        _apply(code, desired, written, removed)
    return RulesReport(project=options.project, targets=tuple(options.targets),
                       rules=delivered, written=tuple(written), removed=tuple(removed),
                       omitted=plan.omitted, missing=selection.missing, withheld=withheld,
                       dry_run=options.dry_run)


def withhold_credentials(rules: Sequence[Rule], scanner: Any = None,
                         ) -> tuple[tuple[Rule, ...], dict[str, tuple[str, ...]]]:
    """Rules safe to write into a code repository, and the ids of the others with the scanner
    rules they matched. A code repository is often seen by more people than the memory
    repository (or is public), and a reviewer's ``modifiedRule`` was never scanned at export."""
    if scanner is None:
        from memsync.safety.secrets import python_scanner

        scanner = python_scanner()
    kept: list[Rule] = []
    withheld: dict[str, tuple[str, ...]] = {}
    for rule in rules:
        findings = [f for text in (rule.text, *rule.scope) for f in scanner.scan_text(text)]
        if findings:
            withheld[rule.id] = tuple(sorted({f.rule for f in findings}))
        else:
            kept.append(rule)
    return tuple(kept), withheld


def _apply(code: Path, desired: dict[str, bytes | None], written: Sequence[str],
           removed: Sequence[str]) -> None:
    from memsync.atomic import atomic_write_bytes

    for relative in written:
        target = code / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        data = desired[relative]
        assert data is not None
        atomic_write_bytes(target, data)
    for relative in removed:
        os.unlink(code / relative)


def _refuse_links(code: Path, relative: str) -> None:
    """A symbolic link on the way would make the sync read or write outside the checkout (and
    a CI job publishing a code repository must never copy a runner's file into a PR)."""
    path = code
    for part in relative.split("/"):
        path = path / part
        if path.is_symlink():
            raise RepoError(f"{path.relative_to(code).as_posix()} in the code repository is a "
                            "symbolic link; mem-sync writes only regular files inside the "
                            "checkout: replace it with a file or folder, or leave this target "
                            "out with --target")


def tracked_files(code: Path) -> frozenset[str]:
    """The code repository's tracked files (used to place absolute evidence paths)."""
    from memsync.publish import git

    result = git.run_git(["ls-files", "-z"], code, env=git.safe_directory_env(code), check=False)
    if result.returncode != 0:
        return frozenset()
    return frozenset(name for name in result.stdout.split("\0") if name)


def _owned_files(code: Path, folder: str, suffix: str) -> list[str]:
    directory = code / folder
    if not directory.is_dir():
        return []
    found = []
    for entry in sorted(directory.iterdir()):
        if (entry.is_file() and entry.name.startswith(STEM) and entry.name.endswith(suffix)
                and _is_ours(_read(entry) or b"")):
            found.append(f"{folder}/{entry.name}")
    return found


def _is_ours(data: bytes) -> bool:
    """Whether the file's first line after any front matter is our generated-file marker."""
    body = data
    if data.startswith(b"---\n"):
        end = data.find(b"\n---\n", 3)
        if end < 0:
            return False
        body = data[end + len(b"\n---\n"):]
    return body.startswith(OWNED_MARKER.encode())


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise RepoError(f"{path} is a directory; mem-sync writes a file there") from None


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RepoError(f"{name} is not UTF-8 text; mem-sync will not edit it (convert it to "
                        "UTF-8 or leave this target out with --target)") from None

