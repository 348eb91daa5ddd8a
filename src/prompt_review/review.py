"""Use case: review the prompts a change touches against the version behind the alias."""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from prompt_review import redact
from prompt_review.changes import FileChange, PromptChange, prompt_changes
from prompt_review.compare import EvalResult, compare
from prompt_review.config import Config, ModelConfig
from prompt_review.datasets import Dataset, check_variables, load_dataset
from prompt_review.errors import InfrastructureError, UserInputError, cause
from prompt_review.evaluation import Evaluator, Job
from prompt_review.lineage import git_info
from prompt_review.models import ModelSpec, ensure_logged_model
from prompt_review.prompts import Prompt, load_prompts
from prompt_review.registry import TAG_COMMIT, Registry, Version
from prompt_review.results import (
    PRECEDENCE,
    Baseline,
    Links,
    PromptResult,
    Result,
    ReviewResult,
    overall,
    usage_of,
)
from prompt_review.scorers import check_expectations
from prompt_review.traces import GitInfo
from prompt_review.tracking import Tracking

Progress = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class ReviewRequest:
    root: Path
    config: Config
    changes: tuple[FileChange, ...]
    git_commit: str
    base: str | None = None
    pr_number: int | None = None
    branch: str | None = None
    dirty_paths: frozenset[str] = frozenset()  # uncommitted edits (local reviews)

    def dirty_files(self, prompt: Prompt) -> tuple[str, ...]:
        """The files this prompt's review reads that ``git_commit`` does not hold as read."""
        read = (prompt.source_path, prompt.dataset, self.config.path)
        return tuple(path for path in dict.fromkeys(read) if path in self.dirty_paths)


@dataclass(frozen=True, kw_only=True)
class Planned:
    change: PromptChange
    prompt: Prompt
    dataset: Dataset


Plan = tuple[list[Planned], list[PromptChange]]


def plan(request: ReviewRequest) -> Plan:
    """Parse and validate everything the review will touch, before any model call.

    Returns the prompts to evaluate and the deleted ones to report. Every problem in
    every file is collected into one ``UserInputError``.
    """
    prompts = load_prompts(request.root, request.config)
    changes = prompt_changes(request.changes, prompts, request.config)
    by_name = {p.name: p for p in prompts}
    planned: list[Planned] = []
    deleted: list[PromptChange] = []
    problems: list[str] = []
    datasets: dict[str, Dataset] = {}
    for change in changes:
        if change.status == "deleted":
            deleted.append(_named_at_base(request, change))
            continue
        prompt = by_name[change.name]
        try:
            if prompt.dataset not in datasets:
                datasets[prompt.dataset] = load_dataset(request.root, prompt.dataset)
            dataset = datasets[prompt.dataset]
            check_variables(dataset, prompt.variable_paths, prompt.source_path)
            prompt.check_inputs(dataset.examples)
            check_expectations(dataset, prompt.scorers)
        except UserInputError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
            continue
        planned.append(Planned(change=change, prompt=prompt, dataset=dataset))
    if problems:
        raise UserInputError(problems)
    return planned, deleted


def _named_at_base(request: ReviewRequest, change: PromptChange) -> PromptChange:
    """A deleted file may have declared its own `name:`: read it at the base, if git has it."""
    from prompt_review.changes import git
    from prompt_review.prompts import parse_prompt

    if not request.base:
        return change
    try:
        text = git(request.root, "show", f"{request.base}:{change.source_path}")
        name = parse_prompt(text, change.source_path, request.config).name
    except UserInputError:
        return change  # a shallow checkout, or a file that never parsed: keep the stem
    return replace(change, name=name)


class _Known:
    """What one prompt's review has established so far, reported as is when a service fails.

    Without it an error after registration would read "candidate not registered; new
    prompt: no production version", both false.
    """

    def __init__(self, result: PromptResult) -> None:
        self.result = result

    def add(self, **fields: Any) -> None:
        self.result = replace(self.result, **fields)


class Reviewer:
    """Runs the planned prompts through registry, LoggedModel, evaluation and comparison."""

    def __init__(self, tracking: Tracking, evaluator: Evaluator, progress: Progress) -> None:
        self.tracking = tracking
        self.registry = Registry(tracking.client)
        self.evaluator = evaluator
        self.progress = progress
        self.git = GitInfo(commit="")

    def review(self, request: ReviewRequest, planned_already: Plan | None = None) -> ReviewResult:
        """Review ``request``; pass its ``plan()`` when the caller has made it already."""
        started = time.monotonic()
        planned, deleted = planned_already or plan(request)
        self.git = git_info(request.root, request.git_commit, request.branch)
        results = [self._review_one(request, item) for item in planned]
        results.extend(
            PromptResult(
                name=d.name,
                source_path=d.source_path,
                status="deleted",
                reason="prompt file deleted: nothing is registered; production is left as is",
                result="skipped",
            )
            for d in deleted
        )
        # Worst news first: a reviewer reads the failing prompt before the passing ones.
        results.sort(key=lambda r: (PRECEDENCE.index(r.result), r.name))
        verdict = overall([r.result for r in results if r.status != "deleted"])
        return ReviewResult(
            result=verdict,
            summary=summarize(results),
            prompts=tuple(results),
            commit=request.git_commit,
            base=request.base,
            pr_number=request.pr_number,
            experiment=self.tracking.experiment_name,
            alias=request.config.alias,
            tracking_uri=self.tracking.display_uri,
            ui_url=self.tracking.ui_url,
            duration_seconds=round(time.monotonic() - started, 2),
        )

    def _review_one(self, request: ReviewRequest, item: Planned) -> PromptResult:
        """One prompt's result; after an infrastructure error, what was known by then."""
        prompt, dataset = item.prompt, item.dataset
        known = _Known(
            PromptResult(
                name=prompt.name,
                source_path=prompt.source_path,
                status=item.change.status,
                reason=item.change.reason,
                result="error",
                dataset=dataset.path,
                dataset_digest=dataset.digest,
                model=f"{prompt.model.provider}/{prompt.model.name}",
                baseline_known=False,
            )
        )
        calls_before = self.evaluator.llm_calls
        judge_calls_before = self.evaluator.judge_calls
        try:
            return self._evaluate(request, item, known)
        except InfrastructureError as exc:
            return replace(
                known.result,
                result="error",
                error=redact.text(str(exc)),
                llm_calls=self.evaluator.llm_calls - calls_before,
                judge_calls=self.evaluator.judge_calls - judge_calls_before,
            )

    def _evaluate(self, request: ReviewRequest, item: Planned, known: _Known) -> PromptResult:
        prompt, dataset = item.prompt, item.dataset
        alias = request.config.alias
        track = self.tracking
        calls_before = self.evaluator.llm_calls
        judge_calls_before = self.evaluator.judge_calls
        # Production first: if registering fails, the report still names it truthfully.
        production = mlflow_call(
            f"reading alias {alias!r} of {prompt.name!r}",
            lambda: self.registry.by_alias(prompt.name, alias),
        )
        known.add(
            baseline=_baseline(production, alias),
            baseline_known=True,
            prompt_diff=prompt_diff(production, prompt),
        )
        self.progress(f"{prompt.name}: registering {prompt.source_path}")
        version, created = mlflow_call(
            f"registering prompt {prompt.name!r}",
            lambda: self.registry.register(
                prompt,
                git_commit=request.git_commit,
                pr_number=request.pr_number,
                git_dirty=prompt.source_path in request.dirty_paths,
            ),
        )
        self.progress(
            f"{prompt.name}: {'registered new' if created else 'reusing'} version {version.version}"
        )
        links = Links(prompt_version=track.link("prompt", prompt.name, str(version.version)))
        known.add(candidate_version=version.version, links=links)
        candidate = self._run(request, prompt, version, dataset, role="candidate")
        links = replace(
            links,
            model=track.link("model", candidate.model_id) if candidate.model_id else None,
            run=track.link("run", candidate.run_id) if candidate.run_id else None,
            traces=track.link("evaluation", candidate.run_id) if candidate.run_id else None,
            trace_prefix=track.link("trace", ""),
        )
        known.add(model_id=candidate.model_id, run_id=candidate.run_id, links=links)
        baseline_result: EvalResult | None = None
        if production is not None:
            if production.version == version.version:
                baseline_result = candidate
            else:
                baseline_prompt = replace(
                    prompt,
                    template=production.template,
                    model=production.model(fallback=prompt.model),
                )
                baseline_result = self._run(
                    request, baseline_prompt, production, dataset, role="production"
                )
        comparison = compare(
            candidate, baseline_result, [s.name for s in prompt.scorers], prompt.gate
        )
        return replace(
            known.result,
            result=comparison.verdict,
            baseline_run_id=baseline_result.run_id if baseline_result else None,
            comparison=comparison,
            links=replace(
                links,
                baseline_run=(
                    track.link("run", baseline_result.run_id)
                    if baseline_result and baseline_result.run_id
                    else None
                ),
            ),
            candidate_reused=candidate.reused,
            baseline_reused=baseline_result.reused if baseline_result else False,
            llm_calls=self.evaluator.llm_calls - calls_before,
            judge_calls=self.evaluator.judge_calls - judge_calls_before,
            candidate_usage=usage_of(candidate, prompt.model.name, request.config.pricing),
            baseline_usage=(
                usage_of(
                    baseline_result,
                    production.model(fallback=prompt.model).name,
                    request.config.pricing,
                )
                if baseline_result is not None and production is not None
                else None
            ),
            git_dirty=bool(request.dirty_files(prompt)),
            dirty_files=request.dirty_files(prompt),
        )

    def _run(
        self,
        request: ReviewRequest,
        prompt: Prompt,
        version: Version,
        dataset: Dataset,
        *,
        role: str,
    ) -> EvalResult:
        commit = (
            request.git_commit if role == "candidate" else version.tags.get(TAG_COMMIT, "unknown")
        )
        spec = ModelSpec(
            prompt_name=prompt.name,
            prompt_version=version.version,
            git_commit=commit,
            content_hash=prompt.content_hash,
            model=prompt.model,
            dataset_name=dataset.name,
            dataset_digest=dataset.digest,
            pr_number=request.pr_number if role == "candidate" else None,
            branch=request.branch if role == "candidate" else None,
            repo_url=self.git.repo_url,
            git_dirty=role == "candidate" and bool(request.dirty_files(prompt)),
        )
        model_id, _ = mlflow_call(
            f"creating the LoggedModel of {prompt.name!r}",
            lambda: ensure_logged_model(spec, self.tracking.experiment_id),
        )
        tags = {
            "prompt_review.role": role,
            "prompt_name": prompt.name,
            "prompt_version": str(version.version),
            "content_hash": prompt.content_hash,
            "dataset_name": dataset.name,
            "dataset_digest": dataset.digest,
            "git_commit": commit,
        }
        if request.pr_number is not None:
            tags["pr_number"] = str(request.pr_number)
        job = Job(
            prompt=prompt,
            version=version.version,
            dataset=dataset,
            scorers=prompt.scorers,
            model_id=model_id,
            role=role,
            tags=tags,
            git=self.git,
            repeats=request.config.evaluation.repeats,
        )
        return mlflow_call(f"evaluating {prompt.name!r} ({role})", lambda: self.evaluator.run(job))


def mlflow_call(what: str, call: Callable[[], T]) -> T:
    """Turn MLflow's exceptions into an infrastructure error that says what we were doing."""
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except MlflowException as exc:
        raise InfrastructureError(redact.text(f"MLflow failed while {what}: {cause(exc)}")) from exc
    except (ConnectionError, OSError) as exc:
        raise InfrastructureError(
            redact.text(f"MLflow is unreachable while {what}: {cause(exc)}")
        ) from exc


def _baseline(production: Version | None, alias: str) -> Baseline | None:
    if production is None:
        return None
    tags = production.tags
    return Baseline(
        version=production.version,
        alias=alias,
        git_commit=tags.get(TAG_COMMIT),
        pr_number=tags.get("pr_number"),
        promoted_at=tags.get("promoted_at"),
        promoted_by=tags.get("promoted_by"),
    )


def prompt_diff(production: Version | None, prompt: Prompt) -> str:
    """Unified diff of production's template against the candidate's, then, when they differ,
    of their model settings (response_format, tools, sampling) as indented JSON, line by line."""
    from prompt_review.prompts import template_text

    new = template_text(prompt.template).splitlines()
    if production is None:
        old: list[str] = []
        label = "/dev/null"
    else:
        old = template_text(production.template).splitlines()
        label = f"{prompt.name}@v{production.version}"
    lines = list(
        difflib.unified_diff(old, new, fromfile=label, tofile=prompt.source_path, lineterm="")
    )
    if production is not None:

        def settings(model: ModelConfig) -> list[str]:
            text = json.dumps(model.identity(), indent=2, sort_keys=True, ensure_ascii=False)
            return text.splitlines()

        lines += difflib.unified_diff(
            settings(production.model(fallback=prompt.model)),
            settings(prompt.model),
            fromfile=f"{label} model settings",
            tofile=f"{prompt.source_path} model settings",
            lineterm="",
        )
    return "\n".join(lines)


def summarize(results: Sequence[PromptResult]) -> str:
    reviewed = [r for r in results if r.status != "deleted"]
    if not results:
        return "no prompt changes"
    counts: dict[Result, int] = {}
    for r in reviewed:
        counts[r.result] = counts.get(r.result, 0) + 1
    parts = [f"{n} {word}" for word, n in counts.items()]
    deleted = len(results) - len(reviewed)
    if deleted:
        parts.append(f"{deleted} deleted")
    noun = "prompt" if len(results) == 1 else "prompts"
    return f"{len(results)} {noun}: " + ", ".join(parts)
