"""Distillation settings: claude-mem-sync's ``distillation.*`` fields (same defaults) plus ours.

Resolution order: built-in defaults, then the config file's ``global.distillation``, then
command-line flags (which CI fills from its variables). Pure: the caller hands in the
config section and the flags.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from memsync.errors import ConfigError, UsageError

PROVIDERS = ("anthropic", "bedrock", "vertex", "openai")
# claude-mem-sync calls the OpenAI-compatible GitHub Models endpoint "github-copilot".
PROVIDER_ALIASES = {"github-copilot": "openai", "github-models": "openai", "openai-compatible": "openai"}
GITHUB_MODELS_URL = "https://models.github.ai/inference"
DEFAULT_MODEL = "claude-sonnet-4-20250514"
SCHEDULES = ("after-merge", "weekly", "manual")


@dataclass(frozen=True)
class DistillSettings:
    enabled: bool = False
    allow_external_api: bool = False
    provider: str = "anthropic"
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    min_observations: int = 20
    exclude_types: tuple[str, ...] = ()
    max_token_budget: int = 100_000  # estimated input tokens of one call
    max_output_tokens: int = 16_384
    reviewers: tuple[str, ...] = ()
    schedule: str = "after-merge"
    timeout_seconds: float = 600.0
    max_retries: int = 2  # the SDKs' own retries of 429/529/5xx, honouring retry-after
    api_key_env: str | None = None  # variable holding the key (default per provider)
    region: str | None = None  # bedrock / vertex
    vertex_project: str | None = None
    price_per_mtok: Mapping[str, Any] | None = None  # {"input": USD, "output": USD}

    @property
    def endpoint(self) -> str | None:
        """Where requests go; None is the SDK's own default (Anthropic, Bedrock, Vertex).
        An OpenAI-compatible provider without a baseUrl means GitHub Models."""
        if self.base_url:
            return self.base_url
        return GITHUB_MODELS_URL if self.provider == "openai" else None

    @property
    def in_house(self) -> bool:
        """A loopback or private ``baseUrl``: the data never leaves the company's network."""
        return bool(self.base_url) and is_private_url(self.base_url or "")

    def opt_in_problem(self) -> str | None:
        """Why the double opt-in forbids sending, or None when sending is allowed."""
        if not self.enabled:
            return ("distillation is disabled; set distillation.enabled to true in the config "
                    "(or pass --enable)")
        if not self.allow_external_api and not self.in_house:
            where = self.base_url or _public_endpoint(self.provider)
            return (f"sending observations to {where} needs distillation.allowExternalApi = true "
                    "(or --allow-external-api); a loopback or private --base-url needs only enabled")
        return None


def _public_endpoint(provider: str) -> str:
    return {"anthropic": "api.anthropic.com", "bedrock": "Amazon Bedrock",
            "vertex": "Google Vertex AI", "openai": "models.github.ai"}[provider]


def is_private_url(url: str) -> bool:
    """True for http(s) URLs whose host is ``localhost`` or a loopback/private/link-local IP.

    Host names other than localhost do not count, even ``*.internal``: whether they resolve
    inside the network cannot be told from the name, and a wrong guess would send data out
    without the second opt-in.
    """
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def normalize_provider(name: str) -> str:
    provider = PROVIDER_ALIASES.get(name, name)
    if provider not in PROVIDERS:
        choices = ", ".join((*PROVIDERS, *PROVIDER_ALIASES))
        raise UsageError(f"unknown distillation provider {name!r}; use one of: {choices}")
    return provider


def settings_from_config(section: Mapping[str, Any] | None) -> DistillSettings:
    """``global.distillation`` of the config file; a wrong type names the field and the fix."""
    section = section or {}
    if not isinstance(section, Mapping):
        raise ConfigError("global.distillation must be an object; edit the config file")
    base = DistillSettings()

    def get(name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = section.get(name, default)
        if value is None:
            return default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"global.distillation.{name} has the wrong type ({value!r}); "
                              "edit the config file (docs/distill.md lists the fields)")
        return value

    provider = get("provider", str, base.provider)
    settings = DistillSettings(
        enabled=get("enabled", bool, base.enabled),
        allow_external_api=get("allowExternalApi", bool, base.allow_external_api),
        provider=normalize_provider(provider),
        model=get("model", str, base.model),
        base_url=get("baseUrl", str, None),
        min_observations=get("minObservations", int, base.min_observations),
        exclude_types=tuple(get("excludeTypes", list, [])),
        max_token_budget=get("maxTokenBudget", int, base.max_token_budget),
        max_output_tokens=get("maxOutputTokens", int, base.max_output_tokens),
        reviewers=tuple(get("reviewers", list, [])),
        schedule=get("schedule", str, base.schedule),
        timeout_seconds=float(get("timeoutSeconds", (int, float), base.timeout_seconds)),
        api_key_env=get("apiKeyEnv", str, None),
        region=get("region", str, None),
        vertex_project=get("vertexProject", str, None),
        price_per_mtok=get("pricePerMTok", dict, None),
    )
    if settings.schedule not in SCHEDULES:
        raise ConfigError(f"global.distillation.schedule must be one of {', '.join(SCHEDULES)}, "
                          f"got {settings.schedule!r}; edit the config file")
    return check(settings)


def with_overrides(settings: DistillSettings, **overrides: Any) -> DistillSettings:
    """Flags win over the file; None means "not given"."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if "provider" in given:
        given["provider"] = normalize_provider(given["provider"])
    return check(replace(settings, **given))


def check(settings: DistillSettings) -> DistillSettings:
    if settings.max_token_budget < 2_000:
        raise ConfigError(f"distillation.maxTokenBudget must be at least 2000, got "
                          f"{settings.max_token_budget}; a smaller budget leaves no room for one "
                          "observation beside the instructions")
    if settings.max_output_tokens < 256:
        raise ConfigError("distillation.maxOutputTokens must be at least 256")
    if settings.min_observations < 0:
        raise ConfigError("distillation.minObservations must be 0 or more")
    if settings.base_url and urlsplit(settings.base_url).scheme not in ("http", "https"):
        raise ConfigError(f"distillation.baseUrl must be an http(s) URL, got {settings.base_url!r}")
    return settings
