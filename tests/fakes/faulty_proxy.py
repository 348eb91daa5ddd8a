"""A reverse proxy on loopback that forwards to a real server, failing the requests it is told to.

Put in front of the session's `mlflow server`, it lets a test break one MLflow call in the
middle of a review (e.g. the evaluation run's creation, after the prompt version was
registered) while every other call reaches the real server::

    with FaultyProxy(mlflow_server.uri) as proxy:
        proxy.fail("POST", r"/api/2\\.0/mlflow/runs/create", 503)
        ...  # point the client at proxy.url

``hold(method, path_regex)`` keeps the next matching request waiting (``held`` is set when
it arrives) until ``release()``, then answers it 503: the client is known to be blocked
inside that call, e.g. inside an open MLflow run, when the test acts.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass
class _Fault:
    method: str
    path_regex: str
    status: int


class FaultyProxy:
    """Forwards every request to ``upstream`` unless a fault matches its method and path."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self.failed: list[tuple[str, str]] = []
        self._hold: tuple[str, str] | None = None
        self.held = threading.Event()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, method: str, path_regex: str, status: int = 503) -> None:
        """Answer every matching request (method, whole path without query) with ``status``."""
        with self._lock:
            self._faults.append(_Fault(method.upper(), path_regex, status))

    def hold(self, method: str, path_regex: str) -> None:
        """Keep the next matching request waiting until ``release()``."""
        with self._lock:
            self._hold = (method.upper(), path_regex)

    def release(self) -> None:
        self._released.set()

    def _held(self, method: str, path: str) -> bool:
        with self._lock:
            hold = self._hold
            if hold is None or hold[0] != method or not re.fullmatch(hold[1], path):
                return False
            self._hold = None
        self.held.set()
        self._released.wait(timeout=600)
        return True

    def _fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and re.fullmatch(fault.path_regex, path):
                    self.failed.append((method, path))
                    return fault
        return None

    def forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
        try:
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _handler(proxy: FaultyProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            fault = proxy._fault(self.command, path)
            if fault is not None or proxy._held(self.command, path):
                payload = json.dumps(
                    {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected fault"}
                ).encode()
                status = fault.status if fault is not None else 503
                self._send(status, [("Content-Type", "application/json")], payload)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            status, answer_headers, payload = proxy.forward(self.command, self.path, headers, body)
            kept = [(k, v) for k, v in answer_headers if k.lower() not in _HOP_BY_HOP]
            self._send(status, kept, payload)

        def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client went away (e.g. a process killed mid-request)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
