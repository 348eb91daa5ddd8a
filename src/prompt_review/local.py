"""Wiring for the local commands: git for changes, MLflow for the store, stdout for reports."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from prompt_review import redact
from prompt_review.changes import FileChange, git, git_changes
from prompt_review.config import DEFAULT_CONFIG_PATH, Config, ModelConfig, load_config
from prompt_review.errors import UserInputError
from prompt_review.prompts import load_prompts
from prompt_review.results import ReviewResult
from prompt_review.review import Planned, Reviewer, ReviewRequest, plan

Progress = Callable[[str], None]
Format = Literal["markdown", "text", "json"]
EXIT = {"passed": 0, "skipped": 0, "failed": 1, "error": 3}
STATE_DIR = ".prompt-review"  # git-ignored: the embedded store and MLflow's own log
MLFLOW_LOGGERS = ("mlflow", "alembic", "sqlalchemy.engine", "huey", "py.warnings")


def repo_root(path: Path) -> Path:
    if not path.is_dir():
        raise UserInputError(f"{path}: not a folder")
    top = git(path, "rev-parse", "--show-toplevel").strip()
    return Path(top)


def _setup(repo: Path, config_path: str) -> tuple[Path, Config]:
    """The repository root and its config (a config path given explicitly must exist)."""
    root = repo_root(repo)
    return root, load_config(root, config_path, required=config_path != DEFAULT_CONFIG_PATH)


def head_commit(root: Path) -> str:
    """HEAD's SHA; a repository without a commit gets told to make one."""
    try:
        return git(root, "rev-parse", "--verify", "HEAD").strip()
    except UserInputError:
        raise UserInputError(
            f"{root}: no commit yet: commit first (git add -A && git commit -m 'Add prompts'); "
            "every registered version is tagged with the commit it comes from"
        ) from None


def dirty_paths(root: Path) -> frozenset[str]:
    """Files whose working-tree content differs from HEAD (untracked ones included)."""
    out = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
    return frozenset(entry[3:] for entry in out.split("\0") if len(entry) > 3)


def default_base(root: Path) -> str:
    """Merge-base with the default branch; on it, HEAD (review uncommitted changes)."""
    head = head_commit(root)
    for ref in ("origin/HEAD", "origin/main", "main", "origin/master", "master"):
        try:
            base = git(root, "merge-base", "HEAD", ref).strip()
        except UserInputError:
            continue
        return "HEAD" if base == head else base
    return "HEAD"


def build_reviewer(
    root: Path,
    config: Config,
    tracking_uri: str | None,
    progress: Progress,
    environ: Mapping[str, str] | None = None,
) -> Reviewer:
    from prompt_review.evaluation import Evaluator
    from prompt_review.providers import Provider, get_provider
    from prompt_review.scorers import RetryPolicy, Scoring
    from prompt_review.tracking import connect

    env = dict(os.environ if environ is None else environ)
    tracking = connect(tracking_uri, root, config.experiment)
    quiet_mlflow(root)
    if tracking.embedded:
        store = tracking.display_uri
        progress(f"using the embedded MLflow store {store} (browse it: {ui_command(root)})")
    else:
        progress(f"using MLflow at {tracking.display_uri}")

    def provider_for(model: ModelConfig) -> Provider:
        return get_provider(
            model,
            environ=env,
            max_retries=config.evaluation.max_retries,
            timeout_seconds=config.evaluation.timeout_seconds,
            search_path=str(root),
        )

    evaluator = Evaluator(
        provider_for=provider_for,
        experiment_id=tracking.experiment_id,
        concurrency=config.evaluation.concurrency,
        progress=progress,
        scoring=Scoring(
            environ=env,
            repo_root=root,
            policy=RetryPolicy(
                max_retries=config.evaluation.max_retries,
                timeout_seconds=config.evaluation.timeout_seconds,
            ),
            concurrency=config.evaluation.concurrency,
        ),
    )
    return Reviewer(tracking, evaluator, progress)


def ui_command(root: Path) -> str:
    """The command that opens the MLflow UI on ``root``'s embedded store."""
    here = Path.cwd().resolve() == root.resolve()
    return "prompt-review ui" + ("" if here else f" --repo {shlex.quote(str(root))}")


def state_dir(root: Path) -> Path:
    folder = root / STATE_DIR
    folder.mkdir(exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return folder


def quiet_mlflow(root: Path) -> None:
    """Send MLflow's own warnings and banners to ``.prompt-review/mlflow.log``, not the terminal.

    Errors still reach stderr. Call it after ``import mlflow``, which sets up its loggers.
    """
    log = logging.FileHandler(state_dir(root) / "mlflow.log", encoding="utf-8", delay=True)
    log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.ERROR)
    logging.captureWarnings(True)
    for name in MLFLOW_LOGGERS:
        logger = logging.getLogger(name)
        for old in logger.handlers:
            old.close()
        logger.handlers = [log, terminal]
        logger.propagate = False
        logger.setLevel(logging.INFO if name == "mlflow" else logging.WARNING)


def check_providers(planned: Sequence[Planned], root: Path, environ: Mapping[str, str]) -> None:
    """Fail on a missing API key or unknown entry point before any registry write."""
    from prompt_review.providers import get_provider
    from prompt_review.scorers import preflight

    problems: list[str] = []
    for item in planned:
        try:
            get_provider(item.prompt.model, environ=environ, search_path=str(root))
        except UserInputError as exc:
            problems.extend(f"{item.prompt.source_path}: {p}" for p in exc.problems)
        scorer_problems = preflight(item.prompt.scorers, environ=environ, repo_root=root)
        problems.extend(f"{item.prompt.source_path}: {p}" for p in scorer_problems)
    if problems:
        raise UserInputError(sorted(set(problems)))


def _request(
    root: Path, config: Config, base: str | None, review_all: bool, *, pr_number: int | None = None
) -> ReviewRequest:
    head = head_commit(root)
    if review_all:
        changes = tuple(
            FileChange(path=p.source_path, status="modified") for p in load_prompts(root, config)
        )
        base = None
    else:
        base = base or default_base(root)
        changes = tuple(git_changes(root, base))
    branch = git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
    return ReviewRequest(
        root=root,
        config=config,
        changes=changes,
        git_commit=head,
        base=base,
        pr_number=pr_number,
        branch=None if branch == "HEAD" else branch,
        dirty_paths=dirty_paths(root),
    )


def validate(repo: Path, config_path: str) -> str:
    root, config = _setup(repo, config_path)
    if not (root / config.prompts_dir).is_dir():
        raise UserInputError(
            f"{config.path}: prompts_dir: folder {config.prompts_dir!r} does not exist "
            "(expected the folder holding your prompt files)"
        )
    prompts = load_prompts(root, config)
    request = ReviewRequest(
        root=root,
        config=config,
        changes=tuple(FileChange(path=p.source_path, status="modified") for p in prompts),
        git_commit="",
    )
    planned, _ = plan(request)
    check_providers(planned, root, os.environ)
    datasets = {p.dataset.path: len(p.dataset.examples) for p in planned}
    return (
        f"OK: {len(prompts)} prompt(s), {len(datasets)} dataset(s), "
        f"{sum(datasets.values())} example(s) in {root}"
    )


def render(result: ReviewResult, output_format: Format = "markdown") -> str:
    """The report as the PR comment's Markdown, clean terminal text, or the JSON report."""
    if output_format == "json":
        return json.dumps(result.to_json(), indent=2)
    from prompt_review.report import render_markdown

    markdown = render_markdown(result)
    if output_format == "text":
        from prompt_review.report.text import render_text

        return render_text(markdown)
    return markdown


def terminal_format(output_format: Format | None) -> Format:
    """``--format``, else clean text on a terminal and Markdown into a pipe or file."""
    if output_format is not None:
        return output_format
    return "text" if sys.stdout.isatty() else "markdown"


def review(
    repo: Path,
    config_path: str,
    *,
    base: str | None,
    review_all: bool,
    tracking_uri: str | None,
    json_path: str | None,
    progress: Progress,
    output_format: Format | None = None,
) -> int:
    root, config = _setup(repo, config_path)
    request = _request(root, config, base, review_all)
    prepared = plan(request)
    if not any(prepared):
        # Decided before MLflow starts: nothing to register, evaluate or compare.
        progress(f"no prompt changes against {request.base or 'the working tree'}")
        result = ReviewResult(
            result="skipped",
            summary="no prompt changes",
            prompts=(),
            commit=request.git_commit,
            base=request.base,
            experiment=config.experiment,
            alias=config.alias,
        )
    else:
        check_providers(prepared[0], root, os.environ)
        reviewer = build_reviewer(root, config, tracking_uri, progress)
        result = reviewer.review(request, prepared)
    for item in result.prompts:
        if item.git_dirty:
            progress(
                f"{item.name}: reviewed uncommitted edits ({', '.join(item.dirty_files)}): "
                "the version is tagged git_dirty=true; commit them and review again"
            )
    sys.stdout.write(render(result, terminal_format(output_format)) + "\n")
    if json_path:
        report = redact.data(result.to_json())
        Path(json_path).write_text(json.dumps(report, indent=2), encoding="utf-8")
        progress(f"JSON report written to {json_path}")
    progress(f"result: {result.result} ({result.summary})")
    return EXIT[result.result]


def promote(
    repo: Path,
    config_path: str,
    *,
    base: str | None,
    promote_all: bool,
    prompt: str | None,
    version: int | None,
    tracking_uri: str | None,
    progress: Progress,
) -> int:
    from prompt_review import promote as promotion

    root, config = _setup(repo, config_path)
    actor = os.environ.get("USER", "local")
    if prompt is not None or version is not None:
        if prompt is None or version is None:
            raise UserInputError("promote: --prompt and --version go together")
        reviewer = build_reviewer(root, config, tracking_uri, progress)
        registry = reviewer.registry
        if registry.get(prompt, version) is None:
            raise UserInputError(f"prompt {prompt!r}: version {version} does not exist")
        previous = promotion.move_alias(
            registry, prompt, config.alias, version, actor=actor, origin="manual"
        )
        was = f" (was v{previous})" if previous else ""
        print(f"{prompt}: {config.alias} → v{version}{was}")
        return 0
    state_based = base is None and not promote_all
    request = _request(root, config, base, promote_all or state_based)
    prepared = plan(request)
    if state_based:
        reviewer = build_reviewer(root, config, tracking_uri, progress)
        drift = promotion.drifted(reviewer.registry, prepared[0], config.alias)
        for item in drift.current:
            print(f"{item.name}: already: {item.message}")
        prepared = (list(drift.planned), [])
        request = replace(request, changes=drift.changes)
        check_providers(prepared[0], root, os.environ)
    else:
        check_providers(prepared[0], root, os.environ)
        reviewer = build_reviewer(root, config, tracking_uri, progress)
    outcome = promotion.promote(reviewer, request, actor=actor, origin="local", planned=prepared)
    for item in outcome.promotions:
        print(f"{item.name}: {item.action}: {item.message}")
    if not outcome.promotions:
        print(f"nothing to promote: every prompt at HEAD is what {config.alias} serves")
    return 0 if outcome.ok else 1


def rollback(
    repo: Path,
    config_path: str,
    *,
    prompt: str,
    version: int | None,
    tracking_uri: str | None,
    progress: Progress,
) -> int:
    from prompt_review import promote as promotion

    root, config = _setup(repo, config_path)
    reviewer = build_reviewer(root, config, tracking_uri, progress)
    outcome = promotion.rollback(
        reviewer.registry,
        prompt,
        config.alias,
        actor=os.environ.get("USER", "local"),
        to_version=version,
    )
    print(f"{outcome.name}: {outcome.action}: {outcome.message}")
    return 0


def ui(repo: Path, *, host: str, port: int, tracking_uri: str | None, progress: Progress) -> int:
    """Open the MLflow UI on the embedded store (or on a database ``tracking_uri``)."""
    from prompt_review import ui as mlflow_ui
    from prompt_review.tracking import EMBEDDED_DIR, embedded_uri, strip_credentials

    root = repo_root(repo)
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        print(f"{strip_credentials(tracking_uri)} is a tracking server: it serves the UI itself")
        return 0
    store = root / EMBEDDED_DIR / "mlflow.db"
    if not tracking_uri and not store.is_file():
        raise UserInputError(
            f"{store}: no embedded MLflow store yet (expected one written by "
            f"`prompt-review review` in {root})"
        )
    return mlflow_ui.run(
        root,
        tracking_uri or embedded_uri(root),
        host=host,
        port=port,
        log_path=state_dir(root) / "ui.log",
        progress=progress,
    )
