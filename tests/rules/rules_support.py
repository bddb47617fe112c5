"""Builders for the rules-sync tests: a memory repository holding distill output (the shapes
agreed in docs/rules.md, written here as fixtures), a code repository whose people already wrote
CLAUDE.md, AGENTS.md and .github/copilot-instructions.md, and format checks for every file."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import yaml
from wcmatch import glob as wglob

from fakes.gitrepos import clone, git

PROJECT = "billing-api"
MEMORY_URL = "https://github.com/acme/memories.git"
RULES_PAGE = "https://github.com/acme/memories/blob/main/distilled/billing-api/rules.md"

# Written by people, with the quirks real files have (no final newline in one, CRLF in another).
HUMAN_FILES = {
    "CLAUDE.md": "# Billing API\n\nRun `make test` before pushing.\nSee @docs/architecture.md.\n",
    "AGENTS.md": "# Agents\n\n- Use `uv run pytest`.\n- Never edit generated/.\n",
    ".github/copilot-instructions.md": "Prefer small functions.\r\nWrite tests first.\r\n",
    "docs/architecture.md": "Layers: api -> service -> store.\n",
    "src/api/client.py": "CLIENT = 1\n",
    "src/api/retry.py": "RETRY = 1\n",
    "src/db/store.py": "STORE = 1\n",
    "README.md": "billing\n",
}

SESSION = "11111111-2222-3333-4444-555555555555"


def rule(rule_id: str, text: str, confidence: float, files: list[str] | None = None,
         **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "rule": text, "rationale": f"Because of {rule_id}.",
            "category": extra.pop("category", "practice"), "confidence": confidence,
            "sourceCount": extra.pop("sourceCount", 3), "sourceTypes": ["decision"],
            "typeBreakdown": {"decision": 3}, "devDiversity": 2,
            "evidence": [[SESSION, f"evidence of {rule_id}", 1_773_900_000_000]],
            "files": sorted(files or []), **extra}


STANDARD_RULES = [
    rule("R-0000000a", "Open every SQLite connection in WAL mode.", 0.95),
    rule("R-0000000b", "Retry outbound HTTP calls with jittered exponential backoff.", 0.85,
         ["/home/alice/work/billing/src/api/client.py", "src/api/retry.py"]),
    rule("R-0000000c", "Keep store functions free of HTTP concerns.", 0.75, ["src/db/store.py"]),
    rule("R-0000000d", "A proposal nobody reviewed yet.", 0.99),
]


def write_distilled(memory: Path, rules: list[dict[str, Any]],
                    statuses: dict[str, str | dict[str, Any]], *, commit: bool = True) -> None:
    """distilled/<project>/rules.json and feedback.json as the distill job writes them."""
    folder = memory / "distilled" / PROJECT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.json").write_text(json.dumps(
        {"version": 1, "project": PROJECT, "generatedAt": "2026-12-05T06:00:00.000Z",
         "rules": rules}, indent=2, sort_keys=True) + "\n")
    entries = []
    for rule_id, status in statuses.items():
        entry = {"ruleId": rule_id, "reviewedBy": "carol", "reviewedAt": "2026-12-05T06:30:00.000Z"}
        entry.update({"status": status} if isinstance(status, str) else status)
        entries.append(entry)
    (folder / "feedback.json").write_text(json.dumps(
        {"project": PROJECT, "updatedAt": "2026-12-05T06:30:00.000Z", "entries": entries},
        indent=2) + "\n")
    if commit:
        git(memory, "add", "--all")
        git(memory, "commit", "--quiet", "-m", "distill")


def memory_repo(tmp_path: Path) -> Path:
    memory = tmp_path / "memory"
    memory.mkdir()
    git(memory, "init", "--quiet", "--initial-branch=main")
    # Only read back for the evidence links: never fetched.
    git(memory, "remote", "add", "origin", MEMORY_URL)
    (memory / "README.md").write_text("team memory\n")
    git(memory, "add", "--all")
    git(memory, "commit", "--quiet", "-m", "start")
    return memory


def seed_code(workdir: Path) -> None:
    for relative, text in HUMAN_FILES.items():
        target = workdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode())
    git(workdir, "add", "--all")
    git(workdir, "commit", "--quiet", "-m", "code")


def code_repo(tmp_path: Path) -> Path:
    """A code repository with its own bare origin (local)."""
    bare = tmp_path / "code.git"
    git(None, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "code"
    git(None, "clone", "--quiet", str(bare), str(work))
    git(work, "checkout", "--quiet", "-B", "main")
    seed_code(work)
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return work


_names = itertools.count()


def code_on_server(git_server, tmp_path: Path, owner: str) -> str:
    name = f"{owner}/app{next(_names)}.git"
    git_server.create_bare(name)
    url = git_server.url(name)
    seed = clone(url, tmp_path / f"seed-{next(_names)}")
    git(seed, "checkout", "--quiet", "-B", "main")
    seed_code(seed)
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return url


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


# ------------------------------------------------------------------------------ format checks
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def front_matter(text: str) -> dict[str, Any]:
    match = FRONT_MATTER.match(text)
    assert match, f"no YAML front matter at the top of:\n{text[:200]}"
    data = yaml.safe_load(match[1])  # a real YAML parser
    assert isinstance(data, dict)
    return data


def assert_valid_glob(pattern: str) -> None:
    assert isinstance(pattern, str) and pattern.strip() == pattern and pattern
    assert not pattern.startswith("/") and ".." not in pattern.split("/") and "," not in pattern
    wglob.translate(pattern, flags=wglob.GLOBSTAR)  # raises on a pattern it cannot compile


def matches(pattern: str, path: str) -> bool:
    return wglob.globmatch(path, pattern, flags=wglob.GLOBSTAR | wglob.DOTGLOB)


def check_generated(path: str, text: str) -> dict[str, Any]:
    """Check one generated file against its target's format; return its front matter."""
    marker = "<!-- mem-sync: generated file"
    if path.endswith(".mdc"):
        data = front_matter(text)
        assert set(data) == {"description", "globs", "alwaysApply"}, data
        assert isinstance(data["description"], str) and data["description"]
        assert isinstance(data["alwaysApply"], bool)
        if data["alwaysApply"]:
            assert data["globs"] is None
        else:
            assert isinstance(data["globs"], str)
            for pattern in data["globs"].split(","):
                assert_valid_glob(pattern)
    elif path.endswith(".instructions.md"):
        data = front_matter(text)
        assert isinstance(data["applyTo"], str)  # Copilot: comma-separated glob list
        for pattern in data["applyTo"].split(","):
            assert_valid_glob(pattern)
    elif path.startswith(".claude/rules/"):
        data = front_matter(text) if text.startswith("---\n") else {}
        if data:
            assert set(data) == {"paths"} and isinstance(data["paths"], list) and data["paths"]
            for pattern in data["paths"]:
                assert_valid_glob(pattern)
    else:
        raise AssertionError(f"unexpected generated file {path}")
    body = FRONT_MATTER.sub("", text, count=1)
    assert body.splitlines()[0].startswith(marker), f"{path} does not say it is generated"
    return data
