"""What GitHub's REST API sends back, read into plain values: pull requests, changed files,
comments, a response's status and reason, and the headers that say when to retry."""

from __future__ import annotations

import email.utils
import http
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True)
class ChangedFile:
    filename: str
    status: str
    previous_filename: str | None


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str
    head_repo_full_name: str | None
    base_ref: str
    base_repo_full_name: str
    is_fork: bool
    draft: bool
    state: str
    merged: bool
    merge_commit_sha: str | None
    html_url: str
    user_login: str


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    html_url: str
    author: str = ""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    data: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        if isinstance(self.data, dict) and isinstance(self.data.get("message"), str):
            return str(self.data["message"])
        return ""

    @property
    def summary(self) -> str:
        """``"403 Resource not accessible by integration"``: the status and GitHub's reason."""
        reason = self.message or phrase(self.status)
        details = self.data.get("errors") if isinstance(self.data, dict) else None
        if isinstance(details, list) and details:
            reason += " (" + "; ".join(describe_error(detail) for detail in details) + ")"
        return f"{self.status} {reason}".strip()


def pull_request(data: Mapping[str, Any]) -> PullRequest:
    head, base = data["head"], data["base"]
    head_repo = head.get("repo")
    head_name = str(head_repo["full_name"]) if head_repo else None
    base_name = str(base["repo"]["full_name"])
    merged = data["merged"] if "merged" in data else data.get("merged_at") is not None
    return PullRequest(
        number=int(data["number"]),
        head_sha=str(head["sha"]),
        head_ref=str(head["ref"]),
        head_repo_full_name=head_name,
        base_ref=str(base["ref"]),
        base_repo_full_name=base_name,
        # A deleted fork leaves no head repository; names are case-insensitive.
        is_fork=head_name is None or head_name.lower() != base_name.lower(),
        draft=bool(data.get("draft", False)),
        state=str(data["state"]),
        merged=bool(merged),
        merge_commit_sha=data.get("merge_commit_sha"),
        html_url=str(data["html_url"]),
        user_login=str(data["user"]["login"]),
    )


def changed_file(data: Mapping[str, Any]) -> ChangedFile:
    previous = data.get("previous_filename")
    return ChangedFile(
        filename=str(data["filename"]),
        status=str(data["status"]),
        previous_filename=str(previous) if previous is not None else None,
    )


def comment(data: Mapping[str, Any]) -> Comment:
    user = data.get("user") or {}
    return Comment(
        id=int(data["id"]),
        body=data.get("body") or "",
        html_url=str(data["html_url"]),
        author=str(user.get("login") or "") if isinstance(user, dict) else "",
    )


def json_body(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def describe_error(detail: Any) -> str:
    if isinstance(detail, dict):
        if detail.get("message"):
            return str(detail["message"])
        return " ".join(str(detail[key]) for key in ("field", "code") if detail.get(key))
    return str(detail)


def next_link(header: str) -> str | None:
    match = _LINK_NEXT.search(header)
    return match.group(1) if match else None


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def seconds_until_reset(value: str | None) -> float | None:
    """Seconds until ``x-ratelimit-reset`` (epoch seconds), when the primary limit is spent."""
    try:
        return max(0.0, float(value or "") - time.time())
    except ValueError:
        return None
