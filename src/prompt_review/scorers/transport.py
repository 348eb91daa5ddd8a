"""How MLflow's judges reach their model: our endpoint, key, retries, timeout and counter.

MLflow's built-in judges and ``make_judge`` post through its gateway adapter, which in
mlflow 3.17.2 offers no argument or setting for what a review needs: the key is read from
``OPENAI_API_KEY`` (required even by a keyless local server), the endpoint from
``OPENAI_BASE_URL`` (``Correctness(base_url=...)`` is silently ignored), a 429/5xx is
retried 10 times with 1-30 s waits (~190 s per call), and the timeout is 300 s. Setting
those variables would leak into every other reader of the environment, so the adapter's
two seams, ``_get_provider_instance`` and ``send_chat_request`` of
``mlflow.genai.judges.adapters.gateway_adapter``, are replaced once (``install``) by
functions that defer to MLflow's own unless a ``JudgeCall`` is active in the current
context; our scorers activate one around each judge call (``JudgeCall.active``). The
request body, the response parsing and the ``{result, rationale}`` schema stay MLflow's.

``install`` also keeps MLflow on its bundled model catalog
(``tracking.use_bundled_model_catalog``): otherwise the first judge call of a process
downloads it from GitHub (measured: 7 s offline) just to look up a context size and a price.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from prompt_review.errors import InfrastructureError

_ADAPTER = "mlflow.genai.judges.adapters.gateway_adapter"
_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})
_DETAIL_LIMIT = 300
_MAX_RETRY_AFTER = 30.0  # longer asks wait this long: the attempts stay bounded anyway
_current: ContextVar[JudgeCall | None] = ContextVar("prompt_review_judge_call", default=None)
_install_lock = threading.Lock()
_originals: dict[str, Any] = {}


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Bounded and fast: ``max_retries`` more attempts after a 408/409/429/5xx, a timeout or
    a refused connection, waiting what ``Retry-After`` asks (at most 30 s) or else
    ``base_delay * 2**n`` (capped at ``max_delay``, minus up to 25 % jitter)."""

    max_retries: int = 4
    timeout_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        wait = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        return wait * random.uniform(0.75, 1.0)  # jitter, not cryptography


class JudgeCounter:
    """Judge calls (one per scorer and example) and HTTP attempts; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._attempts = 0

    @property
    def calls(self) -> int:
        with self._lock:
            return self._calls

    @property
    def attempts(self) -> int:
        with self._lock:
            return self._attempts

    def add_call(self) -> None:
        with self._lock:
            self._calls += 1

    def add_attempt(self) -> None:
        with self._lock:
            self._attempts += 1


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where one judge model is served (``base_url`` ends before ``/chat/completions``)."""

    base_url: str
    api_key: str = field(repr=False)


@dataclass(kw_only=True)
class JudgeCall:
    """One judge call in flight: where it goes, under which policy, and how it ended."""

    endpoint: Endpoint
    policy: RetryPolicy
    counter: JudgeCounter
    slots: threading.BoundedSemaphore
    attempts: int = 0
    failure: str | None = None  # why the last attempt failed: "HTTP 500", "cannot connect"
    detail: str = ""  # what the server said

    @contextlib.contextmanager
    def active(self) -> Iterator[JudgeCall]:
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload``; retry what may pass on a second try; raise MLflow's error type."""
        import requests
        from mlflow.genai.judges.adapters.utils import ChatCompletionError, is_context_window_error

        url = self.endpoint.base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {self.endpoint.api_key}"}
        while True:
            self.attempts += 1
            self.counter.add_attempt()
            wait: float | None = None
            try:
                with self.slots:
                    response = requests.post(
                        url, headers=headers, json=payload, timeout=self.policy.timeout_seconds
                    )
            except requests.Timeout:
                self.failure = f"no response within {self.policy.timeout_seconds:g} s"
            except requests.ConnectionError as err:
                self.failure, self.detail = "cannot connect", _first_line(err)
            else:
                status = response.status_code
                if status < 400:
                    return self._json(response)
                self.failure, self.detail = f"HTTP {status}", self._redact(_error_detail(response))
                if status not in _RETRYABLE or self.attempts > self.policy.max_retries:
                    raise ChatCompletionError(
                        status, self.detail, is_context_window_error(self.detail)
                    )
                wait = _retry_after(response.headers)
            if self.attempts > self.policy.max_retries:
                raise InfrastructureError(self.failure)
            time.sleep(self.policy.delay(self.attempts) if wait is None else wait)

    def _json(self, response: Any) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            self.failure, self.detail = "the response is not JSON", _shorten(response.text)
            raise InfrastructureError(self.failure) from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            self.failure = "the response is not a chat completion"
            self.detail = _shorten(json.dumps(body))
            raise InfrastructureError(self.failure)
        return body

    def _redact(self, text: str) -> str:
        key = self.endpoint.api_key
        return text.replace(key, "***") if key else text


def install() -> None:
    """Route MLflow's judge requests through the active ``JudgeCall`` (idempotent)."""
    with _install_lock:
        if _originals:
            return
        import importlib

        from prompt_review.tracking import use_bundled_model_catalog

        use_bundled_model_catalog()
        adapter = importlib.import_module(_ADAPTER)
        missing = [
            n for n in ("_get_provider_instance", "send_chat_request") if not hasattr(adapter, n)
        ]
        if missing:
            import mlflow

            raise InfrastructureError(
                f"mlflow {mlflow.__version__} has no {_ADAPTER}.{missing[0]}: prompt-review's "
                "judges need the mlflow-skinny version it pins"
            )
        _originals["provider"] = getattr(adapter, "_get_provider_instance")  # noqa: B009
        _originals["send"] = getattr(adapter, "send_chat_request")  # noqa: B009
        setattr(adapter, "_get_provider_instance", _provider_instance)  # noqa: B010
        setattr(adapter, "send_chat_request", _send_chat_request)  # noqa: B010


def _provider_instance(provider: str, model: str, base_url: str | None = None) -> Any:
    call = _current.get()
    if call is None or provider != "openai":
        return _originals["provider"](provider, model, base_url=base_url)
    from mlflow.gateway.config import EndpointConfig, OpenAIConfig
    from mlflow.gateway.providers.openai import OpenAIProvider

    # Only its request/response translation is used: send() supplies the URL and the key.
    config = OpenAIConfig(
        openai_api_key="set-by-prompt-review", openai_api_base=call.endpoint.base_url
    )
    route: dict[str, Any] = {
        "name": provider,
        "endpoint_type": "llm/v1/chat",
        "model": {"provider": provider, "name": model, "config": config.model_dump()},
    }
    return OpenAIProvider(EndpointConfig(**route))


def _send_chat_request(
    endpoint: str, headers: dict[str, str], payload: dict[str, Any], num_retries: int
) -> dict[str, Any]:
    call = _current.get()
    if call is None:
        return dict(_originals["send"](endpoint, headers, payload, num_retries))
    return call.send(payload)


def _retry_after(headers: Any) -> float | None:
    """The wait a 429/503 asks for, in seconds (``Retry-After-Ms`` or ``Retry-After``)."""
    for name, unit in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name)) * unit
        except (TypeError, ValueError):
            continue
        if not math.isnan(seconds):
            return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
    return None


def _error_detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return _shorten(response.text) or response.reason or "no detail"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return _shorten(error["message"])
    return _shorten(str(error if error is not None else body))


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return _shorten(lines[0]) if lines else type(err).__name__


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"
