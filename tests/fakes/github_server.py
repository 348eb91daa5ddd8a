"""A fake GitHub REST API on loopback, for driving the real PyGithub client over HTTP.

Serves what prompt-review uses, in the shapes GitHub answers (built from the recorded payloads
in ``tests/fixtures/github``): pull requests, their files, issue comments, commit statuses and
the pull requests of a commit, with ``Link`` pagination, authentication, rate-limit headers and
HTTP/1.1 keep-alive. ``prefix="/api/v3"`` serves it the way GitHub Enterprise Server does.

Tests seed state (``add_pull``, ``add_comment``, ...), read it back (``comments``,
``statuses``), inspect the request log (``requests``, ``count``) and inject faults:
``fail_next`` answers an error (optionally after the write took effect, or drops the
connection), ``read_only`` refuses every write the way a fork's token is refused.

Whose token it is decides who writes: by default an installation token like the Actions
``GITHUB_TOKEN`` (``ghs_...``), which ``GET /user`` refuses with 403 and whose comments and
statuses show ``bot_login``; with ``token_owner`` a personal access token of that user, which
``GET /user`` answers and whose comments show that user. ``add_comment(user=...)`` seeds
comments by anyone else.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
# Shaped like the Actions GITHUB_TOKEN (an installation token); built in two parts so that
# secret scanners reading this file do not flag it.
FAKE_TOKEN = "ghs_" + "fakeGitHubToken7c1d2e0000000000000000"
BOT_LOGIN = "github-actions[bot]"
MAX_COMMENT_CHARS = 65_536
MAX_STATUS_DESCRIPTION_CHARS = 140
MAX_PULL_FILES = 3_000
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
STATUS_STATES = ("error", "failure", "pending", "success")
DOCS = "https://docs.github.com/rest"
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID "
    "0000:00000:0000000:0000000:00000000."
)
_SHA = re.compile(r"[0-9a-f]{40}")


class LoggedRequest(NamedTuple):
    method: str
    path: str  # without the API prefix, as requested
    query: dict[str, str]
    status: int  # 0 when the connection was dropped without an answer


@dataclass
class Fault:
    method: str
    path_regex: str
    status: int
    times: int
    apply: bool
    headers: dict[str, str]
    body: Any
    disconnect: bool
    on_fail: Callable[[FakeGitHub], None] | None


@dataclass
class Repository:
    id: int
    full_name: str
    fork: bool
    default_branch: str
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def changed_file(
    filename: str,
    status: str = "modified",
    *,
    previous_filename: str | None = None,
    additions: int = 1,
    deletions: int = 1,
    patch: str | None = "@@ -1 +1 @@\n-old\n+new",
) -> dict[str, Any]:
    """One entry of ``GET /pulls/{n}/files`` (GitHub's "diff entry"), before URLs are added."""
    entry: dict[str, Any] = {
        "filename": filename,
        "status": status,
        "additions": additions,
        "deletions": deletions,
        "changes": additions + deletions,
    }
    if patch is not None:
        entry["patch"] = patch
    if previous_filename is not None:
        entry["previous_filename"] = previous_filename
    return entry


def _load(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


def _rewrite(value: Any, replacements: list[tuple[str, str]]) -> Any:
    """Replace substrings in every string of a JSON value (fixture URLs → this server's)."""
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_rewrite(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: _rewrite(item, replacements) for key, item in value.items()}
    return value


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = 5  # an idle keep-alive connection closes on its own
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, open_=False)

    def _dispatch(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeGitHub:
    """GitHub's REST API for a few repositories, in memory, over HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = FAKE_TOKEN,
        prefix: str = "",
        html_url: str = "https://github.com",
        bot_login: str = BOT_LOGIN,
        token_owner: str | None = None,
    ) -> None:
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.html_url = html_url.rstrip("/")
        self.bot_login = bot_login
        self.token_owner = token_owner
        self.read_only = False
        self._lock = threading.Lock()
        self._repositories: dict[str, Repository] = {}
        self._log: list[LoggedRequest] = []
        self._bodies: list[str] = []
        self._faults: list[Fault] = []
        self._ids = iter(range(1_000_001, 10**9))
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._pull_template = _load("events/pull_request.opened.json")
        self._comment_template = _load("events/issue_comment.created.json")["comment"]
        self._status_template = _load("rest/create-status.json")[0]["response"]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits at most this long
            name="fake-github",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wake handlers waiting on idle keep-alive connections
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def author(self) -> str:
        """Who the token writes as: its owner for a personal token, else the bot."""
        return self.token_owner or self.bot_login

    @property
    def url(self) -> str:
        """The API root to pass as ``api_url`` (``GITHUB_API_URL``)."""
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    # -- seeding and reading state -------------------------------------------------------

    def add_repository(
        self, full_name: str, *, fork: bool = False, default_branch: str = "main"
    ) -> Repository:
        with self._lock:
            return self._repository(full_name, fork=fork, default_branch=default_branch)

    def add_pull(
        self,
        repository: str,
        number: int,
        *,
        head_sha: str,
        head_ref: str = "feature",
        head_repository: str | None = None,
        fork_deleted: bool = False,
        base_ref: str = "main",
        base_sha: str = "0" * 40,
        draft: bool = False,
        state: str = "open",
        merged: bool = False,
        merge_commit_sha: str | None = None,
        user: str = "octocat",
        title: str = "Update the prompt",
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Seed a pull request (``head_repository`` another repository for a fork's PR)."""
        with self._lock:
            repo = self._repository(repository)
            head_repo = None
            if not fork_deleted:
                head_name = head_repository or repository
                head_repo = self._repository(head_name, fork=head_name != repository)
            pull = self._pull_json(
                repo,
                head_repo,
                number=number,
                head_sha=head_sha,
                head_ref=head_ref,
                base_ref=base_ref,
                base_sha=base_sha,
                draft=draft,
                state="closed" if merged else state,
                merged=merged,
                merge_commit_sha=merge_commit_sha,
                user=user,
                title=title,
            )
            repo.pulls[number] = pull
            repo.comments.setdefault(number, [])
            repo.files[number] = []
            self._set_files(repo, number, files or [])
            return copy.deepcopy(pull)

    def set_files(self, repository: str, number: int, files: list[dict[str, Any]]) -> None:
        with self._lock:
            self._set_files(self._repositories[repository], number, files)

    def add_comment(
        self, repository: str, number: int, body: str, *, user: str = "octocat"
    ) -> dict[str, Any]:
        with self._lock:
            repo = self._repositories[repository]
            comment = self._comment_json(repo, number, body, user)
            repo.comments[number].append(comment)
            return copy.deepcopy(comment)

    def comments(self, repository: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._repositories[repository].comments.get(number, []))

    def statuses(self, repository: str, sha: str) -> list[dict[str, Any]]:
        """Statuses of a commit, newest first (as ``GET /commits/{ref}/statuses`` lists them)."""
        with self._lock:
            return copy.deepcopy(self._repositories[repository].statuses.get(sha, []))

    def link_commit(self, repository: str, sha: str, numbers: list[int]) -> None:
        """Make ``GET /commits/{sha}/pulls`` list these pull requests."""
        with self._lock:
            self._repositories[repository].commit_pulls[sha] = list(numbers)

    # -- request log and faults ----------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    @property
    def bodies(self) -> list[str]:
        """Every request body received (decoded), in arrival order: what the client wrote."""
        with self._lock:
            return list(self._bodies)

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        return sum(
            1
            for request in self.requests
            if (method is None or request.method == method)
            and (path_prefix is None or request.path.startswith(path_prefix))
        )

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._bodies.clear()

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 502,
        *,
        times: int = 1,
        apply: bool = True,
        headers: dict[str, str] | None = None,
        body: Any = None,
        disconnect: bool = False,
        on_fail: Callable[[FakeGitHub], None] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (or drop the connection).

        ``path_regex`` must match the whole path (without prefix and query). With ``apply`` a
        write takes effect before the error is answered: "created, but answered 502".
        ``body`` defaults to GitHub's JSON error for the status. ``on_fail(fake)`` runs when the
        fault fires, before the answer, to stage a race (e.g. another run's comment appearing).
        """
        with self._lock:
            self._faults.append(
                Fault(
                    method.upper(),
                    path_regex,
                    status,
                    times,
                    apply,
                    dict(headers or {}),
                    body,
                    disconnect,
                    on_fail,
                )
            )

    # -- serving -------------------------------------------------------------------------

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _serve(self, handler: _Handler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw_body = handler.rfile.read(length) if length else b""
        with self._lock:
            self._bodies.append(raw_body.decode("utf-8", errors="replace"))
        path = split.path
        if self.prefix and not (path == self.prefix or path.startswith(self.prefix + "/")):
            self._answer(handler, method, path, query, _not_found())
            return
        path = path[len(self.prefix) :]
        answer = self._authenticate(handler.headers.get("Authorization"))
        fault = None
        if answer is None:
            fault = self._take_fault(method, path)
            if fault is None or (fault.apply and method in WRITE_METHODS):
                answer = self._route(method, path, query, raw_body)
            if fault is not None:
                if fault.on_fail is not None:
                    fault.on_fail(self)
                answer = self._fault_answer(fault)
        assert answer is not None
        if fault is not None and fault.disconnect:
            with self._lock:
                self._log.append(LoggedRequest(method, path, query, 0))
            handler.close_connection = True
            return
        self._answer(handler, method, path, query, answer)

    def _answer(
        self,
        handler: _Handler,
        method: str,
        path: str,
        query: dict[str, str],
        answer: Answer,
    ) -> None:
        with self._lock:
            self._log.append(LoggedRequest(method, path, query, answer.status))
            used = len(self._log)
        if isinstance(answer.body, bytes | str):
            payload = answer.body.encode() if isinstance(answer.body, str) else answer.body
            content_type = "text/html; charset=utf-8"
        else:
            payload = b"" if answer.status == 204 else json.dumps(answer.body).encode()
            content_type = "application/json; charset=utf-8"
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(payload)),
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": f"0000:00000:{used:07d}:0000000:00000000",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(max(0, 5000 - used)),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
            **answer.headers,
        }
        handler.send_response(answer.status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _authenticate(self, authorization: str | None) -> Answer | None:
        if not authorization:
            return Answer(401, {"message": "Requires authentication", "documentation_url": DOCS})
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer") or credential.strip() != self.token:
            return Answer(
                401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}
            )
        return None

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and re.fullmatch(fault.path_regex, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _fault_answer(fault: Fault) -> Answer:
        body = fault.body
        if body is None:
            if fault.status in (403, 429):
                body = {"message": SECONDARY_RATE_LIMIT_MESSAGE, "documentation_url": DOCS}
            else:
                body = {"message": HTTPStatus(fault.status).phrase, "documentation_url": DOCS}
        return Answer(fault.status, body, dict(fault.headers))

    def _route(self, method: str, path: str, query: dict[str, str], raw_body: bytes) -> Answer:
        with self._lock:
            if method in WRITE_METHODS and self.read_only:
                return Answer(
                    403,
                    {
                        "message": "Resource not accessible by integration",
                        "documentation_url": DOCS,
                        "status": "403",
                    },
                )
            try:
                body = json.loads(raw_body) if raw_body else {}
            except ValueError:
                return Answer(400, {"message": "Problems parsing JSON", "documentation_url": DOCS})
            if path == "/user" and method == "GET":
                return self._authenticated_user()
            repo, rest = self._resolve(path)
            if repo is None:
                return _not_found()
            for route_method, pattern, action in _ROUTES:
                match = re.fullmatch(pattern, rest)
                if match and route_method == method:
                    answer: Answer = getattr(self, action)(repo, query, body, **match.groupdict())
                    return answer
            return _not_found()

    def _resolve(self, path: str) -> tuple[Repository | None, str]:
        """Find the repository of ``/repos/{o}/{r}/...`` or ``/repositories/{id}/...``."""
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if match:
            return self._repositories.get(match.group(1)), match.group(2) or ""
        match = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
        if match:
            for repo in self._repositories.values():
                if repo.id == int(match.group(1)):
                    return repo, match.group(2) or ""
        return None, ""

    # -- endpoints (called with the lock held) -------------------------------------------

    def _authenticated_user(self) -> Answer:
        """``GET /user``: a personal token's owner; an installation token is refused."""
        if self.token_owner is None:
            return Answer(
                403,
                {
                    "message": "Resource not accessible by integration",
                    "documentation_url": f"{DOCS}/users/users#get-the-authenticated-user",
                    "status": "403",
                },
            )
        return Answer(200, self._user_json(self.token_owner))

    def _get_repository(self, repo: Repository, query: dict[str, str], body: Any) -> Answer:
        return Answer(200, self._repository_json(repo))

    def _get_pull(self, repo: Repository, query: dict[str, str], body: Any, number: str) -> Answer:
        pull = repo.pulls.get(int(number))
        return Answer(200, pull) if pull else _not_found()

    def _list_files(
        self, repo: Repository, query: dict[str, str], body: Any, number: str
    ) -> Answer:
        if int(number) not in repo.pulls:
            return _not_found()
        files = repo.files[int(number)][:MAX_PULL_FILES]
        return self._page(repo, f"/pulls/{number}/files", files, query)

    def _list_comments(
        self, repo: Repository, query: dict[str, str], body: Any, number: str
    ) -> Answer:
        if int(number) not in repo.pulls:
            return _not_found()
        return self._page(repo, f"/issues/{number}/comments", repo.comments[int(number)], query)

    def _create_comment(
        self, repo: Repository, query: dict[str, str], body: Any, number: str
    ) -> Answer:
        if int(number) not in repo.pulls:
            return _not_found()
        invalid = _invalid_comment_body(body)
        if invalid:
            return invalid
        comment = self._comment_json(repo, int(number), body["body"], self.author)
        repo.comments[int(number)].append(comment)
        return Answer(201, comment, {"Location": comment["url"]})

    def _get_comment(
        self, repo: Repository, query: dict[str, str], body: Any, comment_id: str
    ) -> Answer:
        comment = self._find_comment(repo, int(comment_id))
        return Answer(200, comment) if comment else _not_found()

    def _edit_comment(
        self, repo: Repository, query: dict[str, str], body: Any, comment_id: str
    ) -> Answer:
        comment = self._find_comment(repo, int(comment_id))
        if comment is None:
            return _not_found()
        invalid = _invalid_comment_body(body)
        if invalid:
            return invalid
        comment["body"] = body["body"]
        comment["updated_at"] = _now()
        return Answer(200, comment)

    def _create_status(
        self, repo: Repository, query: dict[str, str], body: Any, sha: str
    ) -> Answer:
        if not _SHA.fullmatch(sha):
            return _validation_failed(f"No commit found for SHA: {sha}", [])
        errors = []
        if body.get("state") not in STATUS_STATES:
            errors.append(_error("Status", "state", "state is not included in the list"))
        description = body.get("description") or ""
        if len(description) > MAX_STATUS_DESCRIPTION_CHARS:
            errors.append(
                _error(
                    "Status", "description", "description is too long (maximum is 140 characters)"
                )
            )
        if errors:
            return _validation_failed("Validation Failed", errors)
        status = copy.deepcopy(self._status_template)
        status.update(
            url=f"{self.url}/repos/{repo.full_name}/statuses/{sha}",
            id=next(self._ids),
            state=body["state"],
            description=body.get("description"),
            target_url=body.get("target_url"),
            context=body.get("context") or "default",
            created_at=_now(),
            updated_at=_now(),
            creator=self._user_json(self.author),
        )
        repo.statuses.setdefault(sha, []).insert(0, status)
        return Answer(201, status, {"Location": status["url"]})

    def _list_statuses(
        self, repo: Repository, query: dict[str, str], body: Any, ref: str
    ) -> Answer:
        return self._page(repo, f"/commits/{ref}/statuses", repo.statuses.get(ref, []), query)

    def _combined_status(
        self, repo: Repository, query: dict[str, str], body: Any, ref: str
    ) -> Answer:
        latest: dict[str, dict[str, Any]] = {}
        for status in repo.statuses.get(ref, []):
            latest.setdefault(status["context"], status)
        states = {status["state"] for status in latest.values()}
        if states & {"error", "failure"}:
            state = "failure"
        elif not states or "pending" in states:
            state = "pending"
        else:
            state = "success"
        statuses = [
            {key: value for key, value in status.items() if key != "creator"}
            for status in latest.values()
        ]
        return Answer(
            200,
            {
                "state": state,
                "statuses": statuses,
                "sha": ref,
                "total_count": len(statuses),
                "repository": self._repository_json(repo),
                "commit_url": f"{self.url}/repos/{repo.full_name}/commits/{ref}",
                "url": f"{self.url}/repos/{repo.full_name}/commits/{ref}/status",
            },
        )

    def _commit_pulls(self, repo: Repository, query: dict[str, str], body: Any, sha: str) -> Answer:
        numbers = list(repo.commit_pulls.get(sha, []))
        for number, pull in repo.pulls.items():
            if sha in (pull["merge_commit_sha"], pull["head"]["sha"]) and number not in numbers:
                numbers.append(number)
        simple = [_simple_pull(repo.pulls[number]) for number in numbers if number in repo.pulls]
        return self._page(repo, f"/commits/{sha}/pulls", simple, query)

    # -- shapes --------------------------------------------------------------------------

    def _page(
        self, repo: Repository, rest: str, items: list[dict[str, Any]], query: dict[str, str]
    ) -> Answer:
        """One page of a listing, with GitHub's ``Link`` header (``/repositories/{id}`` URLs)."""
        per_page = min(100, max(1, _int(query.get("per_page"), 30)))
        page = max(1, _int(query.get("page"), 1))
        last = max(1, math.ceil(len(items) / per_page))
        base = f"{self.url}/repositories/{repo.id}{rest}?per_page={per_page}&page="
        links = []
        if page > 1:
            links.append(f'<{base}{min(page - 1, last)}>; rel="prev"')
        if page < last:
            links += [f'<{base}{page + 1}>; rel="next"', f'<{base}{last}>; rel="last"']
        if page > 1:
            links.append(f'<{base}1>; rel="first"')
        headers = {"Link": ", ".join(links)} if links else {}
        return Answer(200, items[(page - 1) * per_page : page * per_page], headers)

    def _repository(
        self, full_name: str, *, fork: bool = False, default_branch: str = "main"
    ) -> Repository:
        if full_name not in self._repositories:
            self._repositories[full_name] = Repository(
                id=next(self._ids), full_name=full_name, fork=fork, default_branch=default_branch
            )
        return self._repositories[full_name]

    def _replacements(self, full_name: str) -> list[tuple[str, str]]:
        owner, name = full_name.split("/")
        return [
            ("Codertocat/Hello-World", full_name),
            ("Hello-World", name),
            ("Codertocat", owner),
            ("https://api.github.com", self.url),
            ("https://github.com", self.html_url),
        ]

    def _repository_json(self, repo: Repository) -> dict[str, Any]:
        data: dict[str, Any] = _rewrite(
            self._pull_template["repository"], self._replacements(repo.full_name)
        )
        data.update(
            id=repo.id,
            fork=repo.fork,
            default_branch=repo.default_branch,
            owner=self._user_json(repo.owner),
        )
        return data

    def _user_json(self, login: str) -> dict[str, Any]:
        replacements = [
            ("Codertocat", login),
            ("https://api.github.com", self.url),
            ("https://github.com", self.html_url),
        ]
        user: dict[str, Any] = _rewrite(self._pull_template["pull_request"]["user"], replacements)
        user.update(
            id=zlib.crc32(login.encode()), type="Bot" if login.endswith("[bot]") else "User"
        )
        return user

    def _pull_json(
        self,
        repo: Repository,
        head_repo: Repository | None,
        *,
        number: int,
        head_sha: str,
        head_ref: str,
        base_ref: str,
        base_sha: str,
        draft: bool,
        state: str,
        merged: bool,
        merge_commit_sha: str | None,
        user: str,
        title: str,
    ) -> dict[str, Any]:
        data: dict[str, Any] = _rewrite(
            self._pull_template["pull_request"], self._replacements(repo.full_name)
        )
        api, html = f"{self.url}/repos/{repo.full_name}", f"{self.html_url}/{repo.full_name}"
        head_owner = head_repo.owner if head_repo else "ghost"
        data.update(
            url=f"{api}/pulls/{number}",
            id=next(self._ids),
            html_url=f"{html}/pull/{number}",
            diff_url=f"{html}/pull/{number}.diff",
            patch_url=f"{html}/pull/{number}.patch",
            issue_url=f"{api}/issues/{number}",
            number=number,
            state=state,
            title=title,
            user=self._user_json(user),
            draft=draft,
            merged=merged,
            merged_at=_now() if merged else None,
            closed_at=_now() if state == "closed" else None,
            merge_commit_sha=merge_commit_sha,
            commits_url=f"{api}/pulls/{number}/commits",
            review_comments_url=f"{api}/pulls/{number}/comments",
            comments_url=f"{api}/issues/{number}/comments",
            statuses_url=f"{api}/statuses/{head_sha}",
            head={
                "label": f"{head_owner}:{head_ref}",
                "ref": head_ref,
                "sha": head_sha,
                "user": self._user_json(head_owner),
                "repo": self._repository_json(head_repo) if head_repo else None,
            },
            base={
                "label": f"{repo.owner}:{base_ref}",
                "ref": base_ref,
                "sha": base_sha,
                "user": self._user_json(repo.owner),
                "repo": self._repository_json(repo),
            },
            _links={
                "self": {"href": f"{api}/pulls/{number}"},
                "html": {"href": f"{html}/pull/{number}"},
                "issue": {"href": f"{api}/issues/{number}"},
                "comments": {"href": f"{api}/issues/{number}/comments"},
                "review_comments": {"href": f"{api}/pulls/{number}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/pulls/{number}/commits"},
                "statuses": {"href": f"{api}/statuses/{head_sha}"},
            },
        )
        return data

    def _set_files(self, repo: Repository, number: int, files: list[dict[str, Any]]) -> None:
        head_sha = repo.pulls[number]["head"]["sha"]
        html, api = f"{self.html_url}/{repo.full_name}", f"{self.url}/repos/{repo.full_name}"
        repo.files[number] = [
            {
                "sha": f"{index:040x}",
                "blob_url": f"{html}/blob/{head_sha}/{entry['filename']}",
                "raw_url": f"{html}/raw/{head_sha}/{entry['filename']}",
                "contents_url": f"{api}/contents/{entry['filename']}?ref={head_sha}",
                **entry,
            }
            for index, entry in enumerate(files, start=1)
        ]

    def _comment_json(self, repo: Repository, number: int, body: str, user: str) -> dict[str, Any]:
        comment: dict[str, Any] = _rewrite(
            self._comment_template, self._replacements(repo.full_name)
        )
        comment_id = next(self._ids)
        api = f"{self.url}/repos/{repo.full_name}"
        comment.update(
            url=f"{api}/issues/comments/{comment_id}",
            html_url=f"{self.html_url}/{repo.full_name}/pull/{number}#issuecomment-{comment_id}",
            issue_url=f"{api}/issues/{number}",
            id=comment_id,
            user=self._user_json(user),
            created_at=_now(),
            updated_at=_now(),
            author_association="NONE" if user.endswith("[bot]") else "OWNER",
            body=body,
        )
        comment["reactions"]["url"] = f"{api}/issues/comments/{comment_id}/reactions"
        return comment

    @staticmethod
    def _find_comment(repo: Repository, comment_id: int) -> dict[str, Any] | None:
        for comments in repo.comments.values():
            for comment in comments:
                if comment["id"] == comment_id:
                    return comment
        return None


_ROUTES = [
    ("GET", r"", "_get_repository"),
    ("GET", r"/pulls/(?P<number>\d+)", "_get_pull"),
    ("GET", r"/pulls/(?P<number>\d+)/files", "_list_files"),
    ("GET", r"/issues/(?P<number>\d+)/comments", "_list_comments"),
    ("POST", r"/issues/(?P<number>\d+)/comments", "_create_comment"),
    ("GET", r"/issues/comments/(?P<comment_id>\d+)", "_get_comment"),
    ("PATCH", r"/issues/comments/(?P<comment_id>\d+)", "_edit_comment"),
    ("POST", r"/statuses/(?P<sha>[^/]+)", "_create_status"),
    ("GET", r"/commits/(?P<ref>[^/]+)/statuses", "_list_statuses"),
    ("GET", r"/commits/(?P<ref>[^/]+)/status", "_combined_status"),
    ("GET", r"/commits/(?P<sha>[^/]+)/pulls", "_commit_pulls"),
]

_FULL_PULL_ONLY = (
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
)


def _simple_pull(pull: dict[str, Any]) -> dict[str, Any]:
    """A pull request as list endpoints show it ("pull-request-simple": no ``merged``)."""
    return {key: value for key, value in pull.items() if key not in _FULL_PULL_ONLY}


def _invalid_comment_body(body: Any) -> Answer | None:
    text = body.get("body") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return Answer(
            422,
            {"message": 'Invalid request.\n\n"body" wasn\'t supplied.', "documentation_url": DOCS},
        )
    if len(text) > MAX_COMMENT_CHARS:
        message = f"Body is too long (maximum is {MAX_COMMENT_CHARS} characters)"
        return _validation_failed("Validation Failed", [_error("IssueComment", "data", message)])
    return None


def _error(resource: str, field_name: str, message: str) -> dict[str, str]:
    return {"resource": resource, "code": "custom", "field": field_name, "message": message}


def _validation_failed(message: str, errors: list[dict[str, str]]) -> Answer:
    """A 422 in the recorded shape (``rest/errors.json``)."""
    return Answer(422, {"message": message, "errors": errors, "documentation_url": DOCS})


def _not_found() -> Answer:
    return Answer(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A started fake GitHub (API root ``fake_github.url``, token ``FAKE_TOKEN``)."""
    with FakeGitHub() as server:
        yield server
