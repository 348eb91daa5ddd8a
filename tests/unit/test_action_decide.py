"""`decide()` is pure: which job a runner event asks for, tested on real webhook payloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from prompt_review.action import decide, split_problem
from prompt_review.settings import Settings

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "events"


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8")))


def settings(event_name: str, *, review_drafts: bool = False) -> Settings:
    return Settings(
        event_name=event_name,
        event_path=None,
        repository="Codertocat/Hello-World",
        sha="f" * 40,
        ref="refs/heads/master",
        workspace=Path("/github/workspace"),
        review_drafts=review_drafts,
    )


def test_opened_pull_request_is_reviewed_at_its_head_not_the_merge_commit() -> None:
    payload = event("pull_request.opened")
    decision = decide(settings("pull_request"), payload)
    assert decision.kind == "review"
    assert decision.pr_number == payload["pull_request"]["number"]
    assert decision.head_sha == payload["pull_request"]["head"]["sha"]
    assert decision.base_sha == payload["pull_request"]["base"]["sha"]
    assert decision.is_fork is False
    assert decision.actor == payload["sender"]["login"]


@pytest.mark.parametrize("action", ["synchronize", "reopened", "ready_for_review"])
def test_every_review_action_is_reviewed(action: str) -> None:
    payload = event("pull_request.synchronize")
    payload["action"] = action
    assert decide(settings("pull_request"), payload).kind == "review"


def test_fork_pull_request_is_recognised() -> None:
    payload = copy.deepcopy(event("pull_request.opened"))
    payload["pull_request"]["head"]["repo"]["full_name"] = "someone-else/Hello-World"
    assert decide(settings("pull_request"), payload).is_fork is True


def test_closed_pull_request_is_skipped_even_when_merged() -> None:
    payload = event("pull_request.closed")
    decision = decide(settings("pull_request"), payload)
    assert decision.kind == "skip"
    assert decision.reason == "pull_request 'closed': nothing to review"
    payload["pull_request"]["merged"] = True
    assert decide(settings("pull_request"), payload).kind == "skip", "promotion is the push's job"


def test_drafts_wait_for_ready_for_review_unless_asked() -> None:
    payload = event("pull_request.converted_to_draft")
    payload["action"] = "synchronize"
    assert payload["pull_request"]["draft"] is True
    skipped = decide(settings("pull_request"), payload)
    assert skipped.kind == "skip"
    assert "marked ready for review" in skipped.reason
    assert decide(settings("pull_request", review_drafts=True), payload).kind == "review"


def test_push_to_the_default_branch_promotes() -> None:
    payload = event("push")
    # The recorded push deletes a tag: make it a push of a commit to the default branch.
    payload.update(ref="refs/heads/master", deleted=False, after="a" * 40)
    decision = decide(settings("push"), payload)
    assert decision.kind == "promote"
    assert decision.before == payload["before"]
    assert decision.after == payload["after"]


def test_push_elsewhere_or_of_a_tag_does_not_promote() -> None:
    tag = decide(settings("push"), event("push"))
    assert tag.kind == "skip"
    assert tag.reason == "push to refs/tags/simple-tag: promotion runs on master only"
    branch = event("push.with-new-branch")
    branch["ref"] = "refs/heads/feature"
    assert decide(settings("push"), branch).kind == "skip"
    deleted = event("push")
    deleted.update(ref="refs/heads/master")
    assert deleted["deleted"] is True
    assert decide(settings("push"), deleted).reason == "branch deleted"


def test_new_default_branch_push_has_an_all_zero_before() -> None:
    payload = event("push.with-new-branch")
    assert payload["ref"] == f"refs/heads/{payload['repository']['default_branch']}"
    decision = decide(settings("push"), payload)
    assert decision.kind == "promote"
    assert decision.before == "0" * 40


def test_workflow_dispatch_carries_its_inputs() -> None:
    payload = event("workflow_dispatch")
    payload["inputs"] = {"operation": "rollback", "prompt": "capital"}
    decision = decide(settings("workflow_dispatch"), payload)
    assert decision.kind == "dispatch"
    assert decision.inputs == {"operation": "rollback", "prompt": "capital"}


def test_other_events_are_a_notice() -> None:
    decision = decide(settings("issue_comment"), event("issue_comment.created"))
    assert decision.kind == "skip"
    assert decision.reason == "event 'issue_comment' is not handled (nothing to do)"


@pytest.mark.parametrize(
    ("problem", "file", "line"),
    [
        ("datasets/a.jsonl: line 3: inputs: missing 'x'", "datasets/a.jsonl", 3),
        ("prompts/a.yaml: line 2, column 5: invalid YAML: oops", "prompts/a.yaml", 2),
        (".prompt-review.yml: gate.alpha: expected a number", ".prompt-review.yml", None),
        ("git is not installed (expected git on PATH)", None, None),
    ],
)
def test_problems_become_file_annotations(problem: str, file: str | None, line: int | None) -> None:
    assert split_problem(problem) == (file, line, problem)


def test_a_forks_pull_request_target_run_is_untrusted() -> None:
    payload = copy.deepcopy(event("pull_request.opened"))
    assert decide(settings("pull_request_target"), payload).untrusted is False
    payload["pull_request"]["head"]["repo"]["full_name"] = "someone-else/Hello-World"
    assert decide(settings("pull_request_target"), payload).untrusted is True
    assert decide(settings("pull_request"), payload).untrusted is False, "no secrets there"


def test_python_provider_is_refused_when_untrusted() -> None:
    from prompt_review.action import Decision, refuse_untrusted_code
    from prompt_review.config import Config
    from prompt_review.errors import UserInputError
    from prompt_review.prompts import parse_prompt
    from prompt_review.review import Planned

    prompt = parse_prompt(
        "template: hi\nmodel: {provider: python, name: 'tools.model:run'}\n",
        "prompts/p.yaml",
        Config(),
    )
    planned = [Planned(change=None, prompt=prompt, dataset=None)]  # type: ignore[arg-type]
    refuse_untrusted_code(planned, Decision(kind="review", reason="", untrusted=False))
    with pytest.raises(UserInputError) as caught:
        refuse_untrusted_code(planned, Decision(kind="review", reason="", untrusted=True))
    assert caught.value.problems[0].startswith(
        "prompts/p.yaml: model.provider: 'python' runs code from the pull request's branch"
    )


@pytest.mark.robustness(
    area="input",
    case="a fork's pull_request_target run (secrets at hand) whose prompt uses the `python` "
    "provider or a `{type: python}` scorer, code from the fork's branch",
    behaviour="refused before anything runs: an input error naming the prompt file",
)
def test_python_scorer_is_refused_when_untrusted() -> None:
    import dataclasses

    from prompt_review.action import Decision, refuse_untrusted_code
    from prompt_review.config import Config, ScorerSpec
    from prompt_review.errors import UserInputError
    from prompt_review.prompts import parse_prompt
    from prompt_review.review import Planned

    prompt = parse_prompt("template: hi\n", "prompts/p.yaml", Config())
    scorer = ScorerSpec(type="python", name="tone", options={"function": "checks:tone"})
    prompt = dataclasses.replace(prompt, scorers=(*prompt.scorers, scorer))
    planned = [Planned(change=None, prompt=prompt, dataset=None)]  # type: ignore[arg-type]
    refuse_untrusted_code(planned, Decision(kind="review", reason="", untrusted=False))
    with pytest.raises(UserInputError) as caught:
        refuse_untrusted_code(planned, Decision(kind="review", reason="", untrusted=True))
    assert caught.value.problems == [
        "prompts/p.yaml: scorers: {type: python, name: tone} runs code from the pull "
        "request's branch, refused for a fork's pull_request_target run (it has this "
        "repository's secrets); review forks with the pull_request event instead"
    ]


def test_the_status_belongs_on_the_pr_head_or_the_pushed_commit() -> None:
    from prompt_review.action import Decision

    assert Decision(kind="review", reason="", head_sha="h", after="a").status_sha == "h"
    assert Decision(kind="promote", reason="", head_sha="h", after="a").status_sha == "a"
    assert Decision(kind="dispatch", reason="", head_sha="h", after="a").status_sha is None
