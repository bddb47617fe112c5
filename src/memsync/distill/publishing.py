"""Proposing distilled files for review: one rolling PR/MR (``mem-sync/distill``) through the
same publish flow and forge adapters as the merge, never merged automatically.

A rebuilt branch that already holds a run with the same digest (the open PR's) is reused as
it is, so an unmerged review branch never makes the next job pay for the same calls again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from memsync.distill import outputs

RunAll = Callable[[Any], list[Any]]  # takes the ReviewBranch, returns the outcomes


class DistillRun:
    """What the publish flow needs from a run (``memsync.publish.flow.SelfDescribing``):
    changed paths, and its own commit and PR/MR texts."""

    dry_run = False  # a dry run never reaches publishing (the command refuses it)

    def __init__(self, outcomes: list[Any], carried: list[str] | None = None) -> None:
        self.outcomes = outcomes
        self.changed_paths = sorted({*(p for o in outcomes for p in o.changed_paths),
                                     *(carried or ())})
        self.exit_code = 0

    @property
    def changed(self) -> bool:
        return bool(self.changed_paths)

    def to_dict(self) -> dict[str, Any]:
        return {"projects": [o.to_dict() for o in self.outcomes]}

    def commit_message(self) -> str:
        from memsync.render import render_template

        changed = [o for o in self.outcomes if o.changed_paths]
        return render_template("distill_commit_message.txt.j2",
                               projects=[o.project for o in changed],
                               outcomes=[o.to_dict() for o in changed]).strip() + "\n"

    def pull_request_text(self, *, branch: str, base: str, kind: str) -> tuple[str, str]:
        from memsync.render import render_template

        title = "Distilled rules for review: " + ", ".join(o.project for o in self.outcomes)
        body = render_template("distill_pr_body.md.j2",
                               outcomes=[o.to_dict() for o in self.outcomes],
                               branch=branch, base=base, kind=kind)
        return title, body.strip() + "\n"


def publish_distillation(repo: Path, run_all: RunAll, options: Any) -> tuple[list[Any], dict]:
    """Run ``run_all`` inside the rolling-PR flow; return its outcomes and what publishing did."""
    from memsync.publish.flow import publish

    runs: list[DistillRun] = []
    # fetched by the flow before each rebuild of the branch from the base
    branch = ReviewBranch(repo, f"refs/remotes/{options.remote}/{options.branch}")

    def once() -> DistillRun:
        # The branch is rebuilt from the base: verdicts reviewers committed on it come along.
        carried = carry_verdicts(repo, branch.ref)
        runs.append(DistillRun(run_all(branch), carried))
        return runs[-1]

    result = publish(repo, once, options)
    doc = {"mode": result.mode, "operation": result.operation, "url": result.url,
           "commit": result.commit, "attempts": result.attempts}
    return runs[-1].outcomes, doc


class ReviewBranch:
    """The open review branch as the run sees it (``memsync.distill.run.ReviewBranchLike``)."""

    def __init__(self, repo: Path, ref: str) -> None:
        self.repo, self.ref = repo, ref

    def files(self, project: str, digest: str) -> dict[str, bytes] | None:
        return files_on_ref(self.repo, self.ref, project, digest)

    def rules(self, project: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Its rules.json records, and the rejected texts its report remembers."""
        rules: dict[str, Any] = {}
        try:
            doc = orjson.loads(_show(self.repo, self.ref, project, outputs.RULES_FILE) or b"{}")
            for item in doc.get("rules") or ():
                record = outputs.parse_rule(item) if isinstance(item, dict) else None
                if record is not None:
                    rules[record.id] = record
            report = orjson.loads(_show(self.repo, self.ref, project, outputs.REPORT_FILE)
                                  or b"{}")
            rejected = {i["id"]: i["rule"] for i in report.get("rejectedRules") or ()
                        if isinstance(i, dict) and isinstance(i.get("id"), str)
                        and isinstance(i.get("rule"), str)}
        except (orjson.JSONDecodeError, AttributeError):
            return {}, {}
        return rules, rejected


def _show(repo: Path, ref: str, project: str, name: str) -> bytes | None:
    result = subprocess.run(["git", "show", f"{ref}:distilled/{project}/{name}"], cwd=repo,
                            capture_output=True, check=False)
    return result.stdout if result.returncode == 0 else None


def carry_verdicts(repo: Path, ref: str) -> list[str]:
    """Copy the verdicts recorded in ``ref``'s feedback files into the work tree's; return the
    paths that changed."""
    from memsync.distill.feedback import parse_feedback, read_feedback, with_verdicts_from
    from memsync.errors import RepoError
    from memsync.safety.names import is_safe_name

    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", ref, "--", "distilled"],
                            cwd=repo, capture_output=True, text=True, check=False)
    changed = []
    for path in sorted(listed.stdout.splitlines()) if listed.returncode == 0 else []:
        parts = path.split("/")
        if len(parts) != 3 or parts[2] != outputs.FEEDBACK_FILE or not is_safe_name(parts[1]):
            continue
        shown = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True,
                               check=False)
        try:
            review = parse_feedback(shown.stdout, f"{ref}:{path}")
            base = read_feedback(repo, parts[1])
        except RepoError:
            continue  # a damaged file is reported by the run itself, not guessed at here
        merged = with_verdicts_from(base, review, review.updated_at)
        if merged is not None:
            from memsync.atomic import atomic_write_bytes
            from memsync.distill.feedback import dump_feedback

            atomic_write_bytes(repo / path, dump_feedback(merged))
            changed.append(path)
    return changed


def files_on_ref(repo: Path, ref: str, project: str, digest: str) -> dict[str, bytes] | None:
    """The distilled files of ``project`` at ``ref`` when its report carries ``digest``."""

    def show(name: str) -> bytes | None:
        return _show(repo, ref, project, name)

    report = show(outputs.REPORT_FILE)
    try:
        if report is None or orjson.loads(report).get("inputDigest") != digest:
            return None
    except (orjson.JSONDecodeError, AttributeError):
        return None
    files = {name: show(name) for name in (outputs.RULES_FILE, outputs.RULES_MD,
                                            outputs.KNOWLEDGE_MD, outputs.FEEDBACK_FILE)}
    found = {name: data for name, data in files.items() if data is not None}
    if len(found) != len(files):
        return None
    return {outputs.REPORT_FILE: report, **found}
