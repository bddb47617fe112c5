#!/usr/bin/env python3
"""Check that the lock files still satisfy pyproject.toml, offline, in about a second.

    python scripts/lockcheck.py [--root DIR]

requirements.lock must pin, with hashes, a version inside every range pyproject.toml asks
for (the dependencies and every extra but `test`) on every platform the image and the CLI
run on, and nothing that pyproject.toml no longer leads to; requirements-build.lock the same
for requirements-build.in, which must ask for the build backend of [build-system].
Exit 0 with one summary line, or 1 with one line per problem and the command that fixes it.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

FIX = "run scripts/lock.sh"
# Extras the runtime lock covers; `test` is the developers' own toolbox and `fast` is a
# subset of the core dependencies kept for old install commands.
LOCKED_EXTRAS = ("providers", "distill")
UNLOCKED_EXTRAS = ("test",)
PYTHONS = ("3.11", "3.12", "3.13")
# (label, sys_platform, platform_system, platform_machine, os_name): the image's two
# platforms, and the laptops the CLI is installed on with pipx or uv tool.
PLATFORMS = (
    ("linux/amd64", "linux", "Linux", "x86_64", "posix"),
    ("linux/arm64", "linux", "Linux", "aarch64", "posix"),
    ("macos/arm64", "darwin", "Darwin", "arm64", "posix"),
    ("macos/x86_64", "darwin", "Darwin", "x86_64", "posix"),
    ("windows/amd64", "win32", "Windows", "AMD64", "nt"),
)
ROOT_VIA = re.compile(r"^mem-sync \(pyproject\.toml\)$|^-r ")


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    requirement: Requirement  # name==version ; marker
    hashes: tuple[str, ...]
    via: tuple[str, ...]  # canonical names of the packages that need it, or the input file


@dataclass(frozen=True)
class LockFile:
    command: str
    pins: tuple[Pin, ...]


def environments() -> list[tuple[str, dict[str, str]]]:
    out = []
    for python in PYTHONS:
        for label, sys_platform, system, machine, os_name in PLATFORMS:
            env = dict(default_environment())
            env.update(python_version=python, python_full_version=f"{python}.0",
                       sys_platform=sys_platform, platform_system=system,
                       platform_machine=machine, os_name=os_name,
                       implementation_name="cpython", platform_python_implementation="CPython")
            out.append((f"{label} python {python}", env))
    return out


def parse_lock(text: str) -> LockFile:
    """Read a `uv pip compile --generate-hashes` output: pins, hashes and `# via` notes."""
    command = ""
    pins: list[Pin] = []
    current: dict[str, object] | None = None
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if stripped.startswith("#    uv pip compile") or stripped.startswith("#    pip-compile"):
            command = stripped.lstrip("# ").strip()
        if line and not line[0].isspace() and not line.startswith("#"):
            # A requirement with its continuation lines (the hashes).
            body = line
            while body.endswith("\\") and index + 1 < len(lines):
                index += 1
                body = body[:-1] + " " + lines[index].strip()
            spec, *hash_parts = body.split("--hash=")
            requirement = Requirement(spec.strip())
            pinned = [s for s in requirement.specifier if s.operator == "=="]
            current = {
                "name": canonicalize_name(requirement.name),
                "version": pinned[0].version if len(pinned) == 1 else "",
                "requirement": requirement,
                "hashes": tuple(part.strip() for part in hash_parts),
                "via": [],
            }
            pins.append(current)  # type: ignore[arg-type]
        elif current is not None and stripped.startswith("# via"):
            rest = stripped[len("# via"):].strip()
            if rest:
                current["via"].append(rest)  # type: ignore[union-attr]
            # `# via` followed by one indented `#   name` line per parent
            while index + 1 < len(lines) and re.match(r"^\s+#\s{3,}\S", lines[index + 1]):
                index += 1
                current["via"].append(lines[index].strip().lstrip("#").strip())  # type: ignore[union-attr]
        index += 1
    return LockFile(command=command, pins=tuple(
        Pin(name=p["name"], version=p["version"], requirement=p["requirement"],  # type: ignore[arg-type]
            hashes=p["hashes"], via=tuple(p["via"]))  # type: ignore[arg-type]
        for p in pins))


def _applies(requirement: Requirement, env: Mapping[str, str], extra: str = "") -> bool:
    return requirement.marker is None or requirement.marker.evaluate({**env, "extra": extra})


def check_requirements(lock: LockFile, wanted: Iterable[Requirement], lock_name: str) -> list[str]:
    """Every wanted requirement has a hashed pin inside its range wherever its marker applies."""
    problems: list[str] = []
    by_name: dict[str, list[Pin]] = {}
    for pin in lock.pins:
        by_name.setdefault(pin.name, []).append(pin)
        if not pin.version:
            problems.append(f"{lock_name}: {pin.requirement} is not pinned with ==; {FIX}")
        if not pin.hashes:
            problems.append(f"{lock_name}: {pin.name} has no --hash, so --require-hashes "
                            f"would refuse the file; {FIX}")
    envs = environments()
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        for label, env in envs:
            if not _applies(requirement, env):
                continue
            live = [pin for pin in by_name.get(name, []) if _applies(pin.requirement, env)]
            if not live:
                problems.append(f"{lock_name} does not lock {requirement.name} for {label} "
                                f"(pyproject asks for '{requirement}'); {FIX}")
                break
            if not any(requirement.specifier.contains(pin.version, prereleases=True)
                       for pin in live):
                problems.append(f"{lock_name} pins {requirement.name}=={live[0].version}, outside "
                                f"'{requirement}' asked for by pyproject; {FIX}")
                break
    return problems


def check_reachable(lock: LockFile, roots: Iterable[str], lock_name: str) -> list[str]:
    """Every pin is a root or needed by a pin that is: a dropped dependency leaves the lock."""
    children: dict[str, set[str]] = {}
    for pin in lock.pins:
        for via in pin.via:
            if not ROOT_VIA.match(via):
                children.setdefault(canonicalize_name(via), set()).add(pin.name)
    seen: set[str] = set()
    stack = [canonicalize_name(root) for root in roots]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(children.get(name, ()))
    return [f"{lock_name} still pins {pin.name}=={pin.version}, which nothing in pyproject "
            f"leads to any more; {FIX}" for pin in lock.pins if pin.name not in seen]


def project_requirements(pyproject: Mapping[str, object]) -> tuple[list[Requirement], list[str]]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    wanted = [Requirement(text) for text in project.get("dependencies", [])]
    problems = []
    for extra, items in sorted(project.get("optional-dependencies", {}).items()):
        if extra in UNLOCKED_EXTRAS:
            continue
        if extra not in LOCKED_EXTRAS and extra != "fast":
            problems.append(f"pyproject.toml has the extra '{extra}', which the lock does not "
                            f"cover; add `--extra={extra}` to scripts/lock.sh and to "
                            f"LOCKED_EXTRAS in scripts/lockcheck.py")
        wanted += [Requirement(text) for text in items]
    return wanted, problems


def check(root: Path) -> tuple[list[str], str]:
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    problems: list[str] = []

    runtime_path = root / "requirements.lock"
    runtime = parse_lock(runtime_path.read_text(encoding="utf-8"))
    wanted, extra_problems = project_requirements(pyproject)
    problems += extra_problems
    for extra in LOCKED_EXTRAS:
        if f"--extra={extra}" not in runtime.command.split():
            problems.append(f"requirements.lock was not made with --extra {extra}; {FIX}")
    if "--universal" not in runtime.command:
        problems.append(f"requirements.lock was resolved for one platform only; {FIX}")
    problems += check_requirements(runtime, wanted, "requirements.lock")
    problems += check_reachable(runtime, [r.name for r in wanted], "requirements.lock")

    build_in = [Requirement(line.split("#", 1)[0].strip())
                for line in (root / "requirements-build.in").read_text().splitlines()
                if line.split("#", 1)[0].strip()]
    backend = [Requirement(text) for text in pyproject["build-system"]["requires"]]
    listed = {canonicalize_name(r.name): r for r in build_in}
    for requirement in backend:
        mine = listed.get(canonicalize_name(requirement.name))
        if mine is None or str(mine.specifier) != str(requirement.specifier):
            problems.append(f"requirements-build.in must ask for '{requirement}' as "
                            f"[build-system] requires does; edit it, then {FIX}")
    build = parse_lock((root / "requirements-build.lock").read_text(encoding="utf-8"))
    problems += check_requirements(build, build_in + backend, "requirements-build.lock")
    problems += check_reachable(build, [r.name for r in build_in], "requirements-build.lock")

    summary = (f"requirements.lock satisfies pyproject.toml ({len(runtime.pins)} pins, "
               f"{sum(len(p.hashes) for p in runtime.pins)} hashes); requirements-build.lock "
               f"satisfies [build-system] ({len(build.pins)} pins)")
    return problems, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the project directory (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        problems, summary = check(args.root)
    except (OSError, KeyError, ValueError) as error:
        print(f"cannot check the lock files under {args.root}: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
