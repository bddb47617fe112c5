"""A remote URL is printed with every credential-bearing part masked: the userinfo (a raw ``@``
in the password included) and the query string."""

from __future__ import annotations

import random
import socket
import string
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import observation, write_contribution
from clirun import run_mem_sync
from memsync.safety.urls import mask_url, scrub_urls

RNG = random.Random(9)
PASSWORD_TAIL = "".join(RNG.choice(string.ascii_letters) for _ in range(24))
QUERY_TOKEN = "".join(RNG.choice(string.ascii_letters) for _ in range(24))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo_with_leaky_remote(tmp_path: Path) -> Path:
    repo = tmp_path / "shared"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Dev")
    git(repo, "config", "user.email", "dev@example.com")
    write_contribution(repo, [observation("One")])
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "contributions")
    url = (f"http://bot:p@ss{PASSWORD_TAIL}@127.0.0.1:{closed_port()}/team/memory.git"
           f"?private_token={QUERY_TOKEN}")
    git(repo, "remote", "add", "origin", url)
    return repo


@pytest.mark.parametrize("mode", ["push", "pr"])
def test_a_failing_publish_prints_the_remote_without_its_credentials(repo_with_leaky_remote: Path, mode: str):
    result = run_mem_sync(["ci-merge", "--repo", repo_with_leaky_remote, "--publish", mode,
                           "--provider", "gitlab", "--base", "main"],
                          env={"MEM_SYNC_GIT_TOKEN": "tok", "MEM_SYNC_GITLAB_TOKEN": "glpat-" + "x" * 20,
                               "GIT_TERMINAL_PROMPT": "0"})
    assert result.returncode != 0
    printed = result.stdout + result.stderr
    assert "127.0.0.1" in printed or "error" in printed
    assert PASSWORD_TAIL not in printed and QUERY_TOKEN not in printed


def test_config_show_masks_a_password_with_a_raw_at_and_a_query_token(tmp_path: Path):
    config = tmp_path / "config.json"
    env = {"MEM_SYNC_CONFIG": str(config), "HOME": str(tmp_path)}
    url = f"https://alice:p@ss{PASSWORD_TAIL}@github.com/org/mem.git?access_token={QUERY_TOKEN}"
    init = run_mem_sync(["init", "--dev-name", "alice", "--project", "api", "--url", url], env=env)
    assert init.returncode == 0, init.stderr
    shown = run_mem_sync(["config"], env=env)
    assert shown.returncode == 0, shown.stderr
    assert "***@github.com/org/mem.git" in shown.stdout
    assert PASSWORD_TAIL not in shown.stdout + shown.stderr and QUERY_TOKEN not in shown.stdout


# a password may hold a raw "@" and any sub-delimiter; "/", "?" and "#" end the authority for
# git's URL parser (curl's), so a usable URL has them percent-encoded
PASSWORD = st.text(alphabet=string.ascii_letters + string.digits + "@:&=%._-!$'()*+,;~", min_size=1, max_size=20)
QUERY_VALUE = st.text(alphabet=string.ascii_letters + string.digits + "@:/?=%._-!$'()*+,~", min_size=1, max_size=20)


@given(PASSWORD, QUERY_VALUE, st.sampled_from(["https", "http", "ssh", "git+https"]))
def test_no_userinfo_or_query_value_survives_masking(password: str, token: str, scheme: str) -> None:
    marker_p, marker_q = "PW" + password + "ZQ", "QT" + token + "ZQ"
    url = f"{scheme}://user:{marker_p}@host.example:8443/org/repo.git?key={marker_q}&b=1"
    masked = mask_url(url)
    assert marker_p not in masked and marker_q not in masked
    assert masked.startswith(f"{scheme}://***@") or "?" in masked
    line = scrub_urls(f"fatal: unable to access '{url}/': error")
    assert marker_p not in line and marker_q not in line


def test_a_forge_error_quoting_a_url_is_printed_masked(git_server, clean_forge, tmp_path: Path):
    from fakes.gitrepos import clone
    from publish.test_publish_flow import new_shared_repo

    url = new_shared_repo(git_server, tmp_path, {"alice": ["Use WAL mode"]})
    work = clone(url, tmp_path / "run")
    clean_forge.fail("POST", r"/repos/acme/memories/pulls$", 400, body={
        "message": f"Validation failed for https://ci.example/hook?private_token={QUERY_TOKEN}&x=1"})
    result = run_mem_sync(["ci-merge", "--repo", work, "--publish", "pr", "--provider", "github"],
                          env={"GITHUB_API_URL": f"{clean_forge.base_url}/api/v3",
                               "GITHUB_REPOSITORY": "acme/memories", "GITHUB_TOKEN": "good-token"})
    assert result.returncode != 0
    assert "HTTP 400" in result.stderr and "private_token=***" in result.stderr, result.stderr
    assert QUERY_TOKEN not in result.stdout + result.stderr
