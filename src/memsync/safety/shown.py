"""What mem-sync may echo of a value that came from a contribution.

Every value a report, a quarantine reason, an annotation or a page repeats from its input goes
through here: text is scanned whole (never a prefix, which could be the first characters of a
token the scanner would recognise only in full) and its credentials replaced before it is cut;
a name (project, developer, file) that carries a credential is never shown at all, only a
digest that lets its owner find it (``printf %s NAME | sha256sum``).
"""

from __future__ import annotations

import hashlib

from memsync.safety import secrets

ELLIPSIS = "…"


def credential_rules(text: str) -> list[str]:
    """The rules that match somewhere in ``text`` (empty: nothing to hide)."""
    return sorted({finding.rule for finding in secrets.scan_text(text)})


def shown(text: str, limit: int | None = None, *, ellipsis: str = ELLIPSIS) -> str:
    """``text`` with its credentials redacted, then cut to ``limit`` characters (in that order,
    so a cut can never leave the visible half of a token unrecognised)."""
    findings = secrets.scan_text(text)
    if findings:
        text = secrets.redact(text, findings)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - len(ellipsis))] + ellipsis
    return text


def name_label(name: str, rules: list[str]) -> str:
    """How a name that carries a credential is shown: the rules and a digest of the name."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"[REDACTED:{','.join(rules)} sha256:{digest}]"


def shown_name(name: str) -> str:
    """A name as it may be printed: itself, or its label when it carries a credential."""
    rules = credential_rules(name)
    return name_label(name, rules) if rules else name


def shown_path(path: str) -> str:
    """A repository-relative posix path with every component that carries a credential
    replaced by its label (one scan in the usual clean case)."""
    if not secrets.scan_text(path):
        return path
    parts = "/".join(shown_name(part) for part in path.split("/"))
    return parts if not secrets.scan_text(parts) else shown(parts)  # a token across a "/"
