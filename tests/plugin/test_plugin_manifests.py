"""The Claude Code plugin in this repository: manifests in their documented shapes, wired to our hook.

The schemas below transcribe Claude Code's plugin reference (code.claude.com/docs/en/plugins-reference,
/plugins/marketplace-reference, /hooks): a kebab-case ``name`` is the one required field of
plugin.json; a marketplace needs ``name``, ``owner.name`` and ``plugins`` whose entries need ``name``
and ``source`` (a "./" path inside the marketplace repository, or a github/url/git-subdir/npm
object); hooks.json holds ``hooks`` -> event -> [{matcher, hooks: [{type: "command", command,
timeout in seconds, async}]}].
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

import memsync

ROOT = Path(__file__).resolve().parents[2]
KEBAB = "^[a-z0-9]+(-[a-z0-9]+)*$"
SEMVER = r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$"
PATH = "^\\./"
AUTHOR = {"type": "object", "required": ["name"], "additionalProperties": False,
          "properties": {"name": {"type": "string", "minLength": 1}, "email": {"type": "string"},
                         "url": {"type": "string"}}}
COMPONENT_PATHS = {"anyOf": [{"type": "string", "pattern": PATH},
                             {"type": "array", "items": {"type": "string", "pattern": PATH}},
                             {"type": "object"}]}

PLUGIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": KEBAB},
        "version": {"type": "string", "pattern": SEMVER},
        "description": {"type": "string", "minLength": 1},
        "author": AUTHOR,
        "homepage": {"type": "string"},
        "repository": {"type": "string"},
        "license": {"type": "string"},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "commands": COMPONENT_PATHS, "agents": COMPONENT_PATHS, "skills": COMPONENT_PATHS,
        "hooks": COMPONENT_PATHS, "mcpServers": COMPONENT_PATHS, "outputStyles": COMPONENT_PATHS,
        "lspServers": COMPONENT_PATHS,
    },
}
SOURCE = {"anyOf": [
    {"type": "string", "pattern": PATH},
    {"type": "object", "required": ["source", "repo"], "properties": {"source": {"const": "github"}}},
    {"type": "object", "required": ["source", "url"], "properties": {"source": {"enum": ["url", "git-subdir"]}}},
    {"type": "object", "required": ["source", "package"], "properties": {"source": {"const": "npm"}}},
]}
MARKETPLACE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "owner", "plugins"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string"},
        "name": {"type": "string", "pattern": KEBAB},
        "owner": AUTHOR,
        "metadata": {"type": "object", "additionalProperties": False, "properties": {
            "description": {"type": "string"}, "version": {"type": "string"}, "pluginRoot": {"type": "string"}}},
        "plugins": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["name", "source"],
            "properties": {
                "name": {"type": "string", "pattern": KEBAB},
                "source": SOURCE,
                "description": {"type": "string"},
                "version": {"type": "string", "pattern": SEMVER},
                "author": AUTHOR,
                "strict": {"type": "boolean"},
                "category": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "keywords": {"type": "array", "items": {"type": "string"}},
            },
        }},
    },
}
HOOK_EVENTS = ["PreToolUse", "PostToolUse", "PostToolUseFailure", "UserPromptSubmit", "Stop", "SubagentStop",
               "SessionStart", "SessionEnd", "Notification", "PreCompact", "PermissionRequest"]
HOOKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["hooks"],
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "hooks": {"type": "object", "propertyNames": {"enum": HOOK_EVENTS}, "additionalProperties": {
            "type": "array", "items": {
                "type": "object", "required": ["hooks"], "additionalProperties": False,
                "properties": {
                    "matcher": {"type": "string"},
                    "hooks": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "required": ["type", "command"], "additionalProperties": False,
                        "properties": {
                            "type": {"const": "command"},
                            "command": {"type": "string", "minLength": 1},
                            # seconds (claude-mem-sync writes 5000, meant as milliseconds: 83 minutes)
                            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
                            "async": {"type": "boolean"},
                            "statusMessage": {"type": "string"},
                        },
                    }},
                },
            }}},
    },
}


def _load(relative: str) -> Any:
    return orjson.loads((ROOT / relative).read_bytes())


@pytest.mark.parametrize(
    ("relative", "schema"),
    [(".claude-plugin/plugin.json", PLUGIN_SCHEMA), (".claude-plugin/marketplace.json", MARKETPLACE_SCHEMA),
     ("hooks/hooks.json", HOOKS_SCHEMA)],
)
def test_manifests_have_their_documented_shape(relative: str, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(_load(relative), schema)


@pytest.mark.parametrize(
    ("relative", "schema", "broken"),
    [
        (".claude-plugin/plugin.json", PLUGIN_SCHEMA, {"name": "Mem Sync"}),
        (".claude-plugin/marketplace.json", MARKETPLACE_SCHEMA, {"owner": "me"}),
        (".claude-plugin/marketplace.json", MARKETPLACE_SCHEMA, {"plugins": [{"name": "mem-sync", "source": "/abs"}]}),
        ("hooks/hooks.json", HOOKS_SCHEMA, {"hooks": {"PostToolUse": [{"hooks": [
            {"type": "command", "command": "x", "timeout": 5000}]}]}}),
    ],
)
def test_the_schemas_refuse_what_the_docs_refuse(relative: str, schema: dict[str, Any], broken: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**_load(relative), **broken}, schema)


def test_marketplace_entry_is_this_plugin() -> None:
    plugin = _load(".claude-plugin/plugin.json")
    (entry,) = _load(".claude-plugin/marketplace.json")["plugins"]
    assert entry["name"] == plugin["name"]
    assert (ROOT / entry["source"] / ".claude-plugin" / "plugin.json").is_file()
    assert entry["version"] == plugin["version"] == memsync.__version__
    # hooks/hooks.json is loaded by default; naming it in the manifest too is a duplicate
    assert "hooks" not in plugin


def test_hook_runs_our_console_script_on_claude_mem_search_tools_only() -> None:
    (entry,) = _load("hooks/hooks.json")["hooks"]["PostToolUse"]
    (hook,) = entry["hooks"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[hook["command"]] == "memsync.devside.access_hook:console_main"
    matcher = re.compile(entry["matcher"])
    for tool in ("mcp__plugin_claude-mem_mcp-search__search", "mcp__plugin_claude-mem_mcp-search__get_observations",
                 "mcp__claude-mem__timeline"):
        assert matcher.fullmatch(tool), tool
    for tool in ("Bash", "Read", "mcp__github__search", "mcp__plugin_other_mcp-search__search"):
        assert not matcher.fullmatch(tool), tool


def test_the_wired_entry_point_is_the_hook(tmp_path: Path) -> None:
    """What the console script runs, run as Claude Code runs it: JSON in, silence out, a row logged."""
    module, function = "memsync.devside.access_hook", "console_main"
    doc = {"hook_event_name": "PostToolUse", "tool_name": "mcp__plugin_claude-mem_mcp-search__search",
           "tool_response": [{"type": "text", "text": "| #42 | 6:00 AM | x | t | ~5 |"}]}
    result = subprocess.run([sys.executable, "-c", f"from {module} import {function}; {function}()"],
                            input=orjson.dumps(doc), capture_output=True, check=False,
                            env={"MEM_SYNC_CONFIG": str(tmp_path / "config.json"), "PATH": "/usr/bin:/bin",
                                 "PYTHONPATH": str(ROOT / "src")})
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert (tmp_path / "access-log.sqlite").is_file()
