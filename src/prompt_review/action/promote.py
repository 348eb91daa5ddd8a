"""The push job: on the default branch, promote the merged prompts that pass the review."""

from __future__ import annotations

from dataclasses import replace

from prompt_review import report
from prompt_review.action.decide import ZERO_SHA, Decision
from prompt_review.action.publish import Post
from prompt_review.action.run import Run, now
from prompt_review.changes import FileChange, git_changes
from prompt_review.errors import UserInputError
from prompt_review.prompts import load_prompts
from prompt_review.results import Result

PROMOTION_MARKER = "<!-- prompt-review:promotion -->"


def promote(run: Run, decision: Decision) -> int:
    from prompt_review import promote as promotion
    from prompt_review.review import ReviewRequest, plan

    settings, publisher = run.settings, run.publisher
    root = settings.workspace
    after = decision.after or settings.sha
    config = run.config()
    if not decision.before or decision.before == ZERO_SHA:
        prompts = load_prompts(root, config)
        changes = tuple(FileChange(path=p.source_path, status="added") for p in prompts)
    else:
        try:
            changes = tuple(git_changes(root, decision.before))
        except UserInputError as exc:
            raise UserInputError(
                f"cannot diff {decision.before[:12]}..{after[:12]}: {exc} "
                "(check out with `fetch-depth: 0` so the previous commit is available)"
            ) from None
    request = ReviewRequest(
        root=root,
        config=config,
        changes=changes,
        git_commit=after,
        base=decision.before,
        branch=settings.ref.removeprefix("refs/heads/"),
    )
    prepared = plan(request)
    touched = sorted({p.prompt.name for p in prepared[0]} | {d.name for d in prepared[1]})
    publisher.changed(touched)
    if not touched:
        publisher.say("no prompt changes in this push: nothing to promote")
        publisher.finish("skipped")
        return 0
    gh = run.github()
    pr_number = _merged_pr(run, after)
    request = replace(request, pr_number=pr_number)
    origin = f"PR #{pr_number}" if pr_number else f"push {after[:12]}"
    outcome = promotion.promote(
        run.reviewer(config), request, actor=decision.actor, origin=origin, planned=prepared
    )
    publisher.report(outcome.review)
    lines = [f"- **{p.name}**: {p.action}: {p.message}" for p in outcome.promotions]
    body = "\n".join([PROMOTION_MARKER, "### prompt-review: promotion", "", *lines])
    details = report.render_markdown(outcome.review, run_url=settings.run_url, at=now())
    for line in lines:
        publisher.say(line)
    result: Result = (
        "passed" if outcome.ok else ("error" if outcome.review.result == "error" else "failed")
    )
    description = "promotion: " + "; ".join(p.message for p in outcome.promotions)
    publisher.verdict(result, description)
    return publisher.publish(
        gh,
        Post(
            result=result,
            sha=after,
            description=description,
            compose=lambda previous: body,
            summary=body + "\n\n" + details,
            pr_number=pr_number,
            marker=PROMOTION_MARKER,
            required=False,  # the promotion stands; its status and note are informational
        ),
    )


def _merged_pr(run: Run, sha: str) -> int | None:
    from prompt_review.github import GitHubError

    try:
        pulls = run.github().pull_requests_for_commit(sha)
    except GitHubError as exc:
        run.publisher.annotate("warning", f"could not find the pull request of {sha[:12]}: {exc}")
        return None
    merged = [p for p in pulls if p.merged] or list(pulls)
    return merged[0].number if merged else None
