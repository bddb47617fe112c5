"""The one price table: US dollars per million tokens, by model name prefix. Pure.

List prices of the models people use for distillation (checked 2026-11). A model the table
does not know costs "unknown" unless ``distillation.pricePerMTok`` gives its prices; a model
served in-house is free of per-token charges: set its prices to 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memsync.errors import ConfigError


@dataclass(frozen=True)
class Price:
    input: float  # USD per million input tokens
    output: float


# Longest matching prefix wins; Bedrock ("anthropic.claude-...", "us.anthropic...") and GitHub
# Models ("openai/gpt-4o") spellings are normalised before the lookup.
PRICES: dict[str, Price] = {
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "gpt-4o": Price(2.5, 10.0),
    "gpt-4.1-nano": Price(0.1, 0.4),
    "gpt-4.1-mini": Price(0.4, 1.6),
    "gpt-4.1": Price(2.0, 8.0),
}


def normalized_model(model: str) -> str:
    name = model.lower().rsplit("/", 1)[-1]  # openai/gpt-4o, publishers/.../claude-...
    for prefix in ("us.", "eu.", "apac.", "global."):
        name = name.removeprefix(prefix)
    name = name.removeprefix("anthropic.")
    return name.split("@", 1)[0]  # Vertex: claude-sonnet-4@20250514


def price_of(model: str, override: Mapping[str, Any] | None = None) -> Price | None:
    if override:
        try:
            return Price(float(override["input"]), float(override["output"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigError("distillation.pricePerMTok must be {\"input\": USD, \"output\": USD} "
                              "per million tokens") from None
    name = normalized_model(model)
    matches = [prefix for prefix in PRICES if name.startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else None


def cost(price: Price | None, input_tokens: int, output_tokens: int) -> float | None:
    if price is None:
        return None
    return round((input_tokens * price.input + output_tokens * price.output) / 1_000_000, 4)
