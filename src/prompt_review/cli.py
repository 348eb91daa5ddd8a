"""Command line: argument parsing only. Heavy imports (MLflow) happen inside commands.

Everything a command prints goes through ``redact`` (stdout and stderr are wrapped for the
run), a SIGTERM unwinds as ``Terminated`` so an MLflow run ends FAILED, and any failure is
one line with an exit code: 1 the gate failed, 2 bad input, 3 infrastructure error or an
unexpected crash (the traceback with ``--debug`` or ``RUNNER_DEBUG=1``), 130/143 when
interrupted or terminated.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from prompt_review import __version__, redact
from prompt_review.errors import InfrastructureError, PromptReviewError, UserInputError, cause
from prompt_review.termination import EXIT_TERMINATED, Terminated, sigterm_raises

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INFRA = 0, 1, 2, 3


def progress(message: str) -> None:
    print(f"prompt-review: {message}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prompt-review",
        description="Review prompt changes the way CI reviews code: register each changed "
        "prompt in the MLflow Prompt Registry, evaluate it, compare it with production.",
        epilog="Without MLFLOW_TRACKING_URI an embedded SQLite store in .prompt-review/ is used. "
        "Exit codes: 0 passed, 1 gate failed, 2 bad input, 3 infrastructure error.",
    )
    parser.add_argument("--version", action="version", version=f"prompt-review {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an unexpected error"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--repo", default=".", help="repository folder (default: .)")
        sub.add_argument(
            "--config", default=".prompt-review.yml", help="config file, relative to --repo"
        )

    review = commands.add_parser(
        "review", help="review changed prompts against production and print the report"
    )
    common(review)
    review.add_argument(
        "--base",
        help="git revision to diff against (default: merge-base with main/master, "
        "or HEAD when on it: uncommitted changes)",
    )
    review.add_argument("--all", action="store_true", help="review every prompt, changed or not")
    review.add_argument("--dry-run", action="store_true", help="post nothing; print the report")
    review.add_argument("--json", metavar="PATH", help="also write the JSON report here")
    review.add_argument("--tracking-uri", help="MLflow tracking URI (default: env or embedded)")
    review.add_argument(
        "--format",
        dest="output_format",
        choices=("markdown", "text", "json"),
        help="report on stdout: markdown (the PR comment), text, json (default: text on a "
        "terminal, markdown otherwise)",
    )

    validate = commands.add_parser(
        "validate", help="check config, prompts and datasets; no model calls, no MLflow"
    )
    common(validate)

    commands.add_parser("schema", help="print the JSON Schema of .prompt-review.yml")

    promote = commands.add_parser(
        "promote", help="move the production alias to reviewed, passing versions"
    )
    common(promote)
    promote.add_argument("--base", help="promote prompts changed since this revision")
    promote.add_argument("--all", action="store_true", help="consider every prompt")
    promote.add_argument("--prompt", help="promote this prompt by hand (with --version)")
    promote.add_argument("--version", type=int, help="the version to promote (with --prompt)")
    promote.add_argument("--tracking-uri", help="MLflow tracking URI (default: env or embedded)")

    rollback = commands.add_parser(
        "rollback", help="move the production alias back to previous-production"
    )
    common(rollback)
    rollback.add_argument("--prompt", required=True, help="prompt name")
    rollback.add_argument("--version", type=int, help="roll back to this version instead")
    rollback.add_argument("--tracking-uri", help="MLflow tracking URI (default: env or embedded)")

    ui = commands.add_parser(
        "ui", help="open the MLflow UI on the embedded store (needs prompt-review[ui])"
    )
    ui.add_argument("--repo", default=".", help="repository folder (default: .)")
    ui.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)"
    )
    ui.add_argument("--port", type=int, default=5000, help="port (default: %(default)s)")
    ui.add_argument("--tracking-uri", help="a database store instead of the embedded one")

    commands.add_parser(
        "action", help="the GitHub Action entrypoint (reads the runner's environment)"
    )

    demo = commands.add_parser(
        "demo", help="review the bundled example in a scratch git repository (no API key)"
    )
    demo.add_argument(
        "--example", help="example folder (default: the one shipped with prompt-review)"
    )
    demo.add_argument("--dir", help="where to build the scratch repository (default: temp)")

    importer = commands.add_parser(
        "import",
        help="convert a promptfoo test file or a .prompty file into a prompt file and dataset",
        description="Write <prompts_dir>/NAME.yaml and datasets/NAME.jsonl from another tool's "
        "files. What cannot be expressed is refused with what to do instead; see "
        "docs/templates.md.",
    )
    kinds = importer.add_subparsers(dest="kind", required=True, metavar="FORMAT")
    for kind, what in (
        ("promptfoo", "a promptfooconfig.yaml, or a tests file (CSV, YAML, JSON, JSONL)"),
        ("prompty", "a .prompty file (front matter + Jinja2 chat template)"),
    ):
        sub = kinds.add_parser(kind, help=f"import {what}")
        sub.add_argument("file", help=what)
        sub.add_argument("--name", required=True, help="prompt name (the registry name)")
        common(sub)
        sub.add_argument(
            "--force", action="store_true", help="overwrite the prompt or dataset file"
        )
        if kind == "promptfoo":
            sub.add_argument(
                "--prompt-index",
                type=int,
                help="which prompt to import when the config has several (1 = the first)",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console script (``argv`` None: this process's arguments) or a call in-process."""
    code = _main(argv)
    if argv is None:
        exit_without_teardown(code)
    return code


def exit_without_teardown(code: int) -> None:
    """End the process the way Python does, but for the teardown of its modules.

    Freeing MLflow's, pandas' and SQLAlchemy's module graph takes 1-2 s after a review
    (measured), longer than many reviews' model calls. What Python's exit does first still
    happens, in its order: non-daemon threads are waited for (idle thread pools told to
    stop), then exit handlers run (MLflow's trace queue, logging, coverage). Where this
    interpreter lacks either step, the normal exit is kept.
    """
    wait_for_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if wait_for_threads is None or run_exit_handlers is None:
        return
    wait_for_threads()
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(args.debug) or os.environ.get("RUNNER_DEBUG") == "1"
    redact.install(os.environ)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = redact.Stream(stdout), redact.Stream(stderr)
    try:
        with sigterm_raises():
            return _reported(args, debug=debug)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _reported(args: argparse.Namespace, *, debug: bool) -> int:
    """Run the command; every way it can end is one line and an exit code."""
    try:
        return run(args)
    except UserInputError as exc:
        print("prompt-review: invalid input:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_INPUT
    except InfrastructureError as exc:
        print(f"prompt-review: error: {exc}", file=sys.stderr)
        return EXIT_INFRA
    except PromptReviewError as exc:
        print(f"prompt-review: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("prompt-review: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("prompt-review: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, never Python's exit 1 ("the gate failed")
        if debug:
            traceback.print_exc()
        print(
            f"prompt-review: crashed: {type(exc).__name__}: {cause(exc)} "
            "(a bug; run with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INFRA


def run(args: argparse.Namespace) -> int:
    command = args.command
    tracking_uri = getattr(args, "tracking_uri", None) or os.environ.get("MLFLOW_TRACKING_URI")
    if command == "schema":
        from prompt_review.config import json_schema

        print(json.dumps(json_schema(), indent=2))
        return EXIT_OK
    if command == "validate":
        from prompt_review import local

        print(local.validate(Path(args.repo), args.config))
        return EXIT_OK
    if command == "review":
        from prompt_review import local

        return local.review(
            Path(args.repo),
            args.config,
            base=args.base,
            review_all=args.all,
            tracking_uri=tracking_uri,
            json_path=args.json,
            progress=progress,
            output_format=args.output_format,
        )
    if command == "promote":
        from prompt_review import local

        return local.promote(
            Path(args.repo),
            args.config,
            base=args.base,
            promote_all=args.all,
            prompt=args.prompt,
            version=args.version,
            tracking_uri=tracking_uri,
            progress=progress,
        )
    if command == "rollback":
        from prompt_review import local

        return local.rollback(
            Path(args.repo),
            args.config,
            prompt=args.prompt,
            version=args.version,
            tracking_uri=tracking_uri,
            progress=progress,
        )
    if command == "import":
        from prompt_review.importers import import_file

        for line in import_file(
            args.kind,
            Path(args.file),
            root=Path(args.repo),
            config_path=args.config,
            name=args.name,
            prompt_index=getattr(args, "prompt_index", None),
            force=args.force,
        ):
            print(line)
        return EXIT_OK
    if command == "ui":
        from prompt_review import local

        return local.ui(
            Path(args.repo),
            host=args.host,
            port=args.port,
            tracking_uri=tracking_uri,
            progress=progress,
        )
    if command == "demo":
        from prompt_review import demo

        example = Path(args.example) if args.example else None
        return demo.run(example, Path(args.dir) if args.dir else None, progress)
    from prompt_review.action import main as action_main

    return action_main(os.environ)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
