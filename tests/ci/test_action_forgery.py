"""Nothing a contribution holds reaches the GitHub runner as a workflow command, or a PR body
or job summary as a link, an image, HTML or a mention.

The runner's own rules: it reads a line as a command when the line starts, after whitespace,
with ``::`` (or holds the older ``##[`` form anywhere), and its .NET line reader ends a line at
``\\n``, ``\\r`` and ``\\r\\n``. The PR body and the job summary are rendered with cmark-gfm,
GitHub's own Markdown renderer, with raw HTML let through so nothing is hidden by a sanitizer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from builders import observation, write_contribution
from ci.test_action_runner import SECRET, TOKEN, git, run_action, workspace  # noqa: F401 - fixture
from fakes.forge import FakeForge

cmarkgfm = pytest.importorskip("cmarkgfm")

HOSTILE_TITLE = ("Read [the guide](https://evil.example/x) ![px](https://evil.example/p.png) "
                 "<img src=https://evil.example/i.png> <b>bold</b> @octo-org/admins #1 "
                 "https://evil.example/auto www.evil.example me@evil.example `code` | cell")


def runner_lines(stdout: str) -> list[str]:
    """stdout split the way the runner's line reader splits it."""
    return re.split(r"\r\n|\r|\n", stdout)


def commands(stdout: str) -> list[str]:
    """Every line the runner would act on as a workflow command."""
    return [line.lstrip() for line in runner_lines(stdout)
            if line.lstrip().startswith("::") or "##[" in line]


def plant_forgeries(repo: Path) -> None:
    contributions = repo / "contributions" / "demo"
    bad = contributions / "alice" / "x\n::error::forged-by-file-name.json"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("{not json")
    (contributions / "alice" / "y\r::stop-commands::forged-stop.json").write_text("[]")
    write_contribution(repo, [
        observation("t\n::warning::forged-by-title ##[error]forged-old-form",
                    session="s\r::error::forged-by-session", narrative=f"token {SECRET}"),
        observation(HOSTILE_TITLE, session="s-hostile"),
    ], dev="dave")
    write_contribution(repo, [observation("x")], dev="erin", exportedBy="e\n::error::forged-by-reason")


def test_forged_workflow_commands_never_reach_the_runner(workspace: Path, tmp_path: Path) -> None:  # noqa: F811
    plant_forgeries(workspace / "shared")
    run = run_action(workspace, tmp_path)
    assert run.code == 0, run.stderr
    found = commands(run.stdout)
    names = [re.match(r"::([^ :]*)", line).group(1) if line.startswith("::") else "##[" for line in found]
    # ours only: the mask, stop-commands around the report and its end token, and one warning
    # per problem (three files quarantined, one observation withheld), the forged text %-escaped
    assert names[:2] == ["add-mask", "stop-commands"], found
    assert found[1] == f"::stop-commands::{names[2]}" and re.fullmatch("[0-9a-f]{32}", names[2]), found
    assert names[3:] == ["warning"] * 4, found
    # the report itself is still there, readable, with the forged text shown escaped
    assert "::error::forged-by-file-name" in run.stdout  # there, inline: escaped, never a line of its own
    assert "quarantined" in run.stdout


@pytest.fixture
def forge():
    server = FakeForge(tokens={TOKEN}).start()
    yield server
    server.stop()


def rendered_from_input(html: str) -> list[str]:
    """Links, images, HTML and mentions the hostile title could have produced."""
    found = re.findall(r"<a [^>]*evil[^>]*>|<img[^>]*>|<b>", html)
    found += re.findall(r"@octo-org", html)
    found += re.findall(r"#1\b", html)
    return found


def test_pr_body_and_job_summary_render_input_as_text(workspace: Path, tmp_path: Path,  # noqa: F811
                                                      forge: FakeForge) -> None:
    plant_forgeries(workspace / "shared")
    api = {"GITHUB_API_URL": f"{forge.base_url}/api/v3"}
    run = run_action(workspace, tmp_path, extra_env=api, publish="pr")
    assert run.code == 0, run.stdout + run.stderr
    (pr,) = forge.open_prs("github")
    options = cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE
    body = cmarkgfm.github_flavored_markdown_to_html(pr["body"], options=options)
    summary = cmarkgfm.github_flavored_markdown_to_html(run.summary, options=options)
    assert "the guide" in body and "evil.example" in body  # the title is there, as text
    assert "forged-by-reason" in summary  # the quarantine reason is there, as text
    assert rendered_from_input(body) == []
    assert rendered_from_input(summary) == []
    # the table keeps its shape: one row per project plus the total
    assert body.count("<tr>") == 3, body
