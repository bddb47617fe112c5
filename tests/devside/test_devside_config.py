"""Config: scripted and interactive init, round trips, masking, validation errors that name the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from memsync.commands.config_cmds import add_project, config, init, update_project
from memsync.devside.config import config_problems, config_schema, load_config, new_config_doc, project_entry


def test_scripted_init_writes_a_config_compatible_with_claude_mem_sync(config_file: Path, mem_sync) -> None:
    mem_sync(
        "init",
        "--dev-name",
        "alice",
        "--db-path",
        "/data/claude-mem.db",
        "--project",
        "my-app",
        "--repo",
        "my-org/dev-memories",
        "--types",
        "decision, bugfix",
        "--keywords",
        "architecture",
        "--tags",
        "#shared",
        "--mem-project",
        "my-app-local",
    )
    doc = orjson.loads(config_file.read_bytes())
    assert doc["global"]["devName"] == "alice"
    assert doc["global"]["claudeMemDbPath"] == "/data/claude-mem.db"
    project = doc["projects"]["my-app"]
    assert project["memProject"] == "my-app-local"
    assert project["remote"] == {
        "type": "github",
        "branch": "main",
        "autoMerge": True,
        "repo": "my-org/dev-memories",
    }
    assert project["export"] == {
        "types": ["decision", "bugfix"],
        "keywords": ["architecture"],
        "tags": ["#shared"],
    }
    loaded = load_config()
    assert loaded.project("my-app").remote.clone_url == "https://github.com/my-org/dev-memories.git"
    assert config_file.stat().st_mode & 0o077 == 0


def test_interactive_init_asks_and_writes(config_file: Path) -> None:
    answers = (
        "\n".join(
            [
                "bob",  # dev name
                "",  # db path: default
                "y",  # add a project
                "backend",  # project name
                "",  # claude-mem project name: same
                "gitlab",  # forge
                "team/memories",  # repo
                "develop",  # branch
                "n",  # push directly? no -> PRs
                "decision",  # types
                "",  # keywords
                "#shared",  # tags
                "n",  # another project? no
            ]
        )
        + "\n"
    )
    result = CliRunner().invoke(init, [], input=answers)
    assert result.exit_code == 0, result.output
    loaded = load_config()
    assert loaded.dev_name == "bob"
    assert str(loaded.db_path).endswith(".claude-mem/claude-mem.db")
    backend = loaded.project("backend")
    assert backend.mem_project == "backend"
    assert backend.remote.type == "gitlab"
    assert backend.remote.branch == "develop"
    assert backend.remote.auto_merge is False
    assert backend.remote.clone_url == "https://gitlab.com/team/memories.git"
    assert backend.export.types == ("decision",) and backend.export.keywords == ()


def test_init_refuses_to_overwrite_without_force(config_file: Path, mem_sync) -> None:
    mem_sync("init", "--dev-name", "alice")
    before = config_file.read_bytes()
    result = mem_sync("init", "--dev-name", "mallory", check=False)
    assert result.returncode == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert config_file.read_bytes() == before


def test_add_and_update_project_round_trip_keeps_unknown_fields(config_file: Path, mem_sync) -> None:
    mem_sync("init", "--dev-name", "alice")
    doc = orjson.loads(config_file.read_bytes())
    doc["global"]["distillation"] = {"enabled": False, "model": "x"}
    doc["futureField"] = {"kept": True}
    config_file.write_bytes(orjson.dumps(doc))
    mem_sync(
        "add-project",
        "--project",
        "api",
        "--repo",
        "org/mem",
        "--type",
        "bitbucket",
        "--host",
        "git.company.com",
        "--types",
        "decision",
        "--no-input",
    )
    mem_sync(
        "update-project",
        "--project",
        "api",
        "--url",
        "/srv/git/mem.git",
        "--no-auto-merge",
        "--tags",
        "#team,#shared",
        "--disable",
    )
    doc = orjson.loads(config_file.read_bytes())
    assert doc["futureField"] == {"kept": True}
    assert doc["global"]["distillation"]["model"] == "x"
    api = load_config().project("api")
    assert api.remote.clone_url == "/srv/git/mem.git"
    assert api.remote.auto_merge is False and api.enabled is False
    assert api.export.tags == ("#team", "#shared")
    mem_sync("update-project", "--project", "api", "--url", "")
    assert load_config().project("api").remote.clone_url == "https://git.company.com/org/mem.git"


def test_add_project_refuses_a_duplicate(config_file: Path, mem_sync) -> None:
    mem_sync("init", "--dev-name", "alice", "--project", "api", "--repo", "org/mem")
    result = mem_sync("add-project", "--project", "api", "--repo", "org/other", "--no-input", check=False)
    assert result.returncode == 1 and "update-project" in result.stderr


def test_config_show_masks_secrets(config_file: Path, mem_sync) -> None:
    mem_sync(
        "init",
        "--dev-name",
        "alice",
        "--project",
        "api",
        "--url",
        "https://alice:ghp_supersecrettoken123@github.com/org/mem.git",
    )
    doc = orjson.loads(config_file.read_bytes())
    doc["global"]["distillation"] = {"apiKey": "sk-ant-verysecret"}
    config_file.write_bytes(orjson.dumps(doc))
    shown = mem_sync("config").stdout
    assert "ghp_supersecrettoken123" not in shown and "sk-ant-verysecret" not in shown
    assert "***@github.com/org/mem.git" in shown and '"apiKey": "***"' in shown
    assert mem_sync("config", "--path").stdout.strip() == str(config_file)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["projects"]["api"]["remote"].update(type="gh"),
            "projects.api.remote.type must be one of github, gitlab, bitbucket, got 'gh'; "
            "fix it with: mem-sync update-project --project api",
        ),
        (lambda d: d["global"].pop("devName"), "global.devName is missing; set it with: mem-sync init"),
        (lambda d: d["projects"]["api"]["remote"].pop("repo"), "projects.api.remote needs repo or url"),
        (
            lambda d: d["projects"]["api"]["export"].update(types="decision"),
            "projects.api.export.types must be an array, got 'decision'",
        ),
        (lambda d: d["projects"]["api"].update(enabled="yes"), "projects.api.enabled must be true or false"),
        (
            lambda d: d["projects"]["api"]["remote"].update(repo="just-a-name"),
            "projects.api.remote.repo 'just-a-name' has the wrong shape (expected owner/name",
        ),
        (
            lambda d: d["projects"].update({"../evil": d["projects"]["api"]}),
            "projects.../evil is not a safe name",
        ),
    ],
)
def test_bad_config_names_the_field_and_the_fix(config_file: Path, mem_sync, mutate, expected: str) -> None:
    doc = new_config_doc("alice")
    doc["projects"]["api"] = project_entry(repo="org/mem", types=["decision"])
    mutate(doc)
    config_file.parent.mkdir(parents=True)
    config_file.write_bytes(orjson.dumps(doc))
    result = mem_sync("preview", check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_and_unparsable_config_say_what_to_run(config_file: Path, mem_sync, mem_sync_process) -> None:
    result = mem_sync_process("export")
    assert result.returncode == 1 and "mem-sync init" in result.stderr
    config_file.parent.mkdir(parents=True)
    config_file.write_text("{not json")
    result = mem_sync("config", check=False)
    assert result.returncode == 1 and "not valid JSON" in result.stderr and len(result.stderr.splitlines()) == 1


def test_cli_runner_commands_are_click_commands() -> None:
    for command in (init, config, add_project, update_project):
        assert command.name in {"init", "config", "add-project", "update-project"}


_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True)
_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8), st.lists(st.text(max_size=4)))


@settings(max_examples=150, deadline=None)
@given(
    dev=st.one_of(_names, st.text(max_size=5)),
    repo=st.one_of(st.just("org/repo"), st.text(max_size=8)),
    remote_type=st.sampled_from(["github", "gitlab", "bitbucket", "svn"]),
    enabled=_values,
    types=_values,
    extra=_values,
)
def test_builtin_validator_agrees_with_jsonschema(dev, repo, remote_type, enabled, types, extra) -> None:
    doc = new_config_doc("x")
    doc["global"]["devName"] = dev
    doc["global"]["mergeCapPerProject"] = extra if isinstance(extra, int) else 500
    entry = project_entry(repo=repo, remote_type="github", types=["decision"])
    entry["remote"]["type"] = remote_type
    entry["enabled"] = enabled
    entry["export"]["types"] = types
    doc["projects"]["api"] = copy.deepcopy(entry)
    ours = not config_problems(doc)
    theirs = jsonschema.Draft7Validator(config_schema()).is_valid(doc)
    assert ours == theirs


def test_update_project_without_flags_prompts_with_current_values(config_file: Path, mem_sync) -> None:
    mem_sync("init", "--dev-name", "alice", "--project", "api", "--repo", "org/mem", "--types", "decision")
    answers = (
        "\n".join(
            [
                "",  # claude-mem project name: keep
                "",  # forge: keep github
                "",  # repo: keep org/mem
                "/srv/git/mem.git",  # URL override
                "trunk",  # branch
                "n",  # push directly? no
                "",  # types: keep
                "perf",  # keywords
                "",  # tags: keep (none)
            ]
        )
        + "\n"
    )
    result = CliRunner().invoke(update_project, ["--project", "api"], input=answers)
    assert result.exit_code == 0, result.output
    api = load_config().project("api")
    assert api.remote.repo == "org/mem" and api.remote.url == "/srv/git/mem.git"
    assert api.remote.branch == "trunk" and api.remote.auto_merge is False
    assert api.export.types == ("decision",) and api.export.keywords == ("perf",)


def test_interactive_init_over_an_existing_config_asks_first(config_file: Path, mem_sync) -> None:
    mem_sync("init", "--dev-name", "alice")
    before = config_file.read_bytes()
    result = CliRunner().invoke(init, [], input="n\n")
    assert result.exit_code == 1  # aborted at the confirmation
    assert config_file.read_bytes() == before
