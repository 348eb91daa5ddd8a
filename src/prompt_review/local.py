"""Wiring for the local commands: git for changes, MLflow for the store, stdout for reports."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from prompt_review import redact
from prompt_review.config import DEFAULT_CONFIG_PATH, Config, ModelConfig, load_config
from prompt_review.errors import UserInputError
from prompt_review.prompts import FileChange, git, git_changes, load_prompts
from prompt_review.results import ReviewResult
from prompt_review.review import Planned, Reviewer, ReviewRequest, plan

Progress = Callable[[str], None]
EXIT = {"passed": 0, "skipped": 0, "failed": 1, "error": 3}


def repo_root(path: Path) -> Path:
    if not path.is_dir():
        raise UserInputError(f"{path}: not a folder")
    top = git(path, "rev-parse", "--show-toplevel").strip()
    return Path(top)


def _setup(repo: Path, config_path: str) -> tuple[Path, Config]:
    """The repository root and its config (a config path given explicitly must exist)."""
    root = repo_root(repo)
    return root, load_config(root, config_path, required=config_path != DEFAULT_CONFIG_PATH)


def default_base(root: Path) -> str:
    """Merge-base with the default branch; on it, HEAD (review uncommitted changes)."""
    head = git(root, "rev-parse", "HEAD").strip()
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
    from prompt_review.tracking import connect

    env = dict(os.environ if environ is None else environ)
    tracking = connect(tracking_uri, root, config.experiment)
    if tracking.embedded:
        progress(
            f"using the embedded MLflow store {tracking.display_uri} "
            f"(browse it: pip install mlflow && mlflow ui --backend-store-uri {tracking.uri})"
        )
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
    )
    return Reviewer(tracking, evaluator, progress)


def check_providers(planned: Sequence[Planned], root: Path, environ: Mapping[str, str]) -> None:
    """Fail on a missing API key or unknown entry point before any registry write."""
    from prompt_review.providers import get_provider

    problems: list[str] = []
    for item in planned:
        try:
            get_provider(item.prompt.model, environ=environ, search_path=str(root))
        except UserInputError as exc:
            problems.extend(f"{item.prompt.source_path}: {p}" for p in exc.problems)
    if problems:
        raise UserInputError(sorted(set(problems)))


def _request(
    root: Path, config: Config, base: str | None, review_all: bool, *, pr_number: int | None = None
) -> ReviewRequest:
    head = git(root, "rev-parse", "HEAD").strip()
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


def render(result: ReviewResult) -> str:
    from prompt_review.report import render_markdown

    return render_markdown(result)


def review(
    repo: Path,
    config_path: str,
    *,
    base: str | None,
    review_all: bool,
    tracking_uri: str | None,
    json_path: str | None,
    progress: Progress,
) -> int:
    root, config = _setup(repo, config_path)
    request = _request(root, config, base, review_all)
    prepared = plan(request)
    check_providers(prepared[0], root, os.environ)
    if not request.changes:
        progress(f"no changes against {request.base}")
    reviewer = build_reviewer(root, config, tracking_uri, progress)
    result = reviewer.review(request, prepared)
    sys.stdout.write(render(result) + "\n")
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
    request = _request(root, config, base, promote_all)
    prepared = plan(request)
    check_providers(prepared[0], root, os.environ)
    reviewer = build_reviewer(root, config, tracking_uri, progress)
    outcome = promotion.promote(reviewer, request, actor=actor, origin="local", planned=prepared)
    for item in outcome.promotions:
        print(f"{item.name}: {item.action}: {item.message}")
    if not outcome.promotions:
        print("nothing to promote")
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
