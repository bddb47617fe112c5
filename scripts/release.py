#!/usr/bin/env python3
"""The maintainer's and the release workflow's release steps (docs/release.md tells the order).

    scripts/release.py bump VERSION          set the version (the plugin manifests' too), move the
                                             templates to it, date the CHANGELOG's Unreleased
                                             section (a maintainer, on main)
    scripts/release.py check-tag TAG         the pushed tag is v<version> and CHANGELOG has its
                                             section; prints the version (the workflow's first job)
    scripts/release.py pin --repository OWNER/NAME --image-digest D --action-digest D
                           [--tag TAG --push REMOTE]
                                             the release commit: action.yml, published.json and the
                                             CI templates name the pushed images by digest; with
                                             --tag it is committed on the tagged commit, the tag is
                                             moved onto it and pushed with a lease
    scripts/release.py notes --image-digest D --action-digest D
                                             the release notes (CHANGELOG section, digests, how to
                                             verify), on stdout

Each refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The reference rules are memsync.release's own (what setup-repo writes), from this checkout.
sys.path.insert(0, str(ROOT / "src"))
SEMVER = re.compile(r"\d+\.\d+\.\d+")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
# Each CI template as the repository holds it, and its copy shipped for setup-repo.
TEMPLATES = {
    "github": ("ci-templates/github/merge-memories.yml", "src/memsync/scaffold/ci/github/merge-memories.yml"),
    "gitlab": ("ci-templates/gitlab/.gitlab-ci.yml", "src/memsync/scaffold/ci/gitlab/gitlab-ci.yml"),
    "bitbucket": ("ci-templates/bitbucket/bitbucket-pipelines.yml",
                  "src/memsync/scaffold/ci/bitbucket/bitbucket-pipelines.yml"),
}
VERSION_FILE = "src/memsync/__init__.py"
# The Claude Code plugin's version: Claude Code sees an update only when it changes.
PLUGIN_MANIFESTS = (".claude-plugin/plugin.json", ".claude-plugin/marketplace.json")
PUBLISHED = "src/memsync/release/published.json"


class Refused(Exception):
    pass


def read(root: Path, name: str) -> str:
    return (root / name).read_text(encoding="utf-8")


def write(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text, encoding="utf-8")


def current_version(root: Path) -> str:
    match = re.search(r'(?m)^__version__ = "([^"]+)"$', read(root, VERSION_FILE))
    if not match:
        raise Refused(f"{VERSION_FILE} has no __version__ line")
    return match.group(1)


def published(root: Path) -> dict[str, str | None]:
    return json.loads(read(root, PUBLISHED))


def references(data: dict[str, str | None], version: str) -> dict[str, str]:
    """What each template names for ``version``: memsync.release's rules, from this checkout."""
    from memsync.release import PublishedImages, default_reference

    images = PublishedImages(**data)  # type: ignore[arg-type]
    return {provider: default_reference(provider, images, version) for provider in TEMPLATES}


def swap_references(root: Path, old: dict[str, str], new: dict[str, str]) -> list[str]:
    from memsync.release import replace_reference

    changed = []
    for provider, paths in TEMPLATES.items():
        for name in paths:
            try:
                write(root, name, replace_reference(read(root, name), old[provider], new[provider]))
            except ValueError as error:
                raise Refused(f"{name} {error}; fix the template first") from None
            changed.append(name)
    return changed


def changelog_section(root: Path, version: str) -> str:
    text = read(root, "CHANGELOG.md")
    match = re.search(rf"(?ms)^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}\n(.*?)(?=^## |^\[)",
                      text)
    if not match:
        raise Refused(f"CHANGELOG.md has no '## [{version}] - YYYY-MM-DD' section; "
                      f"run scripts/release.py bump {version} on main first")
    return match.group(1).strip()


# ---- bump -------------------------------------------------------------------------------

def bump(root: Path, version: str, today: dt.date) -> list[str]:
    if not SEMVER.fullmatch(version):
        raise Refused(f"'{version}' is not a version like 1.2.3")
    old = current_version(root)
    if version == old:
        raise Refused(f"the version is already {version}")
    data = published(root)
    changed = swap_references(root, references(data, old), references(data, version))
    text = read(root, VERSION_FILE)
    write(root, VERSION_FILE, text.replace(f'__version__ = "{old}"', f'__version__ = "{version}"'))
    changelog = read(root, "CHANGELOG.md")
    if "## [Unreleased]\n" not in changelog:
        raise Refused("CHANGELOG.md has no '## [Unreleased]' section to date")
    changelog = changelog.replace(
        "## [Unreleased]\n", f"## [Unreleased]\n\n## [{version}] - {today.isoformat()}\n", 1)
    repository = data["repository"]
    link = f"[{version}]: https://github.com/{repository}/releases/tag/v{version}\n"
    changelog = re.sub(r"(?m)^\[Unreleased\]: .*\n",
                       f"[Unreleased]: https://github.com/{repository}/compare/v{version}...HEAD\n"
                       + link, changelog, count=1)
    write(root, "CHANGELOG.md", changelog)
    manifests = [name for name in PLUGIN_MANIFESTS if (root / name).exists()]
    for name in manifests:
        write(root, name, read(root, name).replace(f'"version": "{old}"', f'"version": "{version}"'))
    return [VERSION_FILE, "CHANGELOG.md", *changed, *manifests]


# ---- check-tag --------------------------------------------------------------------------

def check_tag(root: Path, tag: str) -> str:
    version = current_version(root)
    if tag != f"v{version}":
        raise Refused(f"the tag {tag} does not match the package version {version}; tag v{version}, "
                      f"or run scripts/release.py bump first")
    changelog_section(root, version)
    return version


# ---- pin --------------------------------------------------------------------------------

def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Refused(f"git {' '.join(args)} failed: "
                      + (result.stderr.strip().splitlines() or ["no output"])[-1])
    return result.stdout.strip()


def pin_files(root: Path, repository: str, image_digest: str, action_digest: str) -> list[str]:
    for label, digest in (("--image-digest", image_digest), ("--action-digest", action_digest)):
        if not DIGEST.fullmatch(digest):
            raise Refused(f"{label} '{digest}' is not an image digest (sha256:<64 hex digits>)")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise Refused(f"--repository '{repository}' is not OWNER/NAME")
    version = current_version(root)
    old = published(root)
    if old.get("digest"):
        raise Refused(f"{PUBLISHED} already names a release ({old['version']}); "
                      f"pin runs on the tagged commit from main")
    image = f"ghcr.io/{repository.lower()}"  # registries take lower-case names only
    new = {"repository": repository, "image": image, "action_image": f"{image}-action",
           "version": version, "digest": image_digest, "action_digest": action_digest}
    changed = swap_references(root, references(old, version), references(new, version))
    write(root, PUBLISHED, json.dumps(new, indent=2) + "\n")
    action = read(root, "action.yml")
    pattern = re.compile(r"(?m)^(  image: )Dockerfile$")
    if len(pattern.findall(action)) != 1:
        raise Refused("action.yml does not build `image: Dockerfile` exactly once; "
                      "pin runs on the tagged commit from main")
    write(root, "action.yml",
          pattern.sub(lambda m: f"{m.group(1)}docker://{new['action_image']}@{action_digest}", action))
    return ["action.yml", PUBLISHED, *changed]


def pin(root: Path, repository: str, image_digest: str, action_digest: str,
        tag: str | None, remote: str | None) -> str | None:
    if remote and not tag:
        raise Refused("--push needs --tag: only the release tag is pushed")
    if tag is None:
        pin_files(root, repository, image_digest, action_digest)
        return None
    version = check_tag(root, tag)
    tag_object = git(root, "rev-parse", f"refs/tags/{tag}")
    tagged = git(root, "rev-parse", f"{tag}^{{commit}}")
    if git(root, "rev-parse", "HEAD") != tagged:
        raise Refused(f"HEAD is not the commit {tag} names; check out {tag} first")
    if git(root, "status", "--porcelain", "--untracked-files=no"):
        raise Refused("the work tree has changes; the release commit must hold only its own")
    changed = pin_files(root, repository, image_digest, action_digest)
    git(root, "add", "--", *changed)
    name, email = BOT
    message = (f"Release {version}: action.yml and the CI templates name the published images "
               f"by digest\n\nimage: {published(root)['image']}@{image_digest}\n"
               f"action image: {published(root)['action_image']}@{action_digest}\n")
    git(root, "-c", f"user.name={name}", "-c", f"user.email={email}",
        "commit", "--quiet", "-m", message)
    commit = git(root, "rev-parse", "HEAD")
    git(root, "-c", f"user.name={name}", "-c", f"user.email={email}",
        "tag", "--force", "--annotate", tag, "-m", f"mem-sync {version}", commit)
    if remote:
        # The lease: the tag is moved only if it still names what this run was started for.
        try:
            git(root, "push", "--quiet", f"--force-with-lease=refs/tags/{tag}:{tag_object}",
                remote, f"refs/tags/{tag}")
        except Refused as error:
            raise Refused(f"{remote} refused to move {tag}: either the tag no longer names "
                          f"{tagged[:12]} there (someone moved it since this release started; "
                          f"start again from the tag as it is) or the push was denied ({error})"
                          ) from None
    return commit


# ---- notes ------------------------------------------------------------------------------

def notes(root: Path, image_digest: str, action_digest: str) -> str:
    import jinja2

    version = current_version(root)
    data = published(root)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(root / "src" / "memsync" / "templates")),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                             autoescape=False)
    return env.get_template("release_notes.md.j2").render(
        version=version, changes=changelog_section(root, version), repository=data["repository"],
        image=f"{data['image']}@{image_digest}", action_image=f"{data['action_image']}@{action_digest}",
        image_name=data["image"], action_image_name=data["action_image"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: this one)")
    commands = parser.add_subparsers(dest="command", required=True)
    bump_cmd = commands.add_parser("bump")
    bump_cmd.add_argument("version")
    tag_cmd = commands.add_parser("check-tag")
    tag_cmd.add_argument("tag")
    for name in ("pin", "notes"):
        sub = commands.add_parser(name)
        sub.add_argument("--image-digest", required=True)
        sub.add_argument("--action-digest", required=True)
        if name == "pin":
            sub.add_argument("--repository", required=True)
            sub.add_argument("--tag")
            sub.add_argument("--push", metavar="REMOTE")
    args = parser.parse_args(argv)
    try:
        if args.command == "bump":
            for name in bump(args.root, args.version, dt.date.today()):
                print(f"updated {name}")
        elif args.command == "check-tag":
            print(check_tag(args.root, args.tag))
        elif args.command == "pin":
            commit = pin(args.root, args.repository, args.image_digest, args.action_digest,
                         args.tag, args.push)
            print(commit or "pinned (not committed)")
        else:
            sys.stdout.write(notes(args.root, args.image_digest, args.action_digest))
    except (Refused, OSError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
