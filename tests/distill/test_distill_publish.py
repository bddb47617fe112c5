"""`mem-sync distill --publish pr`: one rolling review PR through the same flow and forge
adapters as the merge (real git over smart HTTP, PyGithub against the loopback forge)."""

from __future__ import annotations

import json
from pathlib import Path

from distill_support import themed_observations, write_config

from builders import observation, write_contribution
from clirun import run_mem_sync
from fakes.forge import FakeForge
from fakes.git_http import GitHttpServer
from fakes.gitrepos import clone, git
from fakes.llm import FakeLLM


def shared_repo_with_merge(git_server: GitHttpServer, tmp_path: Path) -> str:
    git_server.create_bare("shared.git")
    url = git_server.url("shared.git")
    seed = clone(url, tmp_path / "seed")
    git(seed, "checkout", "--quiet", "-B", "main")
    for dev in ("alice", "bob"):
        write_contribution(seed, themed_observations(dev, 3), dev=dev)
    git(seed, "add", "--all")
    git(seed, "commit", "--quiet", "-m", "exports")
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    merged = run_mem_sync(["ci-merge", "--repo", seed, "--publish", "push"])
    assert merged.returncode == 0, merged.stderr
    return url


def run_distill(work: Path, forge: FakeForge, llm: FakeLLM, config: Path):
    env = {"MEM_SYNC_CONFIG": str(config), "ANTHROPIC_API_KEY": "test-key",
           "GITHUB_API_URL": f"{forge.base_url}/api/v3", "GITHUB_REPOSITORY": "acme/memories",
           "GITHUB_TOKEN": "good-token"}
    return run_mem_sync(["distill", "--repo", work, "--project", "demo", "--base-url",
                         llm.base_url, "--publish", "pr", "--forge", "github", "--base", "main",
                         "--bot-name", "distill-bot"], env=env)


def test_rolling_review_pr_is_created_reused_and_updated_never_merged(
        git_server: GitHttpServer, forge: FakeForge, tmp_path: Path) -> None:
    llm = FakeLLM().start()
    try:
        url = shared_repo_with_merge(git_server, tmp_path)
        config = tmp_path / "config.json"
        write_config(config, {"enabled": True, "minObservations": 1, "reviewers": ["carol"]})

        # 1. first run: rules distilled, the rolling branch pushed, one PR with the reviewers
        first = run_distill(clone(url, tmp_path / "run1"), forge, llm, config)
        assert first.returncode == 0, first.stderr
        assert "publish: pr created" in first.stdout
        (pr,) = forge.open_prs("github")
        assert (pr["head"], pr["base"]) == ("mem-sync/distill", "main")
        assert pr["reviewers"] == ["carol"]
        assert "never merged automatically" in pr["body"] and "| demo |" in pr["body"]
        check = clone(url, tmp_path / "check1")
        assert not (check / "distilled").exists()  # main untouched: a human merges, or not
        git(check, "checkout", "--quiet", "mem-sync/distill")
        assert (check / "distilled" / "demo" / "rules.md").is_file()
        assert git(check, "log", "-1", "--format=%an %s").startswith(
            "distill-bot Distilled rules for review: demo")
        assert len(llm.requests) == 1

        # 2. same merged set while the PR is open: the branch's run is reused, nothing is paid
        second = run_distill(clone(url, tmp_path / "run2"), forge, llm, config)
        assert second.returncode == 0, second.stderr
        assert "publish: pr unchanged" in second.stdout
        assert len(llm.requests) == 1

        # 3. a reviewer rejects a rule on the review branch itself (CLI, commit, push) ...
        review = clone(url, tmp_path / "review")
        git(review, "checkout", "--quiet", "mem-sync/distill")
        rejected = json.loads((review / "distilled/demo/rules.json").read_text())["rules"][0]
        verdict = run_mem_sync(["distill", "reject", rejected["id"], "--repo", review,
                                "--project", "demo", "--by", "carol"],
                               env={"MEM_SYNC_CONFIG": str(config)})
        assert verdict.returncode == 0, verdict.stderr
        git(review, "commit", "--quiet", "-am", "reject a rule")
        git(review, "push", "--quiet", "origin", "mem-sync/distill")

        # 4. ... then the merged set changes on main: distilled again, the same PR updated in
        # place, the verdict carried over to the rebuilt branch and honoured
        seed = tmp_path / "seed"
        git(seed, "pull", "--quiet", "--rebase", "origin", "main")
        write_contribution(seed, [observation("Prefer small modules", session="s-new",
                                              concepts='["design"]')], dev="chandra")
        git(seed, "add", "--all")
        git(seed, "commit", "--quiet", "-m", "export chandra")
        git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
        assert run_mem_sync(["ci-merge", "--repo", seed, "--publish", "push"]).returncode == 0
        third = run_distill(clone(url, tmp_path / "run3"), forge, llm, config)
        assert third.returncode == 0, third.stderr
        assert "publish: pr updated" in third.stdout
        assert len(llm.requests) == 2 and "Prefer small modules" in llm.requests[-1].user_text
        assert len(forge.prs["github"]) == 1 and forge.open_prs("github")[0]["number"] == pr["number"]
        assert f"- {rejected['rule']}" in llm.requests[-1].user_text.split("<do_not_propose>")[1]
        rebuilt = clone(url, tmp_path / "check3")
        git(rebuilt, "checkout", "--quiet", "mem-sync/distill")
        entries = json.loads((rebuilt / "distilled/demo/feedback.json").read_text())["entries"]
        assert {"ruleId": rejected["id"], "status": "rejected", "reviewedBy": "carol"}.items() <= \
            next(e for e in entries if e["ruleId"] == rejected["id"]).items()
        new_rules = json.loads((rebuilt / "distilled/demo/rules.json").read_text())["rules"]
        assert rejected["id"] not in {r["id"] for r in new_rules}
    finally:
        llm.stop()
