"""The pull request job: review the prompts it changes and publish one verdict on its head."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from prompt_review import report
from prompt_review.action.decide import Decision
from prompt_review.action.publish import Post
from prompt_review.action.run import Run, now
from prompt_review.changes import FileChange
from prompt_review.errors import UserInputError
from prompt_review.results import ReviewResult

if TYPE_CHECKING:
    from prompt_review.github import GitHub
    from prompt_review.github_wire import Comment


def review(run: Run, decision: Decision) -> int:
    from prompt_review.local import check_providers
    from prompt_review.review import ReviewRequest, plan

    assert decision.pr_number is not None and decision.head_sha is not None
    settings, publisher = run.settings, run.publisher
    gh = run.github()
    number, head = decision.pr_number, decision.head_sha
    if stale(run, gh, decision):  # superseded already: spend no model call on it
        publisher.finish("skipped")
        return 0
    changes = tuple(
        FileChange(path=f.filename, status=f.status, previous_path=f.previous_filename)
        for f in gh.changed_files(number)
    )
    try:
        config = run.config()
        request = ReviewRequest(
            root=settings.workspace,
            config=config,
            changes=changes,
            git_commit=head,
            base=decision.base_sha,
            pr_number=number,
            branch=decision.head_ref,
        )
        planned, deleted = plan(request)
        names = sorted({p.prompt.name for p in planned} | {d.name for d in deleted})
        publisher.changed(names)
        if names:
            refuse_untrusted_code(planned, decision)
            check_providers(planned, settings.workspace, run.environ)  # before any write
    except UserInputError as exc:
        return invalid(run, gh, decision, exc)
    if not names:
        return no_changes(run, gh, decision)
    try:
        result = run.reviewer(config).review(request, (planned, deleted))
    except UserInputError as exc:
        return invalid(run, gh, decision, exc)
    compose = _reported_unless_stale(run, gh, decision, result)
    if compose is None:
        return 0
    description = report.status_description(result)
    publisher.verdict(result.result, description)
    return publisher.publish(
        gh,
        Post(
            result=result.result,
            sha=head,
            description=description,
            compose=compose,
            pr_number=number,
            fork=decision.is_fork,
        ),
    )


def invalid(run: Run, gh: GitHub, decision: Decision, exc: UserInputError) -> int:
    """Bad prompt, dataset or config files: annotate them, fail the check, say why."""
    assert decision.pr_number is not None and decision.head_sha is not None
    publisher = run.publisher
    publisher.problems(exc.problems)
    result = ReviewResult(
        result="failed",
        summary=f"{len(exc.problems)} problem(s) in prompt, dataset or config files",
        prompts=(),
        commit=decision.head_sha,
        pr_number=decision.pr_number,
        problems=tuple(exc.problems),
    )
    compose = _reported_unless_stale(run, gh, decision, result)
    if compose is None:
        return 0
    return publisher.publish(
        gh,
        Post(
            result="failed",
            sha=decision.head_sha,
            description=result.summary,
            compose=compose,
            pr_number=decision.pr_number,
            fork=decision.is_fork,
            exit_code=2,  # bad input, whatever fail_on_regression says
        ),
    )


def no_changes(run: Run, gh: GitHub, decision: Decision) -> int:
    """Nothing to review: a passing check, and our earlier comment (if any) says so."""
    assert decision.pr_number is not None and decision.head_sha is not None
    head = decision.head_sha
    run.publisher.say("no prompt changes in this pull request")

    def compose(previous: Comment | None) -> str | None:
        if previous is None:
            return None  # no comment spam on PRs that never touched a prompt
        return report.render_no_changes(
            history=report.parse_history(previous.body),
            run_url=run.settings.run_url,
            commit=head,
            at=now(),
        )

    # The head was checked a moment ago, before the (quick, model-free) planning.
    return run.publisher.publish(
        gh,
        Post(
            result="skipped",
            sha=head,
            description="no prompt changes",
            compose=compose,
            summary="### prompt-review\n\nNo prompt changes in this pull request.\n",
            pr_number=decision.pr_number,
            fork=decision.is_fork,
        ),
    )


def _reported_unless_stale(
    run: Run, gh: GitHub, decision: Decision, result: ReviewResult
) -> Callable[[Comment | None], str] | None:
    """Write the report; the comment's composer, or None when the PR moved on meanwhile
    (then the summary holds the report and the step is skipped: a newer run posts)."""
    run.publisher.report(result)
    compose = _composer(run, result)
    if stale(run, gh, decision):
        run.publisher.summary(compose(None) or "")
        run.publisher.finish("skipped")
        return None
    return compose


def _composer(run: Run, result: ReviewResult) -> Callable[[Comment | None], str]:
    def compose(previous: Comment | None) -> str:
        return report.render_markdown(
            result,
            history=report.parse_history(previous.body) if previous else [],
            run_url=run.settings.run_url,
            at=now(),
        )

    return compose


def stale(run: Run, gh: GitHub, decision: Decision) -> bool:
    """A newer push superseded this run: its verdict must not overwrite the newer one."""
    assert decision.pr_number is not None
    current = gh.pull_request(decision.pr_number).head_sha
    if current != decision.head_sha:
        run.publisher.annotate(
            "warning",
            f"pull request #{decision.pr_number} moved on to {current[:12]} while "
            f"{(decision.head_sha or '')[:12]} was reviewed: nothing posted "
            "(the run for the new head posts the verdict)",
        )
        return True
    return False


def refuse_untrusted_code(planned: Sequence[Any], decision: Decision) -> None:
    """The python provider and python scorers import repository code: never for a fork's
    pull_request_target run, which has this repository's secrets."""
    if not decision.untrusted:
        return
    why = (
        "runs code from the pull request's branch, refused for a fork's pull_request_target "
        "run (it has this repository's secrets); review forks with the pull_request event "
        "instead"
    )
    problems: list[str] = []
    for item in planned:
        prompt = item.prompt
        if prompt.model.provider == "python":
            problems.append(f"{prompt.source_path}: model.provider: 'python' {why}")
        problems.extend(
            f"{prompt.source_path}: scorers: {{type: python, name: {spec.name}}} {why}"
            for spec in prompt.scorers
            if spec.type == "python"
        )
    if problems:
        raise UserInputError(problems)
