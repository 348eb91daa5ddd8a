"""Which job a runner event asks for: a pure function of the settings and the payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prompt_review.settings import Settings

REVIEW_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review")
ZERO_SHA = "0" * 40

Kind = Literal["review", "promote", "dispatch", "skip"]


@dataclass(frozen=True, kw_only=True)
class Decision:
    kind: Kind
    reason: str
    pr_number: int | None = None
    head_sha: str | None = None
    base_sha: str | None = None
    head_ref: str | None = None
    is_fork: bool = False
    # pull_request_target runs with the base repository's secrets and write token: code from
    # a fork's branch must not run there.
    untrusted: bool = False
    before: str | None = None
    after: str | None = None
    actor: str = "github-actions"
    inputs: Mapping[str, Any] | None = None

    @property
    def status_sha(self) -> str | None:
        """The commit this run's status belongs on: the PR head (never the merge commit)."""
        if self.kind == "review":
            return self.head_sha
        if self.kind == "promote":
            return self.after
        return None


def decide(settings: Settings, event: Mapping[str, Any]) -> Decision:
    """Which job this event asks for. Pure: no I/O, easy to test."""
    name = settings.event_name
    actor = str((event.get("sender") or {}).get("login") or "github-actions")
    if name in ("pull_request", "pull_request_target"):
        return _pull_request(settings, event, actor)
    if name == "push":
        default = (event.get("repository") or {}).get("default_branch") or "main"
        if event.get("ref") != f"refs/heads/{default}":
            return Decision(
                kind="skip", reason=f"push to {event.get('ref')}: promotion runs on {default} only"
            )
        if event.get("deleted"):
            return Decision(kind="skip", reason="branch deleted")
        return Decision(
            kind="promote",
            reason=f"push to {default}",
            before=event.get("before"),
            after=event.get("after") or settings.sha,
            actor=actor,
        )
    if name == "workflow_dispatch":
        return Decision(
            kind="dispatch", reason="manual run", inputs=event.get("inputs") or {}, actor=actor
        )
    return Decision(kind="skip", reason=f"event {name!r} is not handled (nothing to do)")


def _pull_request(settings: Settings, event: Mapping[str, Any], actor: str) -> Decision:
    pr = event.get("pull_request") or {}
    action = event.get("action")
    number = pr.get("number") or event.get("number")
    if action not in REVIEW_ACTIONS:
        return Decision(kind="skip", reason=f"pull_request {action!r}: nothing to review")
    if pr.get("draft") and not settings.review_drafts:
        return Decision(
            kind="skip",
            reason="draft pull request: the review runs when it is marked ready for review "
            "(set review_drafts: true to review drafts)",
        )
    head = pr.get("head") or {}
    base = pr.get("base") or {}
    head_repo = (head.get("repo") or {}).get("full_name")
    return Decision(
        kind="review",
        reason=f"pull request #{number} {action}",
        pr_number=int(number or 0),
        head_sha=head.get("sha"),
        base_sha=base.get("sha"),
        head_ref=head.get("ref"),
        is_fork=head_repo is not None and head_repo != settings.repository,
        untrusted=settings.event_name == "pull_request_target" and head_repo != settings.repository,
        actor=actor,
    )
