"""A labelled secret corpus, generated deterministically at test time.

Tokens are built to each provider's exact format (with valid CRC32 checksums for GitHub's
classic tokens and npm's) from a seeded RNG, so no key-shaped literal sits in the source
tree for other scanners to trip on. The checksum here is computed independently of
memsync's validator (zlib + an own base62), so a wrong validator cannot agree with itself.
"""

from __future__ import annotations

import base64
import hashlib
import random
import string
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora" / "secrets"

B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
HEX = "0123456789abcdef"
URLSAFE = string.ascii_letters + string.digits + "_-"
BASE32 = string.ascii_uppercase + "234567"
LETTERS = string.ascii_letters
LOWER_DIGITS = string.ascii_lowercase + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
AZURE_BODY = string.ascii_letters + string.digits + "_~.-"


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b62(value: int, width: int) -> str:
    out = ""
    while value:
        value, rem = divmod(value, 62)
        out = B62[rem] + out
    return out.rjust(width, "0")


def checksummed(prefix: str, rng: random.Random) -> str:
    """GitHub classic / npm format: 30 random base62 characters + CRC32 in 6 base62 digits."""
    random_part = pick(rng, B62, 30)
    return prefix + random_part + _b62(zlib.crc32(random_part.encode()) & 0xFFFFFFFF, 6)


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + pick(rng, string.digits, n - 1)


def _pem(rng: random.Random, label: str, *, lines: int = 12, block: bool = False) -> str:
    body = base64.b64encode(rng.randbytes(48 * lines)).decode()
    wrapped = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    kind = f"{label}PRIVATE KEY{' BLOCK' if block else ''}"
    armor = "Version: GnuPG v2\n\n" if block else ""
    tail = "\n=" + pick(rng, B62, 4) if block else ""
    return f"-----BEGIN {kind}-----\n{armor}{wrapped}{tail}\n-----END {kind}-----"


# One generator per rule id: the token, exactly as the provider issues it.
GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "aws-access-key": lambda r: "AKIA" + pick(r, BASE32, 16),
    "aws-access-key-asia": lambda r: "ASIA" + pick(r, BASE32, 16),
    "aws-access-key-abia": lambda r: "ABIA" + pick(r, BASE32, 16),
    "aws-access-key-acca": lambda r: "ACCA" + pick(r, BASE32, 16),
    "github-pat": lambda r: checksummed("ghp_", r),
    "github-oauth": lambda r: checksummed("gho_", r),
    "github-app-user": lambda r: checksummed("ghu_", r),
    "github-app-server": lambda r: checksummed("ghs_", r),
    "github-refresh": lambda r: checksummed("ghr_", r),
    "github-fine-grained-pat": lambda r: "github_pat_" + pick(r, B62, 22) + "_" + pick(r, B62, 59),
    "gitlab-pat": lambda r: "glpat-" + pick(r, URLSAFE, 20),
    "gitlab-pat-routable": lambda r: (
        "glpat-" + pick(r, URLSAFE, 31) + ".01." + pick(r, LOWER_DIGITS, 7)
    ),
    "gitlab-deploy-token": lambda r: "gldt-" + pick(r, URLSAFE, 20),
    "gitlab-runner-auth": lambda r: "glrt-" + pick(r, URLSAFE, 20),
    "gitlab-runner-auth-routable": lambda r: (
        "glrt-t1_" + pick(r, URLSAFE, 27) + "." + pick(r, LOWER_DIGITS, 9)
    ),
    "gitlab-runner-registration": lambda r: "GR1348941" + pick(r, URLSAFE, 20),
    "gitlab-pipeline-trigger": lambda r: "glptt-" + pick(r, HEX, 40),
    "gitlab-feed-token": lambda r: "glft-" + pick(r, URLSAFE, 20),
    "gitlab-oauth-app-secret": lambda r: "gloas-" + pick(r, URLSAFE, 64),
    "gitlab-scim-token": lambda r: "glsoat-" + pick(r, URLSAFE, 20),
    "gitlab-incoming-mail-token": lambda r: "glimt-" + pick(r, URLSAFE, 25),
    "gitlab-agent-token": lambda r: "glagent-" + pick(r, URLSAFE, 50),
    "slack-bot": lambda r: f"xoxb-{_digits(r, 12)}-{_digits(r, 13)}-{pick(r, B62, 24)}",
    "slack-bot-legacy": lambda r: f"xoxb-{_digits(r, 12)}-{pick(r, B62, 24)}",
    "slack-user": lambda r: (
        f"xoxp-{_digits(r, 11)}-{_digits(r, 11)}-{_digits(r, 12)}-{pick(r, HEX, 32)}"
    ),
    "slack-app": lambda r: (
        f"xapp-1-A{pick(r, UPPER_DIGITS, 10)}-{_digits(r, 13)}-{pick(r, HEX, 64)}"
    ),
    "slack-legacy": lambda r: (
        f"xoxs-{_digits(r, 10)}-{_digits(r, 10)}-{_digits(r, 12)}-{pick(r, HEX, 64)}"
    ),
    "slack-legacy-workspace": lambda r: f"xoxa-2-{pick(r, B62, 40)}",
    "slack-config-access": lambda r: "xoxe.xoxp-1-" + pick(r, UPPER_DIGITS, 163),
    "slack-config-refresh": lambda r: "xoxe-1-" + pick(r, UPPER_DIGITS, 146),
    "slack-webhook": lambda r: (
        "https://hooks.slack.com/services/T"
        + pick(r, UPPER_DIGITS, 8) + "/B" + pick(r, UPPER_DIGITS, 10) + "/" + pick(r, B62, 24)
    ),
    "anthropic": lambda r: "sk-ant-api03-" + pick(r, URLSAFE, 93) + "AA",
    "anthropic-admin": lambda r: "sk-ant-admin01-" + pick(r, URLSAFE, 93) + "AA",
    "openai": lambda r: (
        "sk-proj-" + pick(r, URLSAFE, 74) + "T3BlbkFJ" + pick(r, URLSAFE, 74)
        if r.random() < 0.5
        else "sk-" + pick(r, B62, 20) + "T3BlbkFJ" + pick(r, B62, 20)
    ),
    "huggingface": lambda r: "hf_" + pick(r, LETTERS, 34),
    "huggingface-org": lambda r: "api_org_" + pick(r, LETTERS, 34),
    "npm": lambda r: checksummed("npm_", r),
    "pypi": lambda r: "pypi-AgEIcHlwaS5vcmc" + pick(r, URLSAFE, 150),
    "databricks": lambda r: "dapi" + pick(r, HEX, 32),
    "pulumi": lambda r: "pul-" + pick(r, HEX, 40),
    "postman": lambda r: "PMAK-" + pick(r, HEX, 24) + "-" + pick(r, HEX, 34),
    "terraform-cloud": lambda r: (
        pick(r, B62, 14) + ".atlasv1." + pick(r, string.ascii_letters + string.digits, 67)
    ),
    "stripe-test": lambda r: "sk_test_51" + pick(r, B62, 97),
    "stripe-prod": lambda r: "sk_live_" + pick(r, B62, 24),
    "stripe-restricted-prod": lambda r: "rk_live_51" + pick(r, B62, 97),
    "stripe-restricted-test": lambda r: "rk_test_" + pick(r, B62, 24),
    "stripe-webhook-secret": lambda r: "whsec_" + pick(r, B62, 32),
    "shopify": lambda r: "shpat_" + pick(r, HEX, 32),
    "shopify-custom-app": lambda r: "shpca_" + pick(r, HEX, 32),
    "shopify-private-app": lambda r: "shppa_" + pick(r, HEX, 32),
    "shopify-shared-secret": lambda r: "shpss_" + pick(r, HEX, 32),
    "twilio": lambda r: "SK" + pick(r, HEX, 32),
    "sendgrid": lambda r: "SG." + pick(r, URLSAFE, 22) + "." + pick(r, URLSAFE, 43),
    "digitalocean": lambda r: "dop_v1_" + pick(r, HEX, 64),
    "digitalocean-oauth": lambda r: "doo_v1_" + pick(r, HEX, 64),
    "digitalocean-refresh": lambda r: "dor_v1_" + pick(r, HEX, 64),
    "gcp-api-key": lambda r: "AIzaSy" + pick(r, URLSAFE, 33),
    "azure-ad-client-secret": lambda r: (
        pick(r, string.ascii_letters + string.digits, 3) + str(r.randint(7, 8)) + "Q~"
        + pick(r, string.ascii_letters + string.digits, 2) + pick(r, AZURE_BODY, 32)
    ),
    "private-key-pkcs8": lambda r: _pem(r, ""),
    "private-key-rsa": lambda r: _pem(r, "RSA ", lines=20),
    "private-key-openssh": lambda r: _pem(r, "OPENSSH "),
    "private-key-ec": lambda r: _pem(r, "EC ", lines=3),
    "private-key-dsa": lambda r: _pem(r, "DSA "),
    "private-key-encrypted": lambda r: _pem(r, "ENCRYPTED "),
    "private-key-pgp": lambda r: _pem(r, "PGP ", block=True),
    "private-key": lambda r: _pem(r, "SSH2 ENCRYPTED "),
}

# Where people paste credentials in session notes.
CONTEXTS: tuple[str, ...] = (
    "While wiring the deploy job I pasted {tok} into the runner config; rotate it after the demo.",
    "GITHUB_TOKEN={tok}\nNODE_ENV=production\nLOG_LEVEL=debug",
    '{{"auth": {{"token": "{tok}", "scheme": "bearer"}}, "retries": 3}}',
    'curl -sS -H "Authorization: Bearer {tok}" https://api.internal.test/v1/items?page=2',
    "credentials:\n  api_key: '{tok}'\n  region: eu-west-1\n",
    "```bash\nexport API_KEY={tok}\nnpm run release\n```\nThe release script reads API_KEY.",
    "Found the bug: the client was built with key={tok} (from the old .env), so every call 401'd.",
)
PEM_CONTEXTS: tuple[str, ...] = (
    "Key used by the staging bastion (do not share):\n{tok}\nStored in the vault afterwards.",
    '{{"ssh_key": "{tok_json}"}}',
    "SSH_PRIVATE_KEY=\"{tok}\"",
)


def positives(seed: int = 20261122) -> list[tuple[str, str, str]]:
    """(rule id, text, token) for every rule in every context."""
    rng = random.Random(seed)
    out = []
    for rule_id, make in GENERATORS.items():
        contexts = PEM_CONTEXTS if rule_id.startswith("private-key") else CONTEXTS
        for context in contexts:
            token = make(rng)
            text = context.format(tok=token, tok_json=token.replace("\n", "\\n"))
            shown = token.replace("\n", "\\n") if "{tok_json}" in context else token
            out.append((rule_id, text, shown))
    return out


# --- negatives ------------------------------------------------------------------------------

_PROSE = (
    "We rotate the deploy token every 30 days; the secret lives in the CI settings, never here.",
    "Password reset emails were failing because the SMTP password env var was empty in staging.",
    "The API key field in the settings page now masks its value and shows only the last 4 chars.",
    "Decided to store session tokens in an httpOnly cookie instead of localStorage (XSS risk).",
    "Use `gh auth login` instead of pasting a personal access token into the config file.",
    "Token budget: the summarizer keeps the prompt under 8k tokens by truncating old facts.",
    "secretlint and gitleaks disagree on generic-api-key; we only keep prefix-based rules.",
    "The keychain stores the private key; the app only ever sees a signing handle.",
    "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the OIDC role, not from a file.",
    "Refactored tokenize() so that the tokenizer's vocabulary is loaded once per process.",
    "Bearer tokens are checked by the gateway; the service itself trusts X-User-Id.",
    "Migrated secrets to SOPS; `sops -d secrets.enc.yaml` now needs the age key on the laptop.",
)

_PLACEHOLDERS = (
    "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "ghp_0000000000000000000000000000000000000",
    "gho_************************************",
    "github_pat_XXXXXXXXXXXXXXXXXXXXXX_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "GITHUB_TOKEN=<your-token>",
    "token: ${{ secrets.GITHUB_TOKEN }}",
    "export GITLAB_TOKEN=$GITLAB_TOKEN",
    "glpat-XXXXXXXXXXXXXXXXXXXX",
    "glpat-xxxxxxxxxxxxxxxxxxxx",
    "glpat-<your-personal-access-token>",
    "GR1348941xxxxxxxxxxxxxxxxxxxx",
    "sk-ant-...",
    "sk-ant-api03-...",
    "ANTHROPIC_API_KEY=sk-ant-api03-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "OPENAI_API_KEY=sk-...",
    "OPENAI_API_KEY=sk-proj-xxxxxxxxxxxxxxxxxxxx",
    "AKIAIOSFODNN7EXAMPLE",
    "aws_access_key_id = AKIAI44QH8DHBEXAMPLE",
    "AKIAXXXXXXXXXXXXXXXX",
    "AKIA0000000000000000",
    "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/...",
    "xoxb-your-bot-token",
    "xoxb-xxxxxxxxxxxx-xxxxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx",
    "xoxp-0000000000-0000000000-0000000000-00000000000000000000000000000000",
    "sk_test_placeholder",
    "sk_test_your_stripe_secret_key",
    "STRIPE_SECRET_KEY=sk_live_XXXXXXXXXXXXXXXXXXXXXXXX",
    "rk_live_************************",
    "npm_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
    "pypi-AgEIcHlwaS5vcmc...",
    "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "HF_TOKEN=hf_...",
    "shpat_00000000000000000000000000000000",
    "shpss_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "dapiXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "dop_v1_0000000000000000000000000000000000000000000000000000000000000000",
    "PMAK-xxxxxxxxxxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "pul-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxx.atlasv1.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "apiKey: 'AIza...'",
    "SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "client_secret=abc8Q~xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----\n<paste your key here>\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----",
    "Paste the key between -----BEGIN PRIVATE KEY----- and -----END PRIVATE KEY----- lines.",
    "sk_" + "test_4eC39HqLyjWDarjtT1zdp7dc",  # Stripe API reference sample, split on purpose
)


def _truncated(rng: random.Random) -> list[str]:
    """Tokens cut short, as people do when they mention one without leaking it."""
    out = []
    for rule_id in ("github-pat", "npm", "gitlab-pat", "aws-access-key", "huggingface",
                    "anthropic", "openai", "slack-bot", "stripe-prod", "databricks",
                    "digitalocean", "gcp-api-key", "shopify", "pulumi"):
        token = GENERATORS[rule_id](rng)
        cut = token[: max(6, len(token) // 2 - 2)]
        out.append(f"The old token started with {cut}… and was revoked on Monday.")
        out.append(f"key prefix: {cut[:8]}****")
    return out


def everyday_notes(seed: int = 7) -> list[str]:
    """Notes with hashes, ids and credential vocabulary but nothing token-shaped: the raw
    prefilter should not even flag a file of these."""
    rng = random.Random(seed)
    out: list[str] = list(_PROSE)
    for _ in range(25):
        out.append(f"Request id {uuid.UUID(int=rng.getrandbits(128), version=4)} timed out.")
        sha = hashlib.sha1(rng.randbytes(16)).hexdigest()
        out.append(f"Fixed in commit {sha} (cherry-picked to release/2.4 as {sha[:12]}).")
        digest = hashlib.sha256(rng.randbytes(16)).hexdigest()
        out.append(f'"digest": "sha256:{digest}"')
        blob = base64.b64encode(rng.choice(_PROSE).encode()).decode()
        out.append(f"The fixture stores the message base64-encoded: {blob}")
        integrity = base64.b64encode(hashlib.sha512(rng.randbytes(8)).digest()).decode()
        out.append(f'"integrity": "sha512-{integrity}"')
    return out


def negatives(seed: int = 7) -> list[str]:
    """Realistic text that holds no credential: at least 200 strings."""
    rng = random.Random(seed)
    out = everyday_notes(seed) + list(_PLACEHOLDERS) + _truncated(rng)
    identifiers = (
        "handleGithubPatTokenRefreshWithRetryAndBackoffForEnterpriseServer",
        "hf_requiredCharacteristicTypesForDisplayMetadata",
        "SKU_INVENTORY_RECONCILIATION_BATCH_SIZE_OVERRIDE_FOR_WAREHOUSE",
        "AKIA_PREFIX_LENGTH_CONSTANT",
        "task_test_runner_configuration_loader",
        "useAnthropicSkAntApiKeyFromEnvironmentOrThrow",
        "ghp_token_validation_regex",
        "xoxb_scopes_required_for_chat_write",
        "dapi_client_factory",
        "npm_config_registry",
        "pypi_upload_retry_count",
        "sk_test_mode_enabled",
        "desk-lamp-controller",
        "risk-analysis-report",
        "ask-anthropic-support",
        "ASIAPACIFICREGIONSETTINGS",
        "ACCAUNTING_EXPORT_FORMAT",
    )
    for ident in identifiers:
        out.append(f"Renamed `{ident}` while cleaning up the module.")
    out.extend(
        [
            "arn:aws:iam::123456789012:role/github-actions-deploy",
            "Account 123456789012 owns the bucket; the role trust policy allows the OIDC provider.",
            "-----BEGIN PUBLIC KEY-----\n"
            + "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(5))
            + "\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\n"
            + "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(8))
            + "\n-----END CERTIFICATE-----",
            "ssh-ed25519 " + base64.b64encode(rng.randbytes(51)).decode() + " dev@laptop",
            "Twilio account SID AC" + "".join(rng.choice(HEX) for _ in range(32)) + " is not secret.",
            "The docs say: cd ~/projects && ls ~/.ssh/ && cat ~/.gitconfig",
            "Tilde paths like ~/8Q~notes were confusing the path normaliser.",
            "Use `SG.` as the prefix check in the SendGrid adapter, nothing more.",
            "The model id is `claude-sonnet-4-5` and the endpoint is /v1/messages.",
            "AIza is the prefix of Google API keys; ours comes from Secret Manager.",
            "Commit abc1234 introduced the hf_hub_download cache bug.",
            "Stripe keys look like sk_live_ followed by random characters; never paste one.",
            "The webhook URL lives in SLACK_WEBHOOK_URL (hooks.slack.com) and is read at boot.",
            "xoxb- tokens are bot tokens; xoxp- tokens are user tokens.",
            "PMAK- keys are Postman's; rotate from the Postman dashboard.",
            "dop_v1_ is the DigitalOcean PAT prefix.",
            # AWS documentation marks its sample keys with EXAMPLE inside the body
            "-----BEGIN RSA PRIVATE KEY-----\nEXAMPLE"
            + base64.b64encode(rng.randbytes(300)).decode()
            + "\n-----END RSA PRIVATE KEY-----",
        ]
    )
    return out


# --- corpora read in place ----------------------------------------------------------------------

def read_jsonl(name: str) -> list[dict]:
    import json

    path = CORPUS_DIR / name
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def corpus_available() -> bool:
    return (CORPUS_DIR / "gitleaks_positives.jsonl").is_file()
