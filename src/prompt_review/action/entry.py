"""`main(environ)`: one action run, where every fault becomes an exit code and a status.

Exit codes: 0 passed or skipped, 1 the gate failed (with ``fail_on_regression``), 2 bad
input, 3 an infrastructure error or an unexpected crash (with an ``error`` status, never a
missing one), 143 cancelled (SIGTERM). A crash prints a one-line cause; the traceback only
when debugging (``RUNNER_DEBUG=1``, as "Re-run with debug logging" sets).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prompt_review import redact, workflow
from prompt_review.action.decide import Decision, decide
from prompt_review.action.dispatch import dispatch
from prompt_review.action.promote import promote
from prompt_review.action.publish import Publisher
from prompt_review.action.review import review
from prompt_review.action.run import Run
from prompt_review.errors import InfrastructureError, UserInputError
from prompt_review.settings import Settings
from prompt_review.termination import EXIT_TERMINATED, Terminated

JOBS: dict[str, Callable[[Run, Decision], int]] = {
    "review": review,
    "promote": promote,
    "dispatch": dispatch,
}


def main(environ: Mapping[str, str]) -> int:
    out = sys.stdout
    for secret in redact.install(environ):  # before anything is printed
        workflow.mask(secret, stream=redact.unwrapped(out))
    try:
        settings = Settings.from_environ(environ)
    except UserInputError as exc:
        for problem in exc.problems:
            print(workflow.annotation("error", redact.text(problem)), file=out, flush=True)
        return 2
    publisher = Publisher(settings, out)
    run = Run(settings, environ, publisher)
    decision: Decision | None = None
    try:
        decision = decide(settings, _load_event(settings.event_path))
        publisher.say(f"prompt-review: {decision.reason}")
        job = JOBS.get(decision.kind)
        if job is None:
            publisher.annotate("notice", decision.reason)
            publisher.finish("skipped")
            return 0
        return job(run, decision)
    except UserInputError as exc:
        publisher.problems(exc.problems)
        publisher.finish("failed")
        return 2
    except InfrastructureError as exc:
        return publisher.fail(
            f"infrastructure error: {exc}", status=f"error: {exc}", **_where(run, decision)
        )
    except Terminated:
        publisher.fail(
            "prompt-review was cancelled (SIGTERM) before it finished",
            status="error: the run was cancelled before it finished",
            **_where(run, decision),
        )
        return EXIT_TERMINATED
    except Exception as exc:  # a bug: say so in one line, and never leave the check missing
        if settings.debug:
            print(redact.text(traceback.format_exc()), file=sys.stderr, flush=True)
        return publisher.fail(
            f"prompt-review crashed: {type(exc).__name__}: {exc} (a bug; re-run with debug "
            "logging for the traceback)",
            status=f"error: internal error ({type(exc).__name__})",
            **_where(run, decision),
        )


def _where(run: Run, decision: Decision | None) -> dict[str, Any]:
    return {"sha": decision.status_sha if decision else None, "github": run.github}


def _load_event(path: Path | None) -> Mapping[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read the event payload: {exc}") from None
    return data if isinstance(data, dict) else {}
