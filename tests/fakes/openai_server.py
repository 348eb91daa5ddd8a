"""A stub OpenAI-compatible server on loopback, for driving the real `openai` SDK over HTTP.

Serves ``POST /v1/chat/completions`` (the real response shape) and ``GET /v1/models``, with
HTTP/1.1 keep-alive like a real server. Tests steer it through attributes:

- ``responder``: request JSON -> reply text (default: echo the last user message), or a dict
  of assistant message fields, e.g. ``tool_call_reply(...)`` (``finish_reason`` "tool_calls");
- ``judge_responder``: a judge request (an MLflow LLM judge: a JSON-schema
  ``response_format`` asking for ``{result, rationale}``) -> ``(result, rationale)``, sent
  as that JSON object, or a ``str`` sent as the raw content (to serve malformed verdicts);
  the default answers the schema's type with a pass (``True``, ``1``, ``"yes"``);
- ``latency_seconds``: sleep before every chat completion answer;
- ``fail_next(status, times, headers, body, content_type, kind="generation")``: the next
  ``times`` chat completion requests of that kind (``"generation"`` or ``"judge"``) get this
  answer instead (an OpenAI-shaped error body unless ``body`` is given; a ``dict`` body is
  sent as JSON, so ``fail_next(200, body={...})`` serves a malformed completion; a str or
  bytes body is sent as is, with ``content_type`` when given, e.g. truncated JSON);
- ``api_key``: when set, a request without ``Authorization: Bearer <api_key>`` gets the 401
  OpenAI sends, which echoes the key it was given (so tests can check it is redacted).

``calls`` holds every generation request body received (faulted ones included), in arrival
order, and ``judge_calls`` every judge request; ``headers`` the generation requests'
headers and ``judge_headers`` the judge requests'; ``max_concurrency`` the most requests it
was answering at once.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import pytest

Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]
JudgeResponder = Callable[[dict[str, Any]], "tuple[Any, str] | str"]


def tool_call_reply(*calls: tuple[str, dict[str, Any] | str]) -> dict[str, Any]:
    """Assistant message fields asking for these (name, arguments) calls; a str argument is
    sent verbatim (so a test can send invalid JSON)."""
    return {
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
            for index, (name, arguments) in enumerate(calls)
        ],
    }


def echo_last_user_message(request: dict[str, Any]) -> str:
    """The default responder: the content of the last user message."""
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def is_judge_request(request: dict[str, Any]) -> bool:
    """MLflow's judges ask for a JSON object with ``result`` and ``rationale``."""
    response_format = request.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    return response_format.get("type") == "json_schema" and {"result", "rationale"} <= set(
        schema.get("properties") or {}
    )


def passing_verdict(request: dict[str, Any]) -> tuple[Any, str]:
    """The default judge: a pass in the type the schema asks for."""
    schema = request["response_format"]["json_schema"]["schema"]
    kind = schema["properties"]["result"].get("type")
    result = {"boolean": True, "integer": 1, "number": 1.0}.get(kind, "yes")
    return result, "stub judge: looks right"


@dataclass(frozen=True)
class Fault:
    status: int
    headers: dict[str, str]
    body: Any
    content_type: str | None = None


class OpenAIStub:
    """See the module docstring. Use as a context manager or call ``start``/``close``."""

    def __init__(
        self,
        *,
        responder: Responder = echo_last_user_message,
        judge_responder: JudgeResponder = passing_verdict,
        latency_seconds: float = 0.0,
        api_key: str | None = None,
        models: tuple[str, ...] = ("gpt-4o-mini",),
    ) -> None:
        self.responder = responder
        self.judge_responder = judge_responder
        self.latency_seconds = latency_seconds
        self.api_key = api_key
        self.models = models
        self._lock = threading.Lock()
        self._faults: dict[str, list[Fault]] = {"generation": [], "judge": []}
        self._calls: dict[str, list[dict[str, Any]]] = {"generation": [], "judge": []}
        self._headers: dict[str, list[dict[str, str]]] = {"generation": [], "judge": []}
        self._in_flight = 0
        self._max_concurrency = 0
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls["generation"])

    @property
    def headers(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._headers["generation"])

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self._calls["generation"])

    @property
    def judge_calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls["judge"])

    @property
    def judge_headers(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._headers["judge"])

    @property
    def judge_call_count(self) -> int:
        with self._lock:
            return len(self._calls["judge"])

    @property
    def max_concurrency(self) -> int:
        with self._lock:
            return self._max_concurrency

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        *,
        kind: str = "generation",
    ) -> None:
        fault = Fault(status, dict(headers or {}), body, content_type)
        with self._lock:
            self._faults[kind].extend([fault] * times)

    def start(self) -> OpenAIStub:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open keep-alive connections and wait for every handler."""
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Called from handler threads.

    def _answer_chat(self, request: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        sent_key = headers.get("authorization", "").removeprefix("Bearer ")
        authorized = self.api_key is None or sent_key == self.api_key
        kind = "judge" if is_judge_request(request) else "generation"
        with self._lock:
            self._calls[kind].append(request)
            self._headers[kind].append(headers)
            self._in_flight += 1
            self._max_concurrency = max(self._max_concurrency, self._in_flight)
            faults = self._faults[kind]
            fault = faults.pop(0) if faults and authorized else None
        try:
            if self.latency_seconds:
                self._stopping.wait(self.latency_seconds)
            if not authorized:
                message = f"Incorrect API key provided: {sent_key}."
                return 401, _error_body(message, "invalid_request_error", "invalid_api_key")
            return self._chat_reply(request, fault)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _chat_reply(self, request: dict[str, Any], fault: Fault | None) -> tuple[int, Any]:
        if fault is not None:
            return fault.status, fault
        if request.get("stream"):
            return 400, _error_body("stub: streaming is not supported", "invalid_request_error")
        if not isinstance(request.get("messages"), list) or "model" not in request:
            return 400, _error_body("stub: 'model' and 'messages' are required", "invalid_request")
        try:
            reply = self._reply(request)
        except Exception as err:  # a broken responder is a test bug: make it loud, not a hang
            return 500, _error_body(f"stub: responder raised {err!r}", "server_error")
        fields = {"content": reply} if isinstance(reply, str) else reply
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in request["messages"])
        completion_words = len((reply if isinstance(reply, str) else json.dumps(reply)).split())
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "refusal": None, **fields},
                    "logprobs": None,
                    "finish_reason": "tool_calls" if fields.get("tool_calls") else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": completion_words,
                "total_tokens": prompt_words + completion_words,
            },
            "system_fingerprint": "fp_stub",
        }

    def _reply(self, request: dict[str, Any]) -> str | dict[str, Any]:
        if not is_judge_request(request):
            return self.responder(request)
        verdict = self.judge_responder(request)
        if isinstance(verdict, str):
            return verdict
        result, rationale = verdict
        return json.dumps({"result": result, "rationale": rationale})

    def _models_body(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "stub"}
                for name in self.models
            ],
        }


def _error_body(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every handler thread
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], stub: OpenAIStub) -> None:
        super().__init__(address, handler)
        self.stub = stub
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake handlers blocked on an idle keep-alive connection so they can finish."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.stub._stopping.is_set():
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection ends after this long
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)
        if self.server.stub._stopping.is_set():  # accepted while closing: end it now
            self.server.close_connections()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") == "/v1/models":
            self._send(200, self.server.stub._models_body())
        else:
            self._send(404, _error_body(f"stub: no route GET {self.path}", "invalid_request"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.split("?")[0].rstrip("/") != "/v1/chat/completions":
            self._send(404, _error_body(f"stub: no route POST {self.path}", "invalid_request"))
            return
        try:
            request = json.loads(raw)
        except ValueError:
            self._send(400, _error_body("stub: the body is not JSON", "invalid_request_error"))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, reply = self.server.stub._answer_chat(request, headers)
        if isinstance(reply, Fault):
            body = reply.body
            if body is None:
                body = _error_body(f"stub: injected HTTP {status}", _error_type(status))
            self._send(status, body, reply.headers, reply.content_type)
        else:
            self._send(status, reply)

    def _send(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        if isinstance(body, bytes):
            payload, default_type = body, "application/octet-stream"
        elif isinstance(body, str):
            payload, default_type = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, default_type = json.dumps(body).encode(), "application/json"
        content_type = content_type or default_type
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_exceeded"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """A running stub; ``openai_stub.base_url`` goes in OPENAI_BASE_URL or model.base_url."""
    with OpenAIStub() as stub:
        yield stub
