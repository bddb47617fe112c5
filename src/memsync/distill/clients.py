"""The edge that talks to a model: the official SDKs, imported only when a call is made.

Anthropic's Messages API (``anthropic``; Bedrock and Vertex through the same package's
``AnthropicBedrock`` / ``AnthropicVertex``) answers through a forced tool call; any
OpenAI-compatible endpoint (``openai``: GitHub Models, a company's own server) through a
JSON-schema response format. The SDKs retry 429/529/5xx themselves, honouring retry-after;
what still fails becomes one line naming the cause and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from memsync.distill.answer import ANSWER_SCHEMA, TOOL_DESCRIPTION, TOOL_NAME
from memsync.distill.prompt import ModelRequest
from memsync.distill.settings import GITHUB_MODELS_URL, DistillSettings
from memsync.errors import MemSyncError


class ModelCallError(MemSyncError):
    """The provider refused or failed the call (one line: status, cause, fix)."""


@dataclass(frozen=True)
class ModelReply:
    answer: Any  # the tool input (dict) or the JSON text; None when the model gave neither
    truncated: bool  # the model ran out of output tokens
    input_tokens: int
    output_tokens: int
    stop_reason: str


class ModelClient(Protocol):
    label: str

    def complete(self, request: ModelRequest) -> ModelReply: ...


def default_key_env(settings: DistillSettings) -> str | None:
    if settings.api_key_env:
        return settings.api_key_env
    if settings.provider == "anthropic":
        return "ANTHROPIC_API_KEY"
    if settings.provider == "openai":
        return "GITHUB_TOKEN" if settings.endpoint == GITHUB_MODELS_URL else "OPENAI_API_KEY"
    return None  # bedrock / vertex: the cloud's own credential chain


def make_client(settings: DistillSettings, env: Mapping[str, str]) -> ModelClient:
    key_env = default_key_env(settings)
    key = env.get(key_env) if key_env else None
    if key_env and not key and not settings.in_house:
        raise ModelCallError(f"no API key: set {key_env} (or distillation.apiKeyEnv to the "
                             "variable that holds it)")
    if settings.provider in ("anthropic", "bedrock", "vertex"):
        return _AnthropicClient(settings, key)
    return _OpenAIClient(settings, key or "unused")  # in-house servers often take no key


def _sdk(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ModelCallError(f"the {name} package is not installed; install it with: "
                             "pip install 'mem-sync[distill]'") from None


def _with_extra(extra: str, build: Any) -> Any:
    try:
        return build()
    except ImportError:
        raise ModelCallError(f"the {extra} client needs the SDK's extra; install it with: "
                             f"pip install 'anthropic[{extra}]'") from None


def _host(url: str | None, fallback: str) -> str:
    return (urlsplit(url).netloc.rsplit("@", 1)[-1] if url else fallback) or fallback


class _AnthropicClient:
    def __init__(self, settings: DistillSettings, key: str | None) -> None:
        anthropic = _sdk("anthropic")  # ~1 s of imports: only when a call is actually made
        self.settings = settings
        common: dict[str, Any] = {"base_url": settings.base_url, "max_retries": settings.max_retries,
                                  "timeout": settings.timeout_seconds}
        if settings.provider == "bedrock":
            self.client = _with_extra("bedrock", lambda: anthropic.AnthropicBedrock(
                aws_region=settings.region, **common))
            self.label = "Amazon Bedrock"
        elif settings.provider == "vertex":
            vertex: dict[str, Any] = {}
            if settings.region:
                vertex["region"] = settings.region
            if settings.vertex_project:
                vertex["project_id"] = settings.vertex_project
            self.client = _with_extra("vertex", lambda: anthropic.AnthropicVertex(**vertex,
                                                                                  **common))
            self.label = "Google Vertex AI"
        else:
            self.client = anthropic.Anthropic(api_key=key, **common)
            self.label = f"Anthropic ({_host(settings.base_url, 'api.anthropic.com')})"

    def complete(self, request: ModelRequest) -> ModelReply:
        import anthropic

        try:
            message = self.client.messages.create(
                model=self.settings.model,
                max_tokens=request.max_output_tokens,
                system=request.system,
                messages=[{"role": "user", "content": request.user}],
                tools=[{"name": TOOL_NAME, "description": TOOL_DESCRIPTION,
                        "input_schema": ANSWER_SCHEMA}],
                tool_choice={"type": "tool", "name": TOOL_NAME},
            )
        except anthropic.APIError as error:
            raise ModelCallError(describe_error(error, self.label, self.settings)) from None
        answer = next((block.input for block in message.content
                       if getattr(block, "type", None) == "tool_use"
                       and getattr(block, "name", None) == TOOL_NAME), None)
        usage = message.usage
        return ModelReply(answer=answer, truncated=message.stop_reason == "max_tokens",
                          input_tokens=int(usage.input_tokens or 0),
                          output_tokens=int(usage.output_tokens or 0),
                          stop_reason=str(message.stop_reason))


class _OpenAIClient:
    def __init__(self, settings: DistillSettings, key: str) -> None:
        openai = _sdk("openai")
        self.settings = settings
        endpoint = settings.endpoint
        self.client = openai.OpenAI(api_key=key, base_url=endpoint, max_retries=settings.max_retries,
                                    timeout=settings.timeout_seconds)
        self.label = ("GitHub Models" if endpoint == GITHUB_MODELS_URL
                      else f"OpenAI-compatible endpoint {_host(endpoint, 'api.openai.com')}")

    def complete(self, request: ModelRequest) -> ModelReply:
        import openai

        try:
            completion = self.client.chat.completions.create(
                model=self.settings.model,
                max_tokens=request.max_output_tokens,
                messages=[{"role": "system", "content": request.system},
                          {"role": "user", "content": request.user}],
                response_format={"type": "json_schema", "json_schema": {
                    "name": TOOL_NAME, "description": TOOL_DESCRIPTION,
                    "schema": ANSWER_SCHEMA, "strict": True}},
            )
        except openai.APIError as error:
            raise ModelCallError(describe_error(error, self.label, self.settings)) from None
        choice = completion.choices[0] if completion.choices else None
        usage = completion.usage
        finish = str(choice.finish_reason) if choice else "none"
        return ModelReply(answer=choice.message.content if choice else None,
                          truncated=finish == "length",
                          input_tokens=int(usage.prompt_tokens or 0) if usage else 0,
                          output_tokens=int(usage.completion_tokens or 0) if usage else 0,
                          stop_reason=finish)


def _provider_message(error: Any) -> str:
    body = getattr(error, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
    text = " ".join(str(message or getattr(error, "message", "") or error).split())
    return text[:200]


def describe_error(error: Exception, label: str, settings: DistillSettings) -> str:
    """One line for a failed call; duck-typed so both SDKs' errors read the same."""
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    retries = settings.max_retries
    key_env = default_key_env(settings) or "the cloud credentials"
    if name == "APITimeoutError":
        return (f"{label} did not answer within {settings.timeout_seconds:g} s (timeout); retry, "
                "or raise distillation.timeoutSeconds, or lower maxTokenBudget for smaller calls")
    if name == "APIConnectionError":
        return f"cannot reach {label}: {_provider_message(error)}; check the network and baseUrl"
    detail = _provider_message(error)
    if status == 401:
        return f"{label} rejected the credentials (401: {detail}); check {key_env}"
    if status == 403:
        return (f"{label} refused access (403: {detail}); the key lacks permission for model "
                f"{settings.model!r} or for this endpoint")
    if status == 404:
        return (f"model {settings.model!r} was not found at {label} (404: {detail}); check "
                "distillation.model (or --model)")
    if status == 429:
        return (f"{label} is rate limiting (429) after {retries} retries ({detail}); run again "
                "later or raise the account's limits")
    if status == 529 or name == "OverloadedError":
        return f"{label} is overloaded (529) after {retries} retries; run again later"
    if status is not None and status >= 500:
        return f"{label} failed ({status}) after {retries} retries ({detail}); run again later"
    if status is not None:
        return f"{label} refused the request ({status}: {detail})"
    return f"{label} call failed: {detail}"
