"""Prompt files: parsing, effective settings, variables, rendering, hashing, change detection."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from prompt_review.changes import FileChange, PromptChange, git_changes, prompt_changes
from prompt_review.config import (
    Config,
    GateConfig,
    ModelConfig,
    ScorerSpec,
    load_config,
    stable_hash,
)
from prompt_review.errors import UserInputError
from prompt_review.prompts import (
    Prompt,
    content_hash,
    is_prompt_path,
    load_prompts,
    parse_prompt,
)
from tests.fakes.git_repo import GitRepo

CONFIG = Config()


def parse(text: str, path: str = "prompts/capital.yaml", config: Config = CONFIG) -> Prompt:
    return parse_prompt(text, path, config)


def problems(text: str, path: str = "prompts/capital.yaml", config: Config = CONFIG) -> list[str]:
    with pytest.raises(UserInputError) as caught:
        parse_prompt(text, path, config)
    return caught.value.problems


# --- parsing ----------------------------------------------------------------------------------

TEMPLATE = "What is the capital of {{ country }}? Reply with the city name only."


@pytest.mark.parametrize("suffix", [".txt", ".md", ".TXT"])
def test_text_file_is_a_bare_template(suffix: str) -> None:
    prompt = parse(TEMPLATE + "\n", f"prompts/capital{suffix}")

    assert prompt == Prompt(
        name="capital",
        source_path=f"prompts/capital{suffix}",
        template=TEMPLATE + "\n",
        description=None,
        model=ModelConfig(),
        dataset="datasets/capital.jsonl",
        scorers=(ScorerSpec(type="exact_match", name="exact_match"),),
        gate=GateConfig(),
    )
    assert not prompt.is_chat


def test_text_file_may_contain_yaml_like_text_verbatim() -> None:
    prompt = parse("model: not a key\ntemplate: {{ x }}\n", "prompts/raw.md")

    assert prompt.template == "model: not a key\ntemplate: {{ x }}\n"
    assert prompt.model == ModelConfig()


@pytest.mark.parametrize("text", ["", "  \n\n"])
def test_empty_text_file(text: str) -> None:
    assert problems(text, "prompts/a.txt") == [
        "prompts/a.txt: empty prompt (expected template text)"
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("prompts/capital.yaml", f"template: '{TEMPLATE}'\n"),
        ("prompts/capital.yml", f"template: '{TEMPLATE}'\n"),
        ("prompts/capital.json", f'{{"template": "{TEMPLATE}"}}'),
    ],
)
def test_structured_file_with_template(path: str, text: str) -> None:
    prompt = parse(text, path)

    assert (prompt.name, prompt.template, prompt.source_path) == ("capital", TEMPLATE, path)


def test_structured_file_with_messages() -> None:
    prompt = parse(
        "name: support-bot\n"
        "description: friendlier tone\n"
        "messages:\n"
        "  - {role: system, content: 'You are {{ persona }}.'}\n"
        "  - {role: user, content: '{{ question }}'}\n",
        "prompts/support.yaml",
    )

    assert prompt.name == "support-bot"
    assert prompt.description == "friendlier tone"
    assert prompt.is_chat
    assert prompt.template == [
        {"role": "system", "content": "You are {{ persona }}."},
        {"role": "user", "content": "{{ question }}"},
    ]
    assert prompt.dataset == "datasets/support-bot.jsonl"
    assert prompt.text() == "[system]\nYou are {{ persona }}.\n[user]\n{{ question }}"


def test_utf8_bom_is_ignored() -> None:
    assert parse('\ufeff{"template": "x"}', "prompts/a.json").template == "x"
    assert parse("\ufefftemplate: x\n", "prompts/a.yaml").template == "x"
    assert parse("\ufeffhello", "prompts/a.txt").template == "hello"


@pytest.mark.parametrize(
    "text",
    [
        "description: nothing to send\n",
        "template: hi\nmessages: [{role: user, content: hi}]\n",
    ],
)
def test_exactly_one_of_template_and_messages(text: str) -> None:
    assert problems(text) == [
        "prompts/capital.yaml: expected exactly one of 'template' or 'messages'"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("template: ''\n", "template: expected a non-empty string"),
        ("template: 3\n", "template: expected a string, got 3"),
        ("messages: []\n", "messages: expected at least 1 item(s)"),
        (
            "messages: [{role: robot, content: hi}]\n",
            "messages[0].role: expected one of 'system', 'user', 'assistant', got 'robot'",
        ),
        ("messages: [{role: user}]\n", "messages[0].content: missing (expected a string)"),
        (
            "messages: [{role: user, content: hi, name: x}]\n",
            "messages[0].name: unknown key (expected one of: content, role)",
        ),
        (
            "template: x\ntemprature: 0\n",
            "temprature: unknown key (expected one of: dataset, description, gate, messages, "
            "model, name, scorers, template)",
        ),
        (
            "template: x\nmodel: {temperature: hot}\n",
            "model.temperature: expected a number or null, got 'hot'",
        ),
        ("template: x\ngate: {alpha: 1}\n", "gate.alpha: expected a value <= 0.5, got 1"),
        (
            "template: x\nscorers: [regex]\n",
            "scorers[0].pattern: missing (regex needs a pattern to search for)",
        ),
        ("- template: x\n", "(top level): expected a mapping, got a list"),
        ("template: x\nname: ''\n", "name: expected a non-empty string"),
    ],
)
def test_bad_structured_prompt(text: str, message: str) -> None:
    assert problems(text) == [f"prompts/capital.yaml: {message}"]


def test_empty_structured_file() -> None:
    assert problems("# nothing yet\n") == [
        "prompts/capital.yaml: empty prompt (expected a mapping with 'template' or 'messages')"
    ]


def test_several_schema_problems_at_once() -> None:
    assert problems("template: 1\nmodel: {provider: x}\n") == [
        "prompts/capital.yaml: template: expected a string, got 1",
        "prompts/capital.yaml: model.provider: expected one of 'openai', 'echo', 'python', got 'x'",
    ]


def test_invalid_yaml_prompt() -> None:
    assert problems("template: [x\n") == [
        "prompts/capital.yaml: line 2, column 1: invalid YAML: expected ',' or ']', "
        "but got '<stream end>'"
    ]


def test_invalid_json_prompt() -> None:
    assert problems('{"template": "x",\n}', "prompts/a.json") == [
        "prompts/a.json: line 2, column 1: invalid JSON: Expecting property name enclosed in "
        "double quotes"
    ]


@pytest.mark.parametrize(
    ("path", "text", "name"),
    [
        ("prompts/my prompt.txt", "hi", "my prompt"),
        ("prompts/a.yaml", "template: x\nname: 'a/b'\n", "a/b"),
        ("prompts/a.yaml", 'template: x\nname: "trailing\\n"\n', "trailing\n"),
        ("prompts/a.yaml", "template: x\nname: 'héllo'\n", "héllo"),
    ],
)
def test_invalid_registry_name(path: str, text: str, name: str) -> None:
    assert problems(text, path) == [
        f"{path}: name: {name!r} is not a valid registry name (expected letters, digits, "
        "'_', '-' and '.'; rename the file or set 'name:')"
    ]


def test_invalid_name_and_missing_template_reported_together() -> None:
    assert problems("description: d\n", "prompts/bad name.yaml") == [
        "prompts/bad name.yaml: name: 'bad name' is not a valid registry name (expected letters, "
        "digits, '_', '-' and '.'; rename the file or set 'name:')",
        "prompts/bad name.yaml: expected exactly one of 'template' or 'messages'",
    ]


def test_name_overrides_the_file_stem() -> None:
    assert parse("name: qa.v2-final_x\ntemplate: x\n").name == "qa.v2-final_x"


# --- effective settings -----------------------------------------------------------------------


def test_model_override_is_merged_field_by_field() -> None:
    config = replace(CONFIG, model=ModelConfig(provider="openai", name="gpt-4o", max_tokens=64))

    prompt = parse("template: x\nmodel: {temperature: 0.7}\n", config=config)

    assert prompt.model == ModelConfig(
        provider="openai", name="gpt-4o", temperature=0.7, max_tokens=64
    )


def test_scorers_override_replaces_the_defaults() -> None:
    prompt = parse("template: x\nscorers: [is_json, {type: max_length, max: 10}]\n")

    assert prompt.scorers == (
        ScorerSpec(type="is_json", name="is_json"),
        ScorerSpec(type="max_length", name="max_length", options={"max": 10}),
    )


def test_gate_override_keeps_the_other_gate_settings() -> None:
    config = replace(CONFIG, gate=GateConfig(alpha=0.01, min_score={"exact_match": 0.5}))

    prompt = parse("template: x\ngate: {max_drop: 0.1}\n", config=config)

    assert prompt.gate == GateConfig(alpha=0.01, max_drop=0.1, min_score={"exact_match": 0.5})


def test_dataset_override_and_name_placeholder() -> None:
    assert parse("template: x\ndataset: data/{name}-eval.csv\n").dataset == "data/capital-eval.csv"
    assert parse("template: x\ndataset: shared.jsonl\n").dataset == "shared.jsonl"


def test_prompt_settings_resolve_against_a_subfolder_config(tmp_path: Path) -> None:
    config = load_config(tmp_path, "examples/demo/.prompt-review.yml")

    prompt = parse("template: x\n", "examples/demo/prompts/capital.yaml", config)

    assert prompt.dataset == "examples/demo/datasets/capital.jsonl"


def test_defaults_from_a_real_config_reach_the_prompt(tmp_path: Path) -> None:
    (tmp_path / ".prompt-review.yml").write_text(
        "defaults:\n"
        "  model: {provider: echo, name: e}\n"
        "  dataset: evals/{name}.yaml\n"
        "  scorers: [contains]\n"
        "gate: {alpha: 0.1}\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path)

    prompt = parse("template: x\nmodel: {temperature: 1}\n", config=config)

    assert prompt.model == ModelConfig(provider="echo", name="e", temperature=1)
    assert prompt.dataset == "evals/capital.yaml"
    assert prompt.scorers == (ScorerSpec(type="contains", name="contains"),)
    assert prompt.gate == GateConfig(alpha=0.1)


# --- variables and rendering ------------------------------------------------------------------


def test_variables_in_first_use_order_without_repeats() -> None:
    prompt = parse("template: '{{b}} {{ a }} {{  b  }} {{ c }}'\n")

    assert prompt.variables == ("b", "a", "c")
    assert prompt.variable_paths == ("b", "a", "c")
    assert not prompt.is_jinja


def test_variables_of_a_chat_prompt_span_all_messages() -> None:
    prompt = parse(
        "messages:\n"
        "  - {role: system, content: 'Tone: {{ tone }}'}\n"
        "  - {role: user, content: '{{ question }} ({{ tone }})'}\n"
    )

    assert prompt.variables == ("tone", "question")


def test_jinja_variables_and_the_paths_every_example_needs() -> None:
    prompt = parse(
        "messages:\n"
        "  - role: system\n"
        "    content: 'Help {{ user.name }}.{% if tone %} Be {{ tone }}.{% endif %}'\n"
        "  - {role: user, content: '{% for d in docs %}{{ d.title }}{% endfor %}{{ q }}'}\n"
    )

    assert prompt.is_jinja
    assert prompt.variables == ("user", "tone", "docs", "q")
    assert prompt.variable_paths == ("user.name", "docs", "q")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "template: 'Hi {{ name'\n",
            "prompts/capital.yaml: line 1: unbalanced '{{': '{{ name' is never closed by '}}'",
        ),
        (
            "template: |\n  one\n  {% if x %}\n  two\n",
            "prompts/capital.yaml: line 2: Unexpected end of template",
        ),
        (
            "messages:\n"
            "  - {role: system, content: ok}\n"
            "  - {role: user, content: '{{ q.text }}'}\n",
            "prompts/capital.yaml: messages[1].content: line 1: {{ q.text }}: MLflow's plain "
            "format() does not look into inputs",
        ),
        (
            "template: '{{ country | upper }}'\n",
            "prompts/capital.yaml: line 1: '{{ country | upper }}' is not a placeholder",
        ),
    ],
)
def test_template_syntax_errors_name_the_file_and_line(text: str, expected: str) -> None:
    found = problems(text)

    assert any(p.startswith(expected) for p in found), found


def test_text_file_template_errors_name_the_file() -> None:
    assert problems("Hello {{ name\n", "prompts/hello.md")[0].startswith(
        "prompts/hello.md: line 1: unbalanced '{{'"
    )


def test_render_text_prompt_is_one_user_message() -> None:
    prompt = parse(f"template: '{TEMPLATE}'\n")

    assert prompt.render({"country": "France"}) == [
        {
            "role": "user",
            "content": "What is the capital of France? Reply with the city name only.",
        }
    ]


def test_render_few_shot_chat_prompt_keeps_every_message_in_order() -> None:
    prompt = parse(
        "messages:\n"
        "  - {role: system, content: 'Be {{ tone }}.'}\n"
        "  - {role: user, content: 'Capital of Spain?'}\n"
        "  - {role: assistant, content: 'Madrid'}\n"
        "  - {role: user, content: 'Capital of Italy?'}\n"
        "  - {role: assistant, content: 'Rome'}\n"
        "  - {role: user, content: '{% if country %}Capital of {{ country.name }}?{% endif %}'}\n"
    )

    assert prompt.render({"tone": "brief", "country": {"name": "France"}}) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of Spain?"},
        {"role": "assistant", "content": "Madrid"},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome"},
        {"role": "user", "content": "Capital of France?"},
    ]


def test_render_non_strings_as_mlflow_does() -> None:
    prompt = parse("template: '{{ n }}|{{ flag }}|{{ items }}|{{ obj }}|{{ none }}'\n")

    assert prompt.render(
        {"n": 3, "flag": False, "items": [1, "é"], "obj": {"k": 2.5}, "none": None}
    ) == [{"role": "user", "content": "3|False|[1, 'é']|{'k': 2.5}|None"}]


def test_render_failure_names_the_prompt_file() -> None:
    prompt = parse("template: '{% if 1 %}{% endif %}{{ a.b.c }}'\n")

    with pytest.raises(UserInputError) as caught:
        prompt.render({})
    assert caught.value.problems[0].startswith(
        "prompts/capital.yaml: Jinja rendering failed: UndefinedError"
    )


def test_check_inputs_names_every_record_that_does_not_render() -> None:
    from prompt_review.datasets import Example

    prompt = parse("template: '{{ a }} {{ b }}'\n")
    examples = [
        Example(id="1", inputs={"a": 1, "b": 2}, location="d.jsonl: line 1"),
        Example(id="2", inputs={"a": 1}, location="d.jsonl: line 2"),
    ]

    with pytest.raises(UserInputError) as caught:
        prompt.check_inputs(examples)
    assert caught.value.problems == [
        "d.jsonl: line 2: inputs do not fit the template in prompts/capital.yaml: missing "
        "variables 'b': MLflow's format() would fail"
    ]


# --- content hash -----------------------------------------------------------------------------


def test_content_hash_follows_template_and_model_identity_not_endpoint() -> None:
    base = parse("template: x\n")
    same = parse("template: x\n", "prompts/renamed.yaml")
    other_text = parse("template: y\n")
    other_temp = parse("template: x\nmodel: {temperature: 0.5}\n")
    other_model = parse("template: x\nmodel: {name: gpt-4o}\n")
    other_params = parse("template: x\nmodel: {params: {seed: 1}}\n")
    other_endpoint = parse("template: x\nmodel: {base_url: 'http://127.0.0.1:1/v1'}\n")

    assert base.content_hash == same.content_hash == other_endpoint.content_hash
    hashes = {
        base.content_hash,
        other_text.content_hash,
        other_temp.content_hash,
        other_model.content_hash,
        other_params.content_hash,
    }
    assert len(hashes) == 5


def test_content_hash_distinguishes_text_from_chat() -> None:
    chat = [{"role": "user", "content": "x"}]

    assert content_hash("x", ModelConfig()) != content_hash(chat, ModelConfig())
    assert content_hash(chat, ModelConfig()) == content_hash(
        [{"content": "x", "role": "user"}], ModelConfig()
    )


def test_model_settings_are_part_of_the_content_hash_only_when_set() -> None:
    base = parse("template: x\n")
    schema = parse("template: x\nmodel: {response_format: {type: object}}\n")
    stricter = parse(
        "template: x\nmodel: {response_format: {type: object, additionalProperties: false}}\n"
    )
    tools = parse(f"template: x\nmodel: {{tools: [{TOOL}]}}\n")

    assert len({base.content_hash, schema.content_hash, stricter.content_hash,
                tools.content_hash}) == 4  # fmt: skip
    # a prompt without the new settings keeps the hash it was registered under
    assert base.content_hash == stable_hash(
        {
            "template": "x",
            "model": {"provider": "openai", "name": "gpt-4o-mini", "temperature": 0.0,
                      "max_tokens": None, "params": {}},
        }
    )  # fmt: skip


TOOL = "{type: function, function: {name: get_weather, parameters: {type: object}}}"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("{response_format: {type: array}}",
         "model.response_format: expected a JSON Schema of an object (type: object"),
        ("{response_format: {type: json_schema, json_schema: {schema: {}}}}",
         "model.response_format.json_schema.name: expected 1-64 letters"),
        ("{response_format: {type: json_schema}}",
         "model.response_format.json_schema: expected {name: NAME, schema: {...}}"),
        ("{response_format: {type: json_object, strict: true}}",
         "model.response_format.strict: unknown key for type json_object"),
        (f"{{tools: [{TOOL}, {TOOL}]}}",
         "model.tools[1].function.name: 'get_weather' is defined twice"),
        ("{tools: [{type: function, function: {name: 'get weather'}}]}",
         "model.tools[0].function.name: 'get weather' is not a valid tool name"),
        ("{tool_choice: required}", "model.tool_choice: set, but model.tools defines no tool"),
        (f"{{tools: [{TOOL}], tool_choice: {{type: function, function: {{name: other}}}}}}",
         "model.tool_choice.function.name: 'other' is not one of model.tools (get_weather)"),
        ("{tool_choice: sometimes}",
         "model.tool_choice: expected one of 'none', 'auto', 'required', got 'sometimes'"),
        ("{tools: [{type: retrieval}]}", "model.tools[0].type: expected one of 'function'"),
    ],
)  # fmt: skip
def test_model_settings_are_validated(model: str, expected: str) -> None:
    found = problems(f"template: x\nmodel: {model}\n")

    assert any(p.startswith(f"prompts/capital.yaml: {expected}") for p in found), found


def test_model_settings_must_fit_an_mlflow_tag() -> None:
    schema = "{type: object, description: '" + "x" * 100_000 + "'}"

    [problem] = problems(f"template: x\nmodel: {{response_format: {schema}}}\n")

    assert problem.startswith("prompts/capital.yaml: model: the settings are 100,")
    assert problem.endswith("a prompt version tag of at most 100,000: shorten the tool "
                            "descriptions or the schema")  # fmt: skip


def test_valid_model_settings_reach_the_prompt() -> None:
    prompt = parse(
        "template: x\n"
        "model:\n"
        "  response_format: {type: json_schema, json_schema: {name: a, schema: {type: object}}}\n"
        f"  tools: [{TOOL}]\n"
        "  tool_choice: {type: function, function: {name: get_weather}}\n"
    )

    assert prompt.model.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "a", "schema": {"type": "object"}},
    }
    assert prompt.model.tools == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert prompt.model.tool_choice == {"type": "function", "function": {"name": "get_weather"}}


# --- the prompt diff and the settings read back from the registry ------------------------------


def _version(template: Any, tags: dict[str, str] | None = None, **fields: Any) -> Any:
    from prompt_review.registry import Version

    return Version(name="capital", version=3, template=template, tags=tags or {}, **fields)


def test_prompt_diff_shows_a_changed_response_format_line_by_line() -> None:
    import json

    from prompt_review.registry import TAG_MODEL
    from prompt_review.review import prompt_diff

    old = parse("template: x\nmodel: {response_format: {type: object, required: [a]}}\n")
    new = parse("template: x\nmodel: {response_format: {type: object, required: [a, b]}}\n")
    production = _version("x", {TAG_MODEL: json.dumps(old.model.identity())})

    diff = prompt_diff(production, new).splitlines()

    assert diff[:2] == [
        "--- capital@v3 model settings",
        "+++ prompts/capital.yaml model settings",
    ]
    assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        '-      "a"',
        '+      "a",',
        '+      "b"',
    ]
    assert prompt_diff(production, old) == ""


def test_prompt_diff_of_template_and_unchanged_settings() -> None:
    import json

    from prompt_review.registry import TAG_MODEL
    from prompt_review.review import prompt_diff

    new = parse("template: y\n")
    production = _version("x", {TAG_MODEL: json.dumps(new.model.identity())})

    assert prompt_diff(production, new).splitlines() == [
        "--- capital@v3",
        "+++ prompts/capital.yaml",
        "@@ -1 +1 @@",
        "-x",
        "+y",
    ]


def test_settings_of_a_version_registered_by_mlflow_alone_are_read_back() -> None:
    fallback = ModelConfig(name="fallback", temperature=None)
    version = _version(
        "x",
        model_config={"provider": "openai", "model_name": "gpt-4o", "temperature": 0.2,
                      "max_tokens": 9, "top_p": 0.5, "tools": [{"type": "function"}]},
        response_format={"type": "object"},
    )  # fmt: skip

    assert version.model(fallback) == ModelConfig(
        provider="openai",
        name="gpt-4o",
        temperature=0.2,
        max_tokens=9,
        params={"top_p": 0.5},
        tools=[{"type": "function"}],
        response_format={"type": "object"},
    )
    old_shape = _version("x", model_config={"model_name": "m", "extra_params": {"seed": 1}})
    assert old_shape.model(fallback).params == {"seed": 1}
    assert _version("x").model(fallback) is fallback


# --- prompt paths and loading -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "prompts_dir", "expected"),
    [
        ("prompts/a.yaml", "prompts", True),
        ("prompts/sub/a.JSON", "prompts", True),
        ("prompts/a.txt", "prompts", True),
        ("prompts/a.md", "prompts", True),
        ("prompts/README.md", "prompts", False),
        ("prompts/readme.MD", "prompts", False),
        ("prompts/.hidden.yaml", "prompts", False),
        ("prompts/.drafts/a.yaml", "prompts", False),
        ("prompts/a.py", "prompts", False),
        ("prompts-old/a.yaml", "prompts", False),
        ("other/prompts/a.yaml", "prompts", False),
        ("a.yaml", "prompts", False),
        ("examples/demo/prompts/a.yaml", "examples/demo/prompts", True),
        ("examples/demo/a.yaml", "examples/demo/prompts", False),
        ("a.yaml", ".", True),
    ],
)
def test_is_prompt_path(path: str, prompts_dir: str, expected: bool) -> None:
    assert is_prompt_path(path, prompts_dir) is expected


def write(root: Path, relpath: str, text: str) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_load_prompts_finds_every_prompt_file_sorted(tmp_path: Path) -> None:
    write(tmp_path, "prompts/b.yaml", "template: b\n")
    write(tmp_path, "prompts/a.txt", "a")
    write(tmp_path, "prompts/nested/c.json", '{"template": "c"}')
    write(tmp_path, "prompts/README.md", "# docs, not a prompt")
    write(tmp_path, "prompts/notes.py", "x = 1")
    write(tmp_path, "prompts/.cache/d.yaml", "broken: [")
    write(tmp_path, "elsewhere/e.yaml", "template: e\n")

    prompts = load_prompts(tmp_path, CONFIG)

    assert [(p.name, p.source_path) for p in prompts] == [
        ("a", "prompts/a.txt"),
        ("b", "prompts/b.yaml"),
        ("c", "prompts/nested/c.json"),
    ]


def test_load_prompts_without_a_prompts_dir_is_empty(tmp_path: Path) -> None:
    assert load_prompts(tmp_path, CONFIG) == []


def test_load_prompts_collects_problems_from_every_file(tmp_path: Path) -> None:
    write(tmp_path, "prompts/good.yaml", "template: ok\n")
    write(tmp_path, "prompts/bad1.yaml", "template: 1\ncolour: red\n")
    write(tmp_path, "prompts/bad2.json", "{")
    write(tmp_path, "prompts/empty.txt", "")
    (tmp_path / "prompts/latin1.txt").write_bytes(b"caf\xe9")

    with pytest.raises(UserInputError) as caught:
        load_prompts(tmp_path, CONFIG)

    assert caught.value.problems == [
        "prompts/bad1.yaml: template: expected a string, got 1",
        "prompts/bad1.yaml: colour: unknown key (expected one of: dataset, description, gate, "
        "messages, model, name, scorers, template)",
        "prompts/bad2.json: line 1, column 2: invalid JSON: Expecting property name enclosed in "
        "double quotes",
        "prompts/empty.txt: empty prompt (expected template text)",
        "prompts/latin1.txt: not UTF-8 text",
    ]


def test_a_prompty_file_is_refused_with_the_import_command(tmp_path: Path) -> None:
    write(tmp_path, "prompts/good.yaml", "template: ok\n")
    write(tmp_path, "prompts/sub/chat.PROMPTY", "---\nname: c\n---\nuser:\n{{q}}\n")

    with pytest.raises(UserInputError) as caught:
        load_prompts(tmp_path, CONFIG)

    assert caught.value.problems == [
        "prompts/sub/chat.PROMPTY: a prompty file, which prompt-review does not read; convert it "
        "with `prompt-review import prompty prompts/sub/chat.PROMPTY --name chat` (writes "
        "prompts/chat.yaml), then move the original out of the prompts folder"
    ]


def test_load_prompts_detects_duplicate_names(tmp_path: Path) -> None:
    write(tmp_path, "prompts/capital.yaml", "template: a\n")
    write(tmp_path, "prompts/capital.txt", "b")
    write(tmp_path, "prompts/other.yaml", "name: capital\ntemplate: c\n")
    write(tmp_path, "prompts/x.yaml", "name: y\ntemplate: c\n")
    write(tmp_path, "prompts/y.md", "d")

    with pytest.raises(UserInputError) as caught:
        load_prompts(tmp_path, CONFIG)

    assert caught.value.problems == [
        "prompts/capital.txt, prompts/capital.yaml, prompts/other.yaml: all define prompt "
        "'capital' (names must be unique)",
        "prompts/x.yaml, prompts/y.md: all define prompt 'y' (names must be unique)",
    ]


def test_load_prompts_given_paths_only_reads_those(tmp_path: Path) -> None:
    write(tmp_path, "prompts/a.yaml", "template: a\n")
    write(tmp_path, "prompts/broken.yaml", "template: [\n")

    prompts = load_prompts(tmp_path, CONFIG, ["prompts/a.yaml"])

    assert [p.name for p in prompts] == ["a"]


def test_load_prompts_given_a_missing_path_reports_it(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as caught:
        load_prompts(tmp_path, CONFIG, ["prompts/gone.yaml"])

    assert caught.value.problems == ["prompts/gone.yaml: prompt file not found"]


def test_load_prompts_with_a_subfolder_config(tmp_path: Path) -> None:
    write(tmp_path, "examples/demo/prompts/capital.yaml", "template: x\n")
    write(tmp_path, "prompts/root-level.yaml", "template: y\n")
    config = load_config(tmp_path, "examples/demo/.prompt-review.yml")

    prompts = load_prompts(tmp_path, config)

    assert [(p.name, p.source_path, p.dataset) for p in prompts] == [
        (
            "capital",
            "examples/demo/prompts/capital.yaml",
            "examples/demo/datasets/capital.jsonl",
        )
    ]


# --- git changes ------------------------------------------------------------------------------


def test_git_changes_every_kind(git_repo: GitRepo) -> None:
    git_repo.write("prompts/modified.yaml", "template: before\n")
    git_repo.write("prompts/deleted.yaml", "template: gone\n")
    git_repo.write("prompts/old-name.yaml", "template: a long enough text to be detected\n")
    git_repo.write("prompts/café.yaml", "template: é\n")
    git_repo.write(".gitignore", "ignored.txt\n")
    base = git_repo.commit("base")
    git_repo.write("prompts/modified.yaml", "template: after\n")
    git_repo.remove("prompts/deleted.yaml")
    git_repo.git("mv", "prompts/old-name.yaml", "prompts/new-name.yaml")
    git_repo.write("prompts/committed.yaml", "template: new and committed\n")
    git_repo.commit("head")
    git_repo.write("prompts/café.yaml", "template: è\n")  # uncommitted edit
    git_repo.write("prompts/untracked new.txt", "brand new")
    git_repo.write("ignored.txt", "not reported")

    changes = git_changes(git_repo.root, base)

    assert sorted(changes, key=lambda c: c.path) == [
        FileChange(path="prompts/café.yaml", status="modified"),
        FileChange(path="prompts/committed.yaml", status="added"),
        FileChange(path="prompts/deleted.yaml", status="removed"),
        FileChange(path="prompts/modified.yaml", status="modified"),
        FileChange(
            path="prompts/new-name.yaml", status="renamed", previous_path="prompts/old-name.yaml"
        ),
        FileChange(path="prompts/untracked new.txt", status="added"),
    ]


def test_git_changes_nothing_changed(git_repo: GitRepo) -> None:
    git_repo.write("prompts/a.yaml", "template: a\n")
    base = git_repo.commit()

    assert git_changes(git_repo.root, base) == []


def test_git_changes_bad_base_is_a_clear_error(git_repo: GitRepo) -> None:
    git_repo.write("a.txt", "a")
    git_repo.commit()

    with pytest.raises(UserInputError) as caught:
        git_changes(git_repo.root, "no-such-branch")

    message = str(caught.value)
    assert message.startswith(
        f"git diff -z --relative --name-status -M --no-color no-such-branch -- failed in "
        f"{git_repo.root}: fatal: "
    )
    assert "no-such-branch" in message.split("fatal: ", 1)[1]


def test_git_changes_then_prompt_changes_end_to_end(git_repo: GitRepo) -> None:
    git_repo.write("prompts/capital.yaml", "template: '{{ country }}?'\n")
    git_repo.write("prompts/tone.yaml", "template: '{{ text }}'\n")
    git_repo.write("datasets/tone.jsonl", '{"inputs": {"text": "a"}}\n')
    base = git_repo.commit()
    git_repo.write("prompts/capital.yaml", "template: 'Capital of {{ country }}?'\n")
    git_repo.write("datasets/tone.jsonl", '{"inputs": {"text": "b"}}\n')

    prompts = load_prompts(git_repo.root, CONFIG)
    found = prompt_changes(git_changes(git_repo.root, base), prompts, CONFIG)

    assert found == [
        PromptChange(
            name="capital",
            source_path="prompts/capital.yaml",
            status="modified",
            reason="prompt file modified",
        ),
        PromptChange(
            name="tone",
            source_path="prompts/tone.yaml",
            status="affected",
            reason="its dataset datasets/tone.jsonl changed",
        ),
    ]


# --- prompt changes ---------------------------------------------------------------------------


def prompts_named(*names: str, config: Config = CONFIG) -> list[Prompt]:
    return [parse("template: x\n", f"{config.prompts_dir}/{n}.yaml", config) for n in names]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("added", "added"),
        ("copied", "added"),
        ("modified", "modified"),
        ("changed", "modified"),
    ],
)
def test_prompt_file_statuses(status: str, expected: str) -> None:
    found = prompt_changes(
        [FileChange(path="prompts/a.yaml", status=status)], prompts_named("a", "b"), CONFIG
    )

    assert found == [
        PromptChange(
            name="a",
            source_path="prompts/a.yaml",
            status=expected,  # type: ignore[arg-type]
            reason=f"prompt file {expected}",
        )
    ]


def test_renamed_prompt_carries_its_previous_path() -> None:
    found = prompt_changes(
        [FileChange(path="prompts/a.yaml", status="renamed", previous_path="prompts/z.yaml")],
        prompts_named("a"),
        CONFIG,
    )

    assert found == [
        PromptChange(
            name="a",
            source_path="prompts/a.yaml",
            status="renamed",
            reason="prompt file renamed",
            previous_path="prompts/z.yaml",
        )
    ]


def test_dataset_change_marks_its_prompts_affected() -> None:
    shared = replace(CONFIG, dataset="datasets/shared.jsonl")
    prompts = [*prompts_named("a", "b", config=shared), *prompts_named("c")]

    found = prompt_changes(
        [FileChange(path="datasets/shared.jsonl", status="modified")], prompts, CONFIG
    )

    assert [(c.name, c.status, c.reason) for c in found] == [
        ("a", "affected", "its dataset datasets/shared.jsonl changed"),
        ("b", "affected", "its dataset datasets/shared.jsonl changed"),
    ]


def test_config_change_marks_every_prompt_affected() -> None:
    found = prompt_changes(
        [FileChange(path=".prompt-review.yml", status="modified")],
        prompts_named("a", "b"),
        CONFIG,
    )

    assert [(c.name, c.status, c.reason) for c in found] == [
        ("a", "affected", ".prompt-review.yml changed"),
        ("b", "affected", ".prompt-review.yml changed"),
    ]


def test_subfolder_config_change_is_matched_by_its_repo_path(tmp_path: Path) -> None:
    config = load_config(tmp_path, "examples/demo/.prompt-review.yml")
    prompts = prompts_named("a", config=config)

    assert (
        prompt_changes([FileChange(path=".prompt-review.yml", status="modified")], prompts, config)
        == []
    )
    found = prompt_changes(
        [FileChange(path="examples/demo/.prompt-review.yml", status="modified")], prompts, config
    )
    assert [(c.name, c.reason) for c in found] == [
        ("a", "examples/demo/.prompt-review.yml changed")
    ]


def test_own_file_change_wins_over_dataset_and_config_change() -> None:
    found = prompt_changes(
        [
            FileChange(path=".prompt-review.yml", status="modified"),
            FileChange(path="datasets/a.jsonl", status="modified"),
            FileChange(path="prompts/a.yaml", status="modified"),
            FileChange(path="datasets/b.jsonl", status="modified"),
        ],
        prompts_named("a", "b", "c"),
        CONFIG,
    )

    assert [(c.name, c.status, c.reason) for c in found] == [
        ("a", "modified", "prompt file modified"),
        ("b", "affected", "its dataset datasets/b.jsonl changed"),
        ("c", "affected", ".prompt-review.yml changed"),
    ]


def test_deleted_prompt_files_are_reported() -> None:
    found = prompt_changes(
        [
            FileChange(path="prompts/old.yaml", status="removed"),
            FileChange(path="prompts/README.md", status="removed"),
            FileChange(path="docs/old.yaml", status="removed"),
        ],
        prompts_named("a"),
        CONFIG,
    )

    assert found == [
        PromptChange(
            name="old", source_path="prompts/old.yaml", status="deleted", reason="file deleted"
        )
    ]


def test_unrelated_changes_touch_no_prompt() -> None:
    changes = [
        FileChange(path="src/app.py", status="modified"),
        FileChange(path="datasets/other.jsonl", status="added"),
        FileChange(path="prompts/notes.py", status="removed"),
    ]

    assert prompt_changes(changes, prompts_named("a"), CONFIG) == []


def test_result_is_sorted_by_name() -> None:
    changes = [FileChange(path=f"prompts/{n}.yaml", status="added") for n in "cab"]
    changes.append(FileChange(path="prompts/bb.yaml", status="removed"))

    assert [c.name for c in prompt_changes(changes, prompts_named("a", "b", "c"), CONFIG)] == [
        "a",
        "b",
        "bb",
        "c",
    ]
