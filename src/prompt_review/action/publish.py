"""The one seam through which the Action writes anything public, in a fixed order.

1. **The commit status first**: a required check must never be left missing, so it is
   posted before the comment, whatever then happens to the comment.
2. **The PR comment second**: found among our own comments only (see ``github.py``) and
   edited in place; its verdict history comes from our comment alone.
3. **The job summary always**, last, with a note of anything that could not be posted.

Every line, status, comment, summary, output and report passes through ``redact`` first.

When the verdict is known but posting it fails, the status (if it could be posted) keeps
the verdict -- it is true, and turning a pass or a regression into ``error`` would hide
it -- while the step reports the failure as an infrastructure error: ``::error``, output
``result=error``, exit 3. A re-run posts the comment; its evaluations are reused. A fork's
read-only token is expected to be refused: a warning, the report in the job summary, and
the verdict's own exit code. A promotion's status and comment are informational: warnings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

from prompt_review import redact, workflow
from prompt_review.report import MARKER
from prompt_review.results import Result, ReviewResult
from prompt_review.settings import Settings

if TYPE_CHECKING:
    from prompt_review.github import GitHub
    from prompt_review.github_wire import Comment

REPORT_PATH = ".prompt-review/report.json"
State = Literal["success", "failure", "error"]
Level = Literal["error", "warning", "notice"]
STATUS: dict[Result, State] = {
    "passed": "success",
    "skipped": "success",
    "failed": "failure",
    "error": "error",
}
EXIT_CODES: dict[Result, int] = {"passed": 0, "skipped": 0, "failed": 1, "error": 3}
EXIT_INFRA = 3

# Our comment as found a moment ago (None: there is none) → the comment to post (None: none).
Compose = Callable[["Comment | None"], "str | None"]


@dataclass(frozen=True, kw_only=True)
class Post:
    """A verdict to publish on one commit, and on its pull request."""

    result: Result  # the step's `result` output
    sha: str  # the commit the status belongs on (a PR's head, never its merge commit)
    description: str  # the status line
    compose: Compose | None = None  # the comment; None: no comment
    summary: str | None = None  # the job summary; None: the comment
    pr_number: int | None = None
    marker: str = MARKER
    state: State | None = None  # default: STATUS[result]
    exit_code: int | None = None  # default: EXIT_CODES[result] (fail_on_regression applied)
    required: bool = True  # the PR's required check: failing to post it is an error
    fork: bool = False  # a fork's read-only token: a refusal is expected, not an error


class Publisher:
    """What one run writes: log lines, annotations, outputs, the report, the summary, GitHub."""

    def __init__(self, settings: Settings, out: TextIO) -> None:
        self.settings = settings
        self.out = out
        self.status_posted = False
        self.finished = False
        self.outputs: dict[str, str] = {
            "result": "skipped",
            "changed_prompts": "[]",
            "comment_url": "",
            "report_path": "",
        }

    # -- the log -----------------------------------------------------------------------

    def say(self, line: str) -> None:
        print(redact.text(line), file=self.out, flush=True)

    def annotate(
        self, level: Level, message: str, file: str | None = None, line: int | None = None
    ) -> None:
        print(
            workflow.annotation(level, redact.text(message), file=file, line=line),
            file=self.out,
            flush=True,
        )

    def problems(self, problems: list[str]) -> None:
        """Bad input, one annotation per problem, on the file (and line) it names."""
        for problem in problems:
            file, line, message = split_problem(problem)
            self.annotate("error", message, file=file, line=line)

    def verdict(self, result: Result, description: str) -> None:
        """The outcome in the log: an annotation when the check does not pass."""
        line = f"prompt-review {result}: {description}"
        if result == "failed":
            self.annotate("error" if self.settings.fail_on_regression else "warning", line)
        elif result == "error":
            self.annotate("error", line)
        else:
            self.say(line)

    # -- files on the runner -----------------------------------------------------------

    def changed(self, names: list[str]) -> None:
        self.outputs["changed_prompts"] = json.dumps(names)

    def summary(self, markdown: str) -> None:
        workflow.append_summary(self.settings.step_summary_path, redact.text(markdown))

    def report(self, result: ReviewResult) -> None:
        """The JSON report, git-ignored (a later `git add -A` must not commit it)."""
        path = self.settings.workspace / REPORT_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")
        path.write_text(json.dumps(redact.data(result.to_json()), indent=2), encoding="utf-8")
        self.outputs["report_path"] = REPORT_PATH

    def finish(self, result: Result) -> None:
        """Write the step outputs, once, with the final result."""
        if self.finished:
            return
        self.finished = True
        self.outputs["result"] = result
        workflow.write_outputs(self.settings.output_path, redact.mapping(self.outputs))

    def exit_code(self, result: Result) -> int:
        if result == "failed" and not self.settings.fail_on_regression:
            return 0
        return EXIT_CODES[result]

    # -- GitHub ------------------------------------------------------------------------

    def publish(self, gh: GitHub, post: Post) -> int:
        """Status first, comment second, summary always; returns the step's exit code."""
        from prompt_review.github import GitHubError

        trouble = _Trouble(post)
        want_comment = post.compose is not None and self.settings.comment and post.pr_number
        previous: Comment | None = None
        if want_comment:
            assert post.pr_number is not None
            try:
                previous = gh.find_comment(post.pr_number, post.marker)
            except GitHubError as exc:
                trouble.add("list the comments", exc)
                want_comment = False  # without the listing, posting could duplicate ours
        body = post.compose(previous) if post.compose is not None else None
        try:
            gh.set_status(
                post.sha,
                post.state or STATUS[post.result],
                redact.text(post.description),
                target_url=previous.html_url if previous else self.settings.run_url,
            )
            self.status_posted = True
        except GitHubError as exc:
            trouble.add("set the commit status", exc)
        if want_comment and body is not None:
            assert post.pr_number is not None
            try:
                comment = gh.upsert_comment(
                    post.pr_number, post.marker, redact.text(body), known=previous
                )
                self.outputs["comment_url"] = comment.html_url
                self._check_author(gh, comment)
            except GitHubError as exc:
                trouble.add("post the comment", exc)
        for level, message in trouble.messages():
            self.annotate(level, message)
        summary = post.summary if post.summary is not None else body or ""
        self.summary(summary + trouble.summary_note())
        if trouble.errors:
            self.finish("error")
            return EXIT_INFRA
        self.finish(post.result)
        return post.exit_code if post.exit_code is not None else self.exit_code(post.result)

    def fail(
        self, message: str, *, status: str, sha: str | None, github: Callable[[], GitHub]
    ) -> int:
        """The run ended without a verdict: say why everywhere and post an `error` status.

        A status already posted holds a verdict and is left alone.
        """
        from prompt_review.errors import UserInputError
        from prompt_review.github import GitHubError

        self.annotate("error", message)
        if sha and not self.status_posted:
            try:
                github().set_status(
                    sha, "error", redact.text(status), target_url=self.settings.run_url
                )
                self.status_posted = True
            except (GitHubError, UserInputError) as exc:
                self.annotate("warning", f"could not set the `error` commit status either: {exc}")
        self.summary(f"### ⚠️ prompt-review error\n\n{_fenced(message)}\n")
        self.finish("error")
        return EXIT_INFRA

    def _check_author(self, gh: GitHub, comment: Comment) -> None:
        """A comment written under another name than we assumed cannot be found next time."""
        expected = gh.identity()
        if comment.author and comment.author.casefold() != expected.casefold():
            self.annotate(
                "warning",
                f"the PR comment was written by {comment.author}, not {expected}: set the "
                f"`comment_author` input to {comment.author!r}, or the next run posts "
                "another comment instead of editing this one",
            )


class _Trouble:
    """What could not be posted, sorted into errors and expected refusals."""

    def __init__(self, post: Post) -> None:
        self.post = post
        self.errors: list[str] = []
        self.refused: list[str] = []

    def add(self, what: str, exc: Exception) -> None:
        from prompt_review.github import GitHubPermissionError

        if self.post.fork and isinstance(exc, GitHubPermissionError):
            self.refused.append(what)
        elif self.post.required:
            self.errors.append(f"could not {what}: {exc}")
        else:
            self.refused.append(f"{what} ({exc})")

    def messages(self) -> list[tuple[Level, str]]:
        found: list[tuple[Level, str]] = [("error", message) for message in self.errors]
        if self.refused:
            why = (
                "a pull request from a fork gets a read-only token"
                if self.post.fork
                else "; ".join(self.refused)
            )
            found.append(
                (
                    "warning",
                    f"prompt-review could not post its comment or status ({why}); "
                    "the report is in the job summary",
                )
            )
        return found

    def summary_note(self) -> str:
        if not self.errors:
            return ""
        lines = "\n".join(f"- {message}" for message in self.errors)
        return (
            "\n\n> [!WARNING]\n> prompt-review could not post everything to GitHub "
            "(re-run the job: evaluations are reused):\n\n" + lines + "\n"
        )


def _fenced(text: str) -> str:
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}\n{text}\n{ticks}"


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
