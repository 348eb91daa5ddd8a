"""`prompt-review import`: promptfoo suites and .prompty files, converted or precisely refused.

Samples follow the files these tools ship (promptfoo's examples/simple-csv and its CSV
``__expected`` syntax; Prompty v1 files as in Azure's contoso-chat, and v2 front matter)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from prompt_review.cli import main
from prompt_review.errors import UserInputError
from prompt_review.importers import import_file
from prompt_review.importers.promptfoo import convert as promptfoo
from prompt_review.importers.prompty import convert as prompty


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


def refusals(call: Any, *args: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(UserInputError) as caught:
        call(*args, **kwargs)
    return caught.value.problems


SIMPLE_CSV = {
    "promptfooconfig.yaml": "description: A translator built with LLM\n"
    "prompts:\n  - file://prompts.txt\nproviders:\n  - openai:gpt-3.5-turbo\n"
    "tests: file://tests.csv\n",
    "prompts.txt": 'Rephrase in {{language}}:\n"{{body}}"\n---\nTranslate to {{language}}, '
    'casually:\n"{{body}}"\n',
    "tests.csv": "language,body,__expected\n"
    'French,"Hello world","icontains:bonjour"\n'
    'French,"I\'m hungry","icontains:faim"\n'
    'Pirate,"Hello world","icontains:Ahoy"\n',
}


# --- promptfoo ---------------------------------------------------------------------------------


def test_promptfoo_config_with_csv_tests_converts(tmp_path: Path) -> None:
    write(tmp_path, SIMPLE_CSV)

    done = promptfoo(tmp_path / "promptfooconfig.yaml", prompt_index=1)

    assert done.prompt == {
        "template": 'Rephrase in {{language}}:\n"{{body}}"',
        "description": "A translator built with LLM",
        "model": {"provider": "openai", "name": "gpt-3.5-turbo"},
        "scorers": [{"type": "contains", "case_sensitive": False}],
    }
    assert done.records == [
        {
            "inputs": {"language": "French", "body": "Hello world"},
            "expectations": {"expected_substrings": ["bonjour"]},
        },
        {
            "inputs": {"language": "French", "body": "I'm hungry"},
            "expectations": {"expected_substrings": ["faim"]},
        },
        {
            "inputs": {"language": "Pirate", "body": "Hello world"},
            "expectations": {"expected_substrings": ["Ahoy"]},
        },
    ]


def test_several_prompts_need_a_choice(tmp_path: Path) -> None:
    write(tmp_path, SIMPLE_CSV)

    [problem] = refusals(promptfoo, tmp_path / "promptfooconfig.yaml")

    assert "prompts: 2 prompts" in problem
    assert "choose one with --prompt-index N" in problem
    assert promptfoo(tmp_path / "promptfooconfig.yaml", prompt_index=2).prompt is not None
    assert refusals(promptfoo, tmp_path / "promptfooconfig.yaml", prompt_index=3) == [
        "--prompt-index: expected 1 to 2, got 3"
    ]


def test_yaml_suite_with_default_test_and_every_mapped_assertion(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "suite.yaml": """
description: Capital cities
prompts:
  - "{% if style %}Be {{ style }}. {% endif %}Capital of {{ country }}?"
providers:
  - id: openai:chat:gpt-4o-mini
    config: {temperature: 0, max_tokens: 50, seed: 7, apiKey: sk-not-copied,
             response_format: {type: json_object}}
defaultTest:
  vars: {style: terse}
  assert:
    - {type: llm-rubric, value: Names one city}
    - {type: regex, value: "^[A-Z]"}
    - {type: is-json}
tests:
  - description: France
    metadata: {region: europe}
    vars: {country: France}
    assert:
      - {type: equals, value: Paris, metric: exact}
      - {type: contains-all, value: [Par, is]}
  - vars: {country: Japan, style: formal}
    assert:
      - {type: equals, value: Tokyo, metric: exact}
      - {type: contains, value: Tok}
      - {type: contains, value: yo}
"""
        },
    )

    done = promptfoo(tmp_path / "suite.yaml")

    assert done.prompt is not None
    assert done.prompt["model"] == {
        "provider": "openai",
        "name": "gpt-4o-mini",
        "temperature": 0,
        "max_tokens": 50,
        "response_format": {"type": "json_object"},
        "params": {"seed": 7},
    }
    assert done.prompt["scorers"] == [
        "contains",
        {"type": "exact_match", "name": "exact"},
        "is_json",
        {"type": "guidelines", "name": "rubric", "guidelines": ["Names one city"]},
        {"type": "regex", "name": "regex", "pattern": "^[A-Z]"},
    ]
    assert done.records == [
        {
            "inputs": {"style": "terse", "country": "France"},
            "expectations": {"expected_substrings": ["Par", "is"], "expected_response": "Paris"},
            "tags": {"region": "europe", "description": "France"},
        },
        {
            "inputs": {"style": "formal", "country": "Japan"},
            "expectations": {"expected_substrings": ["Tok", "yo"], "expected_response": "Tokyo"},
        },
    ]
    assert any("apiKey not imported" in note for note in done.notes)


def test_a_rubric_per_test_becomes_per_record_guidelines(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "tests.yaml": "- vars: {q: refund}\n  assert: [{type: llm-rubric, value: Apologises}]\n"
            "- vars: {q: crash}\n  assert: [{type: llm-rubric, value: Asks for the version}]\n"
        },
    )

    done = promptfoo(tmp_path / "tests.yaml")

    assert done.prompt is None
    assert [r["expectations"] for r in done.records] == [
        {"guidelines": ["Apologises"]},
        {"guidelines": ["Asks for the version"]},
    ]
    assert any("expectations_guidelines" in note for note in done.notes)


def test_csv_expected_cells_follow_promptfoos_syntax(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "tests.csv": "q,__expected1,__expected2,__expected3,__description,__metadata:level\n"
            "a,Paris,contains:ari,regex:^P,first,easy\n"
            "b,Lima,contains:im,regex:^P,,hard\n"
        },
    )

    done = promptfoo(tmp_path / "tests.csv")

    assert done.records == [
        {
            "inputs": {"q": "a"},
            "expectations": {"expected_substrings": ["ari"], "expected_response": "Paris"},
            "tags": {"level": "easy", "description": "first"},
        },
        {
            "inputs": {"q": "b"},
            "expectations": {"expected_substrings": ["im"], "expected_response": "Lima"},
            "tags": {"level": "hard"},
        },
    ]
    assert json.loads(done.notes[0].split(": ", 1)[1]) == [
        "contains",
        "exact_match",
        {"type": "regex", "name": "regex", "pattern": "^P"},
    ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("not-contains:x", "tests.csv: line 2: assert[0]: type not-contains: negated assertions"),
        ("javascript:output.length < 9", "type javascript: not supported; port the check"),
        ("similar(0.8):hello", "type similar: not supported; there is no embedding-similarity"),
        ("python:file.py", "type python: not supported; rewrite it as an MLflow @scorer"),
        ('"contains-any:a,b"', "type contains-any: not supported; write it as {type: regex}"),
        ("answer-relevance", "type answer-relevance: not supported; use {type: relevance_to"),
    ],
)  # fmt: skip
def test_csv_assertions_we_cannot_express_are_refused(
    tmp_path: Path, cell: str, expected: str
) -> None:
    write(tmp_path, {"tests.csv": f"q,__expected\na,{cell}\n"})

    problems = refusals(promptfoo, tmp_path / "tests.csv")

    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        (
            "- vars: {q: a}\n  assert: [{type: equals, value: A}]\n- vars: {q: b}\n",
            "tests.yaml: tests[1]: no equals assertion, which other tests have",
        ),
        (
            "- vars: {q: a}\n  assert: [{type: contains, value: A}]\n"
            "- vars: {q: b}\n  assert: [{type: icontains, value: b}]\n",
            "mixes contains and icontains",
        ),
        (
            "- vars: {q: a}\n  assert: [{type: regex, value: A}]\n"
            "- vars: {q: b}\n  assert: [{type: regex, value: B}]\n",
            "regex/starts-with patterns differ between tests",
        ),
        (
            "- vars: {q: [a, b]}\n",
            "tests.yaml: tests[0]: vars.q: a list: promptfoo runs one test per value",
        ),
        ("- vars: {q: 'file://q.txt'}\n", "vars.q: file:// values are not loaded"),
        (
            "- vars: {q: a}\n  assert: [{type: is-json, value: {type: object}}]\n",
            "is-json value: a JSON Schema check is not supported",
        ),
        (
            "- vars: {q: a}\n  assert: [{type: contains, value: a, threshold: 0.5}]\n",
            "assert[0]: threshold: not supported on an assertion",
        ),
        (
            "- vars: {q: a}\n  options: {prefix: 'x'}\n",
            "tests.yaml: tests[0]: options: prefix/suffix/transform options change the prompt",
        ),
        ("- vars: {q: a}\n  providers: [x]\n", "tests.yaml: tests[0]: providers: not supported"),
    ],
)
def test_suites_we_cannot_express_are_refused_precisely(
    tmp_path: Path, suite: str, expected: str
) -> None:
    write(tmp_path, {"tests.yaml": suite})

    problems = refusals(promptfoo, tmp_path / "tests.yaml")

    assert any(expected in p for p in problems), problems


def test_config_keys_that_change_the_evaluation_are_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"c.yaml": "prompts: ['{{q}}']\nscenarios: []\noutputPath: out.json\ntests: []\n"},
    )

    [problem] = refusals(promptfoo, tmp_path / "c.yaml")

    assert problem.endswith(
        "c.yaml: scenarios: not supported by the importer (it changes what promptfoo "
        "evaluates); remove it or convert that part by hand"
    )


def test_chat_prompt_file_and_jsonl_tests(tmp_path: Path) -> None:
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{ q }}"}]
    write(
        tmp_path,
        {
            "chat.json": json.dumps(chat),
            "tests.jsonl": json.dumps(
                {"vars": {"q": "hi"}, "assert": [{"type": "equals", "value": "hello"}]}
            )
            + "\n",
            "c.yaml": "prompts: [file://chat.json]\nproviders: [anthropic:claude-x]\n"
            "tests: [file://tests.jsonl]\n",
        },
    )

    done = promptfoo(tmp_path / "c.yaml")

    assert done.prompt == {"messages": chat, "scorers": ["exact_match"]}
    assert done.records == [{"inputs": {"q": "hi"}, "expectations": {"expected_response": "hello"}}]
    assert any("providers ['anthropic:claude-x'] not imported" in n for n in done.notes)


# --- prompty -----------------------------------------------------------------------------------

CONTOSO = """---
name: Contoso Chat Prompt
description: A retail assistant for Contoso Outdoors products retailer.
authors:
  - Cassie Breviu
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-35-turbo
    azure_endpoint: ${ENV:AZURE_OPENAI_ENDPOINT}
  parameters:
    max_tokens: 128
    temperature: 0.2
    response_format: ${file:answer.json}
sample: ${file:sample.json}
---
system:
You are an AI agent for the Contoso Outdoors products retailer.

# Documentation
{% for item in documentation %}
catalog: {{item.id}}
item: {{item.title}}
{% endfor %}

user:
{{question}}
"""
ANSWER = {"title": "Answer", "type": "object", "properties": {"answer": {"type": "string"}}}
SAMPLE = {"documentation": [{"id": "1", "title": "Tent"}], "question": "Which tent?"}


def test_prompty_v1_file_converts(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "chat.prompty": CONTOSO,
            "answer.json": json.dumps(ANSWER),
            "sample.json": json.dumps(SAMPLE),
        },
    )

    done = prompty(tmp_path / "chat.prompty")

    assert done.prompt == {
        "description": "A retail assistant for Contoso Outdoors products retailer.",
        "messages": [
            {
                "role": "system",
                "content": "You are an AI agent for the Contoso Outdoors products retailer.\n\n"
                "# Documentation\n{% for item in documentation %}\ncatalog: {{item.id}}\n"
                "item: {{item.title}}\n{% endfor %}",
            },
            {"role": "user", "content": "{{question}}"},
        ],
        "model": {
            "name": "gpt-35-turbo",
            "max_tokens": 128,
            "temperature": 0.2,
            "response_format": ANSWER,
        },
    }
    assert done.records == [{"inputs": SAMPLE}]
    assert any("model.configuration/connection not imported" in n for n in done.notes)


def test_prompty_v2_front_matter_and_a_body_without_roles(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "basic.prompty": "---\nname: basic-prompt\nmodel:\n  id: gpt-4\n  provider: azure\n"
            "  apiType: chat\n  options:\n    temperature: 0.7\n    maxOutputTokens: 1000\n"
            "    topP: 0.9\ninputSchema:\n  properties:\n    - name: firstName\n"
            "      kind: string\n      default: Jane\n---\nHelp {{firstName}}.\n"
        },
    )

    done = prompty(tmp_path / "basic.prompty")

    assert done.prompt == {
        "description": "basic-prompt",
        "messages": [{"role": "system", "content": "Help {{firstName}}."}],
        "model": {
            "name": "gpt-4",
            "temperature": 0.7,
            "max_tokens": 1000,
            "params": {"top_p": 0.9},
        },
    }
    assert done.records == [{"inputs": {"firstName": "Jane"}}]
    assert any("input defaults (firstName) are not applied" in n for n in done.notes)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('system[name="seth"]:\nHi\n', "line 4: role attributes [name=\"seth\"] are not supported"),
        ("system:\nHi\n![thread]\n", "line 6: ![thread] (chat history) is not supported"),
        ("system:\n{% for m in history %}\n{{ m.role }}:\n{{ m.content }}\n{% endfor %}\n",
         "line 6: a role line generated by the template ({{ m.role }}:)"),
        ("system:\n{% if x %}\nuser:\nHi\n{% endif %}\n",
         "line 4: a {% %} block spans messages"),
        ("function:\nx\n", "line 4: role 'function' is not supported"),
        ("user:\n![photo](cat.png)\n", "line 5: images are not supported"),
    ],
)  # fmt: skip
def test_prompty_bodies_we_cannot_express_are_refused(
    tmp_path: Path, body: str, expected: str
) -> None:
    write(tmp_path, {"p.prompty": "---\nname: p\n---\n" + body})

    problems = refusals(prompty, tmp_path / "p.prompty")

    assert any(expected in p for p in problems), problems


def test_prompty_mustache_and_non_chat_are_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "m.prompty": "---\nname: m\nmodel: {api: completion}\ntemplate: mustache\n"
            "base: b.prompty\n---\nuser:\n{{#items}}x{{/items}}\n"
        },
    )

    problems = refusals(prompty, tmp_path / "m.prompty")

    assert any("base: not supported by the importer (Prompty inheritance)" in p for p in problems)
    assert any("template: 'mustache' templates are not supported" in p for p in problems)
    assert any("model.api: 'completion' is not supported" in p for p in problems)


# --- writing the files -------------------------------------------------------------------------


def test_cli_writes_the_prompt_and_dataset_and_they_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "pf", SIMPLE_CSV)
    repo = tmp_path / "repo"
    repo.mkdir()

    code = main(["import", "promptfoo", str(tmp_path / "pf" / "promptfooconfig.yaml"),
                 "--name", "translator", "--prompt-index", "2", "--repo", str(repo)])  # fmt: skip

    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.splitlines() == [
        "wrote prompts/translator.yaml",
        "wrote datasets/translator.jsonl",
    ]
    prompt = yaml.safe_load((repo / "prompts/translator.yaml").read_text(encoding="utf-8"))
    assert prompt["template"].startswith("Translate to {{language}}, casually:")
    assert len((repo / "datasets/translator.jsonl").read_text().splitlines()) == 3

    again = main(["import", "promptfoo", str(tmp_path / "pf" / "promptfooconfig.yaml"),
                  "--name", "translator", "--prompt-index", "2", "--repo", str(repo)])  # fmt: skip
    assert again == 2
    assert "prompts/translator.yaml: already exists (pass --force to overwrite it)" in (
        capsys.readouterr().err
    )


def test_a_conversion_that_would_not_review_is_refused_and_nothing_is_left(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {"pf.yaml": "prompts: ['Tone: {{ (style | load).tone }}']\ntests:\n  - vars: {style: x}\n"},
    )

    problems = refusals(
        import_file,
        "promptfoo",
        tmp_path / "pf.yaml",
        root=tmp_path,
        config_path=".prompt-review.yml",
        name="styled",
    )

    assert problems[0].startswith("prompts/styled.yaml: line 1: '{{ (style | load).tone }}' is not")
    assert not (tmp_path / "prompts/styled.yaml").exists()
    assert not (tmp_path / "datasets/styled.jsonl").exists()


def test_import_refuses_a_bad_name(tmp_path: Path) -> None:
    write(tmp_path, {"t.yaml": "- vars: {q: a}\n"})

    problems = refusals(
        import_file,
        "promptfoo",
        tmp_path / "t.yaml",
        root=tmp_path,
        config_path=".prompt-review.yml",
        name="../evil",
    )

    assert problems == [
        "--name: '../evil' is not a valid registry name (expected letters, digits, '_', '-' "
        "and '.')"
    ]
