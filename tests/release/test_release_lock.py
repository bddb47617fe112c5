"""The lock files: they satisfy pyproject.toml, and the check bites on every kind of drift."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci_support import DOCKERFILE, ROOT

LOCKCHECK = ROOT / "scripts" / "lockcheck.py"
# What Renovate's pip-compile manager accepts in a `uv pip compile` header (its common.ts).
RENOVATE_OPTIONS_WITH_VALUES = {"--output-file", "--extra", "--extra-index-url", "--constraints",
                                "--constraint", "--python-version", "--no-emit-package",
                                "--prerelease", "--format", "--resolution", "--group"}
RENOVATE_UV_OPTIONS = {"-v", "--generate-hashes", "--emit-index-url", "--index-url",
                       "--all-extras", "--no-strip-extras", "--universal",
                       *RENOVATE_OPTIONS_WITH_VALUES}
LOCK_FILES = ("pyproject.toml", "requirements.lock", "requirements-build.in",
              "requirements-build.lock")


def lockcheck(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(LOCKCHECK), "--root", str(root)],
                          capture_output=True, text=True, check=False)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in LOCK_FILES:
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count))


def test_the_committed_lock_satisfies_pyproject() -> None:
    result = lockcheck(ROOT)
    assert result.returncode == 0, result.stderr
    assert "requirements.lock satisfies pyproject.toml" in result.stdout


def test_a_raised_lower_bound_makes_the_lock_drift(copy: Path) -> None:
    edit(copy / "pyproject.toml", '"click>=8.1"', '"click>=99"')
    result = lockcheck(copy)
    assert result.returncode == 1
    assert re.search(r"pins click==[\d.]+, outside 'click>=99'.*run scripts/lock\.sh",
                     result.stderr), result.stderr


def test_a_new_dependency_missing_from_the_lock_is_named(copy: Path) -> None:
    edit(copy / "pyproject.toml", '"click>=8.1",', '"click>=8.1",\n    "rich>=13",')
    result = lockcheck(copy)
    assert result.returncode == 1
    assert "does not lock rich for linux/amd64 python 3.11" in result.stderr


def test_a_dependency_only_arm64_lacks_is_caught(copy: Path) -> None:
    """A lock resolved on one platform: its pin carries a marker that excludes the other."""
    lock = copy / "requirements.lock"
    text = lock.read_text()
    edited = re.sub(r"(?m)^(orjson==[\d.]+) \\$", r"\1 ; platform_machine == 'x86_64' \\", text)
    assert edited != text
    lock.write_text(edited)
    result = lockcheck(copy)
    assert result.returncode == 1
    assert "does not lock orjson for linux/arm64" in result.stderr


def test_a_dependency_dropped_from_pyproject_leaves_a_stale_pin(copy: Path) -> None:
    edit(copy / "pyproject.toml", '    "xxhash>=3.0",\n', "")
    result = lockcheck(copy)
    assert result.returncode == 1
    assert re.search(r"still pins xxhash==[\d.]+, which nothing in pyproject leads to",
                     result.stderr), result.stderr


def test_a_pin_without_hashes_is_refused(copy: Path) -> None:
    lock = copy / "requirements.lock"
    text = lock.read_text()
    # Drop the hash lines of msgspec only.
    edited = re.sub(r"(?ms)^(msgspec==[\d.]+) \\\n(?:    --hash=\S+(?: \\)?\n)+", r"\1\n", text)
    assert edited != text
    lock.write_text(edited)
    result = lockcheck(copy)
    assert result.returncode == 1
    assert "msgspec has no --hash" in result.stderr


def test_a_new_extra_must_be_added_to_the_lock_command(copy: Path) -> None:
    edit(copy / "pyproject.toml", "distill = [", 'web = ["click>=8.1"]\ndistill = [')
    result = lockcheck(copy)
    assert result.returncode == 1
    assert "the extra 'web', which the lock does not cover" in result.stderr


def test_the_build_lock_follows_the_build_backend(copy: Path) -> None:
    edit(copy / "pyproject.toml", 'requires = ["setuptools>=77"]', 'requires = ["setuptools>=999"]')
    result = lockcheck(copy)
    assert result.returncode == 1
    assert "requirements-build.in must ask for 'setuptools>=999'" in result.stderr


def test_lock_headers_hold_the_refresh_commands_of_scripts_lock_sh() -> None:
    """Renovate re-runs the header command; it must be lock.sh's, with no local path."""
    script = (ROOT / "scripts" / "lock.sh").read_text()
    commands = [re.sub(r"\s+", " ", c.replace("\\\n", " ")).replace(' --quiet "$@"', "").strip()
                for c in re.findall(r"(?ms)^uv pip compile .*?--output-file=\S+", script)]
    assert len(commands) == 2
    for lock_name, command in zip(("requirements.lock", "requirements-build.lock"), commands,
                                  strict=True):
        header = (ROOT / lock_name).read_text().splitlines()[1].lstrip("# ").strip()
        assert header == command, (lock_name, header, command)
        assert "/" not in header
        # Renovate's pip-compile manager re-runs only headers it can parse: known uv options,
        # and every option's value after `=`.
        for arg in header.split()[3:]:
            if arg.startswith("-"):
                option = arg.split("=", 1)[0]
                assert option in RENOVATE_UV_OPTIONS, option
                assert (option in RENOVATE_OPTIONS_WITH_VALUES) == ("=" in arg), arg


def test_dockerfile_installs_only_hashed_locked_bytes() -> None:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    pip_runs = [line for line in text.splitlines()
                if line.startswith("RUN") and "pip " in line]
    assert any("--require-hashes --requirement requirements-build.lock" in r for r in pip_runs)
    assert any("pip wheel --require-hashes --wheel-dir /wheels --requirement requirements.lock"
               in r for r in pip_runs)
    install = next(r for r in pip_runs if "--mount" in r)
    assert "--no-index" in install and "--require-hashes" in install
    assert "--requirement /wheels/requirements.lock" in install
    # mem-sync's own wheel: built without isolation (no unpinned setuptools), installed alone.
    assert any("--no-build-isolation" in r for r in pip_runs)
    assert "--no-deps /wheels/self/" in install
    for run in pip_runs:
        for command in re.findall(r"pip (?:install|wheel) [^&]*", run):
            assert ("--require-hashes" in command or "--no-deps" in command), command


def test_the_refresh_command_reproduces_the_committed_locks(tmp_path: Path) -> None:
    """scripts/lock.sh on an unchanged pyproject.toml changes no byte (needs uv and PyPI)."""
    if shutil.which("uv") is None:
        pytest.skip("uv is not installed (pip install 'mem-sync[test]' brings it)")
    for name in (*LOCK_FILES, "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "src", tmp_path / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (tmp_path / "scripts").mkdir()
    for name in ("lock.sh", "lockcheck.py"):
        shutil.copy2(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "lock.sh")], capture_output=True,
                            text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    for name in ("requirements.lock", "requirements-build.lock"):
        assert (tmp_path / name).read_bytes() == (ROOT / name).read_bytes(), name
