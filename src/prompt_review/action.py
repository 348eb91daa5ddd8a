"""`prompt-review action`: the GitHub Action entrypoint.

What to do is decided by `decide()`, a pure function of the settings and the event
payload; `main()` builds the real clients (GitHub, MLflow, providers) and carries it out.
Nothing below `main` reads the environment.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from prompt_review.config import load_config
from prompt_review.errors import InfrastructureError, UserInputError
from prompt_review.prompts import FileChange, git_changes, load_prompts
from prompt_review.results import ReviewResult
from prompt_review.settings import Settings

REVIEW_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review")
PROMOTION_MARKER = "<!-- prompt-review:promotion -->"
REPORT_PATH = ".prompt-review/report.json"
ZERO_SHA = "0" * 40
STATUS = {"passed": "success", "skipped": "success", "failed": "failure", "error": "error"}

Kind = Literal["review", "promote", "dispatch", "skip"]
Level = Literal["error", "warning", "notice"]


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


def decide(settings: Settings, event: Mapping[str, Any]) -> Decision:
    """Which job this event asks for. Pure: no I/O, easy to test."""
    name = settings.event_name
    actor = str((event.get("sender") or {}).get("login") or "github-actions")
    if name in ("pull_request", "pull_request_target"):
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
            untrusted=name == "pull_request_target" and head_repo != settings.repository,
            actor=actor,
        )
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


class Runner:
    """Carries out a decision with real clients. One instance per action run."""

    def __init__(
        self, settings: Settings, out: Any = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.out = out or sys.stdout
        self.environ: Mapping[str, str] = environ if environ is not None else {}
        self.finished = False
        self.outputs: dict[str, str] = {
            "result": "skipped",
            "changed_prompts": "[]",
            "comment_url": "",
            "report_path": "",
        }

    # -- runner I/O -------------------------------------------------------------------
    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def finish(self, result: str) -> None:
        from prompt_review import workflow

        if self.finished:  # outputs are written once, with the final result
            return
        self.finished = True
        self.outputs["result"] = result
        workflow.write_outputs(self.settings.output_path, self.outputs)

    def summary(self, markdown: str) -> None:
        from prompt_review import workflow

        workflow.append_summary(self.settings.step_summary_path, markdown)

    def annotate(
        self, level: Level, message: str, file: str | None = None, line: int | None = None
    ) -> None:
        from prompt_review import workflow

        self.say(workflow.annotation(level, message, file=file, line=line))

    def annotate_problems(self, problems: list[str]) -> None:
        for problem in problems:
            file, line, message = split_problem(problem)
            self.annotate("error", message, file=file, line=line)

    def github(self) -> Any:
        from prompt_review.github import GitHub

        if not self.settings.token:
            raise UserInputError(
                "no GitHub token: set the `github_token` input (its default is "
                "`${{ github.token }}`) or GITHUB_TOKEN"
            )
        return GitHub(
            token=self.settings.token,
            repository=self.settings.repository,
            api_url=self.settings.api_url,
        )

    def reviewer(self, config: Any) -> Any:
        from prompt_review.local import build_reviewer

        settings = self.settings
        return build_reviewer(
            settings.workspace, config, settings.tracking_uri, self.say, environ=self.environ
        )

    # -- jobs ---------------------------------------------------------------------------
    def review(self, decision: Decision) -> int:
        from prompt_review import report
        from prompt_review.github import GitHubError
        from prompt_review.local import check_providers
        from prompt_review.review import ReviewRequest, plan

        assert decision.pr_number is not None and decision.head_sha is not None
        settings = self.settings
        root = settings.workspace
        gh = self.github()
        number, head = decision.pr_number, decision.head_sha
        if self._stale(gh, decision):  # superseded already: spend no model call on it
            self.finish("skipped")
            return 0
        files = gh.changed_files(number)
        changes = tuple(
            FileChange(path=f.filename, status=f.status, previous_path=f.previous_filename)
            for f in files
        )
        try:
            config = load_config(root, str(settings.config_path), required=_explicit(settings))
            request = ReviewRequest(
                root=root,
                config=config,
                changes=changes,
                git_commit=head,
                base=decision.base_sha,
                pr_number=number,
                branch=decision.head_ref,
            )
            planned, deleted = plan(request)
            names = sorted({p.prompt.name for p in planned} | {d.name for d in deleted})
            self.outputs["changed_prompts"] = json.dumps(names)
            if names:
                refuse_untrusted_code(planned, decision)
                check_providers(planned, root, self.environ)  # before any registry write
        except UserInputError as exc:
            return self._invalid(gh, decision, exc)
        if not names:
            return self._no_changes(gh, decision)
        reviewer = self.reviewer(config)
        try:
            result = reviewer.review(request, (planned, deleted))
        except UserInputError as exc:
            return self._invalid(gh, decision, exc)
        self._write_report(result)
        previous = self._find_comment(gh, number)
        body = report.render_markdown(
            result,
            history=report.parse_history(previous.body) if previous else [],
            run_url=settings.run_url,
            at=_now(),
        )
        self.summary(body)
        description = report.status_description(result)
        if self._stale(gh, decision):
            self.finish("skipped")
            return 0
        self._verdict(result.result, description)
        try:
            self._post(gh, decision, body, STATUS[result.result], description, known=previous)
        except GitHubError as exc:
            self.annotate("error", f"could not post the review to GitHub: {exc}")
            self.finish("error")
            return 3
        self.finish(result.result)
        return self._exit_code(result.result)

    def promote(self, decision: Decision) -> int:
        from prompt_review import promote as promotion
        from prompt_review import report
        from prompt_review.review import ReviewRequest, plan

        settings = self.settings
        root = settings.workspace
        after = decision.after or settings.sha
        config = load_config(root, str(settings.config_path), required=_explicit(settings))
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
        self.outputs["changed_prompts"] = json.dumps(touched)
        if not touched:
            self.say("no prompt changes in this push: nothing to promote")
            self.finish("skipped")
            return 0
        gh = self.github()
        pr_number = self._merged_pr(gh, after)
        request = replace(request, pr_number=pr_number)
        reviewer = self.reviewer(config)
        origin = f"PR #{pr_number}" if pr_number else f"push {after[:12]}"
        outcome = promotion.promote(
            reviewer, request, actor=decision.actor, origin=origin, planned=prepared
        )
        self._write_report(outcome.review)
        lines = [f"- **{p.name}**: {p.action}: {p.message}" for p in outcome.promotions]
        body = "\n".join([PROMOTION_MARKER, "### prompt-review: promotion", "", *lines])
        details = report.render_markdown(outcome.review, run_url=settings.run_url, at=_now())
        self.summary(body + "\n\n" + details)
        for line in lines:
            self.say(line)
        result = (
            "passed" if outcome.ok else ("error" if outcome.review.result == "error" else "failed")
        )
        description = "; ".join(p.message for p in outcome.promotions)
        self._verdict(result, f"promotion: {description}")
        self._post_safely(gh, after, result, f"promotion: {description}")
        if pr_number is not None and settings.comment:
            self._comment_safely(gh, pr_number, body)
        self.finish(result)
        return self._exit_code(result)

    def dispatch(self, decision: Decision) -> int:
        from prompt_review import promote as promotion

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
        version = int(raw_version) if raw_version else None
        settings = self.settings
        config = load_config(
            settings.workspace, str(settings.config_path), required=_explicit(settings)
        )
        registry = self.reviewer(config).registry
        if operation == "rollback":
            outcome = promotion.rollback(
                registry, name, config.alias, actor=decision.actor, to_version=version
            )
            message = outcome.message
        else:
            assert version is not None
            if registry.get(name, version) is None:
                raise UserInputError(f"prompt {name!r}: version {version} does not exist")
            previous = promotion.move_alias(
                registry,
                name,
                config.alias,
                version,
                actor=decision.actor,
                origin="workflow_dispatch",
            )
            message = f"{config.alias} → v{version}" + (f" (was v{previous})" if previous else "")
        self.say(f"{name}: {operation}: {message}")
        self.summary(f"### prompt-review: {operation}\n\n- **{name}**: {message}\n")
        self.outputs["changed_prompts"] = json.dumps([name])
        self.finish("passed")
        return 0

    # -- helpers ------------------------------------------------------------------------
    def _invalid(self, gh: Any, decision: Decision, exc: UserInputError) -> int:
        """Bad prompt/dataset/config files: annotate them, fail the check, say why."""
        from prompt_review import report

        self.annotate_problems(exc.problems)
        result = ReviewResult(
            result="failed",
            summary=f"{len(exc.problems)} problem(s) in prompt, dataset or config files",
            prompts=(),
            commit=decision.head_sha or "",
            pr_number=decision.pr_number,
            problems=tuple(exc.problems),
        )
        assert decision.pr_number is not None
        previous = self._find_comment(gh, decision.pr_number)
        body = report.render_markdown(
            result,
            history=report.parse_history(previous.body) if previous else [],
            run_url=self.settings.run_url,
            at=_now(),
        )
        self.summary(body)
        self._write_report(result)
        if self._stale(gh, decision):
            self.finish("skipped")
            return 0
        self._post(gh, decision, body, "failure", result.summary, known=previous)
        self.finish("failed")
        return 2  # bad input, whatever fail_on_regression says (as the CLI's exit code 2)

    def _no_changes(self, gh: Any, decision: Decision) -> int:
        from prompt_review import report

        assert decision.pr_number is not None and decision.head_sha is not None
        self.say("no prompt changes in this pull request")
        self.summary("### prompt-review\n\nNo prompt changes in this pull request.\n")
        # The head was checked a moment ago, before the (quick, model-free) planning.
        previous = self._find_comment(gh, decision.pr_number)
        body = None
        if previous is not None:
            body = report.render_no_changes(
                history=report.parse_history(previous.body),
                run_url=self.settings.run_url,
                commit=decision.head_sha,
                at=_now(),
            )
        self._post(gh, decision, body, "success", "no prompt changes", known=previous)
        self.finish("skipped")
        return 0

    def _post(
        self,
        gh: Any,
        decision: Decision,
        body: str | None,
        state: str,
        description: str,
        *,
        known: Any = None,
    ) -> None:
        from prompt_review import report
        from prompt_review.github import GitHubPermissionError

        assert decision.pr_number is not None and decision.head_sha is not None
        refused: list[GitHubPermissionError] = []
        if body is not None and self.settings.comment:
            try:
                comment = gh.upsert_comment(decision.pr_number, report.MARKER, body, known=known)
                self.outputs["comment_url"] = comment.html_url
            except GitHubPermissionError as exc:
                refused.append(exc)
        try:
            gh.set_status(
                decision.head_sha,
                state,
                description,
                target_url=self.outputs["comment_url"] or self.settings.run_url,
            )
        except GitHubPermissionError as exc:
            refused.append(exc)
        if refused:
            self._cannot_post(refused[0], decision)

    def _post_safely(self, gh: Any, sha: str, result: str, description: str) -> None:
        from prompt_review.github import GitHubError

        try:
            gh.set_status(sha, STATUS[result], description, target_url=self.settings.run_url)
        except GitHubError as exc:
            self.annotate("warning", f"could not set the commit status: {exc}")

    def _comment_safely(self, gh: Any, number: int, body: str) -> None:
        from prompt_review.github import GitHubError

        try:
            gh.upsert_comment(number, PROMOTION_MARKER, body)
        except GitHubError as exc:
            self.annotate("warning", f"could not comment on PR #{number}: {exc}")

    def _find_comment(self, gh: Any, number: int) -> Any:
        from prompt_review import report
        from prompt_review.github import GitHubPermissionError

        try:
            return gh.find_comment(number, report.MARKER)
        except GitHubPermissionError:
            return None

    def _merged_pr(self, gh: Any, sha: str) -> int | None:
        from prompt_review.github import GitHubError

        try:
            pulls = gh.pull_requests_for_commit(sha)
        except GitHubError as exc:
            self.annotate("warning", f"could not find the pull request of {sha[:12]}: {exc}")
            return None
        merged = [p for p in pulls if p.merged] or list(pulls)
        return merged[0].number if merged else None

    def _stale(self, gh: Any, decision: Decision) -> bool:
        """A newer push superseded this run: its verdict must not overwrite the newer one."""
        assert decision.pr_number is not None
        current = gh.pull_request(decision.pr_number).head_sha
        if current != decision.head_sha:
            self.annotate(
                "warning",
                f"pull request #{decision.pr_number} moved on to {current[:12]} while "
                f"{(decision.head_sha or '')[:12]} was reviewed: nothing posted "
                "(the run for the new head posts the verdict)",
            )
            return True
        return False

    def _verdict(self, result: str, description: str) -> None:
        """The outcome in the log: an annotation when the check does not pass."""
        line = f"prompt-review {result}: {description}"
        if result == "failed":
            self.annotate("error" if self.settings.fail_on_regression else "warning", line)
        elif result == "error":
            self.annotate("error", line)
        else:
            self.say(line)

    def _cannot_post(self, exc: Exception, decision: Decision) -> None:
        why = "a pull request from a fork gets a read-only token" if decision.is_fork else str(exc)
        self.annotate(
            "warning",
            f"prompt-review could not post its comment or status ({why}); "
            "the report is in the job summary",
        )

    def _write_report(self, result: ReviewResult) -> None:
        path = self.settings.workspace / REPORT_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():  # a later `git add -A` in the workflow must not commit it
            ignore.write_text("*\n", encoding="utf-8")
        path.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
        self.outputs["report_path"] = REPORT_PATH

    def _exit_code(self, result: str) -> int:
        if result == "error":
            return 3
        if result == "failed" and self.settings.fail_on_regression:
            return 1
        return 0


def refuse_untrusted_code(planned: Sequence[Any], decision: Decision) -> None:
    """The python provider imports repository code: never for a fork under secrets."""
    if not decision.untrusted:
        return
    problems = [
        f"{item.prompt.source_path}: model.provider: 'python' runs code from the pull "
        "request's branch, refused for a fork's pull_request_target run (it has this "
        "repository's secrets); review forks with the pull_request event instead"
        for item in planned
        if item.prompt.model.provider == "python"
    ]
    if problems:
        raise UserInputError(problems)


def _explicit(settings: Settings) -> bool:
    return str(settings.config_path) != ".prompt-review.yml"


def _now() -> str:
    from prompt_review.promote import now_iso

    return now_iso()


_PROBLEM = re.compile(
    r"^(?P<file>[^:\s][^:]*?):(?: line (?P<line>\d+)(?:, column \d+)?:)?\s*(?P<rest>.*)$"
)


def split_problem(problem: str) -> tuple[str | None, int | None, str]:
    """`file: line N: message` → (file, N, whole problem) for an annotation."""
    match = _PROBLEM.match(problem)
    if not match or ("/" not in match.group("file") and "." not in match.group("file")):
        return None, None, problem
    line = match.group("line")
    return match.group("file"), int(line) if line else None, problem


def main(environ: Mapping[str, str]) -> int:
    from prompt_review import workflow

    try:
        settings = Settings.from_environ(environ)
    except UserInputError as exc:
        for problem in exc.problems:
            print(workflow.annotation("error", problem), flush=True)
        return 2
    if settings.token:
        workflow.mask(settings.token)
    runner = Runner(settings, environ=environ)
    try:
        event = _load_event(settings.event_path)
        decision = decide(settings, event)
        runner.say(f"prompt-review: {decision.reason}")
        if decision.kind == "review":
            return runner.review(decision)
        if decision.kind == "promote":
            return runner.promote(decision)
        if decision.kind == "dispatch":
            return runner.dispatch(decision)
        runner.annotate("notice", decision.reason)
        runner.finish("skipped")
        return 0
    except UserInputError as exc:
        runner.annotate_problems(exc.problems)
        runner.finish("failed")
        return 2
    except InfrastructureError as exc:
        runner.annotate("error", f"infrastructure error: {exc}")
        runner.summary(f"### ⚠️ prompt-review error\n\n{_fenced(str(exc))}\n")
        _error_status(runner, settings, str(exc))
        runner.finish("error")
        return 3
    except Exception as exc:  # a bug: say so, and still never leave the check pending
        traceback.print_exc()
        runner.annotate("error", f"prompt-review crashed: {type(exc).__name__}: {exc}")
        _error_status(runner, settings, f"internal error ({type(exc).__name__})")
        runner.finish("error")
        return 3


def _fenced(text: str) -> str:
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}\n{text}\n{ticks}"


def _error_status(runner: Runner, settings: Settings, message: str) -> None:
    """Never leave a required check pending: report the infrastructure error as `error`."""
    from prompt_review.github import GitHubError

    try:
        event = _load_event(settings.event_path)
        decision = decide(settings, event)
        sha = decision.head_sha or decision.after
        if sha and decision.kind in ("review", "promote"):
            runner.github().set_status(
                sha, "error", f"error: {message}", target_url=settings.run_url
            )
    except (GitHubError, UserInputError, OSError):
        pass


def _load_event(path: Path | None) -> Mapping[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read the event payload: {exc}") from None
    return data if isinstance(data, dict) else {}


__all__ = ["Decision", "Runner", "decide", "main"]
