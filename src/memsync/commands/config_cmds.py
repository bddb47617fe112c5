"""``init``, ``config``, ``add-project``, ``update-project``: the developer's configuration.

Each command works two ways: as a wizard (click prompts for what the flags left out) and
fully scripted (``--dev-name`` for init, ``--no-input`` anywhere), so it runs in dotfiles,
provisioning scripts and tests alike.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson

from memsync.devside.config import (
    DEFAULT_DB_PATH,
    REMOTE_TYPES,
    Config,
    config_path,
    load_config,
    masked,
    new_config_doc,
    project_entry,
    save_config,
    split_list,
)
from memsync.errors import ConfigError, UsageError
from memsync.safety.names import check_safe_name

DEFAULT_TYPES = "decision,bugfix,feature,discovery"


def _project_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The per-project flags shared by init, add-project and update-project."""
    options = [
        click.option("--repo", help="Shared repository as owner/name."),
        click.option(
            "--type", "remote_type", type=click.Choice(REMOTE_TYPES), help="Git forge (default github)."
        ),
        click.option("--branch", help="Branch to push to and read from (default main)."),
        click.option(
            "--auto-merge/--no-auto-merge",
            default=None,
            help="Push directly (default), or open a PR/MR for each export.",
        ),
        click.option("--host", help="Self-hosted forge host, e.g. git.company.com."),
        click.option("--url", help="Any git URL or local path; overrides type/host/repo."),
        click.option("--mem-project", help="claude-mem's name for the project (default: the project name)."),
        click.option("--types", help="Observation types to export, comma-separated."),
        click.option("--keywords", help="Keywords to export (case-insensitive), comma-separated."),
        click.option("--tags", help="Tags to export, e.g. '#shared', comma-separated."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def _ask(value: Any, interactive: bool, text: str, default: Any = None, flag: str = "") -> Any:
    if value is not None:
        return value
    if interactive:
        return click.prompt(text, default=default, show_default=default not in (None, ""))
    if default is not None:
        return default
    raise UsageError(f"{flag} is required with --no-input")


def _new_project(name: str | None, flags: dict[str, Any], interactive: bool) -> tuple[str, dict[str, Any]]:
    name = _ask(name, interactive, "Project name (folder in the shared repo)", flag="--project")
    check_safe_name(name, "project")
    mem_project = _ask(flags["mem_project"], interactive, "claude-mem project name", default=name)
    remote_type = _ask(
        flags["remote_type"], interactive, "Git forge (github, gitlab, bitbucket)", default="github"
    )
    if remote_type not in REMOTE_TYPES:
        raise UsageError(f"forge {remote_type!r} is not one of {', '.join(REMOTE_TYPES)}")
    url = flags["url"]
    repo = flags["repo"]
    if repo is None and url is None:
        repo = _ask(None, interactive, "Shared repository (owner/name)", flag="--repo (or --url)")
    branch = _ask(flags["branch"], interactive, "Branch", default="main")
    auto_merge = flags["auto_merge"]
    if auto_merge is None:
        auto_merge = (
            click.confirm("Push directly? (no: open a pull request per export)", default=True)
            if interactive
            else True
        )
    types = _ask(flags["types"], interactive, "Types to export (comma-separated)", default=DEFAULT_TYPES)
    keywords = _ask(
        flags["keywords"], interactive, "Keywords to export (comma-separated, empty for none)", default=""
    )
    tags = _ask(
        flags["tags"], interactive, "Tags to export (comma-separated, empty for none)", default="#shared"
    )
    entry = project_entry(
        repo=repo,
        remote_type=remote_type,
        branch=branch,
        auto_merge=auto_merge,
        host=flags["host"],
        url=url,
        mem_project=mem_project if mem_project != name else None,
        types=split_list(types),
        keywords=split_list(keywords),
        tags=split_list(tags),
    )
    return name, entry


def _load_doc() -> tuple[Path, dict[str, Any]]:
    config = load_config()
    return config.path, copy.deepcopy(config.doc)


@click.command("init")
@click.option("--dev-name", help="Your developer name (scripted mode: nothing is asked).")
@click.option("--db-path", help=f"claude-mem's database (default {DEFAULT_DB_PATH}).")
@click.option("--project", help="Also configure this project.")
@_project_options
@click.option("--no-input", is_flag=True, help="Never prompt; fail on what is missing.")
@click.option("--force", is_flag=True, help="Overwrite an existing configuration.")
def init(
    dev_name: str | None, db_path: str | None, project: str | None, no_input: bool, force: bool, **flags: Any
) -> None:
    """Create the mem-sync configuration (interactive, or scripted with flags)."""
    interactive = dev_name is None and not no_input
    path = config_path()
    if path.exists() and not force:
        if not interactive:
            raise ConfigError(f"{path} already exists; pass --force to overwrite it, or use update-project")
        click.confirm(f"{path} exists. Overwrite it?", abort=True)
    dev_name = _ask(dev_name, interactive, "Your developer name (e.g. alice)", flag="--dev-name")
    check_safe_name(dev_name, "developer")
    db_path = _ask(db_path, interactive, "claude-mem database path", default=DEFAULT_DB_PATH)
    doc = new_config_doc(dev_name, db_path)
    if project is not None or any(flags[name] is not None for name in ("repo", "url")):
        name, entry = _new_project(project, flags, interactive)
        doc["projects"][name] = entry
    elif interactive:
        while click.confirm("Add a project?", default=not doc["projects"]):
            name, entry = _new_project(None, dict.fromkeys(flags), True)
            doc["projects"][name] = entry
    saved = save_config(doc, path)
    click.echo(f"wrote {saved.path} ({len(saved.project_names)} project(s)); check it with: mem-sync config")


@click.command("config")
@click.option("--path", "show_path", is_flag=True, help="Print only the configuration file's path.")
def config(show_path: bool) -> None:
    """Show the configuration, secrets masked."""
    if show_path:
        click.echo(str(config_path()))
        return
    loaded: Config = load_config()
    click.echo(f"# {loaded.path}")
    summary = {name: loaded.project(name).remote.clone_url for name in loaded.project_names}
    click.echo(orjson.dumps(masked(loaded.doc), option=orjson.OPT_INDENT_2).decode())
    for name, url in summary.items():
        click.echo(f"# {name}: shared repository {masked(url)}")


@click.command("add-project")
@click.option("--project", help="Project name (the folder in the shared repository).")
@_project_options
@click.option("--no-input", is_flag=True, help="Never prompt; fail on what is missing.")
def add_project(project: str | None, no_input: bool, **flags: Any) -> None:
    """Add a project to the configuration."""
    path, doc = _load_doc()
    interactive = not no_input and (project is None or (flags["repo"] is None and flags["url"] is None))
    if project is not None and project in doc["projects"]:
        raise ConfigError(
            f"project {project!r} already exists; change it with: mem-sync update-project --project {project}"
        )
    name, entry = _new_project(project, flags, interactive)
    if name in doc["projects"]:
        raise ConfigError(
            f"project {name!r} already exists; change it with: mem-sync update-project --project {name}"
        )
    doc["projects"][name] = entry
    save_config(doc, path)
    click.echo(f"added project {name} to {path}")


@click.command("update-project")
@click.option("--project", help="The project to change (optional when only one is configured).")
@_project_options
@click.option("--enable/--disable", "enabled", default=None, help="Take part in export/import --all.")
@click.option("--no-input", is_flag=True, help="Never prompt (the default when any change flag is given).")
def update_project(project: str | None, enabled: bool | None, no_input: bool, **flags: Any) -> None:
    """Change a configured project. Empty values (--url '') remove or clear a setting."""
    path, doc = _load_doc()
    projects = doc["projects"]
    if project is None:
        if len(projects) != 1:
            raise UsageError(f"pass --project NAME (projects: {', '.join(sorted(projects)) or 'none'})")
        project = next(iter(projects))
    if project not in projects:
        raise ConfigError(
            f"project {project!r} is not configured; add it with: mem-sync add-project --project {project}"
        )
    entry = projects[project]
    remote = entry.setdefault("remote", {})
    filters = entry.setdefault("export", {})
    changes = {name: value for name, value in flags.items() if value is not None}
    if enabled is not None:
        changes["enabled"] = enabled
    if not changes and not no_input:
        changes = _prompt_changes(project, entry)
    for name, value in changes.items():
        if name == "enabled":
            entry["enabled"] = value
        elif name == "mem_project":
            _set_or_drop(entry, "memProject", value)
        elif name in ("types", "keywords", "tags"):
            filters[name] = split_list(value)
        elif name == "auto_merge":
            remote["autoMerge"] = value
        else:
            key = {"remote_type": "type"}.get(name, name)
            _set_or_drop(remote, key, value)
    save_config(doc, path)
    click.echo(f"updated project {project} in {path}")


def _set_or_drop(target: dict[str, Any], key: str, value: Any) -> None:
    if value == "":
        target.pop(key, None)
    else:
        target[key] = value


def _prompt_changes(project: str, entry: dict[str, Any]) -> dict[str, Any]:
    remote = entry.get("remote", {})
    filters = entry.get("export", {})
    return {
        "mem_project": click.prompt("claude-mem project name", default=entry.get("memProject", project)),
        "remote_type": click.prompt(
            "Git forge", default=remote.get("type", "github"), type=click.Choice(REMOTE_TYPES)
        ),
        "repo": click.prompt("Shared repository (owner/name)", default=remote.get("repo", "")),
        "url": click.prompt("Git URL override (empty for none)", default=remote.get("url", "")),
        "branch": click.prompt("Branch", default=remote.get("branch", "main")),
        "auto_merge": click.confirm("Push directly?", default=remote.get("autoMerge", True)),
        "types": click.prompt("Types", default=",".join(filters.get("types", []))),
        "keywords": click.prompt("Keywords", default=",".join(filters.get("keywords", []))),
        "tags": click.prompt("Tags", default=",".join(filters.get("tags", []))),
    }
