#!/usr/bin/env python3
"""Build mem-sync's sdist and wheel as a release does and prove a user can install and run them.

    python scripts/check_dist.py [--dist DIR] [--work DIR]

1. Unless --dist names built files: a fresh venv gets the build tools from
   requirements-build.lock (--require-hashes) and runs `python -m build --no-isolation`
   (the sdist, then the wheel from the sdist, so a file missing from the sdist fails here).
2. `twine check --strict` on both: the metadata and the README render on PyPI.
3. A second fresh venv installs the dependencies exactly as the Dockerfile does: `pip wheel
   --require-hashes` from requirements.lock, `pip install --no-index --require-hashes` of those
   wheels, then the wheel with --no-deps, then `pip check`.
4. `mem-sync --version` prints the package's version, and README's quickstart runs:
   `mem-sync ci-merge --repo examples/shared-repo --dry-run`.

Needs PyPI (or the configured index) for the locked files, and twine in this interpreter.
Prints one line per step; exits 1 naming the step that failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Failed(Exception):
    pass


def run(args: list[str | Path], step: str, cwd: Path | None = None) -> str:
    # The venvs must run what they installed, never a checkout that PYTHONPATH points at.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                            check=False, env=env)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise Failed(f"{step} failed (exit {result.returncode}):\n  " + "\n  ".join(tail))
    return result.stdout


def make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / ("Scripts" if sys.platform == "win32" else "bin")


def package_version() -> str:
    text = (ROOT / "src" / "memsync" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if not match:
        raise Failed("src/memsync/__init__.py has no __version__ line")
    return match.group(1)


def build(work: Path) -> Path:
    bin_dir = make_venv(work / "build-venv")
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--require-hashes",
         "--requirement", ROOT / "requirements-build.lock"], "installing requirements-build.lock")
    # Build from a copy: setuptools writes src/*.egg-info into the tree it builds.
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".git", "build", "dist",
                                    ".venv", ".pytest_cache", ".hypothesis", "bench")
    shutil.copytree(ROOT, source, ignore=ignore)
    dist = work / "dist"
    run([bin_dir / "python", "-m", "build", "--no-isolation", "--outdir", dist, source],
        "python -m build")
    return dist


def check_contents(sdist: Path, wheel: Path, version: str) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("LICENSE", "README.md", "pyproject.toml", "src/memsync/cli.py"):
        if needed not in names:
            raise Failed(f"the sdist lacks {needed}")
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
        listed = archive.namelist()
    for field in (f"Version: {version}", "License-Expression: MIT", "Project-URL: Source",
                  "Description-Content-Type: text/markdown", "Requires-Python: >=3.11"):
        if field not in metadata:
            raise Failed(f"the wheel's METADATA lacks '{field}'")
    if not any(n.endswith("licenses/LICENSE") for n in listed):
        raise Failed("the wheel does not ship the LICENSE file")


def install_like_the_image(work: Path, wheel: Path) -> Path:
    bin_dir = make_venv(work / "user-venv")
    python = bin_dir / "python"
    wheels = work / "wheels"
    lock = ROOT / "requirements.lock"
    run([python, "-m", "pip", "wheel", "--quiet", "--require-hashes", "--wheel-dir", wheels,
         "--requirement", lock], "pip wheel --require-hashes -r requirements.lock")
    run([python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", wheels,
         "--require-hashes", "--requirement", lock],
        "pip install --no-index --require-hashes -r requirements.lock")
    run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", wheel],
        "installing the wheel")
    run([python, "-m", "pip", "check"], "pip check")
    return bin_dir


def scaffold_from_the_wheel(bin_dir: Path, work: Path, version: str) -> None:
    """setup-repo from the installed wheel: its packaged templates and published.json."""
    for provider, ci_file in (("github", ".github/workflows/merge-memories.yml"),
                              ("gitlab", ".gitlab-ci.yml"),
                              ("bitbucket", "bitbucket-pipelines.yml")):
        repo = work / f"team-{provider}"
        run(["git", "init", "-q", repo], "git init")
        run(["git", "-C", repo, "config", "user.name", "check"], "git config")
        run(["git", "-C", repo, "config", "user.email", "check@example.com"], "git config")
        output = run([bin_dir / "mem-sync", "setup-repo", repo, "--provider", provider],
                     f"mem-sync setup-repo --provider {provider}")
        text = (repo / ci_file).read_text(encoding="utf-8")
        wanted = (f"@v{version}" if provider == "github"
                  else f"mem-sync:{version}" if f"mem-sync:{version}" in text else "@sha256:")
        if "your-org" in text + output or wanted not in text or wanted not in output:
            raise Failed(f"setup-repo --provider {provider} did not name the image of {version}:\n"
                         + output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, help="check these built files instead of building")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="mem-sync-dist-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        version = package_version()
        dist = args.dist or build(work)
        sdists = sorted(dist.glob(f"mem_sync-{version}.tar.gz"))
        wheels = sorted(dist.glob(f"mem_sync-{version}-py3-none-any.whl"))
        if len(sdists) != 1 or len(wheels) != 1:
            raise Failed(f"{dist} must hold one sdist and one wheel of {version}, "
                         f"found {[p.name for p in dist.iterdir()]}")
        print(f"built      {sdists[0].name} {wheels[0].name}")
        check_contents(sdists[0], wheels[0], version)
        run([sys.executable, "-m", "twine", "check", "--strict", sdists[0], wheels[0]],
            "twine check --strict")
        print("twine      check --strict passed")
        bin_dir = install_like_the_image(work, wheels[0])
        print("installed  requirements.lock with --require-hashes, then the wheel; pip check ok")
        shown = run([bin_dir / "mem-sync", "--version"], "mem-sync --version").strip()
        if shown != f"mem-sync, version {version}":
            raise Failed(f"mem-sync --version printed '{shown}', expected version {version}")
        print(f"ran        {shown}")
        example = work / "shared-repo"
        shutil.copytree(ROOT / "examples" / "shared-repo", example, dirs_exist_ok=True)
        report = run([bin_dir / "mem-sync", "ci-merge", "--repo", example, "--dry-run"],
                     "the quickstart dry run", cwd=work)
        if "dry run: nothing written" not in report or "quarantined" not in report:
            raise Failed("the quickstart dry run did not report its plan:\n" + report)
        print("ran        mem-sync ci-merge --repo examples/shared-repo --dry-run")
        scaffold_from_the_wheel(bin_dir, work, version)
        print("ran        mem-sync setup-repo: each CI file names this version's image")
    except Failed as error:
        print(f"check_dist: {error}", file=sys.stderr)
        return 1
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
