"""The export gate: what export does with observations that carry credentials (refuse, or redact)."""

from __future__ import annotations

import random

import pytest

from builders import observation
from memsync.devside.exporter import gate_export, safe_title
from memsync.errors import SecretsFound
from memsync.safety.secrets import SecretScanner
from memsync.scanner_cache import ScannerSetup, open_scanner
from safety.secret_corpus import GENERATORS  # the labelled token generators

_SCANNERS: dict[str, SecretScanner] = {}


@pytest.fixture(params=["hyperscan", "python"])
def scanner(request: pytest.FixtureRequest) -> SecretScanner:
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")
    if request.param not in _SCANNERS:
        _SCANNERS[request.param] = open_scanner(ScannerSetup(engine=request.param))
    return _SCANNERS[request.param]


def _token(rule_id: str, seed: int = 11) -> str:
    return GENERATORS[rule_id](random.Random(seed))


def test_gate_export_passes_clean_observations_through(scanner):
    batch = [observation(title="a"), observation(title="b")]
    assert gate_export(scanner, batch, redact=False) == batch


def test_gate_export_refuses_and_names_titles_and_rules_never_secrets(scanner):
    gh, hf = _token("github-pat"), _token("huggingface")
    batch = [
        observation(title="Clean one"),
        observation(title=f"Token {gh} in the title", narrative=f"and {hf} here"),
        observation(title="Env dump", facts=[f"HF_TOKEN={hf}"]),
    ]
    with pytest.raises(SecretsFound) as caught:
        gate_export(scanner, batch, redact=False)
    message = str(caught.value)
    assert "\n" not in message
    assert gh not in message and hf not in message
    assert '"Token [REDACTED:github-pat] in the title" (github-pat, huggingface)' in message
    assert '"Env dump" (huggingface)' in message
    assert "Clean one" not in message
    assert message.startswith("export refused: 2 observations contain credentials")


def test_gate_export_lists_at_most_five_titles(scanner):
    batch = [observation(title=f"n{i}", narrative=_token("npm", i)) for i in range(8)]
    with pytest.raises(SecretsFound, match="and 3 more"):
        gate_export(scanner, batch, redact=False)


def test_gate_export_with_redaction_returns_redacted_copies(scanner):
    gh = _token("github-pat")
    clean = observation(title="clean")
    dirty = observation(title="dirty", narrative=f"use {gh}")
    out = gate_export(scanner, [clean, dirty], redact=True)
    assert out[0] == clean
    assert out[1]["narrative"] == "use [REDACTED:github-pat]"
    assert dirty["narrative"] == f"use {gh}"
    assert scanner.scan_observations(out) == [[], []]


def test_safe_title_redacts_before_truncating(scanner):
    gh = _token("github-pat")
    obs = observation(title="word " * 14 + gh)
    shown = safe_title(scanner, obs, 80)
    assert len(shown) <= 80
    assert shown.startswith("word word") and shown.endswith("[REDACTED:github-pat]"[:9] + "…")
    assert gh[:6] not in shown
