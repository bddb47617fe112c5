"""`--publish pr` where the providers extra is not installed: the install hint, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from clirun import run_mem_sync
from publish.test_publish_cli import github_env, shared_checkout


def _without_forge_clients(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH entries that make ``import github`` fail as it does when PyGithub is absent."""
    shadow = tmp_path / "no-providers"
    for module in ("github", "gitlab", "atlassian"):
        (shadow / module).mkdir(parents=True)
        (shadow / module / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{module}'\", name={module!r})\n")
    return {"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}


def test_publish_pr_without_the_providers_extra_prints_the_install_hint(git_server, clean_forge, tmp_path):
    _, work = shared_checkout(git_server, tmp_path, "no-extra.git")
    env = {**github_env(clean_forge), **_without_forge_clients(tmp_path)}

    result = run_mem_sync(["ci-merge", "--repo", work, "--publish", "pr"], env=env)

    assert result.returncode == 1, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'mem-sync[providers]'" in lines[0], result.stderr
    assert "internal error" not in result.stderr and "PyGithub" in lines[0]
    assert clean_forge.open_prs("github") == []
