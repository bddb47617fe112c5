"""What each assistant's files should hold for a selection of rules (pure: text in, text out).

    claude   .claude/rules/team-memory.md (everywhere) + team-memory-<scope>.md with `paths:`
    cursor   .cursor/rules/team-memory.mdc (alwaysApply) + team-memory-<scope>.mdc with `globs`
    copilot  a block in .github/copilot-instructions.md + instructions/team-memory-<scope>
             .instructions.md with `applyTo`
    agents   a block in AGENTS.md (everywhere first, then one section per scope)

The always-on part of each target (what the assistant loads in every session) stays within the
byte budget: rules go in highest confidence first and the ones that do not fit are named in a
trailer pointing to the memory repository. Scoped files load only for matching files and are
not budgeted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from memsync.rules.scope import scope_digest, scope_slug
from memsync.rules.source import Rule

TARGETS = ("claude", "cursor", "copilot", "agents")
DEFAULT_BUDGET = 8 * 1024
STEM = "team-memory"

# Files a target owns, as (folder, suffix): every file there named team-memory*<suffix> that says
# it was generated is ours to rewrite or delete; anything else in those folders is never touched.
OWNED = {
    "claude": (".claude/rules", ".md"),
    "cursor": (".cursor/rules", ".mdc"),
    "copilot": (".github/instructions", ".instructions.md"),
}
BLOCK_FILES = {"copilot": ".github/copilot-instructions.md", "agents": "AGENTS.md"}
FILE_TEMPLATES = {"claude": "rules_claude.md.j2", "cursor": "rules_cursor.mdc.j2",
                  "copilot": "rules_copilot.instructions.md.j2"}


@dataclass(frozen=True)
class Links:
    """Where a rule's evidence lives: ``page`` is distilled/<project>/rules.md on the memory
    repository's forge; without a web address (a local or unknown remote) rules keep their id."""

    page: str = ""
    remote: str = ""

    @property
    def base(self) -> bool:
        return bool(self.page)

    def rule(self, rule: Rule) -> str:
        return f"{self.page}#{rule.anchor}"


@dataclass(frozen=True)
class Plan:
    """The desired state of the selected targets in the code repository."""

    owned: dict[str, str]  # path -> whole content, for every file we own that should exist
    blocks: dict[str, str | None]  # path -> block body, None: no block (remove it)
    owned_patterns: tuple[tuple[str, str], ...]  # (folder, suffix) of every selected target
    omitted: dict[str, tuple[str, ...]] = field(default_factory=dict)  # path -> ids left out


def web_page(remote_url: str, branch: str, project: str) -> str:
    """distilled/<project>/rules.md on the forge's web UI, or '' when the remote is not a forge.

    Knows the three forges' blob URL shapes; a self-hosted one is recognised by its name.
    """
    from urllib.parse import urlsplit

    url = remote_url.strip()
    if url.startswith("git@") and ":" in url:
        host, _, path = url[4:].partition(":")
        scheme, netloc = "https", host
    elif url.startswith(("https://", "http://", "ssh://")):
        parts = urlsplit(url)
        scheme = parts.scheme if parts.scheme in ("http", "https") else "https"
        netloc = parts.hostname or ""
        if parts.port and scheme in ("http", "https"):
            netloc += f":{parts.port}"
        path = parts.path
    else:
        return ""
    path = path.strip("/").removesuffix(".git")
    if not netloc or path.count("/") < 1:
        return ""
    file = f"distilled/{quote(project)}/rules.md"
    ref = quote(branch, safe="/")
    host = netloc.lower()
    if "gitlab" in host:
        return f"{scheme}://{netloc}/{path}/-/blob/{ref}/{file}"
    if "bitbucket" in host:
        return f"{scheme}://{netloc}/{path}/src/{ref}/{file}"
    if "github" in host:
        return f"{scheme}://{netloc}/{path}/blob/{ref}/{file}"
    return ""


def plan_targets(rules: Sequence[Rule], *, project: str, targets: Sequence[str], links: Links,
                 budget: int = DEFAULT_BUDGET) -> Plan:
    """Every selected target's files for ``rules`` (already ordered, highest confidence first)."""
    everywhere = [r for r in rules if not r.scope]
    scopes = _scopes(rules)
    names = _file_names(list(scopes))
    owned: dict[str, str] = {}
    blocks: dict[str, str | None] = {}
    omitted: dict[str, tuple[str, ...]] = {}
    common = {"project": project, "links": links, "budget": budget}

    def file(template: str, scope: tuple[str, ...], chosen: Sequence[Rule], left: Sequence[str]) -> str:
        return _render(template, scope=scope, scope_text=_scope_text(scope), rules=list(chosen),
                       omitted=list(left), **common)

    for target in targets:
        folder, suffix = OWNED.get(target, ("", ""))
        template = FILE_TEMPLATES.get(target, "")
        # Copilot's everywhere rules go to its block; Claude's and Cursor's to a file of ours.
        if target in ("claude", "cursor") and everywhere:
            path = f"{folder}/{STEM}{suffix}"
            text, left = fit(everywhere, budget,
                             lambda chosen, left, template=template: file(template, (), chosen, left))
            owned[path] = text
            if left:
                omitted[path] = left
        if target in OWNED:
            for scope, scoped in scopes.items():
                owned[f"{folder}/{STEM}-{names[scope]}{suffix}"] = file(template, scope, scoped, ())
        if target in BLOCK_FILES:
            path = BLOCK_FILES[target]
            candidates = list(rules) if target == "agents" else everywhere
            if not candidates:
                blocks[path] = None
                continue
            text, left = fit(candidates, budget, lambda chosen, left: _block(chosen, left, common))
            blocks[path] = text
            if left:
                omitted[path] = left
    patterns = tuple(OWNED[t] for t in TARGETS if t in targets and t in OWNED)
    return Plan(owned=owned, blocks=blocks, owned_patterns=patterns, omitted=omitted)


def fit(rules: Sequence[Rule], budget: int,
        render: Callable[[Sequence[Rule], tuple[str, ...]], str]) -> tuple[str, tuple[str, ...]]:
    """The longest prefix of ``rules`` whose rendering fits in ``budget`` bytes (UTF-8), with the
    ids of the rest. With nothing fitting, the trailer alone is returned (it is capped)."""

    def attempt(count: int) -> tuple[str, tuple[str, ...]]:
        left = tuple(r.id for r in rules[count:])
        return render(rules[:count], left), left

    text, left = attempt(len(rules))
    if len(text.encode()) <= budget:
        return text, left
    low, high = 0, len(rules) - 1  # size grows with the count: binary search the largest fit
    best = attempt(0)
    while low <= high:
        middle = (low + high) // 2
        candidate = attempt(middle)
        if len(candidate[0].encode()) <= budget:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def _block(chosen: Sequence[Rule], left: Sequence[str], common: dict) -> str:
    groups: list[tuple[str, list[Rule]]] = []
    plain = [r for r in chosen if not r.scope]
    if plain:
        groups.append(("", plain))
    for scope, scoped in _scopes(chosen).items():
        groups.append((_scope_text(scope), scoped))
    return _render("rules_block.md.j2", groups=groups, omitted=list(left), **common)


def _scopes(rules: Sequence[Rule]) -> dict[tuple[str, ...], list[Rule]]:
    """Scoped rules grouped by identical scope, in a stable order (by scope)."""
    groups: dict[tuple[str, ...], list[Rule]] = {}
    for rule in rules:
        if rule.scope:
            groups.setdefault(rule.scope, []).append(rule)
    return dict(sorted(groups.items()))


def _file_names(scopes: list[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """A readable name per scope; scopes whose names collide get a digest each."""
    slugs = {scope: scope_slug(scope) for scope in scopes}
    counts: dict[str, int] = {}
    for slug in slugs.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {scope: slug if counts[slug] == 1 else f"{slug}-{scope_digest(scope)}"
            for scope, slug in slugs.items()}


def _scope_text(scope: tuple[str, ...]) -> str:
    return ", ".join(f"`{glob}`" for glob in scope)


def _render(template: str, **context: object) -> str:
    from memsync.render import render_template

    return render_template(template, **context).rstrip("\n") + "\n"
