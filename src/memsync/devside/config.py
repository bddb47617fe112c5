"""The developer's configuration: ``~/.claude-mem-sync/config.json`` (``MEM_SYNC_CONFIG`` overrides).

The file stays a plain JSON document so every field claude-mem-sync (or a newer mem-sync)
writes survives a load/save round trip; typed views (``ProjectConfig``) are derived from it.
Validation follows ``schemas/config.schema.json`` with a small built-in checker (jsonschema is
not a runtime dependency) and names the field and the fix in one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from memsync.atomic import atomic_write_bytes
from memsync.devside.paths import CONFIG_ENV, config_path, state_dir  # noqa: F401 - re-exported
from memsync.errors import ConfigError
from memsync.publish.remote import DEFAULT_HOSTS, FORGES

DEFAULT_DB_PATH = "~/.claude-mem/claude-mem.db"
REMOTE_TYPES = FORGES
_SECRET_KEY = re.compile(r"token|secret|password|passwd|api[-_]?key|credential", re.IGNORECASE)


# --- typed views -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFilters:
    types: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.types or self.keywords or self.tags)

    def to_dict(self) -> dict[str, list[str]]:
        return {"types": list(self.types), "keywords": list(self.keywords), "tags": list(self.tags)}


@dataclass(frozen=True)
class RemoteConfig:
    type: str = "github"
    repo: str | None = None
    branch: str = "main"
    auto_merge: bool = True
    host: str | None = None
    url: str | None = None

    @property
    def clone_url(self) -> str:
        """``url`` wins; otherwise https on the forge's (or the self-hosted) host."""
        if self.url:
            return self.url
        host = self.host or DEFAULT_HOSTS.get(self.type, DEFAULT_HOSTS["github"])
        host = host.removeprefix("https://").removeprefix("http://").rstrip("/")
        return f"https://{host}/{self.repo}.git"


@dataclass(frozen=True)
class ProjectConfig:
    name: str  # folder name in the shared repo
    mem_project: str  # claude-mem's observations.project value
    enabled: bool
    remote: RemoteConfig
    export: ExportFilters


# claude-mem-sync's names and defaults (its config reference)
DEFAULT_EXPORT_SCHEDULE = "friday:16:00"
DEFAULT_MAINTENANCE_SCHEDULE = "monthly"
DEFAULT_PRUNE_OLDER_THAN_DAYS = 90
DEFAULT_PRUNE_SCORE_THRESHOLD = 0.3
DEFAULT_KEEP_TAGS = ("#keep",)


@dataclass(frozen=True)
class MaintenanceSettings:
    schedule: str  # weekly | biweekly | monthly
    prune_older_than_days: int
    prune_score_threshold: float
    keep_tags: tuple[str, ...]
    strategy: str  # evictionStrategy: how maintain scores (passive: diffusion, hook: local use)


@dataclass(frozen=True)
class Config:
    path: Path
    doc: dict[str, Any]  # the whole file as parsed; unknown fields are kept

    @property
    def dev_name(self) -> str:
        return str(self.doc["global"]["devName"])

    @property
    def db_path(self) -> Path:
        raw = self.doc["global"].get("claudeMemDbPath") or DEFAULT_DB_PATH
        return Path(os.path.expanduser(raw))

    @property
    def export_schedule(self) -> str:
        return str(self.doc["global"].get("exportSchedule") or DEFAULT_EXPORT_SCHEDULE)

    @property
    def maintenance(self) -> MaintenanceSettings:
        glob = self.doc["global"]
        tags = glob.get("evictionKeepTagged")
        return MaintenanceSettings(
            schedule=str(glob.get("maintenanceSchedule") or DEFAULT_MAINTENANCE_SCHEDULE),
            prune_older_than_days=int(glob.get("maintenancePruneOlderThanDays", DEFAULT_PRUNE_OLDER_THAN_DAYS)),
            prune_score_threshold=float(glob.get("maintenancePruneScoreThreshold", DEFAULT_PRUNE_SCORE_THRESHOLD)),
            keep_tags=tuple(tags) if isinstance(tags, list) else DEFAULT_KEEP_TAGS,
            strategy=str(glob.get("evictionStrategy") or "passive"),
        )

    @property
    def project_names(self) -> list[str]:
        return sorted(self.doc["projects"])

    @property
    def enabled_projects(self) -> list[str]:
        return [name for name in self.project_names if self.doc["projects"][name].get("enabled", True)]

    def project(self, name: str) -> ProjectConfig:
        entry = self.doc["projects"].get(name)
        if entry is None:
            known = ", ".join(self.project_names) or "none"
            raise ConfigError(
                f"project {name!r} is not configured (configured: {known}); "
                f"add it with: mem-sync add-project --project {name} --repo OWNER/NAME"
            )
        return project_from_entry(name, entry)


def project_from_entry(name: str, entry: Mapping[str, Any]) -> ProjectConfig:
    remote = entry.get("remote") or {}
    filters = entry.get("export") or {}
    return ProjectConfig(
        name=name,
        mem_project=entry.get("memProject") or name,
        enabled=bool(entry.get("enabled", True)),
        remote=RemoteConfig(
            type=remote.get("type", "github"),
            repo=remote.get("repo"),
            branch=remote.get("branch", "main"),
            auto_merge=bool(remote.get("autoMerge", True)),
            host=remote.get("host"),
            url=remote.get("url"),
        ),
        export=ExportFilters(
            types=tuple(filters.get("types", ())),
            keywords=tuple(filters.get("keywords", ())),
            tags=tuple(filters.get("tags", ())),
        ),
    )


# --- load / save -------------------------------------------------------------------------


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no mem-sync configuration at {path}; create it with: mem-sync init") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}; check its permissions") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ConfigError(
            f"{path} is not valid JSON ({error}); fix the syntax or recreate it with: mem-sync init --force"
        ) from None
    validate_config(doc, path)
    return Config(path=path, doc=doc)


def save_config(doc: dict[str, Any], path: Path | None = None) -> Config:
    """Validate, then write atomically (0600: a remote URL may embed a token)."""
    path = path or config_path()
    validate_config(doc, path)
    atomic_write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    os.chmod(path, 0o600)
    return Config(path=path, doc=doc)


def new_config_doc(dev_name: str, db_path: str = DEFAULT_DB_PATH) -> dict[str, Any]:
    return {
        "$schema": "https://mem-sync.dev/schemas/config.schema.json",
        "global": {
            "devName": dev_name,
            "claudeMemDbPath": db_path,
            "evictionStrategy": "passive",
            "evictionKeepTagged": ["#keep"],
            "mergeCapPerProject": 500,
            "exportSchedule": "friday:16:00",
            "logLevel": "info",
        },
        "projects": {},
    }


def project_entry(
    *,
    repo: str | None,
    remote_type: str = "github",
    branch: str = "main",
    auto_merge: bool = True,
    host: str | None = None,
    url: str | None = None,
    mem_project: str | None = None,
    types: list[str] | tuple[str, ...] = (),
    keywords: list[str] | tuple[str, ...] = (),
    tags: list[str] | tuple[str, ...] = (),
    enabled: bool = True,
) -> dict[str, Any]:
    remote: dict[str, Any] = {"type": remote_type, "branch": branch, "autoMerge": auto_merge}
    if repo:
        remote["repo"] = repo
    if host:
        remote["host"] = host
    if url:
        remote["url"] = url
    entry: dict[str, Any] = {"enabled": enabled}
    if mem_project:
        entry["memProject"] = mem_project
    entry["remote"] = remote
    entry["export"] = {"types": list(types), "keywords": list(keywords), "tags": list(tags)}
    return entry


# --- showing it --------------------------------------------------------------------------


def masked(doc: Any) -> Any:
    """A copy safe to print: values under secret-looking keys and URL credentials hidden."""
    if isinstance(doc, dict):
        return {
            key: ("***" if _SECRET_KEY.search(key) and isinstance(value, str) and value else masked(value))
            for key, value in doc.items()
        }
    if isinstance(doc, list):
        return [masked(item) for item in doc]
    if isinstance(doc, str):
        from memsync.safety.urls import scrub_urls  # userinfo (a raw "@" too) and query values

        return scrub_urls(doc)
    return doc


# --- validation --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def config_schema() -> dict[str, Any]:
    data = resources.files("memsync.schemas").joinpath("config.schema.json").read_bytes()
    return orjson.loads(data)


def validate_config(doc: Any, path: Path | None = None) -> None:
    """Raise ``ConfigError`` for the first problem, naming the field and how to fix it."""
    problems = config_problems(doc)
    if problems:
        where = path or config_path()
        raise ConfigError(f"{where}: {problems[0]}")


def config_problems(doc: Any) -> list[str]:
    """Every problem found, each a sentence: ``<field> <what is wrong>; <how to fix>``."""
    problems: list[str] = []
    _check(doc, config_schema(), (), problems)
    return [f"{_dotted(field)} {problem}; {_fix_hint(field)}" for field, problem in problems]


def _check(value: Any, schema: Mapping[str, Any], field: tuple[str, ...], out: list) -> None:
    expected = schema.get("type")
    if expected and not _has_type(value, expected):
        out.append((field, f"must be {_TYPE_WORDS[expected]}, got {_describe(value)}"))
        return
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(str(choice) for choice in schema["enum"])
        out.append((field, f"must be one of {choices}, got {_describe(value)}"))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            out.append((field, "must not be empty"))
        elif "pattern" in schema and not re.search(schema["pattern"], value):
            shape = _PATTERN_WORDS.get(schema["pattern"], schema["pattern"])
            out.append((field, f"{_describe(value)} has the wrong shape ({shape})"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append((field, f"must be at least {schema['minimum']}, got {value}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append((field, f"must be at most {schema['maximum']}, got {value}"))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], (*field, f"[{index}]"), out)
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                out.append(((*field, name), "is missing"))
        properties = schema.get("properties", {})
        names_rule = schema.get("propertyNames")
        for key in value:
            if names_rule and not re.search(names_rule["pattern"], key):
                out.append(((*field, key), f"is not a safe name ({_PATTERN_WORDS[names_rule['pattern']]})"))
            if key in properties:
                _check(value[key], properties[key], (*field, key), out)
            elif isinstance(schema.get("additionalProperties"), dict):
                _check(value[key], schema["additionalProperties"], (*field, key), out)
        alternatives = schema.get("anyOf")
        if alternatives and not any(
            all(name in value for name in alt.get("required", ())) for alt in alternatives
        ):
            options = " or ".join(name for alt in alternatives for name in alt.get("required", ()))
            out.append((field, f"needs {options}"))


_TYPE_WORDS = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
}
_SAFE_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_SCHEDULE_PATTERN = "^[A-Za-z]+:([01]?[0-9]|2[0-3]):[0-5][0-9]$"  # the day name is checked by schedule.py
_PATTERN_WORDS = {
    _SAFE_NAME_PATTERN: "letters, digits, '.', '_', '-', starting with a letter or digit, at most 64",
    "^[^/\\s]+(/[^/\\s]+)+$": "expected owner/name, e.g. my-org/dev-memories",
    _SCHEDULE_PATTERN: "expected <day>:<HH>:<MM>, e.g. friday:16:00 (day: monday..sunday or everyday)",
}


def _has_type(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return type(value) is int
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, (int, float)):
        return repr(value)
    return "an array" if isinstance(value, list) else "an object"


def _dotted(field: tuple[str, ...]) -> str:
    if not field:
        return "the configuration"
    text = ""
    for part in field:
        text += part if part.startswith("[") or not text else f".{part}"
    return text


def _fix_hint(field: tuple[str, ...]) -> str:
    if field[:2] == ("global", "devName"):
        return "set it with: mem-sync init --dev-name NAME --force (or edit the file)"
    if len(field) >= 3 and field[0] == "projects":
        project = field[1]
        if field[2] == "remote":
            return (
                f"fix it with: mem-sync update-project --project {project} "
                "--repo OWNER/NAME (or --url GIT_URL, --type github|gitlab|bitbucket)"
            )
        if field[2] == "export":
            return (
                f"fix it with: mem-sync update-project --project {project} "
                "--types decision,bugfix --keywords ... --tags '#shared'"
            )
        return f"fix it with: mem-sync update-project --project {project} (or edit the file)"
    if field[:1] == ("projects",) and len(field) == 2:
        return "rename the project key in the file"
    return "edit the file (schema: src/memsync/schemas/config.schema.json) or run: mem-sync init --force"


def split_list(text: str | None) -> list[str]:
    """``"decision, bugfix"`` -> ``["decision", "bugfix"]``; empty text clears the list."""
    if not text:
        return []
    return [part.strip() for part in text.split(",") if part.strip()]


def select_projects(config: Config, project: str | None, all_projects: bool) -> list[str]:
    """``--project X`` (must be configured), ``--all`` (enabled ones), or the only enabled one."""
    from memsync.errors import UsageError

    if project and all_projects:
        raise UsageError("pass either --project NAME or --all, not both")
    if project:
        config.project(project)
        return [project]
    enabled = config.enabled_projects
    if all_projects:
        return enabled
    if len(enabled) == 1:
        return enabled
    known = ", ".join(config.project_names) or "none configured"
    raise UsageError(f"pass --project NAME or --all (projects: {known})")
