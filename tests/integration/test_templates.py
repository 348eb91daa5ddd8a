"""Templates, model settings and tool calls through `prompt-review review` (a subprocess): real git,
a real `mlflow server`, the stub OpenAI-compatible server. What the registered version's
``format()`` renders is what the model was sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.git_repo import GitRepo
from tests.fakes.mlflow_server import MlflowServer
from tests.fakes.openai_server import OpenAIStub, tool_call_reply

SCHEMA = {
    "title": "Ticket triage",
    "type": "object",
    "properties": {"category": {"type": "string", "enum": ["billing", "bug", "other"]}},
    "required": ["category"],
}
SYSTEM = (
    "You triage support tickets for {{ product.name }}.\n"
    "{% if product.tiers %}Tiers: {% for t in product.tiers %}{{ t }}{% if not loop.last %}, "
    "{% endif %}{% endfor %}.{% endif %}\n"
    'Answer with JSON: {"category": ...}.'
)
MESSAGES = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "My invoice is wrong"},
    {"role": "assistant", "content": '{"category": "billing"}'},
    {"role": "user", "content": "The app crashes on start"},
    {"role": "assistant", "content": '{"category": "bug"}'},
    {
        "role": "user",
        "content": "{{ ticket.text }}"
        "{% if ticket.customer %} (from {{ ticket.customer }}){% endif %}",
    },
]
TICKETS = [
    ({"text": "I was charged twice", "customer": "Ada"}, "billing"),
    ({"text": "Crash when I click save"}, "bug"),
    ({"text": "Refund for last month"}, "billing"),
    ({"text": "Where is your office?", "customer": "Lin"}, "other"),
]
PRODUCTS = [{"name": "Acme", "tiers": ["free", "pro"]}, {"name": "Acme"}]


def triage(request: dict[str, Any]) -> str:
    text = request["messages"][-1]["content"].lower()
    category = (
        "billing" if "charge" in text or "refund" in text else "bug" if "crash" in text else "other"
    )
    return json.dumps({"category": category})


def cli(
    repo: GitRepo, *args: str, server: MlflowServer, stub: OpenAIStub
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MLFLOW_", "GITHUB_"))
    }
    env.update(
        MLFLOW_TRACKING_URI=server.uri, OPENAI_BASE_URL=stub.base_url, OPENAI_API_KEY="sk-test"
    )
    return subprocess.run(
        [sys.executable, "-m", "prompt_review.cli", *args, "--repo", str(repo.root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def setup_repo(repo: GitRepo, name: str, scorers: str, extra: str = "") -> None:
    repo.write(
        ".prompt-review.yml",
        f"experiment: exp-{name}\n"
        "defaults:\n"
        "  model: {provider: openai, name: gpt-4o-mini, temperature: 0}\n"
        f"  scorers: {scorers}\n" + extra,
    )


@pytest.fixture
def name() -> str:
    return f"triage-{uuid.uuid4().hex[:8]}"


def test_jinja_few_shot_chat_with_response_format_sends_what_mlflow_formats(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, name: str
) -> None:
    from mlflow import MlflowClient

    openai_stub.responder = triage
    setup_repo(git_repo, name, "[exact_match, is_json]")
    records = [
        {
            "inputs": {"product": PRODUCTS[i % 2], "ticket": ticket},
            "expectations": {"expected_response": json.dumps({"category": category})},
        }
        for i, (ticket, category) in enumerate(TICKETS)
    ]
    git_repo.write(f"datasets/{name}.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    prompt = {"messages": MESSAGES, "model": {"response_format": SCHEMA}}
    git_repo.write(f"prompts/{name}.yaml", yaml.safe_dump(prompt, sort_keys=False))
    git_repo.commit("jinja few-shot prompt")

    done = cli(git_repo, "review", "--all", server=mlflow_server, stub=openai_stub)

    assert done.returncode == 0, done.stderr
    assert f"`{name}` passed" in done.stdout
    client = MlflowClient(tracking_uri=mlflow_server.uri, registry_uri=mlflow_server.uri)
    version = client.get_prompt_version(name, 1)
    assert version.response_format == SCHEMA
    assert version.model_config["model_name"] == "gpt-4o-mini"
    sent = sorted(json.dumps(c["messages"]) for c in openai_stub.calls)
    formatted = sorted(json.dumps(version.format(**r["inputs"])) for r in records)
    assert sent == formatted
    assert "Tiers: free, pro." in sent[0] + sent[1] + sent[2] + sent[3]
    assert all(
        c["response_format"]
        == {"type": "json_schema", "json_schema": {"name": "Ticket_triage", "schema": SCHEMA}}
        for c in openai_stub.calls
    )

    # A changed schema is a changed prompt: a new version, and the diff says what changed.
    promoted = cli(git_repo, "promote", "--all", server=mlflow_server, stub=openai_stub)
    assert promoted.returncode == 0, promoted.stderr
    git_repo.git("checkout", "-q", "-b", "stricter")
    stricter = {**SCHEMA, "additionalProperties": False}
    prompt = {"messages": MESSAGES, "model": {"response_format": stricter}}
    git_repo.write(f"prompts/{name}.yaml", yaml.safe_dump(prompt, sort_keys=False))
    git_repo.commit("stricter schema")

    again = cli(git_repo, "review", "--base", "main", server=mlflow_server, stub=openai_stub)

    assert again.returncode == 0, again.stderr
    assert client.get_prompt_version(name, 2).response_format == stricter
    assert f"+++ prompts/{name}.yaml model settings" in again.stdout
    assert '+    "additionalProperties": false,' in again.stdout


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_tool_calls_are_scored_on_the_calls(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, name: str
) -> None:
    from mlflow import MlflowClient

    def weather_agent(request: dict[str, Any]) -> dict[str, Any]:
        city = request["messages"][-1]["content"].split(" in ")[-1].rstrip("?")
        return tool_call_reply(("get_weather", {"unit": "C", "city": city}))

    openai_stub.responder = weather_agent
    setup_repo(git_repo, name, "[exact_match, is_json]")
    cities = ["Paris", "Lima", "Oslo"]
    git_repo.write(
        f"datasets/{name}.jsonl",
        "".join(
            json.dumps(
                {
                    "inputs": {"city": city},
                    "expectations": {
                        "expected_response": json.dumps(
                            [{"name": "get_weather", "arguments": {"city": city, "unit": "C"}}]
                        )
                    },
                }
            )
            + "\n"
            for city in cities
        ),
    )
    prompt = {
        "template": "What is the weather in {{ city }}?",
        "model": {"tools": [WEATHER], "tool_choice": "auto"},
    }
    git_repo.write(f"prompts/{name}.yaml", yaml.safe_dump(prompt))
    git_repo.commit("tool-calling prompt")
    report = git_repo.root.parent / "report.json"

    done = cli(git_repo, "review", "--all", "--json", str(report),
               server=mlflow_server, stub=openai_stub)  # fmt: skip

    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())["prompts"][0]
    assert result["result"] == "passed"
    assert [s["candidate_mean"] for s in result["comparison"]["scorers"]] == [1.0, 1.0]
    assert all(c["tools"] == [WEATHER] and c["tool_choice"] == "auto" for c in openai_stub.calls)
    config = MlflowClient(tracking_uri=mlflow_server.uri).get_prompt_version(name, 1).model_config
    assert (config["tools"], config["tool_choice"]) == ([WEATHER], "auto")


@pytest.mark.robustness(
    area="faults",
    case="the model server answers one example with an HTML page (HTTP 200) on every retry",
    behaviour="that example is an error (ProviderError after the retries), the others are "
    "scored, the review ends `error` (exit 3) with its report, no traceback",
)
def test_a_malformed_reply_is_an_error_on_its_example_not_a_crash(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, name: str
) -> None:
    openai_stub.responder = lambda request: "ok"
    setup_repo(git_repo, name, "[is_json]", "evaluation: {max_retries: 1, concurrency: 1}\n")
    git_repo.write(
        f"datasets/{name}.jsonl",
        "".join(json.dumps({"inputs": {"q": q}}) + "\n" for q in ("a", "b", "c")),
    )
    git_repo.write(f"prompts/{name}.txt", "Say {{ q }}")
    git_repo.commit("prompt")
    openai_stub.fail_next(
        200, times=2, body="<html>502 Bad Gateway</html>", content_type="text/html"
    )
    report = git_repo.root.parent / "report.json"

    done = cli(git_repo, "review", "--all", "--json", str(report),
               server=mlflow_server, stub=openai_stub)  # fmt: skip

    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(report.read_text())["prompts"][0]
    assert result["result"] == "error"
    assert result["comparison"]["candidate_errors"] == 1
    assert openai_stub.call_count == 4  # the faulted example twice, the others once
    assert "unusable response after 2 attempts: the body is not JSON (text/html" in done.stdout


def test_a_prompty_file_in_prompts_is_refused_with_the_import_command(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, name: str
) -> None:
    setup_repo(git_repo, name, "[is_json]")
    git_repo.write(f"prompts/{name}.prompty", "---\nname: x\n---\nuser:\n{{ q }}\n")
    git_repo.commit("a prompty file")

    done = cli(git_repo, "validate", server=mlflow_server, stub=openai_stub)

    assert done.returncode == 2
    assert (
        f"prompts/{name}.prompty: a prompty file, which prompt-review does not read; convert it "
        f"with `prompt-review import prompty prompts/{name}.prompty --name {name}`" in done.stderr
    )
    assert openai_stub.call_count == 0


def test_imported_promptfoo_suite_reviews(
    git_repo: GitRepo,
    mlflow_server: MlflowServer,
    openai_stub: OpenAIStub,
    name: str,
    tmp_path: Path,
) -> None:
    openai_stub.responder = lambda request: "Bonjour le monde"
    setup_repo(git_repo, name, "[exact_match]")
    suite = tmp_path / "promptfooconfig.yaml"
    suite.write_text(
        "prompts: ['Translate to {{ language }}: {{ text }}']\n"
        "providers: [openai:gpt-4o-mini]\n"
        "tests:\n"
        "  - vars: {language: French, text: Hello world}\n"
        "    assert: [{type: icontains, value: bonjour}]\n"
        "  - vars: {language: French, text: Good morning}\n"
        "    assert: [{type: icontains, value: bonjour}, {type: icontains, value: monde}]\n",
        encoding="utf-8",
    )

    imported = cli(git_repo, "import", "promptfoo", str(suite), "--name", name,
                   server=mlflow_server, stub=openai_stub)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    git_repo.commit("imported")
    done = cli(git_repo, "review", "--all", server=mlflow_server, stub=openai_stub)

    assert done.returncode == 0, done.stderr
    assert f"`{name}` passed" in done.stdout
    assert sorted(c["messages"][0]["content"] for c in openai_stub.calls) == [
        "Translate to French: Good morning",
        "Translate to French: Hello world",
    ]
