"""The secret scanner's rule table: distinctive token formats, placeholder filters, checksums.

Every rule pairs an *anchor* with an exact *pattern*. The anchor is what the fast engine
(hyperscan, or the Python fallback) looks for; the pattern, run only where an anchor hit,
decides. Two promises hold the design together and are tested:

* every pattern match contains a match of its rule's anchor, so "no anchor hit" proves
  "no finding" (the prefilter may skip a whole file on that);
* anchors use only printable ASCII other than ``"``, ``\\`` and ``/``, never span a line and
  carry no boundary assertions, so the same bytes appear verbatim in any standard JSON
  encoding of a string that contains the match (the one exception, ``\\u00XX`` escapes of
  printable ASCII, is detected separately by the prefilter).

Generic keyword rules ("password = ...") are deliberately absent: they flood ordinary
developer notes with false positives. Only prefixes that mean "this is a credential" count.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# --- placeholder and variety checks ----------------------------------------------------------

# Part of secrets.rules_fingerprint: bump whenever a check below (code, not a pattern) changes
# what counts as a finding, so a merged index made under the old checks is rescanned.
CHECKS_REVISION = 2

# Words that only appear in hand-written stand-ins, never (practically) in random token bodies.
_PLACEHOLDER_WORDS = re.compile(
    r"example|placeholder|redacted|your|dummy|changeme|replace|insert", re.IGNORECASE
)
# Ten of a kind in a row: a stand-in ("XXXXXXXXXX", "0000000000"). Six was too few: a random
# 12-digit group of a Slack token holds six equal digits about once in 14,000 tokens, and a real
# secret must not pass for a placeholder; ten is a 1-in-10^9 event per position.
_LONG_RUN = re.compile(r"(.)\1{9}")

# SHA-256 of documented, publicly shared sample keys that have a real format. Stored as
# digests so this file neither trips other scanners nor carries anything key-shaped.
_DOCUMENTED_EXAMPLES = frozenset(
    {
        # the two test-mode secret keys printed throughout Stripe's API reference
        "2cafc0970149a84f3b9e62eaf169f36f59907a3b3e31f7b82e68c69cd27f7326",
        "f2d6ca16515033e5dce14eba840b979d27b5cbae24bb3e5bf484339667f86397",
    }
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_placeholder(body: str, *, min_distinct: int | None = None) -> bool:
    """True for stand-ins a person typed (``XXXX…``, ``your_key_here``, ``abcdef…``, ``1111…``).

    ``body`` is the part of a token that a real issuer fills with random characters; the
    thresholds leave a random body of that length a vanishing chance of being rejected.
    """
    n = len(body)
    if n == 0:
        return True
    if _PLACEHOLDER_WORDS.search(body) or _LONG_RUN.search(body):
        return True
    distinct = len(set(body))
    needed = min_distinct if min_distinct is not None else min(10, max(4, n // 3))
    if distinct < needed:
        return True
    if max(body.count(c) for c in set(body)) * 10 > n * 4:  # one character is over 40%
        return True
    if n >= 12:
        ascending = sum(1 for a, b in zip(body, body[1:], strict=False) if ord(b) == ord(a) + 1)
        if ascending * 5 > (n - 1) * 4:  # "abcdefgh…0123456789": over 80% ascending steps
            return True
    return False


# --- checksums -------------------------------------------------------------------------------

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62_fixed(value: int, width: int) -> str:
    """``value`` in base 62 (digits, upper, lower), left-padded with ``0`` to ``width``."""
    digits = []
    while value:
        value, rem = divmod(value, 62)
        digits.append(_BASE62[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def crc32_base62_valid(token: str, prefix_len: int) -> bool:
    """GitHub's classic tokens and npm's: 30 random base62 characters, then CRC32 of them in
    6 base62 characters. A match raises confidence; a mismatch never suppresses a finding."""
    random_part, checksum = token[prefix_len:-6], token[-6:]
    crc = binascii.crc32(random_part.encode("ascii", "replace")) & 0xFFFFFFFF
    return base62_fixed(crc, 6) == checksum


# --- the rule type ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    anchor: str  # hyperscan-and-re compatible; see the module docstring for its constraints
    pattern: LazyPattern  # exact format with boundaries; group "body" = the random part
    min_distinct: int | None = None
    placeholder_check: bool = True  # off for key blocks, whose bodies have long "AAAA" runs
    checksum: Callable[[str], bool] | None = None
    accept: Callable[[re.Match[str]], bool] | None = None  # extra format check

    def matches(self, text: str) -> Iterator[tuple[int, int, bool]]:
        """(start, end, verified) of every real (non-placeholder) match in ``text``."""
        for m in self.pattern.finditer(text):
            body = m.group("body") if "body" in self.pattern.groupindex else m.group(0)
            if body is None:
                continue
            token = m.group(0)
            verified = bool(self.checksum and self.checksum(token))
            # a valid checksum outweighs any look of a placeholder (1 in 2**32 by chance)
            if (
                not verified
                and self.placeholder_check
                and looks_like_placeholder(body, min_distinct=self.min_distinct)
            ):
                continue
            if self.accept is not None and not self.accept(m):
                continue
            if _DOCUMENTED_EXAMPLES and _digest(token) in _DOCUMENTED_EXAMPLES:
                continue
            yield m.start(), m.end(), verified


class LazyPattern:
    """A regex compiled on first use. Only rules whose anchor hits ever run their pattern, and
    compiling all of them up front was most of the cost of a merge with little new input."""

    __slots__ = ("pattern", "_compiled")

    def __init__(self, source: str) -> None:
        self.pattern = source
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:  # finditer, search, groupindex, ...
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, re.ASCII)
        return getattr(self._compiled, name)


def _rx(source: str) -> LazyPattern:
    return LazyPattern(source)


# Boundaries: a token may not be glued to more token characters on either side.
_L = r"(?<![A-Za-z0-9_])"
_R = r"(?![A-Za-z0-9_])"
_L_DASH = r"(?<![A-Za-z0-9_-])"
_R_DASH = r"(?![A-Za-z0-9_-])"


def _simple(
    rule_id: str,
    description: str,
    prefix: str,
    body: str,
    *,
    left: str = _L,
    right: str = _R,
    anchor_body: str | None = None,
    **kwargs,
) -> Rule:
    """A rule of the common shape ``<literal prefix><random body>``."""
    literal = re.escape(prefix)
    anchor_tail = anchor_body if anchor_body is not None else body
    # a shorter final repeat is still a prefix of every match, compiles faster and is as rare
    anchor_tail = re.sub(r"\{(\d+)\}$", lambda m: f"{{{min(8, int(m.group(1)))}}}", anchor_tail)
    return Rule(
        id=rule_id,
        description=description,
        anchor=literal + anchor_tail,
        pattern=_rx(f"{left}{literal}(?P<body>{body}){right}"),
        **kwargs,
    )


def _mixed_case(m: re.Match[str]) -> bool:
    """Hugging Face bodies are random letters: plenty of both cases, unlike identifiers."""
    body = m.group("body")
    upper = sum(1 for c in body if c.isupper())
    return upper >= 6 and len(body) - upper >= 6


def _hex_mixed(m: re.Match[str]) -> bool:
    """A random 32-digit hex string has letters and digits; ``SK`` + a decimal run is not a key."""
    body = m.group("body")
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


def _letters_and_digits(m: re.Match[str]) -> bool:
    body = m.group("body")
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


_B62 = "[A-Za-z0-9]"
_HEX = "[a-f0-9]"
_URLSAFE = "[A-Za-z0-9_-]"

_GH = lambda c: crc32_base62_valid(c, 4)  # noqa: E731 - ghp_/gho_/ghu_/ghs_/ghr_ and npm_
_AWS_BODY = "[A-Z2-7]{16}"

# --- private keys -----------------------------------------------------------------------------

# Lines inside a pasted key may be separated by real newlines or by literal "\n" sequences
# (keys quoted inside JSON or code), and may start with RFC 1421 / OpenPGP armor headers.
_SEP = r"(?:\s|\\{1,4}[nrt])"
# Each header and each body line is delimited unambiguously (a header value cannot hold a
# separator; body lines are separated by at least one), so a hostile paste cannot make the
# regex backtrack exponentially.
_PEM_TAIL = (
    rf"(?P<headers>(?:{_SEP}+[A-Za-z][A-Za-z0-9-]{{0,30}}:[^\n\\]{{0,200}})*)"
    rf"{_SEP}*(?P<body>[A-Za-z0-9+/=]+(?:{_SEP}+[A-Za-z0-9+/=]+)*)"
    rf"(?:{_SEP}*-----END[ A-Z0-9_-]{{0,100}}PRIVATE KEY(?: BLOCK)?-----)?"
)
_PEM_ANCHOR = "-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY"


_NOT_BASE64 = re.compile(r"\\{1,4}[nrt]|[^A-Za-z0-9+/]")


def _pem_body_ok(m: re.Match[str]) -> bool:
    """A real key body is long base64 with many distinct symbols ("anything" or "..." is not)."""
    body = _NOT_BASE64.sub("", m.group("body"))
    if len(body) < 64 or len(set(body)) < 20 or "EXAMPLE" in body:  # AWS docs' sample keys
        return False
    return max(body.count(c) for c in set(body)) * 10 <= len(body) * 4


def _pem(rule_id: str, description: str, label: str, *, block: bool = False) -> Rule:
    head = rf"-----BEGIN {label}PRIVATE KEY{' BLOCK' if block else ''}-----"
    return Rule(
        id=rule_id,
        description=description,
        anchor=_PEM_ANCHOR,
        pattern=_rx(head + _PEM_TAIL),
        placeholder_check=False,
        accept=_pem_body_ok,
    )


# --- the table ----------------------------------------------------------------------------------
# Order matters only to break ties between two rules matching the very same span.

RULES: tuple[Rule, ...] = (
    # AWS access key ids (base32 after a four-letter kind prefix)
    _simple("aws-access-key", "AWS access key id (AKIA)", "AKIA", _AWS_BODY,
            left=r"(?<![A-Za-z0-9])", right=r"(?![A-Za-z0-9])"),
    _simple("aws-access-key-asia", "AWS temporary access key id (ASIA)", "ASIA", _AWS_BODY,
            left=r"(?<![A-Za-z0-9])", right=r"(?![A-Za-z0-9])"),
    _simple("aws-access-key-abia", "AWS STS service bearer token id (ABIA)", "ABIA", _AWS_BODY,
            left=r"(?<![A-Za-z0-9])", right=r"(?![A-Za-z0-9])"),
    _simple("aws-access-key-acca", "AWS context-specific credential id (ACCA)", "ACCA", _AWS_BODY,
            left=r"(?<![A-Za-z0-9])", right=r"(?![A-Za-z0-9])"),
    # GitHub (classic formats carry a CRC32 checksum in their last six characters)
    _simple("github-pat", "GitHub personal access token (classic)", "ghp_", f"{_B62}{{36}}",
            left=r"(?<![A-Za-z0-9])", right="", checksum=_GH),
    _simple("github-oauth", "GitHub OAuth access token", "gho_", f"{_B62}{{36}}",
            left=r"(?<![A-Za-z0-9])", right="", checksum=_GH),
    _simple("github-app-user", "GitHub App user-to-server token", "ghu_", f"{_B62}{{36}}",
            left=r"(?<![A-Za-z0-9])", right="", checksum=_GH),
    _simple("github-app-server", "GitHub App installation (server-to-server) token", "ghs_",
            f"{_B62}{{36}}", left=r"(?<![A-Za-z0-9])", right="", checksum=_GH),
    _simple("github-refresh", "GitHub refresh token", "ghr_", f"{_B62}{{36}}",
            left=r"(?<![A-Za-z0-9])", right="", checksum=_GH),
    _simple("github-fine-grained-pat", "GitHub fine-grained personal access token",
            "github_pat_", "[A-Za-z0-9_]{82}", left=r"(?<![A-Za-z0-9])", right=""),
    # GitLab
    _simple("gitlab-pat", "GitLab personal access token", "glpat-", f"{_URLSAFE}{{20}}",
            right=_R_DASH),
    _simple("gitlab-pat-routable", "GitLab personal access token (routable format)", "glpat-",
            rf"{_URLSAFE}{{27,300}}\.[0-9a-z]{{2}}\.?[0-9a-z]{{7}}",
            anchor_body=f"{_URLSAFE}{{27}}", right=r"(?![A-Za-z0-9_.-])"),
    _simple("gitlab-deploy-token", "GitLab deploy token", "gldt-", f"{_URLSAFE}{{20}}",
            right=_R_DASH),
    _simple("gitlab-runner-auth", "GitLab runner authentication token", "glrt-",
            f"{_URLSAFE}{{20}}", right=_R_DASH),
    _simple("gitlab-runner-auth-routable", "GitLab runner authentication token (routable)",
            "glrt-", rf"(?:t[0-9]_)?{_URLSAFE}{{27,300}}\.[0-9a-z]{{2}}\.?[0-9a-z]{{7}}",
            anchor_body=f"{_URLSAFE}{{27}}", right=r"(?![A-Za-z0-9_.-])"),
    _simple("gitlab-runner-registration", "GitLab runner registration token", "GR1348941",
            f"{_URLSAFE}{{20}}", left=r"(?<![A-Za-z0-9])", right=_R_DASH),
    _simple("gitlab-pipeline-trigger", "GitLab pipeline trigger token", "glptt-",
            "[0-9a-f]{40}", right=_R_DASH),
    _simple("gitlab-feed-token", "GitLab feed token", "glft-", f"{_URLSAFE}{{20}}",
            right=_R_DASH),
    _simple("gitlab-oauth-app-secret", "GitLab OAuth application secret", "gloas-",
            f"{_URLSAFE}{{64}}", right=_R_DASH),
    _simple("gitlab-scim-token", "GitLab SCIM token", "glsoat-", f"{_URLSAFE}{{20}}",
            right=_R_DASH),
    _simple("gitlab-incoming-mail-token", "GitLab incoming mail token", "glimt-",
            f"{_URLSAFE}{{25}}", right=_R_DASH),
    _simple("gitlab-agent-token", "GitLab agent for Kubernetes token", "glagent-",
            f"{_URLSAFE}{{50}}", right=_R_DASH),
    # Slack
    _simple("slack-bot", "Slack bot token", "xoxb-",
            r"[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{20,40}",
            anchor_body="[0-9]{10}", right=_R_DASH),
    _simple("slack-bot-legacy", "Slack legacy bot token", "xoxb-",
            r"[0-9]{8,14}-[A-Za-z0-9]{18,26}", anchor_body="[0-9]{8}",
            right=_R_DASH),
    _simple("slack-user", "Slack user token", "xox",
            r"[pe]-[0-9]{9,14}-[0-9]{9,14}-[0-9]{9,14}-[A-Za-z0-9]{28,34}",
            anchor_body="[pe]-[0-9]{9}", left=_L_DASH, right=_R_DASH),
    _simple("slack-app", "Slack app-level token", "xapp-",
            r"[0-9]-[A-Z0-9]{9,12}-[0-9]{10,14}-[A-Za-z0-9]{32,80}",
            anchor_body="[0-9]-[A-Z0-9]{9}", right=_R_DASH),
    _simple("slack-legacy", "Slack legacy token", "xox",
            r"[os]-[0-9]{1,14}-[0-9]{1,14}-[0-9]{1,14}-[A-Fa-f0-9]{12,64}",
            anchor_body="[os]-[0-9]", left=_L_DASH, right=_R_DASH),
    _simple("slack-legacy-workspace", "Slack legacy workspace token", "xox",
            r"[ar]-(?:[0-9]-)?[A-Za-z0-9]{8,48}", anchor_body="[ar]-",
            left=_L_DASH, right=_R_DASH, accept=_letters_and_digits),
    _simple("slack-config-access", "Slack configuration access token", "xoxe.xox",
            r"[bp]-[0-9]-[A-Z0-9]{150,180}", anchor_body="[bp]-[0-9]-[A-Z0-9]{20}",
            left=_L_DASH, right=_R_DASH),
    _simple("slack-config-refresh", "Slack configuration refresh token", "xoxe-",
            r"[0-9]-[A-Z0-9]{140,160}", anchor_body="[0-9]-[A-Z0-9]{20}",
            left=_L_DASH, right=_R_DASH),
    Rule(
        id="slack-webhook",
        description="Slack incoming webhook or workflow trigger URL",
        anchor=r"hooks\.slack\.com",
        pattern=_rx(
            r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/"
            r"(?P<body>[A-Za-z0-9+/]{30,120})(?![A-Za-z0-9+/])"
        ),
    ),
    # AI providers
    _simple("anthropic", "Anthropic API key", "sk-ant-api03-", f"{_URLSAFE}{{93}}AA",
            anchor_body=f"{_URLSAFE}{{16}}", left=_L_DASH, right=_R_DASH),
    _simple("anthropic-admin", "Anthropic admin API key", "sk-ant-admin01-",
            f"{_URLSAFE}{{93}}AA", anchor_body=f"{_URLSAFE}{{16}}", left=_L_DASH,
            right=_R_DASH),
    Rule(
        id="openai",
        description="OpenAI API key (user, project, service account or admin)",
        anchor="T3BlbkFJ",  # base64 of "openai", embedded in every OpenAI key
        pattern=_rx(
            rf"{_L_DASH}sk-(?:(?:proj|svcacct|admin|None)-)?"
            rf"(?P<body>{_URLSAFE}{{16,200}}T3BlbkFJ{_URLSAFE}{{16,200}}){_R_DASH}"
        ),
    ),
    _simple("huggingface", "Hugging Face access token", "hf_", "[A-Za-z]{34}",
            accept=_mixed_case),
    _simple("huggingface-org", "Hugging Face organization API token", "api_org_",
            "[A-Za-z]{34}", accept=_mixed_case),
    # package registries and developer tools
    _simple("npm", "npm access token", "npm_", f"{_B62}{{36}}", right=r"(?![A-Za-z0-9])",
            checksum=_GH),
    _simple("pypi", "PyPI upload token", "pypi-AgEIcHlwaS5vcmc", f"{_URLSAFE}{{50,1000}}",
            anchor_body=f"{_URLSAFE}{{16}}", left=_L_DASH, right=_R_DASH),
    _simple("databricks", "Databricks personal access token", "dapi",
            r"[a-f0-9]{32}(?:-[0-9])?", anchor_body="[a-f0-9]{32}", right=_R_DASH),
    _simple("pulumi", "Pulumi access token", "pul-", f"{_HEX}{{40}}", right=_R_DASH),
    _simple("postman", "Postman API key", "PMAK-", "[a-fA-F0-9]{24}-[a-fA-F0-9]{34}",
            right=_R_DASH),
    Rule(
        id="terraform-cloud",
        description="HashiCorp Terraform Cloud / Enterprise API token",
        anchor=r"\.atlasv1\.[A-Za-z0-9_=-]{8}",
        pattern=_rx(
            r"(?<![A-Za-z0-9_])[A-Za-z0-9]{14}\.atlasv1\.(?P<body>[A-Za-z0-9_=-]{60,70})"
            r"(?![A-Za-z0-9_=-])"
        ),
    ),
    # payments and commerce
    _simple("stripe-test", "Stripe secret key (test mode)", "sk_test_", f"{_B62}{{20,247}}",
            anchor_body=f"{_B62}{{20}}", right=r"(?![A-Za-z0-9])"),
    Rule(
        id="stripe-prod",
        description="Stripe secret key (live mode)",
        anchor=f"sk_(?:live|prod)_{_B62}{{8}}",
        pattern=_rx(rf"{_L}sk_(?:live|prod)_(?P<body>{_B62}{{20,247}})(?![A-Za-z0-9])"),
    ),
    Rule(
        id="stripe-restricted-prod",
        description="Stripe restricted key (live mode)",
        anchor=f"rk_(?:live|prod)_{_B62}{{8}}",
        pattern=_rx(rf"{_L}rk_(?:live|prod)_(?P<body>{_B62}{{20,247}})(?![A-Za-z0-9])"),
    ),
    _simple("stripe-restricted-test", "Stripe restricted key (test mode)", "rk_test_",
            f"{_B62}{{20,247}}", anchor_body=f"{_B62}{{20}}", right=r"(?![A-Za-z0-9])"),
    _simple("stripe-webhook-secret", "Stripe webhook signing secret", "whsec_",
            f"{_B62}{{32,80}}", anchor_body=f"{_B62}{{32}}", right=r"(?![A-Za-z0-9])"),
    _simple("shopify", "Shopify access token", "shpat_", "[a-fA-F0-9]{32}",
            right=r"(?![A-Za-z0-9])"),
    _simple("shopify-custom-app", "Shopify custom app access token", "shpca_",
            "[a-fA-F0-9]{32}", right=r"(?![A-Za-z0-9])"),
    _simple("shopify-private-app", "Shopify private app access token", "shppa_",
            "[a-fA-F0-9]{32}", right=r"(?![A-Za-z0-9])"),
    _simple("shopify-shared-secret", "Shopify shared secret", "shpss_", "[a-fA-F0-9]{32}",
            right=r"(?![A-Za-z0-9])"),
    # communication
    _simple("twilio", "Twilio API key", "SK", "[0-9a-fA-F]{32}", accept=_hex_mixed),
    _simple("sendgrid", "SendGrid API key", "SG.", "[A-Za-z0-9_=.-]{66}",
            right=r"(?![A-Za-z0-9_=.-])"),
    # cloud
    _simple("digitalocean", "DigitalOcean personal access token", "dop_v1_", f"{_HEX}{{64}}",
            right=r"(?![A-Za-z0-9])"),
    _simple("digitalocean-oauth", "DigitalOcean OAuth access token", "doo_v1_",
            f"{_HEX}{{64}}", right=r"(?![A-Za-z0-9])"),
    _simple("digitalocean-refresh", "DigitalOcean OAuth refresh token", "dor_v1_",
            f"{_HEX}{{64}}", right=r"(?![A-Za-z0-9])"),
    _simple("gcp-api-key", "Google Cloud / Firebase API key", "AIza", f"{_URLSAFE}{{35}}",
            left=_L_DASH, right=_R_DASH),
    Rule(
        id="azure-ad-client-secret",
        description="Azure AD (Entra ID) application client secret",
        anchor="Q~[A-Za-z0-9_~.-]{8}",
        # the fourth character is a version digit, then the literal "Q~"; a secret sits
        # between quotes, spaces or assignment punctuation, never inside a longer word
        pattern=_rx(
            r"(?<![^\\'\"`\s>=:(,)\[{|])(?P<body>[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})"
            r"(?![^\\'\"`\s<),;\]}|&])"
        ),
        accept=_letters_and_digits,
    ),
    # private keys
    _pem("private-key-pkcs8", "PKCS #8 private key", ""),
    _pem("private-key-rsa", "RSA private key (PKCS #1)", "RSA "),
    _pem("private-key-openssh", "OpenSSH private key", "OPENSSH "),
    _pem("private-key-ec", "EC private key", "EC "),
    _pem("private-key-dsa", "DSA private key", "DSA "),
    _pem("private-key-encrypted", "encrypted PKCS #8 private key", "ENCRYPTED "),
    _pem("private-key-pgp", "PGP private key block", "PGP ", block=True),
    _pem("private-key", "private key block of another kind", "[A-Z0-9_-][ A-Z0-9_-]{0,98}"),
)

RULE_IDS: tuple[str, ...] = tuple(rule.id for rule in RULES)
