"""Use case: promotion on merge, and rollback.

Promotion re-runs the review of the merged content. When that content was reviewed on
the pull request, every evaluation is found by its key and reused: no model call, the
same verdict. When it was never evaluated (a conflict resolution changed it), it is
evaluated now. Only a passing prompt moves ``production``; the old version stays
reachable as ``previous-production``.

Which prompts to promote is decided by state (``drifted``): every prompt whose content at
HEAD is not what ``production`` serves, whatever the commit history that led there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from prompt_review.changes import FileChange
from prompt_review.errors import UserInputError
from prompt_review.lineage import run_name
from prompt_review.prompts import Prompt, content_hash
from prompt_review.registry import (
    PREVIOUS_ALIAS,
    TAG_PROMOTED_AT,
    TAG_PROMOTED_BY,
    TAG_PROMOTED_FROM,
    Registry,
    Version,
)
from prompt_review.results import PromptResult, ReviewResult
from prompt_review.review import Plan, Planned, Reviewer, ReviewRequest, mlflow_call

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class Promotion:
    name: str
    action: str  # promoted | already | held | skipped | rolled-back
    version: int | None
    previous: int | None
    message: str


@dataclass(frozen=True, kw_only=True)
class PromotionResult:
    review: ReviewResult
    promotions: tuple[Promotion, ...]

    @property
    def ok(self) -> bool:
        return all(p.action != "held" for p in self.promotions) and self.review.result != "error"


@dataclass(frozen=True, kw_only=True)
class Drift:
    """Prompts at HEAD split by whether ``production`` already serves their content."""

    planned: tuple[Planned, ...]  # differ from production (or have none): review, promote
    current: tuple[Promotion, ...]  # production serves exactly this content already

    @property
    def changes(self) -> tuple[FileChange, ...]:
        return tuple(
            FileChange(path=item.prompt.source_path, status=item.change.status)
            for item in self.planned
        )


def drifted(registry: Registry, planned: Sequence[Planned], alias: str) -> Drift:
    """State-based promotion: the prompts whose content at HEAD ``alias`` does not serve.

    A squash, a rebase, several merged PRs or a direct push all end in the same state, so
    the decision does not depend on the history. Each drifted prompt is then reviewed
    (reusing its PR's evaluations) and promoted only if it passes.
    """
    todo: list[Planned] = []
    current: list[Promotion] = []
    for item in planned:
        prompt = item.prompt
        production = _production(registry, prompt.name, alias)
        if production is not None and _serves(production, prompt):
            current.append(
                Promotion(
                    name=prompt.name,
                    action="already",
                    version=production.version,
                    previous=production.version,
                    message=f"{alias} v{production.version} serves the content at HEAD",
                )
            )
            continue
        reason = (
            f"differs from {alias} v{production.version}"
            if production
            else (f"no {alias} version yet")
        )
        change = replace(item.change, status="modified" if production else "added", reason=reason)
        todo.append(replace(item, change=change))
    return Drift(planned=tuple(todo), current=tuple(current))


def _production(registry: Registry, name: str, alias: str) -> Version | None:
    return mlflow_call(f"reading {alias} of {name}", lambda: registry.by_alias(name, alias))


def _serves(production: Version, prompt: Prompt) -> bool:
    """Same template and model settings (the hash tag, or recomputed for foreign versions)."""
    served = production.content_hash or content_hash(
        production.template, production.model(fallback=prompt.model)
    )
    return served == prompt.content_hash


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def promote(
    reviewer: Reviewer,
    request: ReviewRequest,
    *,
    actor: str,
    origin: str,
    planned: Plan | None = None,
) -> PromotionResult:
    review = reviewer.review(request, planned)
    registry = reviewer.registry
    alias = request.config.alias
    promotions = []
    for prompt in review.prompts:
        promotions.append(
            _promote_one(registry, prompt, alias, actor=actor, origin=origin, reviewer=reviewer)
        )
    return PromotionResult(review=review, promotions=tuple(promotions))


def _promote_one(
    registry: Registry,
    prompt: PromptResult,
    alias: str,
    *,
    actor: str,
    origin: str,
    reviewer: Reviewer,
) -> Promotion:
    if prompt.status == "deleted" or prompt.candidate_version is None:
        why = prompt.error or prompt.reason
        action = "skipped" if prompt.status == "deleted" else "held"
        return Promotion(name=prompt.name, action=action, version=None, previous=None, message=why)
    version = prompt.candidate_version
    current = prompt.baseline.version if prompt.baseline else None
    if prompt.result != "passed":
        return Promotion(
            name=prompt.name,
            action="held",
            version=version,
            previous=current,
            message=f"gate {prompt.result}: {alias} stays at "
            + (f"v{current}" if current else "no version"),
        )
    if current == version:
        return Promotion(
            name=prompt.name,
            action="already",
            version=version,
            previous=current,
            message=f"{alias} already points at v{version}",
        )
    move_alias(registry, prompt.name, alias, version, actor=actor, origin=origin)
    if prompt.run_id:
        run_id = prompt.run_id
        client = reviewer.tracking.client

        def mark() -> None:
            client.set_tag(run_id, "is_production_eval", "true")
            # Later reviews compare against this run: its name says what it is now.
            client.update_run(run_id, name=run_name(prompt.name, version, "production", 1))

        mlflow_call("marking the deciding evaluation run as production's", mark)
    return Promotion(
        name=prompt.name,
        action="promoted",
        version=version,
        previous=current,
        message=f"{alias} → v{version}" + (f" (was v{current})" if current else ""),
    )


def move_alias(
    registry: Registry, name: str, alias: str, version: int, *, actor: str, origin: str
) -> int | None:
    """Point ``alias`` at ``version``, keeping the old target as ``previous-production``."""
    current = mlflow_call(f"reading {alias} of {name}", lambda: registry.by_alias(name, alias))
    if current is not None and current.version != version:
        mlflow_call(
            f"setting {PREVIOUS_ALIAS} of {name}",
            lambda: registry.set_alias(name, PREVIOUS_ALIAS, current.version),
        )
    mlflow_call(f"setting {alias} of {name}", lambda: registry.set_alias(name, alias, version))
    mlflow_call(
        f"tagging {name} v{version}",
        lambda: registry.set_tags(
            name,
            version,
            {TAG_PROMOTED_AT: now_iso(), TAG_PROMOTED_BY: actor, TAG_PROMOTED_FROM: origin},
        ),
    )
    return current.version if current else None


def rollback(
    registry: Registry, name: str, alias: str, *, actor: str, to_version: int | None = None
) -> Promotion:
    """Move ``alias`` back to ``previous-production`` (or a given version)."""
    current = mlflow_call(f"reading {alias} of {name}", lambda: registry.by_alias(name, alias))
    if to_version is None:
        previous = mlflow_call(
            f"reading {PREVIOUS_ALIAS} of {name}", lambda: registry.by_alias(name, PREVIOUS_ALIAS)
        )
        if previous is None:
            raise UserInputError(
                f"prompt {name!r}: no {PREVIOUS_ALIAS!r} version to roll back to "
                "(pass --version N to choose one)"
            )
        to_version = previous.version
    elif (
        mlflow_call(f"reading {name} v{to_version}", lambda: registry.get(name, to_version)) is None
    ):
        raise UserInputError(f"prompt {name!r}: version {to_version} does not exist")
    target = to_version
    if current is not None and current.version == target:
        return Promotion(
            name=name,
            action="already",
            version=target,
            previous=target,
            message=f"{alias} already points at v{target}",
        )
    move_alias(registry, name, alias, target, actor=actor, origin="rollback")
    return Promotion(
        name=name,
        action="rolled-back",
        version=target,
        previous=current.version if current else None,
        message=f"{alias} → v{target}"
        + (f" (was v{current.version}, now {PREVIOUS_ALIAS})" if current else ""),
    )
