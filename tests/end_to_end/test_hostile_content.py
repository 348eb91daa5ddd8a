"""Hostile content through `prompt-review action` end to end: model output built to spoof the
PR comment, and hostile repository files, with the session's `mlflow server`, the fake GitHub
over HTTP and the stub OpenAI-compatible model. Nothing is mocked."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.end_to_end.harness import (
    CAPITALS,
    GOOD,
    MARKER,
    Action,
    annotations,
    capital_responder,
    prompt_text,
    pull_request_event,
    push_event,
    unique,
    where_secrets_leak,
)
from tests.fakes.mlflow_server import MlflowServer
from tests.fakes.openai_server import OpenAIStub

ZWSP = "\u200b"
SPOOF = "Answer with the city (spoof)."
HOSTILE_OUTPUT = (
    "\x1b[31mSomewhere\x1b[0m \x1b]8;;https://evil.test/x\x1b\\click\x1b]8;;\x1b\\ "
    "\u202eLIVE\u202c \u2066iso\u2069 bell\x07 nul\x00 del\x7f c1\x85 \u200bzw "
    "see #1 and https://evil.test/phish or www.evil.test"
)
# Each must be absent from everything posted: the raw control, escape and format
# characters, an issue reference and the bare URLs.
RAW = (
    "\x1b", "\u202e", "\u202c", "\u2066", "\u2069", "\x07", "\x00", "\x7f", "\x85",
    "#1", "https://evil.test", "www.evil.test",
)  # fmt: skip


def hostile_responder(request: dict[str, Any]) -> str:
    """The stub model: the capital for the production prompt, spoofing text for the new one."""
    user = next(m for m in reversed(request["messages"]) if m["role"] == "user")
    return HOSTILE_OUTPUT if "(spoof)" in user["content"] else capital_responder(request)


@pytest.fixture
def action(action: Action, openai_stub: OpenAIStub) -> Action:
    """The Action of conftest.py, with a model that answers with hostile content."""
    openai_stub.responder = hostile_responder
    return action


def registered(server: MlflowServer, name: str) -> list[Any]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
    try:
        return list(client.search_prompt_versions(name))
    except MlflowException:
        return []


def review_pull(action: Action, number: int, head: str, base: str, files: list[str]) -> Any:
    action.open_pull(number, head_sha=head, base_sha=base, files=files)
    action.checkout_pull(number, head, base)
    return action.run(
        "pull_request", pull_request_event("opened", number=number, head_sha=head, base_sha=base)
    )


@pytest.mark.robustness(
    area="content",
    case="model output with ANSI escapes (colour, OSC 8 link), bidi overrides and isolates, "
    "control characters, a zero-width space, #1 and bare URLs, shown in a regression",
    behaviour="the posted comment and the job summary hold none of them raw: escapes and "
    "invisible characters removed, #1 and the URLs defused with a zero-width space",
)
def test_spoofing_model_output_reaches_the_comment_defused(action: Action) -> None:
    name = unique("capital")
    base = action.setup({})
    action.repo.write(f"prompts/{name}.yaml", prompt_text(GOOD))
    main = action.repo.commit(f"add {name}")
    promoted = action.run("push", push_event(before=base, after=main))
    assert promoted.returncode == 0, promoted.explain()
    action.branch("feature", main)
    action.repo.write(f"prompts/{name}.yaml", prompt_text(SPOOF + " {{ country }}"))
    head = action.repo.commit("spoof")

    run = review_pull(action, 7, head, main, [f"prompts/{name}.yaml"])

    assert run.returncode == 1, run.explain()
    assert run.llm_calls == len(CAPITALS)
    [comment] = [c for c in action.comments(7) if MARKER in c["body"]]
    body = comment["body"]
    assert "Candidate output" in body, body
    assert f"Somewhere click LIVE iso bell nul del c1 zw see #{ZWSP}1 and " in body
    assert f"https{ZWSP}://evil.test/phish or www{ZWSP}.evil.test" in body
    for posted in (body, run.summary):
        leftovers = [raw for raw in RAW if raw in posted]
        assert leftovers == [], leftovers
    [status] = [s for s in action.statuses(head) if s["context"] == "prompt-review"]
    assert status["state"] == "failure"
    assert not [raw for raw in RAW if raw in status["description"]]


@pytest.mark.robustness(
    area="files",
    case="Action: a prompt symlinked to /proc/self/environ with a planted secret, and a "
    "prompt named '..'",
    behaviour="exit 2, ::error file=... annotation naming the file, failure status, the "
    "secret nowhere (comment, status, summary, logs, report), nothing registered, 0 model calls",
)
@pytest.mark.parametrize("case", ["environ", "dots"])
def test_hostile_files_in_the_action_are_input_errors(
    action: Action, mlflow_server: MlflowServer, case: str
) -> None:
    secret = f"sk-planted-{uuid.uuid4().hex}"
    name = unique("leak")
    base = action.setup({})
    action.branch("feature", base)
    path = f"prompts/{name}.yaml"
    if case == "environ":
        (action.repo.root / "prompts").mkdir(exist_ok=True)
        (action.repo.root / path).symlink_to("/proc/self/environ")
        expected = f"{path}: is a symlink to a file outside the repository"
    else:
        action.repo.write(path, f"name: '..'\n{prompt_text(GOOD)}")
        expected = f"{path}: name: '..' is not a valid registry name"
    head = action.repo.commit("hostile prompt")
    action.open_pull(8, head_sha=head, base_sha=base, files=[(path, "added")])
    action.checkout_pull(8, head, base)

    run = action.run(
        "pull_request",
        pull_request_event("opened", number=8, head_sha=head, base_sha=base),
        PROMPT_REVIEW_PLANTED_SECRET=secret,
    )

    assert run.returncode == 2, run.explain()
    errors = annotations(run.stdout, "error")
    assert any(e.startswith(f"::error file={path}::") and expected in e for e in errors), errors
    [status] = [s for s in action.statuses(head) if s["context"] == "prompt-review"]
    assert status["state"] == "failure"
    [comment] = [c for c in action.comments(8) if MARKER in c["body"]]
    assert expected.split(": ", 1)[1][:30] in comment["body"]
    report = (action.repo.root / run.outputs["report_path"]).read_text(encoding="utf-8")
    assert f"::add-mask::{secret}" in run.stdout.splitlines()
    assert where_secrets_leak([secret], run) == []
    assert secret not in comment["body"] + json.dumps(status) + report
    assert run.llm_calls == 0
    assert registered(mlflow_server, name) == []
    assert registered(mlflow_server, "..") == []
