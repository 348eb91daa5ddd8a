"""The `openai` provider: chat completions from any OpenAI-compatible server (OpenAI, Azure
OpenAI's v1 endpoint, vLLM, Ollama, LiteLLM, MLflow AI Gateway) through the official SDK.

Retries are ours, not the SDK's (it is built with ``max_retries=0``): the SDK treats
``Retry-After: 0`` as "no header" and backs off 0.5-8 s, has no knob for the base delay,
and does not say how many attempts a failed call took.
"""

from __future__ import annotations

import email.utils
import math
import random
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from prompt_review.config import ModelConfig
from prompt_review.errors import UserInputError
from prompt_review.providers.base import Completion, Message, ProviderError

if TYPE_CHECKING:
    import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_API_KEY = "not-needed"
"""Sent to a custom base URL when no key is set: local servers ignore it, the SDK needs one."""
RESERVED_PARAMS = frozenset({"model", "messages", "stream"})
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
                response = client.chat.completions.create(
                    model=model.name, messages=cast(Any, list(messages)), extra_body=body
                )
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
            except openai.OpenAIError as err:
                raise ProviderError(
                    f"{where}: unusable response after {_attempts(attempt)}: "
                    f"{_redact(str(err), api_key)}. Check that the base URL points at an "
                    "OpenAI-compatible endpoint.",
                    attempts=attempt,
                ) from None
            else:
                return _completion(response, where, attempt)
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
    body: dict[str, Any] = {}
    if model.temperature is not None:
        body["temperature"] = model.temperature
    if model.max_tokens is not None:
        body["max_tokens"] = model.max_tokens
    body.update(model.params)
    return body


def _completion(response: object, where: str, attempts: int) -> Completion:
    """Never turn a malformed or empty answer into an empty output silently."""
    if isinstance(response, str):
        raise ProviderError(
            f"{where}: the response is not JSON ({_shorten(response)!r}); check that the base "
            "URL points at an OpenAI-compatible endpoint, usually ending in /v1.",
            attempts=attempts,
        )
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise ProviderError(
            f"{where}: the response has no choices; check that the base URL points at an "
            "OpenAI-compatible chat completions endpoint.",
            attempts=attempts,
        )
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    finish_reason = getattr(choices[0], "finish_reason", None)
    if not isinstance(content, str):
        refusal = getattr(message, "refusal", None)
        because = f"; the model refused: {_shorten(str(refusal))}" if refusal else ""
        raise ProviderError(
            f"{where}: the response has no text content (finish_reason {finish_reason!r})"
            f"{because}. Tool calls and audio outputs are not supported; ask for text.",
            attempts=attempts,
        )
    if not content and finish_reason == "length":
        raise ProviderError(
            f"{where}: the model hit its token limit before writing any text; raise max_tokens "
            "(reasoning models spend tokens before they answer).",
            attempts=attempts,
        )
    usage = getattr(response, "usage", None)
    return Completion(
        text=content,
        input_tokens=_int_or_none(getattr(usage, "prompt_tokens", None)),
        output_tokens=_int_or_none(getattr(usage, "completion_tokens", None)),
        attempts=attempts,
    )


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
