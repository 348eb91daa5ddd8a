"""`prompt-review action` end to end: the console entrypoint in a subprocess, runner-shaped
environment and webhook payloads, a real git repository, the session's `mlflow server`, the
fake GitHub REST API and the stub OpenAI-compatible model. Nothing is mocked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.end_to_end.harness import (
    BETTER,
    CAPITALS,
    GOOD,
    MARKER,
    REPOSITORY,
    RUN_ID,
    SERVER_URL,
    SLOPPY,
    SLOPPY_AGAIN,
    ZERO_SHA,
    Action,
    ActionRun,
    annotations,
    capital_responder,
    dispatch_event,
    issue_comment_event,
    parse_github_output,
    prompt_text,
    pull_request_event,
    push_event,
    unique,
)
from tests.fakes.git_repo import GitRepo
from tests.fakes.github_server import FakeGitHub
from tests.fakes.mlflow_server import MlflowServer, free_port
from tests.fakes.openai_server import OpenAIStub

N = len(CAPITALS)
# Requests per pull request review, whatever the number of prompts: PR head (stale check
# before any model call), PR files, PR head again (before posting), comments, the status,
# then an edit of the known comment, or a fresh listing and a POST for the first one. The
# Actions token (ghs_...) is known to write as github-actions[bot]; a personal token costs
# one GET /user more.
GITHUB_BUDGET = 7
RUN_URL = f"{SERVER_URL}/{REPOSITORY}/actions/runs/{RUN_ID}"


@pytest.fixture(scope="module")
def mlflow_client(mlflow_server: MlflowServer) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server.uri, registry_uri=mlflow_server.uri)


# -- helpers -----------------------------------------------------------------------------------


def review_pull(
    action: Action,
    number: int,
    *,
    head: str,
    base: str,
    files: list[str | tuple[str, str]],
    event_action: str = "opened",
    **env: str,
) -> ActionRun:
    """Seed the pull request in the fake, check out its merge commit, run the action."""
    action.open_pull(number, head_sha=head, base_sha=base, files=files)
    merge_sha = action.checkout_pull(number, head, base)
    run = action.run(
        "pull_request",
        pull_request_event(event_action, number=number, head_sha=head, base_sha=base),
        **env,
    )
    assert not action.statuses(merge_sha), "the status belongs on the head, not GITHUB_SHA"
    return run


def commit_prompt(action: Action, name: str, template: str, *, start: str) -> str:
    action.branch("feature", start)
    action.repo.write(f"prompts/{name}.yaml", prompt_text(template))
    return action.repo.commit(f"change {name}")


def seed_production(action: Action, name: str, template: str = GOOD) -> tuple[str, int]:
    """A direct push to main adding ``name``: reviewed, then promoted. (main SHA, version)."""
    action.repo.git("checkout", "-q", "main")
    action.ref = "refs/heads/main"
    before = action.repo.head()
    action.repo.write(f"prompts/{name}.yaml", prompt_text(template))
    after = action.repo.commit(f"add {name}")
    run = action.run("push", push_event(before=before, after=after))
    assert run.returncode == 0, run.explain()
    assert run.outputs["result"] == "passed", run.explain()
    report = load_report(action, run)
    version = report["prompts"][0]["candidate_version"]
    assert isinstance(version, int)
    return after, version


def load_report(action: Action, run: ActionRun) -> dict[str, Any]:
    path = action.repo.root / run.outputs["report_path"]
    assert path.is_file(), run.explain()
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def only_status(action: Action, sha: str) -> dict[str, Any]:
    statuses = action.statuses(sha)
    assert len(statuses) >= 1, f"no prompt-review status on {sha}"
    latest = statuses[0]
    assert len(latest["description"]) <= 140
    return latest


def the_comment(action: Action, number: int) -> dict[str, Any]:
    comments = [c for c in action.comments(number) if MARKER in c["body"]]
    assert len(comments) == 1, [c["body"][:200] for c in action.comments(number)]
    return comments[0]


def production(client: Any, name: str, alias: str = "production") -> Any:
    return client.get_prompt_version_by_alias(name, alias)


def versions(client: Any, name: str) -> list[Any]:
    from mlflow.exceptions import MlflowException

    try:
        return list(client.search_prompt_versions(name, max_results=100))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return []


def logged_models(client: Any, experiment: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return list(client.search_logged_models(experiment_ids=[found.experiment_id]))


def assert_budget(run: ActionRun) -> None:
    assert len(run.github_requests) <= GITHUB_BUDGET, run.github_requests


# -- pull request reviews ----------------------------------------------------------------------


def test_first_pull_request_on_a_new_prompt_passes(action: Action, mlflow_client: Any) -> None:
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)

    run = review_pull(action, 1, head=head, base=base, files=[(f"prompts/{name}.yaml", "added")])

    assert run.returncode == 0, run.explain()
    assert run.outputs["result"] == "passed"
    assert json.loads(run.outputs["changed_prompts"]) == [name]
    comment = the_comment(action, 1)
    assert run.outputs["comment_url"] == comment["html_url"]
    assert "no production version yet" in comment["body"]
    status = only_status(action, head)
    assert status["state"] == "success"
    # The status goes first, before the comment exists: it links to the run (its summary
    # holds the same report); once the comment exists, later statuses link to it.
    assert status["target_url"] == RUN_URL
    report = load_report(action, run)
    assert report["result"] == "passed"
    assert report["prompts"][0]["candidate_version"] == 1
    assert "prompt-review passed" in run.summary
    assert run.llm_calls == N
    assert_budget(run)
    [version] = versions(mlflow_client, name)
    assert version.tags["git_commit"] == head
    assert version.tags["pr_number"] == "1"


def test_regression_fails_the_check_and_a_second_push_edits_the_same_comment(
    action: Action,
) -> None:
    name = unique("capital")
    base = action.setup({})
    main, _ = seed_production(action, name, GOOD)
    head = commit_prompt(action, name, SLOPPY, start=main)
    files: list[str | tuple[str, str]] = [f"prompts/{name}.yaml"]

    first = review_pull(action, 2, head=head, base=main, files=files)

    assert first.returncode == 1, first.explain()
    assert first.outputs["result"] == "failed"
    assert any("prompt-review failed" in e for e in annotations(first.stdout, "error"))
    assert only_status(action, head)["state"] == "failure"
    assert first.llm_calls == N, "production's scores are reused from its promotion run"
    body = the_comment(action, 2)["body"]
    assert "regressed" in body and "Somewhere in France" in body
    assert_budget(first)

    # A second push, still regressing, with fail_on_regression off: the job passes, the
    # required check does not, and the one comment is edited in place.
    head2 = commit_prompt(action, name, SLOPPY_AGAIN, start=head)
    second = review_pull(
        action,
        2,
        head=head2,
        base=main,
        files=files,
        event_action="synchronize",
        INPUT_FAIL_ON_REGRESSION="false",
    )

    assert second.returncode == 0, second.explain()
    assert second.outputs["result"] == "failed"
    assert any("prompt-review failed" in w for w in annotations(second.stdout, "warning"))
    assert only_status(action, head2)["state"] == "failure"
    comment = the_comment(action, 2)
    assert only_status(action, head2)["target_url"] == comment["html_url"]
    assert len(action.comments(2)) == 1
    assert second.outputs["comment_url"] == comment["html_url"]
    history = next(line for line in comment["body"].splitlines() if line.startswith("History:"))
    assert head[:7] in history and head2[:7] in history
    assert history.index(head[:7]) < history.index(head2[:7])
    assert action.github.count("POST", "/repos/acme/prompt-lab/issues/2/comments") == 1
    assert_budget(second)
    del base


def test_rerun_of_the_same_head_reuses_everything(action: Action, mlflow_client: Any) -> None:
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)
    files: list[str | tuple[str, str]] = [(f"prompts/{name}.yaml", "added")]
    first = review_pull(action, 3, head=head, base=base, files=files)
    assert first.returncode == 0, first.explain()
    models_before = len(logged_models(mlflow_client, action.experiment))
    comment_before = the_comment(action, 3)

    again = review_pull(action, 3, head=head, base=base, files=files, event_action="reopened")

    assert again.returncode == 0, again.explain()
    assert again.outputs["result"] == "passed"
    assert again.llm_calls == 0
    assert len(versions(mlflow_client, name)) == 1
    assert len(logged_models(mlflow_client, action.experiment)) == models_before == 1
    assert the_comment(action, 3)["id"] == comment_before["id"]
    assert len(action.comments(3)) == 1
    assert load_report(action, again)["prompts"][0]["candidate_reused"] is True
    assert_budget(again)


def test_pull_request_without_prompt_changes(action: Action) -> None:
    name = unique("capital")
    base = action.setup({})
    action.branch("docs", base)
    action.repo.write("README.md", "# prompts\n\nMore words.\n")
    docs = action.repo.commit("docs only")

    run = review_pull(action, 4, head=docs, base=base, files=["README.md"])

    assert run.returncode == 0, run.explain()
    assert run.outputs["result"] == "skipped"
    assert json.loads(run.outputs["changed_prompts"]) == []
    status = only_status(action, docs)
    assert (status["state"], status["description"]) == ("success", "no prompt changes")
    assert action.comments(4) == []
    assert run.llm_calls == 0

    # A PR that did change a prompt, then dropped the change: its comment says so.
    head = commit_prompt(action, name, GOOD, start=base)
    files: list[str | tuple[str, str]] = [(f"prompts/{name}.yaml", "added")]
    reviewed = review_pull(action, 5, head=head, base=base, files=files)
    assert reviewed.outputs["result"] == "passed", reviewed.explain()
    action.repo.git("checkout", "-q", "feature")
    action.repo.remove(f"prompts/{name}.yaml")
    action.repo.write("README.md", "# prompts\n\nOnly docs now.\n")
    reverted = action.repo.commit("drop the prompt change")

    run = review_pull(
        action, 5, head=reverted, base=base, files=["README.md"], event_action="synchronize"
    )

    assert run.returncode == 0, run.explain()
    assert run.outputs["result"] == "skipped"
    assert only_status(action, reverted)["state"] == "success"
    body = the_comment(action, 5)["body"]
    assert "no longer changes any prompt" in body
    assert head[:7] in body and reverted[:7] in body
    assert len(action.comments(5)) == 1
    assert_budget(run)


# -- promotion on merge, rollback --------------------------------------------------------------


def test_passing_change_is_promoted_on_merge_then_rolled_back_and_promoted_by_hand(
    action: Action, mlflow_client: Any
) -> None:
    name = unique("capital")
    action.setup({})
    main, v1 = seed_production(action, name, GOOD)
    head = commit_prompt(action, name, BETTER, start=main)

    review = review_pull(action, 6, head=head, base=main, files=[f"prompts/{name}.yaml"])

    assert review.returncode == 0, review.explain()
    assert review.outputs["result"] == "passed"
    assert review.llm_calls == N, "production is not re-evaluated"
    reviewed = load_report(action, review)["prompts"][0]
    assert reviewed["baseline"]["version"] == v1
    assert reviewed["baseline_reused"] is True
    v2 = reviewed["candidate_version"]
    assert v2 == v1 + 1
    assert "production is v1" in the_comment(action, 6)["body"]

    merge_sha = action.merge_to_main(head)
    action.github.add_pull(
        action.repository, 6, head_sha=head, base_sha=main, merged=True, merge_commit_sha=merge_sha
    )
    merged = action.run("push", push_event(before=main, after=merge_sha))

    assert merged.returncode == 0, merged.explain()
    assert merged.outputs["result"] == "passed"
    assert merged.llm_calls == 0, "the merged content was reviewed: nothing is re-evaluated"
    promoted = production(mlflow_client, name)
    assert int(promoted.version) == v2
    by_hash = {v.tags["content_hash"]: int(v.version) for v in versions(mlflow_client, name)}
    assert by_hash[promoted.tags["content_hash"]] == v2
    assert int(production(mlflow_client, name, "previous-production").version) == v1
    assert promoted.tags["promoted_from"] == "PR #6"
    deciding_run = mlflow_client.get_run(reviewed["run_id"])
    assert deciding_run.data.tags["is_production_eval"] == "true"
    assert only_status(action, merge_sha)["state"] == "success"
    assert action.github.count("GET", f"/repos/acme/prompt-lab/commits/{merge_sha}/pulls") == 1
    notes = [c for c in action.comments(6) if "promotion" in c["body"]]
    assert len(notes) == 1 and f"v{v2}" in notes[0]["body"]

    rollback = action.run(
        "workflow_dispatch", dispatch_event({"operation": "rollback", "prompt": name})
    )

    assert rollback.returncode == 0, rollback.explain()
    assert int(production(mlflow_client, name).version) == v1
    assert int(production(mlflow_client, name, "previous-production").version) == v2
    assert f"v{v1}" in rollback.summary

    promote = action.run(
        "workflow_dispatch",
        dispatch_event({"operation": "promote", "prompt": name, "version": str(v2)}),
    )

    assert promote.returncode == 0, promote.explain()
    assert int(production(mlflow_client, name).version) == v2
    assert rollback.llm_calls == promote.llm_calls == 0


def test_unreviewed_regressing_push_keeps_production(action: Action, mlflow_client: Any) -> None:
    name = unique("capital")
    action.setup({})
    main, v1 = seed_production(action, name, GOOD)
    action.repo.write(f"prompts/{name}.yaml", prompt_text(SLOPPY))
    pushed = action.repo.commit("hotfix straight to main")

    run = action.run("push", push_event(before=main, after=pushed))

    assert run.returncode == 1, run.explain()
    assert run.outputs["result"] == "failed"
    assert run.llm_calls == N, "never reviewed: the merged content is evaluated now"
    assert int(production(mlflow_client, name).version) == v1
    status = only_status(action, pushed)
    assert status["state"] == "failure"
    assert "production stays at v1" in status["description"]
    assert any("production stays at v1" in e for e in annotations(run.stdout, "error"))
    assert "Somewhere in France" in run.summary, "the summary shows what regressed"


def test_first_push_of_a_new_default_branch_promotes_every_prompt(
    action: Action, mlflow_client: Any
) -> None:
    """`before` is all zeros: there is no range to diff, so every prompt is considered."""
    first, second = unique("capital"), unique("capital")
    pushed = action.setup({first: GOOD, second: BETTER})

    run = action.run("push", push_event(before=ZERO_SHA, after=pushed))

    assert run.returncode == 0, run.explain()
    assert sorted(json.loads(run.outputs["changed_prompts"])) == sorted([first, second])
    assert int(production(mlflow_client, first).version) == 1
    assert int(production(mlflow_client, second).version) == 1
    assert only_status(action, pushed)["state"] == "success"


def test_closed_pull_request_does_not_promote(action: Action, mlflow_client: Any) -> None:
    name = unique("capital")
    base = action.setup({name: GOOD})
    event = pull_request_event("closed", number=7, head_sha=base, base_sha=base, merged=True)

    run = action.run("pull_request", event)

    assert run.returncode == 0, run.explain()
    assert run.outputs["result"] == "skipped"
    assert annotations(run.stdout, "notice")
    assert run.github_requests == [] and run.llm_calls == 0
    assert versions(mlflow_client, name) == []


# -- degraded GitHub ---------------------------------------------------------------------------


@pytest.mark.robustness(
    area="status",
    case="a fork's pull request: the token is read-only, every write refused (403)",
    behaviour="the review runs; a warning, the report in the job summary, the verdict's "
    "exit code; the status is still tried",
)
def test_fork_pull_request_with_a_read_only_token(action: Action) -> None:
    name = unique("capital")
    base = action.setup({}, gate="gate:\n  min_score: {exact_match: 0.9}\n")
    head = commit_prompt(action, name, SLOPPY, start=base)
    action.github.read_only = True
    action.github.add_pull(
        action.repository,
        8,
        head_sha=head,
        base_sha=base,
        head_repository="outsider/prompt-lab",
        files=action.file_entries([(f"prompts/{name}.yaml", "added")]),
    )
    action.checkout_pull(8, head, base)
    event = pull_request_event(
        "opened", number=8, head_sha=head, base_sha=base, head_repository="outsider/prompt-lab"
    )

    run = action.run("pull_request", event)

    assert run.returncode == 1, run.explain()
    assert run.outputs["result"] == "failed"
    assert run.outputs["comment_url"] == ""
    warnings = annotations(run.stdout, "warning")
    assert any("fork" in w for w in warnings), run.stdout
    assert "Traceback" not in run.stderr
    assert "prompt-review failed" in run.summary and "below gate.min\\_score" in run.summary
    assert action.comments(8) == [] and action.statuses(head) == []
    refused = {r.path.rsplit("/", 1)[-1] for r in run.github_requests if r.status == 403}
    assert refused == {"comments", head}, "the status is tried even when the comment is refused"


@pytest.mark.robustness(
    area="faults",
    case="the comment POST answered 502 after it took effect, end to end",
    behaviour="one comment, its URL in the outputs, a success status",
)
def test_comment_created_but_answered_502_is_not_posted_twice(action: Action) -> None:
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)
    action.github.fail_next("POST", r"/repos/acme/prompt-lab/issues/9/comments", 502, apply=True)

    run = review_pull(action, 9, head=head, base=base, files=[(f"prompts/{name}.yaml", "added")])

    assert run.returncode == 0, run.explain()
    assert len(action.comments(9)) == 1
    assert run.outputs["comment_url"] == action.comments(9)[0]["html_url"]
    assert only_status(action, head)["state"] == "success"


def test_github_enterprise_server_path_prefix(
    git_repo: GitRepo, openai_stub: OpenAIStub, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    openai_stub.responder = capital_responder
    with FakeGitHub(prefix="/api/v3", html_url="https://ghe.example.com") as ghes:
        action = Action(
            repo=git_repo,
            github=ghes,
            llm=openai_stub,
            tracking_uri=mlflow_server.uri,
            scratch=tmp_path,
        )
        name = unique("capital")
        base = action.setup({})
        head = commit_prompt(action, name, GOOD, start=base)

        run = review_pull(
            action,
            10,
            head=head,
            base=base,
            files=[(f"prompts/{name}.yaml", "added")],
            GITHUB_SERVER_URL="https://ghe.example.com",
        )

        assert run.returncode == 0, run.explain()
        assert ghes.url.endswith("/api/v3")
        assert run.github_requests and all(r.status < 400 for r in run.github_requests)
        assert the_comment(action, 10)["html_url"].startswith("https://ghe.example.com/")
        assert only_status(action, head)["target_url"].startswith("https://ghe.example.com/")


@pytest.mark.robustness(
    area="faults",
    case="the PR head moved on before the run started",
    behaviour="no model call, nothing posted (the newer run posts)",
)
def test_stale_head_posts_nothing(action: Action) -> None:
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)
    newer = commit_prompt(action, name, BETTER, start=head)
    action.open_pull(11, head_sha=newer, base_sha=base, files=[f"prompts/{name}.yaml"])
    action.checkout_pull(11, head, base)

    run = action.run(
        "pull_request", pull_request_event("synchronize", number=11, head_sha=head, base_sha=base)
    )

    assert run.returncode == 0, run.explain()
    assert any("moved on" in w for w in annotations(run.stdout, "warning")), run.stdout
    assert action.comments(11) == []
    assert action.statuses(head) == [] and action.statuses(newer) == []
    assert not [r for r in run.github_requests if r.method != "GET"]


@pytest.mark.robustness(
    area="faults",
    case="the PR head moves while the candidate is evaluated",
    behaviour="nothing posted: an old verdict never overwrites a newer one",
)
def test_head_moving_during_the_evaluation_posts_nothing(
    action: Action, openai_stub: OpenAIStub
) -> None:
    """A run for an older head must not overwrite the verdict of the newer one."""
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)
    newer = commit_prompt(action, name, BETTER, start=head)
    files = [f"prompts/{name}.yaml"]
    action.open_pull(12, head_sha=head, base_sha=base, files=files)
    action.checkout_pull(12, head, base)
    pushed: list[bool] = []

    def push_while_evaluating(request: dict[str, Any]) -> str:
        if not pushed:
            pushed.append(True)
            action.open_pull(12, head_sha=newer, base_sha=base, files=files)
        return capital_responder(request)

    openai_stub.responder = push_while_evaluating
    run = action.run(
        "pull_request", pull_request_event("synchronize", number=12, head_sha=head, base_sha=base)
    )

    assert run.returncode == 0, run.explain()
    assert run.llm_calls == N, "the head moved only after the evaluation started"
    assert any("moved on" in w for w in annotations(run.stdout, "warning")), run.stdout
    assert action.comments(12) == []
    assert action.statuses(head) == [] and action.statuses(newer) == []
    assert run.outputs["result"] == "skipped"


# -- bad input, broken infrastructure ----------------------------------------------------------


@pytest.mark.robustness(
    area="input",
    case="a prompt file with broken YAML, then a dataset line cut short",
    behaviour="exit 2, `failure` status, `::error file=…,line=…` annotations, the comment "
    "lists the problems; no model call",
)
def test_invalid_prompt_and_dataset_files_are_annotated(action: Action) -> None:
    name = unique("capital")
    base = action.setup({})
    action.branch("feature", base)
    action.repo.write(
        f"prompts/{name}.yaml", "template: 'What is the capital of {{ country }}'\n  model: [\n"
    )
    head = action.repo.commit("broken prompt")

    run = review_pull(action, 12, head=head, base=base, files=[(f"prompts/{name}.yaml", "added")])

    assert run.returncode == 2, run.explain()
    assert run.outputs["result"] == "failed"
    errors = annotations(run.stdout, "error")
    assert any(e.startswith(f"::error file=prompts/{name}.yaml,line=2::") for e in errors), errors
    assert only_status(action, head)["state"] == "failure"
    assert run.llm_calls == 0

    action.repo.write(f"prompts/{name}.yaml", prompt_text(GOOD))
    lines = (action.repo.root / "datasets/capitals.jsonl").read_text().splitlines()
    lines[2] = '{"inputs": {"country": "Peru"}, "expectations": '
    action.repo.write("datasets/capitals.jsonl", "\n".join(lines) + "\n")
    head2 = action.repo.commit("broken dataset")

    run = review_pull(
        action,
        12,
        head=head2,
        base=base,
        files=[(f"prompts/{name}.yaml", "added"), "datasets/capitals.jsonl"],
        event_action="synchronize",
    )

    assert run.returncode == 2, run.explain()
    errors = annotations(run.stdout, "error")
    assert any(e.startswith("::error file=datasets/capitals.jsonl,line=3::") for e in errors)
    assert only_status(action, head2)["state"] == "failure"
    body = the_comment(action, 12)["body"]
    assert "datasets/capitals.jsonl" in body
    history = next(line for line in body.splitlines() if line.startswith("History:"))
    assert head[:7] in history and head2[:7] in history


@pytest.mark.robustness(
    area="input",
    case="the openai provider without OPENAI_API_KEY",
    behaviour="exit 2, an annotation on the prompt file naming the variable; nothing registered",
)
def test_missing_api_key_fails_before_any_registry_write(
    action: Action, mlflow_client: Any
) -> None:
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)

    run = review_pull(
        action,
        17,
        head=head,
        base=base,
        files=[(f"prompts/{name}.yaml", "added")],
        OPENAI_BASE_URL="",
        OPENAI_API_KEY="",
    )

    assert run.returncode == 2, run.explain()
    assert run.outputs["result"] == "failed"
    errors = annotations(run.stdout, "error")
    assert any(e.startswith(f"::error file=prompts/{name}.yaml::") for e in errors), errors
    assert any("OPENAI_API_KEY" in e for e in errors), errors
    assert only_status(action, head)["state"] == "failure"
    assert versions(mlflow_client, name) == [] and run.llm_calls == 0


@pytest.mark.robustness(
    area="faults",
    case="the tracking server unreachable (closed port)",
    behaviour="exit 3 within seconds, `error` status, `::error` naming the host; no model call",
)
def test_mlflow_unreachable_is_an_error_not_a_pass(action: Action) -> None:
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)
    closed = f"http://127.0.0.1:{free_port()}"

    run = review_pull(
        action,
        13,
        head=head,
        base=base,
        files=[(f"prompts/{name}.yaml", "added")],
        INPUT_MLFLOW_TRACKING_URI=closed,
        MLFLOW_HTTP_REQUEST_TIMEOUT="2",
    )

    assert run.returncode == 3, run.explain()
    assert run.outputs["result"] == "error"
    assert run.seconds < 60
    status = only_status(action, head)
    assert status["state"] == "error"
    assert any("127.0.0.1" in e for e in annotations(run.stdout, "error"))
    assert "prompt-review error" in run.summary
    assert run.llm_calls == 0


def test_unhandled_event_is_a_notice(action: Action) -> None:
    action.setup({})
    run = action.run("issue_comment", issue_comment_event())
    assert run.returncode == 0, run.explain()
    assert run.outputs["result"] == "skipped"
    [notice] = annotations(run.stdout, "notice")
    assert "issue_comment" in notice
    assert run.github_requests == []


def test_draft_pull_request_is_skipped(action: Action) -> None:
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)
    action.open_pull(14, head_sha=head, base_sha=base, files=[f"prompts/{name}.yaml"], draft=True)
    event = pull_request_event("opened", number=14, head_sha=head, base_sha=base, draft=True)

    run = action.run("pull_request", event)

    assert run.returncode == 0, run.explain()
    assert run.outputs["result"] == "skipped"
    [notice] = annotations(run.stdout, "notice")
    assert "draft" in notice
    assert run.github_requests == [] and run.llm_calls == 0


# -- GitHub request budget ---------------------------------------------------------------------


def test_github_calls_do_not_grow_with_the_number_of_prompts(action: Action) -> None:
    names = [unique(f"p{i}") for i in range(6)]
    base = action.setup({}, countries=("France", "Japan"))
    counts = {}
    for number, batch in ((15, names[:1]), (16, names[1:])):
        action.branch(f"feature-{number}", base)
        for name in batch:  # distinct prompts: each one is evaluated
            action.repo.write(f"prompts/{name}.yaml", prompt_text(f"{GOOD} ({name})"))
        head = action.repo.commit(f"{len(batch)} prompts")
        files: list[str | tuple[str, str]] = [(f"prompts/{n}.yaml", "added") for n in batch]
        run = review_pull(action, number, head=head, base=base, files=files)
        assert run.returncode == 0, run.explain()
        assert sorted(json.loads(run.outputs["changed_prompts"])) == sorted(batch)
        assert run.llm_calls == 2 * len(batch)
        counts[len(batch)] = len(run.github_requests)
    assert counts[1] == counts[5] <= GITHUB_BUDGET, counts


# -- the harness itself ------------------------------------------------------------------------


def test_parse_github_output_reads_heredocs() -> None:
    text = (
        "result=passed\n"
        'changed_prompts<<ghadelimiter_1\n["a",\n"b"]\nghadelimiter_1\n'
        "comment_url<<EOF\n\nEOF\n"
    )
    assert parse_github_output(text) == {
        "result": "passed",
        "changed_prompts": '["a",\n"b"]',
        "comment_url": "",
    }
    with pytest.raises(ValueError, match="never ends"):
        parse_github_output("x<<EOF\nnever closed\n")
