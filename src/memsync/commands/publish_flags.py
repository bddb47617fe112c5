"""``--publish`` and friends, shared by every command that publishes (``ci-merge``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from memsync.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

PUBLISH_FLAG_NAMES = ("publish", "branch", "base", "labels", "reviewers", "draft", "provider",
                      "remote", "max_attempts", "token_env", "bot_name", "bot_email")


def publish_options(func: F) -> F:
    """Add the publishing flags to a click command (keyword names: see PUBLISH_FLAG_NAMES)."""
    return publish_options_for("mem-sync/merge")(func)


def publish_options_for(branch: str) -> Callable[[F], F]:
    """:func:`publish_options` with another rolling branch by default (``rules sync``)."""

    def decorate(func: F) -> F:
        return _add_publish_options(func, branch)

    return decorate


def _add_publish_options(func: F, branch: str) -> F:
    options = [
        click.option("--publish", type=click.Choice(["none", "push", "pr"]), default="none",
                     show_default=True,
                     help="none: leave the result in the work tree; push: commit and push to "
                          "the branch; pr: update one rolling pull/merge request."),
        click.option("--branch", default=branch, show_default=True,
                     help="Rolling branch of the pull/merge request (--publish pr)."),
        click.option("--base", default=None,
                     help="Branch to push to / open the PR against [default: current branch]."),
        click.option("--labels", default="", help="Comma-separated PR/MR labels."),
        click.option("--reviewers", default="",
                     help="Comma-separated reviewers (GitHub: login or org/team; GitLab: "
                          "username; Bitbucket Cloud: account UUID; Server: user name)."),
        click.option("--draft", is_flag=True, help="Open the PR/MR as a draft."),
        click.option("--provider", type=click.Choice(["auto", "github", "gitlab", "bitbucket"]),
                     default="auto", show_default=True,
                     help="Forge of the PR/MR; auto reads the CI environment, then the remote."),
        click.option("--remote", default="origin", show_default=True, help="git remote to use."),
        click.option("--max-attempts", type=click.IntRange(min=1), default=3,
                     show_default=True,
                     help="Push attempts when the branch moves meanwhile (each re-merges)."),
        click.option("--token-env", default=None, metavar="VAR",
                     help="Environment variable holding the forge token [default per forge: "
                          "GITHUB_TOKEN, MEM_SYNC_GITLAB_TOKEN/GITLAB_TOKEN, "
                          "BITBUCKET_ACCESS_TOKEN/BITBUCKET_TOKEN]."),
        click.option("--bot-name", default="mem-sync[bot]", show_default=True,
                     help="Author name of mem-sync's commits."),
        click.option("--bot-email", default="mem-sync[bot]@users.noreply.local",
                     show_default=True, help="Author email of mem-sync's commits."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def publish_options_from_flags(**flags: Any) -> Any:
    """Build ``memsync.publish.flow.PublishOptions`` from the keyword arguments the flags produce.

    Extra keywords (the command's own flags) are ignored, so a command may pass ``**kwargs``.
    """
    from memsync.publish.flow import PublishOptions
    from memsync.publish.git import Identity

    def split(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(dict.fromkeys(i.strip() for i in items if i and i.strip()))

    mode = flags.get("publish") or "none"
    if mode not in ("none", "push", "pr"):
        raise UsageError(f"unknown --publish mode '{mode}'; use none, push or pr")
    identity = Identity(
        name=flags.get("bot_name") or Identity().name,
        email=flags.get("bot_email") or Identity().email,
    )
    return PublishOptions(
        mode=mode,
        branch=flags.get("branch") or "mem-sync/merge",
        base=flags.get("base") or None,
        labels=split(flags.get("labels")),
        reviewers=split(flags.get("reviewers")),
        draft=bool(flags.get("draft")),
        provider=flags.get("provider") or "auto",
        remote=flags.get("remote") or "origin",
        identity=identity,
        max_attempts=int(flags.get("max_attempts") or 3),
        token_env=flags.get("token_env") or None,
    )
