"""``incident``: the secret-incident procedure, with commands exact for this repository."""

from __future__ import annotations

import os
from pathlib import Path

import click

from memsync.errors import UsageError


@click.command("incident")
@click.option("--project", required=True, help="The project whose observations carried the credential.")
@click.option("--repo", "repo", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="A full clone of the shared repository.")
@click.option("--write-expressions", "expressions_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the git filter-repo --replace-text expressions (rule patterns, no secret) here.")
def incident(project: str, repo: Path, expressions_file: Path | None) -> None:
    """Print the secret-incident procedure: rotate, locate, rewrite history, force-push, re-clone."""
    from memsync.atomic import atomic_write_bytes
    from memsync.ci import incident as procedure
    from memsync.devside.retracted import read_retracted_set
    from memsync.render import template_environment
    from memsync.safety.names import check_safe_name
    from memsync.safety.secret_rules import RULES
    from memsync.scanner_cache import open_scanner, scanner_setup

    check_safe_name(project, "project")
    if not (repo / ".git").exists() and not (repo / "HEAD").exists():
        raise UsageError(f"--repo {repo} is not a git repository; pass a full clone of the shared repository")
    remote = procedure.remote_of(repo)
    report = procedure.IncidentReport(project, remote, procedure.branch_heads(repo, remote))
    scanner = open_scanner(scanner_setup(os.environ))
    report.leaks = procedure.find_leaks(repo, lambda text: [finding.rule for finding in scanner.scan_text(text)])
    report.retracted_by_rules = sum(1 for entry in read_retracted_set(repo, project).entries.values()
                                    if entry.source.startswith("secret-rule:"))
    patterns = {rule.id: rule.pattern.pattern for rule in RULES}
    if expressions_file is not None:
        text = procedure.replace_text_expressions(patterns, report.rules)
        atomic_write_bytes(expressions_file, text.encode())
        expressions_file.chmod(0o600)
        click.echo(f"wrote {len(report.rules)} expression(s) for git filter-repo --replace-text to {expressions_file}")
        return
    environment = template_environment().overlay()
    environment.filters["truncate_sha"] = lambda sha: sha[:12]
    heads = report.branches
    default = next((ref.rsplit("/", 1)[-1] for ref in sorted(heads) if ref in ("refs/heads/main", "refs/heads/master")),
                   "main")
    click.echo(environment.get_template("incident.txt.j2").render(
        r=report,
        repo_arg=str(repo),
        # beside the clone, never inside it, where a careless `git add` would commit it
        expressions=str(repo.resolve().parent / "mem-sync-incident-expressions.txt"),
        mirror=str(repo.resolve().parent / "memory-rewrite.git"),
        default_branch=default,
    ).rstrip("\n"))
