"""What mem-sync may echo of a value that came from a contribution.

Every value a report, a quarantine reason, an annotation or a page repeats from its input goes
through here: text is scanned whole (never a prefix, which could be the first characters of a
token the scanner would recognise only in full) and its credentials replaced before it is cut;
a name (project, developer, file) that carries a credential is never shown at all, only a
digest that lets its owner find it (``printf %s NAME | sha256sum``).

Pure: the scanner is handed in; None (``--secrets off``) shows everything as it is.
"""

from __future__ import annotations

import hashlib

from memsync.safety.secrets import SecretScanner, redact

ELLIPSIS = "…"


def credential_rules(text: str, scanner: SecretScanner | None) -> list[str]:
    """The rules that match somewhere in ``text`` (empty: nothing to hide)."""
    if scanner is None:
        return []
    return sorted({finding.rule for finding in scanner.scan_text(text)})


def shown(text: str, scanner: SecretScanner | None, limit: int | None = None, *, ellipsis: str = ELLIPSIS) -> str:
    """``text`` with its credentials redacted, then cut to ``limit`` characters (in that order,
    so a cut can never leave the visible half of a token unrecognised)."""
    findings = scanner.scan_text(text) if scanner is not None else []
    if findings:
        text = redact(text, findings)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - len(ellipsis))] + ellipsis
    return text


def name_label(name: str, rules: list[str]) -> str:
    """How a name that carries a credential is shown: the rules and a digest of the name."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"[REDACTED:{','.join(rules)} sha256:{digest}]"


def shown_name(name: str, scanner: SecretScanner | None) -> str:
    """A name as it may be printed: itself, or its label when it carries a credential."""
    rules = credential_rules(name, scanner)
    return name_label(name, rules) if rules else name


def shown_path(path: str, scanner: SecretScanner | None) -> str:
    """A repository-relative posix path with every component that carries a credential
    replaced by its label (one scan in the usual clean case)."""
    if not credential_rules(path, scanner):
        return path
    parts = "/".join(shown_name(part, scanner) for part in path.split("/"))
    return parts if not credential_rules(parts, scanner) else shown(parts, scanner)  # a token across a "/"
