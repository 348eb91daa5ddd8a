"""The only module that talks to GitHub: pull requests, the review comment, the commit status.

Requests go through PyGithub's requester, which brings authentication, the API root (GitHub
Enterprise Server's ``/api/v3`` included) and connection pooling. PyGithub's own retry and
throttling are switched off: its retry re-sends a POST on any 5xx, so a comment created but
answered 502 would be posted twice, and its throttle sleeps between requests. This module
decides what may be repeated, and counts every request it sends so a review stays within a
constant budget.

The sticky comment is ours only when the token's own identity wrote it: anyone can paste the
hidden marker into a comment. The identity is learned once per run, at constant cost. A
personal access token answers ``GET /user``. An installation token -- the Actions
``GITHUB_TOKEN`` (``ghs_...``) -- is refused there (403 "Resource not accessible by
integration") and writes as ``github-actions[bot]``; python-coverage-comment-action relies on
the same fallback. A GitHub App's own installation token writes as ``<app-slug>[bot]``: say
so with ``login=`` (the ``comment_author`` input).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import SplitResult, quote, urlsplit

from prompt_review import github_wire as wire
from prompt_review.errors import InfrastructureError
from prompt_review.github_wire import ChangedFile, Comment, PullRequest, Response

if TYPE_CHECKING:
    from github.Requester import Requester

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
ACTIONS_LOGIN = "github-actions[bot]"
# GitHub prefixes installation (server-to-server) tokens with this: not a secret.
INSTALLATION_TOKEN_PREFIX = "ghs_"  # noqa: S105
MAX_DESCRIPTION_CHARS = 140
PER_PAGE = 100
USER_AGENT = "prompt-review"
_ACCEPT = "application/vnd.github+json"
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SECONDARY_RATE_LIMIT = re.compile(
    r"secondary rate limit|retry your request again later|wait a few minutes before you try again",
    re.IGNORECASE,
)
_COMMENT_HINT = (
    "the token is read-only, as GitHub makes it for pull requests from forks. "
    "Grant `pull-requests: write` in the workflow's `permissions:`."
)
_STATUS_HINT = (
    "the token cannot write commit statuses, as GitHub makes it for pull requests from forks. "
    "Grant `statuses: write` in the workflow's `permissions:`."
)

T = TypeVar("T")


class GitHubError(InfrastructureError):
    """GitHub failed or refused a request (after retries, when retrying could help)."""


class GitHubPermissionError(GitHubError):
    """GitHub refused a write (401/403/404): e.g. the read-only token of a fork's pull request."""


class GitHub:
    """A client for one repository that retries only what is safe to repeat.

    ``request_count`` counts every HTTP request sent, retries included, so callers can hold a
    review to its budget: ``pull_request`` is one GET, ``set_status`` one POST,
    ``upsert_comment`` the pages of the comment listing plus at most one POST or PATCH.
    """

    def __init__(
        self,
        *,
        token: str,
        repository: str,
        api_url: str = DEFAULT_API_URL,
        retries: int = 3,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 30.0,
        max_retry_wait_seconds: float = 60.0,
        login: str | None = None,
    ) -> None:
        from github import Auth, Github

        if not token:
            raise ValueError("a GitHub token is required")
        if not _REPOSITORY.fullmatch(repository):
            raise ValueError(f"repository must look like 'owner/name', got {repository!r}")
        self._repository = repository
        self._api_url = api_url.rstrip("/")
        self._repo_path = f"/repos/{repository}"
        self._attempts = max(0, retries) + 1
        self._backoff_seconds = backoff_seconds
        self._max_wait = max_retry_wait_seconds
        self._request_count = 0
        self._login = login or (
            ACTIONS_LOGIN if token.startswith(INSTALLATION_TOKEN_PREFIX) else None
        )
        self._github = Github(
            auth=Auth.Token(token),
            base_url=self._api_url,
            timeout=max(1, math.ceil(timeout_seconds)),  # PyGithub takes whole seconds
            user_agent=USER_AGENT,
            per_page=PER_PAGE,
            retry=None,  # zero urllib3 retries: nothing is re-sent behind our back
            seconds_between_requests=None,  # no throttling sleeps
            seconds_between_writes=None,
            lazy=True,  # any PyGithub object built later costs no GET until it is read
        )
        self._requester: Requester = self._github.requester

    def __repr__(self) -> str:
        return f"GitHub(repository={self._repository!r}, api_url={self._api_url!r})"

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._github.close()

    @property
    def request_count(self) -> int:
        """HTTP requests this client has sent, retries included."""
        return self._request_count

    def identity(self) -> str:
        """The login our comments are written by: given, learned from ``GET /user``, or the
        Actions bot for a token ``GET /user`` refuses (one request at most, then cached)."""
        if self._login is None:
            response = self._request("GET", "/user", "read the token's identity")
            if response.status == 403:
                self._login = ACTIONS_LOGIN
            elif not response.ok:
                raise self._failure(
                    response, "GET", "/user", "read the token's identity", write=False
                )
            else:
                self._login = _parse(lambda data: str(data["login"]), response.data, "GET", "/user")
        return self._login

    def pull_request(self, number: int) -> PullRequest:
        path = f"{self._repo_path}/pulls/{number}"
        data = self._read(path, f"read pull request #{number}")
        return _parse(wire.pull_request, data, "GET", path)

    def changed_files(self, number: int) -> list[ChangedFile]:
        """The files a pull request changes (GitHub lists at most 3000)."""
        path = f"{self._repo_path}/pulls/{number}/files"
        items = self._paginate(path, f"list the files of pull request #{number}")
        return [_parse(wire.changed_file, item, "GET", path) for item in items]

    def find_comment(self, number: int, marker: str) -> Comment | None:
        """Our first comment on the pull request that starts with ``marker``.

        A comment by anyone else is never ours, whatever it carries: it is not edited and
        nothing in it (a verdict history) is trusted.
        """
        me = self.identity().casefold()  # GitHub logins are case-insensitive
        path = f"{self._repo_path}/issues/{number}/comments"
        for item in self._paginate(path, f"list the comments of pull request #{number}"):
            if not isinstance(item, dict) or not _starts_with(item.get("body"), marker):
                continue
            comment = _parse(wire.comment, item, "GET", path)
            if comment.author.casefold() == me:
                return comment
        return None

    def upsert_comment(
        self, number: int, marker: str, body: str, *, known: Comment | None = None
    ) -> Comment:
        """Edit the comment carrying ``marker`` in place, or create it: one comment per PR.

        ``known`` is that comment as the caller just found it (saves listing them again).
        """
        if not _starts_with(body, marker):
            raise ValueError("the comment body must start with its marker, or it cannot be found")
        existing = known if known is not None else self.find_comment(number, marker)
        if existing is None:
            return self._create_comment(number, marker, body)
        if existing.body == body:
            return existing
        return self._edit_comment(number, existing.id, body)

    def set_status(
        self,
        sha: str,
        state: Literal["pending", "success", "failure", "error"],
        description: str,
        target_url: str | None = None,
        context: str = "prompt-review",
    ) -> None:
        """Set a commit status with one POST (no GET of the commit first)."""
        path = f"{self._repo_path}/statuses/{quote(sha, safe='')}"
        payload = {"state": state, "description": truncate(description), "context": context}
        if target_url:
            payload["target_url"] = target_url
        action = f"set the commit status {context!r} on {sha}"
        response = self._request("POST", path, action, body=payload)
        if not response.ok:
            raise self._failure(response, "POST", path, action, write=True, hint=_STATUS_HINT)

    def pull_requests_for_commit(self, sha: str) -> list[PullRequest]:
        """The pull requests a commit belongs to, e.g. the one a merge commit came from."""
        path = f"{self._repo_path}/commits/{quote(sha, safe='')}/pulls"
        items = self._paginate(path, f"list the pull requests of commit {sha}")
        return [_parse(wire.pull_request, item, "GET", path) for item in items]

    def _create_comment(self, number: int, marker: str, body: str) -> Comment:
        """POST the comment; after a failure, look for it before posting again.

        A POST answered 5xx, or whose answer was lost, may still have created the comment:
        repeating it blindly would post a second one.
        """
        path = f"{self._repo_path}/issues/{number}/comments"
        action = f"create a comment on PR #{number}"
        last = ""
        for attempt in range(self._attempts):
            if attempt:
                created = self.find_comment(number, marker)
                if created is not None:
                    return self._settle(number, created, body)
            try:
                response = self._send("POST", path, body={"body": body})
            except OSError as error:
                last, wait = _no_answer(error), self._backoff(attempt)
            else:
                retry_wait = self._transient_wait(response, attempt)
                if retry_wait is None:
                    if not response.ok:
                        raise self._failure(
                            response, "POST", path, action, write=True, hint=_COMMENT_HINT
                        )
                    return _parse(wire.comment, response.data, "POST", path)
                last, wait = response.summary, retry_wait
            if attempt + 1 < self._attempts:
                self._pause("POST", path, last, wait, attempt)
        created = self.find_comment(number, marker)
        if created is not None:
            return self._settle(number, created, body)
        raise GitHubError(
            f"GitHub could not {action}: POST {path} failed {self._attempts} times, "
            f"last with {last}, and no comment carrying the marker exists."
        )

    def _settle(self, number: int, found: Comment, body: str) -> Comment:
        return found if found.body == body else self._edit_comment(number, found.id, body)

    def _edit_comment(self, number: int, comment_id: int, body: str) -> Comment:
        path = f"{self._repo_path}/issues/comments/{comment_id}"
        action = f"edit comment {comment_id} on PR #{number}"
        response = self._request("PATCH", path, action, body={"body": body})
        if not response.ok:
            raise self._failure(response, "PATCH", path, action, write=True, hint=_COMMENT_HINT)
        return _parse(wire.comment, response.data, "PATCH", path)

    def _read(self, path: str, action: str) -> Any:
        response = self._request("GET", path, action)
        if not response.ok:
            raise self._failure(response, "GET", path, action, write=False)
        return response.data

    def _paginate(self, path: str, action: str) -> Iterator[Any]:
        """Yield the items of a listing, page by page, following GitHub's ``Link`` header."""
        url, params = path, {"per_page": PER_PAGE}
        while True:
            response = self._request("GET", url, action, params=params)
            if not response.ok:
                raise self._failure(response, "GET", url, action, write=False)
            if not isinstance(response.data, list):
                raise GitHubError(
                    f"GitHub answered GET {url} with {response.data!r:.200}, not a list"
                )
            yield from response.data
            next_url = wire.next_link(response.headers.get("link", ""))
            if next_url is None:
                return
            url, params = self._own_url(next_url), {}

    def _own_url(self, url: str) -> str:
        """Follow only links under our API root: the token must not go anywhere else."""
        ours, theirs = urlsplit(self._api_url), urlsplit(url)
        same_origin = _origin(theirs) == _origin(ours)
        if not same_origin or not theirs.path.startswith(ours.path.rstrip("/") + "/"):
            raise GitHubError(f"GitHub's pagination link {url} leaves the API root {self._api_url}")
        return url

    def _request(
        self,
        method: str,
        url: str,
        action: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Response:
        """Send a request that is safe to repeat, retrying transient failures."""
        last = ""
        for attempt in range(self._attempts):
            try:
                response = self._send(method, url, params=params, body=body)
            except OSError as error:
                last, wait = _no_answer(error), self._backoff(attempt)
            else:
                retry_wait = self._transient_wait(response, attempt)
                if retry_wait is None:
                    return response
                last, wait = response.summary, retry_wait
            if attempt + 1 < self._attempts:
                self._pause(method, url, last, wait, attempt)
        raise GitHubError(
            f"GitHub could not {action}: {method} {url} failed {self._attempts} times, "
            f"last with {last}"
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Response:
        # One requestJson is one HTTP request: PyGithub's retry is off. (It still follows a 301
        # and repeats a GET answered 202 by itself; GitHub answers neither on these endpoints.)
        self._request_count += 1
        status, headers, text = self._requester.requestJson(
            method, url, parameters=params, headers={"Accept": _ACCEPT}, input=body
        )
        return Response(
            status, {k.lower(): str(v) for k, v in headers.items()}, wire.json_body(text)
        )

    def _transient_wait(self, response: Response, attempt: int) -> float | None:
        """Seconds to wait before repeating the request, or None when repeating cannot help."""
        if response.status >= 500:
            return self._backoff(attempt)
        if response.status not in (403, 429):
            return None
        retry_after = wire.retry_after_seconds(response.headers.get("retry-after"))
        if retry_after is not None:
            return min(retry_after, self._max_wait)
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = wire.seconds_until_reset(response.headers.get("x-ratelimit-reset"))
            return reset if reset is not None and reset <= self._max_wait else None
        if response.status == 429 or _SECONDARY_RATE_LIMIT.search(response.message):
            return self._backoff(attempt)
        return None

    def _backoff(self, attempt: int) -> float:
        return float(min(self._backoff_seconds * 2**attempt, self._max_wait))

    def _pause(self, method: str, url: str, reason: str, wait: float, attempt: int) -> None:
        log.warning(
            "GitHub %s %s: %s; retrying in %.2f s (attempt %d of %d)",
            method,
            url,
            reason,
            wait,
            attempt + 2,
            self._attempts,
        )
        time.sleep(wait)

    def _failure(
        self,
        response: Response,
        method: str,
        url: str,
        action: str,
        *,
        write: bool,
        hint: str = "",
    ) -> GitHubError:
        where = f"{response.summary} on {method} {url}"
        if response.status == 401:
            error = GitHubPermissionError if write else GitHubError
            return error(
                f"GitHub rejected the token trying to {action} ({where}): "
                "check the `github_token` input; the token may be invalid or expired."
            )
        if write and response.status in (403, 404):
            return GitHubPermissionError(f"GitHub refused to {action} ({where}): {hint}")
        if response.status in (403, 404):
            return GitHubError(
                f"GitHub could not {action} ({where}): check that {self._repository} exists "
                "and that the token can read it (`contents: read`, `pull-requests: read`)."
            )
        return GitHubError(f"GitHub could not {action} ({where}).")


def truncate(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending with "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _starts_with(body: object, marker: str) -> bool:
    return isinstance(body, str) and body.lstrip().startswith(marker)


def _parse(parser: Callable[[Mapping[str, Any]], T], data: Any, method: str, url: str) -> T:
    try:
        return parser(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise GitHubError(
            f"GitHub answered {method} {url} with an unexpected body (missing or bad {error})"
        ) from None


def _no_answer(error: OSError) -> str:
    return f"no answer ({type(error).__name__}: {error})"


def _origin(url: SplitResult) -> tuple[str, str | None, int | None]:
    port = url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.hostname, port
