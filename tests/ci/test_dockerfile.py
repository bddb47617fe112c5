"""The Dockerfile cannot be built here (no Docker engine), so it is kept buildable by construction."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from ci_support import DOCKERFILE, ROOT, run_tool, tool


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for keyword, rest in instructions():
        if keyword == "FROM":
            current = rest.split()[-1]
            result[current] = []
        elif current is not None:
            result[current].append((keyword, rest))
    return result


def copy_sources() -> list[str]:
    sources = []
    for keyword, rest in instructions():
        if keyword == "COPY" and "--from" not in rest:
            sources += [part for part in rest.split() if not part.startswith("--")][:-1]
    return sources


def test_hadolint_is_clean() -> None:
    result = run_tool([tool("hadolint"), "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_not_vacuous(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install git\n")
    assert run_tool([tool("hadolint"), "--no-color", str(bad)]).returncode != 0


def test_base_image_is_pinned_by_digest() -> None:
    arg = next(rest for keyword, rest in instructions()
               if keyword == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}", arg)
    froms = [rest for keyword, rest in instructions() if keyword == "FROM"]
    assert all(f.startswith(("${PYTHON_IMAGE}", "runtime ")) for f in froms), froms


def test_every_copy_source_exists_and_survives_dockerignore() -> None:
    sources = copy_sources()
    assert sources
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: missing from the repository"
        included = False
        for pattern in patterns:  # last match wins, as in Docker
            negated = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(source.rstrip("/"), body):
                included = negated
        assert included, f"COPY {source}: excluded by .dockerignore"


def test_entrypoints_are_the_installed_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    all_stages = stages()
    for name in ("runtime", "action"):
        entry = [json.loads(rest) for keyword, rest in all_stages[name] if keyword == "ENTRYPOINT"]
        assert entry and entry[-1][0] in scripts, (name, entry)
    assert [json.loads(r) for k, r in all_stages["action"] if k == "ENTRYPOINT"][-1] == [
        "mem-sync", "action"]


def test_final_stages_have_git_no_compilers_and_the_right_user() -> None:
    all_stages = stages()
    assert list(all_stages)[-1] == "action", "runs.image: Dockerfile builds the last stage"
    runtime = " ".join(rest for keyword, rest in all_stages["runtime"] if keyword == "RUN")
    assert re.search(r"apt-get install[^&]*\bgit\b", runtime)
    assert "safe.directory" in runtime
    for compiler in ("gcc", "g++", "build-essential", "clang", "make "):
        assert compiler not in runtime
    assert "--no-index" in runtime and "/wheels" in runtime
    users = [rest for keyword, rest in all_stages["ci"] if keyword == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    # GitHub runs Docker actions as root over the mounted workspace; no USER there.
    assert not [rest for keyword, rest in all_stages["action"] if keyword == "USER"]


def _can_build_wheels_here() -> bool:
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    # pyproject's SPDX licence (PEP 639) needs setuptools 77, which also ships bdist_wheel.
    return tuple(int(part) for part in version.split(".")[:2]) >= (77, 0)


def test_builder_context_builds_a_wheel_with_templates_and_entry_point(tmp_path: Path) -> None:
    """Build the wheel from exactly the files the builder stage copies, nothing else."""
    context = tmp_path / "context"
    context.mkdir()
    for source in copy_sources():
        src = ROOT / source
        if src.is_dir():
            shutil.copytree(src, context / source,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(src, context / source)
    # Reuse this environment's setuptools when it can build wheels (saves ~15 s of index
    # look-ups); otherwise let pip fetch the build backend as the builder stage does.
    isolation = ["--no-build-isolation"] if _can_build_wheels_here() else []
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation,
         "--disable-pip-version-check", "--wheel-dir", str(tmp_path / "wheels"), str(context)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = (tmp_path / "wheels").glob("mem_sync-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "mem-sync = memsync.cli:main" in archive.read(entry_points).decode()
    assert "memsync/templates/job_summary.md.j2" in names
    assert "memsync/scaffold/gitignore" in names
    assert "memsync/scaffold/ci/gitlab/gitlab-ci.yml" in names
