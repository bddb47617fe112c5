"""The --publish flag group on a real click command, and provider auto-detection."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from memsync.commands.publish_flags import publish_options, publish_options_from_flags
from memsync.errors import ProviderError
from memsync.publish.remote import detect_forge, parse_remote


@click.command()
@publish_options
def probe(**flags):
    options = publish_options_from_flags(**flags)
    click.echo(repr((options.mode, options.branch, options.base, options.labels,
                     options.reviewers, options.draft, options.provider, options.remote,
                     options.max_attempts, options.token_env, options.identity.name)))


def test_defaults_publish_nothing():
    result = CliRunner().invoke(probe, [])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(("none", "mem-sync/merge", None, (), (), False, "auto",
                                          "origin", 3, None, "mem-sync[bot]"))


def test_flags_map_onto_publish_options():
    result = CliRunner().invoke(probe, [
        "--publish", "pr", "--branch", "bot/memories", "--base", "trunk",
        "--labels", "memory, bot,memory", "--reviewers", "alice,acme/leads", "--draft",
        "--provider", "gitlab", "--max-attempts", "5", "--token-env", "MY_TOKEN",
        "--bot-name", "memory-bot"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(("pr", "bot/memories", "trunk", ("memory", "bot"),
                                          ("alice", "acme/leads"), True, "gitlab", "origin", 5,
                                          "MY_TOKEN", "memory-bot"))


def test_unknown_mode_is_a_usage_error():
    result = CliRunner().invoke(probe, ["--publish", "merge"])
    assert result.exit_code == 2 and "--publish" in result.output


@pytest.mark.parametrize(("env", "remote", "expected"), [
    ({"GITHUB_ACTIONS": "true"}, None, "github"),
    ({"GITLAB_CI": "true"}, "https://github.com/a/b.git", "gitlab"),
    ({"BITBUCKET_BUILD_NUMBER": "12"}, None, "bitbucket"),
    ({}, "git@github.com:acme/memories.git", "github"),
    ({}, "https://gitlab.example.com/group/sub/memories.git", "gitlab"),
    ({}, "https://bitbucket.org/acme/memories.git", "bitbucket"),
    ({}, "https://git.corp.example/scm/TEAM/memories.git", "bitbucket"),
])
def test_provider_detection_prefers_ci_variables_then_remote(env, remote, expected):
    assert detect_forge(env, remote) == expected


def test_unknown_forge_asks_for_provider_flag():
    with pytest.raises(ProviderError, match="--provider"):
        detect_forge({}, "https://git.example.org/a/b.git")


def test_remote_parsing_of_common_url_forms():
    assert parse_remote("git@github.com:acme/memories.git").path == "acme/memories"
    ssh = parse_remote("ssh://git@gitlab.example.com:2222/group/sub/memories.git")
    assert (ssh.host, ssh.path) == ("gitlab.example.com", "group/sub/memories")
    https = parse_remote("https://x-access-token:secret@ghe.example.com:8443/acme/m.git")
    assert (https.web_base, https.path) == ("https://ghe.example.com:8443", "acme/m")


def test_every_forge_has_one_registered_adapter_built_from_one_context():
    import importlib
    import inspect

    from memsync.publish.providers.registry import REGISTRY
    from memsync.publish.remote import FORGES

    assert tuple(REGISTRY) == FORGES
    for module in REGISTRY.values():
        build = importlib.import_module(module).from_environment
        assert list(inspect.signature(build).parameters) == ["context"]


def test_an_unknown_provider_name_lists_the_registered_ones():
    from memsync.errors import UsageError
    from memsync.publish.providers.registry import make_provider

    with pytest.raises(UsageError, match="auto, github, gitlab, bitbucket"):
        make_provider("gitea", {}, remote_url=None)


def test_the_token_the_user_names_wins_and_an_empty_one_is_named_in_the_message():
    from memsync.publish.providers.base import lookup_token

    env = {"GITHUB_TOKEN": "", "GH_TOKEN": "b", "MINE": "m"}
    assert lookup_token(env, None, ("GITHUB_TOKEN", "GH_TOKEN"))[1:] == ("GH_TOKEN", "b")
    assert lookup_token(env, "MINE", ("GITHUB_TOKEN",))[1:] == ("MINE", "m")
    assert lookup_token(env, "UNSET", ("GITHUB_TOKEN",))[1:] == ("UNSET", "")
    assert lookup_token({}, None, ("A", "B"))[1:] == ("A", "")
