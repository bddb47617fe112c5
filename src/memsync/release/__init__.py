"""Where mem-sync's released images live, and the image reference each CI template names.

``published.json`` (package data) names the GitHub repository and the two images the release
workflow pushes: ``image`` (Dockerfile target ``ci``, non-root, for GitLab CI and Bitbucket
Pipelines) and ``action_image`` (target ``action``, what action.yml runs). On main it knows no
digest; the release commit of a version tag records that version's digests, and the package
published to PyPI is built from that commit, so an installed release names its own images by
digest. CI templates name the default reference (once per job that runs mem-sync); setup-repo
swaps every one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

from memsync import __version__
from memsync.errors import UsageError

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# registry[:port]/path[:tag][@sha256:digest], lower-case path as registries require
IMAGE_REFERENCE = re.compile(
    r"(?P<name>(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?")


@dataclass(frozen=True)
class PublishedImages:
    repository: str  # owner/name on GitHub: the Action's `uses:` and the images' owner
    image: str  # for GitLab CI and Bitbucket Pipelines
    action_image: str  # for action.yml
    version: str | None  # the release these digests belong to; None on main
    digest: str | None
    action_digest: str | None


def published() -> PublishedImages:
    data = json.loads(resources.files("memsync.release").joinpath("published.json").read_text())
    return PublishedImages(**data)


def image_reference(images: PublishedImages, version: str = __version__) -> str:
    """The CI image of ``version``: by digest when this release recorded it, else by tag."""
    if images.version == version and images.digest:
        return f"{images.image}@{images.digest}"
    return f"{images.image}:{version}"


def action_reference(images: PublishedImages, version: str = __version__) -> str:
    """The Action at ``version``'s release tag (whose action.yml names the image by digest)."""
    return f"{images.repository}@v{version}"


def default_reference(provider: str, images: PublishedImages | None = None,
                      version: str = __version__) -> str:
    """What the CI template of ``provider`` names for this mem-sync version."""
    images = images or published()
    if provider == "github":
        return action_reference(images, version)
    return image_reference(images, version)


def replace_reference(text: str, old: str, new: str) -> str:
    """``text`` with the ``uses:``/``image:``/``name:`` value ``old`` swapped for ``new``.

    A CI template names its reference as a whole YAML value, once per job that runs mem-sync
    (the merge, the opt-in distill job); every one is swapped. None at all raises ValueError
    rather than write a file that runs something other than asked.
    """
    pattern = re.compile(rf"(?m)^(\s*(?:uses|image|name): ){re.escape(old)}$")
    if not pattern.findall(text):
        raise ValueError(f"does not name {old}")
    return pattern.sub(lambda match: match.group(1) + new, text)


def checked_image(reference: str) -> str:
    """A user's --image, refused in one line unless it is a pinned image reference."""
    reference = reference.strip().removeprefix("docker://")
    match = IMAGE_REFERENCE.fullmatch(reference)
    if not match or not (match["tag"] or match["digest"]) or match["tag"] == "latest":
        raise UsageError(
            f"--image '{reference}' is not a pinned image reference; give one with a version "
            f"tag or a digest, e.g. registry.example.com/team/mem-sync:{__version__} or "
            f"registry.example.com/team/mem-sync@sha256:<64 hex digits>")
    return reference


def chosen_reference(provider: str, image: str | None) -> str:
    """The reference setup-repo writes: the user's --image, else this version's release."""
    if image is None:
        return default_reference(provider)
    image = checked_image(image)
    # A GitHub step runs an image directly with `uses: docker://…` (the action image's
    # entrypoint is `mem-sync action`); GitLab and Bitbucket name it as `image:`.
    return f"docker://{image}" if provider == "github" else image
