"""The `openai` provider: chat completions from any OpenAI-compatible server (OpenAI, Azure
OpenAI's v1 endpoint, vLLM, Ollama, LiteLLM, MLflow AI Gateway) through the official SDK.

Retries are ours, not the SDK's (it is built with ``max_retries=0``): the SDK treats
``Retry-After: 0`` as "no header" and backs off 0.5-8 s, has no knob for the base delay,
and does not say how many attempts a failed call took.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

from prompt_review.config import ModelConfig
from prompt_review.errors import UserInputError
from prompt_review.providers.base import (
    Completion,
    Message,
    ProviderError,
    ToolCall,
    tool_calls_text,
)

if TYPE_CHECKING:
    import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_API_KEY = "not-needed"
"""Sent to a custom base URL when no key is set: local servers ignore it, the SDK needs one."""
RESERVED_PARAMS = frozenset({"model", "messages", "stream"})
SETTINGS_PARAMS = frozenset({"response_format", "tools", "tool_choice"})
_DETAIL_LIMIT = 500


class OpenAIProvider:
    """Thread-safe; one SDK client per (base URL, key), reused by every call.

    ``max_retries`` extra attempts follow a 408, 409, 429, 5xx, timeout or connection error,
    waiting what ``Retry-After``/``Retry-After-Ms`` asks (giving up at once when that is more
    than ``max_retry_after`` seconds) or else ``retry_base_delay * 2**n`` seconds, capped at
    ``retry_max_delay``, minus up to 25 % jitter so parallel callers spread out.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_retries: int = 4,
        timeout_seconds: float = 60.0,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
        max_retry_after: float = 120.0,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, not {max_retries}")
        self._api_key = api_key
        self._base_url = base_url
        self._organization = organization
        self._project = project
        self._max_retries = max_retries
        self._timeout_seconds = timeout_seconds
        self._retry_base_delay = retry_base_delay
        self._retry_max_delay = retry_max_delay
        self._max_retry_after = max_retry_after
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], openai.OpenAI] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **options: Any) -> OpenAIProvider:
        """Read the variables the SDK documents; empty values count as unset."""
        return cls(
            api_key=environ.get("OPENAI_API_KEY") or None,
            base_url=environ.get("OPENAI_BASE_URL") or None,
            organization=environ.get("OPENAI_ORG_ID") or None,
            project=environ.get("OPENAI_PROJECT_ID") or None,
            **options,
        )

    def check(self, model: ModelConfig) -> None:
        """Raise UserInputError for what would fail every call, before any call is made."""
        self._endpoint(model)
        _request_body(model)

    def complete(self, messages: Sequence[Message], model: ModelConfig) -> Completion:
        import openai

        body = _request_body(model)
        base_url, api_key = self._endpoint(model)
        client = self._client(base_url, api_key)
        where = f"openai provider: model {model.name!r} at {_display_url(base_url)}"
        attempt = 0
        while True:
            attempt += 1
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model=model.name, messages=cast(Any, list(messages)), extra_body=body
                )
                return _completion(raw.http_response, where, attempt)
            except openai.APIStatusError as err:
                delay = self._status_retry_delay(err, attempt)
                if delay is None:
                    message = self._status_message(where, err, attempt, api_key)
                    raise ProviderError(message, status=err.status_code, attempts=attempt) from None
            except openai.APIConnectionError as err:
                if attempt > self._max_retries:
                    raise ProviderError(
                        self._connection_message(where, err, attempt), attempts=attempt
                    ) from err
                delay = self._backoff(attempt)
            except _Malformed as err:
                # A proxy's error page, a truncated or garbled body: the next try may be fine.
                if attempt > self._max_retries:
                    raise ProviderError(
                        f"{where}: unusable response after {_attempts(attempt)}: "
                        f"{_redact(str(err), api_key)}. Check that the base URL points at an "
                        "OpenAI-compatible chat completions endpoint (usually ending in /v1).",
                        attempts=attempt,
                    ) from None
                delay = self._backoff(attempt)
            except openai.OpenAIError as err:
                raise ProviderError(
                    f"{where}: unusable response after {_attempts(attempt)}: "
                    f"{_redact(str(err), api_key)}. Check that the base URL points at an "
                    "OpenAI-compatible endpoint.",
                    attempts=attempt,
                ) from None
            time.sleep(delay)

    def close(self) -> None:
        """Close the HTTP connection pools; a later call opens new ones."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> OpenAIProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        key = "<set>" if self._api_key else "<unset>"
        return (
            f"OpenAIProvider(base_url={self._base_url!r}, api_key={key}, "
            f"max_retries={self._max_retries}, timeout_seconds={self._timeout_seconds})"
        )

    def _endpoint(self, model: ModelConfig) -> tuple[str, str]:
        custom_url = model.base_url or self._base_url
        if self._api_key:
            return custom_url or DEFAULT_BASE_URL, self._api_key
        if custom_url:
            return custom_url, PLACEHOLDER_API_KEY
        raise UserInputError(
            f"openai provider: no API key for model {model.name!r} at {DEFAULT_BASE_URL}: "
            "set OPENAI_API_KEY (in the Action, pass it through `env:` from a secret), or set "
            "OPENAI_BASE_URL or the model's base_url to an OpenAI-compatible server that "
            "needs no key"
        )

    def _client(self, base_url: str, api_key: str) -> openai.OpenAI:
        with self._lock:
            client = self._clients.get((base_url, api_key))
            if client is None:
                import openai

                client = openai.OpenAI(
                    api_key=api_key,
                    base_url=base_url,
                    organization=self._organization,
                    project=self._project,
                    max_retries=0,
                    timeout=self._timeout_seconds,
                )
                self._clients[(base_url, api_key)] = client
            return client

    def _backoff(self, attempt: int) -> float:
        delay = min(self._retry_base_delay * 2.0 ** (attempt - 1), self._retry_max_delay)
        return delay * random.uniform(0.75, 1.0)  # jitter, not cryptography

    def _status_retry_delay(self, err: openai.APIStatusError, attempt: int) -> float | None:
        if attempt > self._max_retries or not _is_retryable(err):
            return None
        retry_after = _retry_after_seconds(err.response.headers)
        if retry_after is None:
            return self._backoff(attempt)
        return retry_after if retry_after <= self._max_retry_after else None

    def _status_message(
        self, where: str, err: openai.APIStatusError, attempts: int, api_key: str
    ) -> str:
        status = err.status_code
        retry_after = _retry_after_seconds(err.response.headers)
        if _is_retryable(err) and retry_after is not None and retry_after > self._max_retry_after:
            hint = (
                f"The server asked to wait {retry_after:.0f} s before retrying, more than "
                f"{self._max_retry_after:.0f} s; try again later."
            )
        else:
            hint = _status_hint(status, err.code)
        detail = _redact(_error_detail(err), api_key)
        return f"{where}: HTTP {status} after {_attempts(attempts)}: {detail}. {hint}"

    def _connection_message(self, where: str, err: Exception, attempts: int) -> str:
        import openai

        if isinstance(err, openai.APITimeoutError):
            return (
                f"{where}: no response within {self._timeout_seconds:g} s, "
                f"{_attempts(attempts)}. Check that the server is healthy, or lower the "
                "evaluation concurrency."
            )
        cause = f" ({err.__cause__})" if err.__cause__ else ""
        return (
            f"{where}: cannot connect{cause}, {_attempts(attempts)}. Check that the server is "
            "running and that OPENAI_BASE_URL or the model's base_url is right."
        )


def _request_body(model: ModelConfig) -> dict[str, Any]:
    """Everything but model and messages goes in the JSON body as is, so server-specific
    parameters (vLLM's ``top_k``, ``max_completion_tokens``, ...) pass through any SDK version.
    """
    reserved = sorted(RESERVED_PARAMS & model.params.keys())
    if reserved:
        raise UserInputError(
            f"model.params: {', '.join(reserved)} cannot be set for the openai provider "
            "(prompt-review sets them itself); remove them"
        )
    settings = sorted(SETTINGS_PARAMS & model.params.keys())
    if settings:
        raise UserInputError(
            f"model.params: set {', '.join(settings)} as model.{settings[0]}, not in params: "
            "there it is registered with the prompt version and part of its identity"
        )
    body: dict[str, Any] = {}
    if model.temperature is not None:
        body["temperature"] = model.temperature
    if model.max_tokens is not None:
        body["max_tokens"] = model.max_tokens
    if model.response_format is not None:
        body["response_format"] = openai_response_format(model.response_format)
    if model.tools:
        body["tools"] = model.tools
    if model.tool_choice is not None:
        body["tool_choice"] = model.tool_choice
    body.update(model.params)
    return body


def openai_response_format(response_format: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's form of a prompt's response_format: a bare JSON Schema (what MLflow stores
    for a Pydantic class) is wrapped as ``json_schema``, named after its title."""
    if response_format.get("type") in ("json_schema", "json_object", "text"):
        return dict(response_format)
    title = str(response_format.get("title") or "response")
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", title)[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(response_format)}}


class _HTTPResponse(Protocol):
    """What we read of the SDK's HTTP response (httpx's, or httpx2's in openai 3)."""

    @property
    def text(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def status_code(self) -> int: ...


class _Malformed(Exception):
    """The server answered 2xx with a body that is not a chat completion."""


def _completion(response: _HTTPResponse, where: str, attempts: int) -> Completion:
    """Parse the body ourselves: the SDK builds objects from any JSON without checking it,
    and lets a body that is not JSON escape as a bare ``JSONDecodeError``."""
    text = response.text
    try:
        data = json.loads(text)
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise _Malformed(f"the body is not JSON ({kind}: {_shorten(text)!r})") from None
    if not isinstance(data, dict):
        raise _Malformed(f"the body is JSON but not an object ({_shorten(text)!r})")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            raise _Malformed(f"HTTP {response.status_code} with an error: {error['message']!r}")
        raise _Malformed(f"the response has no choices ({_shorten(text)!r})")
    message = choices[0].get("message")
    finish_reason = choices[0].get("finish_reason")
    if not isinstance(message, dict):
        raise _Malformed(f"choices[0] has no message ({_shorten(text)!r})")
    usage = data.get("usage")
    answer = Completion(
        text="",
        input_tokens=_int_or_none(usage.get("prompt_tokens")) if isinstance(usage, dict) else None,
        output_tokens=(
            _int_or_none(usage.get("completion_tokens")) if isinstance(usage, dict) else None
        ),
        attempts=attempts,
    )
    if message.get("tool_calls"):
        calls = _tool_calls(message["tool_calls"])
        return replace(answer, text=tool_calls_text(calls), tool_calls=calls)
    content = message.get("content")
    if isinstance(content, str):
        if not content and finish_reason == "length":
            raise ProviderError(
                f"{where}: the model hit its token limit before writing any text; raise "
                "max_tokens (reasoning models spend tokens before they answer).",
                attempts=attempts,
            )
        return replace(answer, text=content)
    refusal = message.get("refusal")
    if refusal or finish_reason == "content_filter":
        because = f"the model refused: {_shorten(str(refusal))}" if refusal else "it was filtered"
        raise ProviderError(
            f"{where}: the response has no text content (finish_reason {finish_reason!r}): "
            f"{because}.",
            attempts=attempts,
        )
    raise _Malformed(
        f"the message has no text content and no tool calls (content {_shorten(repr(content))})"
    )


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        raise _Malformed("message.tool_calls is not a list")
    calls = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        arguments = function.get("arguments", "") if isinstance(function, dict) else None
        if not isinstance(name, str) or not isinstance(arguments, str):
            raise _Malformed(
                f"message.tool_calls[{index}] is not {{function: {{name, arguments}}}} "
                f"({_shorten(json.dumps(item))!r})"
            )
        try:
            parsed: Any = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            parsed = arguments
        call_id = item.get("id")
        calls.append(
            ToolCall(
                name=name,
                arguments=parsed,
                raw_arguments=arguments,
                id=call_id if isinstance(call_id, str) else None,
            )
        )
    return tuple(calls)


def _is_retryable(err: openai.APIStatusError) -> bool:
    should_retry = err.response.headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        return should_retry == "true"
    if err.status_code == 429 and err.code == "insufficient_quota":
        return False  # an exhausted quota does not come back within a retry
    return err.status_code in (408, 409, 429) or err.status_code >= 500


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    for name, seconds_per_unit in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * seconds_per_unit
        except ValueError:
            continue
        if not math.isnan(seconds):
            return max(seconds, 0.0)
    value = headers.get("retry-after")
    if value:
        try:
            retry_at = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, OverflowError):
            return None
        return max(retry_at - time.time(), 0.0)
    return None


def _status_hint(status: int, code: str | None) -> str:
    if status == 401:
        return "Check OPENAI_API_KEY: it is missing, wrong, or not valid for this server."
    if status == 403:
        return "The API key has no access to this model or project; check its permissions."
    if status == 404:
        return (
            "Check the model name and the base URL (OpenAI-compatible servers usually serve "
            "under /v1)."
        )
    if status in (400, 422):
        return (
            "The server rejected the request; check the model's temperature, max_tokens and "
            "params for this model."
        )
    if status == 429 and code == "insufficient_quota":
        return "The account has run out of quota; check its plan and billing."
    if status == 429:
        return "Rate limited; lower the evaluation concurrency or raise the rate limit."
    if status in (408, 409) or status >= 500:
        return "The server kept failing; try again later or check the server's health."
    return "See the server's documentation for this status."


def _error_detail(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return _shorten(body["message"])
    if isinstance(body, str) and body.strip():
        return _shorten(body)
    return _shorten(err.message)


def _redact(text: str, api_key: str) -> str:
    """Servers may echo the key back in an error; it must never reach a log or comment."""
    return text.replace(api_key, "***") if api_key else text


def _display_url(url: str) -> str:
    """The base URL without any user:password part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit(parts._replace(netloc=netloc))


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"
