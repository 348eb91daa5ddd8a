"""The workflow_dispatch job: promote or roll back one prompt by hand."""

from __future__ import annotations

from prompt_review.action.decide import Decision
from prompt_review.action.run import Run
from prompt_review.errors import UserInputError


def dispatch(run: Run, decision: Decision) -> int:
    from prompt_review import promote as promotion

    operation, name, version = _inputs(decision)
    config = run.config()
    registry = run.reviewer(config).registry
    if operation == "rollback":
        message = promotion.rollback(
            registry, name, config.alias, actor=decision.actor, to_version=version
        ).message
    else:
        assert version is not None
        if registry.get(name, version) is None:
            raise UserInputError(f"prompt {name!r}: version {version} does not exist")
        previous = promotion.move_alias(
            registry, name, config.alias, version, actor=decision.actor, origin="workflow_dispatch"
        )
        message = f"{config.alias} → v{version}" + (f" (was v{previous})" if previous else "")
    publisher = run.publisher
    publisher.say(f"{name}: {operation}: {message}")
    publisher.summary(f"### prompt-review: {operation}\n\n- **{name}**: {message}\n")
    publisher.changed([name])
    publisher.finish("passed")
    return 0


def _inputs(decision: Decision) -> tuple[str, str, int | None]:
    """(operation, prompt, version) from the dispatch inputs; every problem at once."""
    inputs = decision.inputs or {}
    operation = str(inputs.get("operation") or "rollback")
    name = str(inputs.get("prompt") or "")
    raw_version = str(inputs.get("version") or "").strip()
    problems = []
    if operation not in ("promote", "rollback"):
        problems.append(
            "workflow_dispatch input operation: expected 'promote' or 'rollback', "
            f"got {operation!r}"
        )
    if not name:
        problems.append("workflow_dispatch input prompt: missing (expected a prompt name)")
    if raw_version and not raw_version.isdigit():
        problems.append(
            f"workflow_dispatch input version: expected a version number, got {raw_version!r}"
        )
    if operation == "promote" and not raw_version:
        problems.append("workflow_dispatch input version: missing (promote needs a version)")
    if problems:
        raise UserInputError(problems)
    return operation, name, int(raw_version) if raw_version else None
