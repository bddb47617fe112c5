"""The acceptance of a release, run here: build, twine check, hashed install, --version, quickstart."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from ci_support import ROOT

pytestmark = pytest.mark.release


def test_built_dists_pass_twine_install_from_the_lock_and_run_the_quickstart(
        tmp_path: Path) -> None:
    pytest.importorskip("twine", reason="pip install 'mem-sync[test]' brings twine")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_dist.py"),
                             "--work", str(tmp_path)],
                            capture_output=True, text=True, check=False, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    version = re.search(r"__version__ = \"([^\"]+)\"",
                        (ROOT / "src" / "memsync" / "__init__.py").read_text()).group(1)
    assert f"ran        mem-sync, version {version}" in result.stdout
    assert "twine      check --strict passed" in result.stdout
    assert "ci-merge --repo examples/shared-repo --dry-run" in result.stdout
    assert "setup-repo: each CI file names this version's image" in result.stdout
    # The wheel that ran is the one built here, from the sdist.
    assert (tmp_path / "dist" / f"mem_sync-{version}-py3-none-any.whl").is_file()
    assert (tmp_path / "user-venv" / "bin" / "mem-sync").is_file()


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_every_locked_package_has_a_wheel_for_both_image_platforms(
        machine: str, tmp_path: Path) -> None:
    """The builder stage has no compiler: linux/amd64 and linux/arm64 must find wheels only.

    pip evaluates the lock's markers for this machine, not the target; that only adds
    packages (hyperscan, x86_64-only in pyproject, also has arm64 wheels), never drops one.
    """
    platforms = [f"--platform={tag}_{machine}" for tag in (
        "manylinux_2_36", "manylinux_2_28", "manylinux_2_24", "manylinux_2_17", "manylinux2014")]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", *platforms,
         "--implementation=cp", "--python-version=3.11.7", "--require-hashes", "--no-deps",
         "--requirement", str(ROOT / "requirements.lock"), "--dest", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    wheels = list(tmp_path.glob("*.whl"))
    assert len(wheels) >= 40
    assert not list(tmp_path.glob("*.tar.gz"))
    binary = [w.name for w in wheels if "none-any" not in w.name]
    assert binary and all(machine in name for name in binary), binary
