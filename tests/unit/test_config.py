""".prompt-review.yml: defaults, strict validation with file + key path messages, JSON Schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from prompt_review.config import (
    CONFIG_SCHEMA,
    Config,
    EvaluationConfig,
    GateConfig,
    ModelConfig,
    Price,
    ScorerSpec,
    json_schema,
    load_config,
    parse_config,
    resolve,
    stable_hash,
)
from prompt_review.errors import UserInputError

# A dependency of check-jsonschema (test extra); typed as Any, so no stubs are needed.
jsonschema = pytest.importorskip("jsonschema")

CONFIG = ".prompt-review.yml"


def write(root: Path, text: str, relpath: str = CONFIG) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(root: Path, text: str, relpath: str = CONFIG) -> list[str]:
    write(root, text, relpath)
    with pytest.raises(UserInputError) as caught:
        load_config(root, relpath)
    return caught.value.problems


# --- defaults -------------------------------------------------------------------------------


def test_absent_file_gives_every_default(tmp_path: Path) -> None:
    config = load_config(tmp_path)

    assert config == Config(
        path=".prompt-review.yml",
        prompts_dir="prompts",
        experiment="prompt-review",
        alias="production",
        model=ModelConfig(provider="openai", name="gpt-4o-mini", temperature=0.0),
        dataset="datasets/{name}.jsonl",
        scorers=(ScorerSpec(type="exact_match", name="exact_match"),),
        gate=GateConfig(alpha=0.05, max_drop=0.0, min_score={}, max_error_rate=0.0),
        evaluation=EvaluationConfig(concurrency=8, max_retries=4, timeout_seconds=60.0),
    )


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_empty_file_is_the_defaults(tmp_path: Path, text: str) -> None:
    write(tmp_path, text)

    assert load_config(tmp_path) == load_config(tmp_path / "elsewhere")


def test_required_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as caught:
        load_config(tmp_path, "ci/review.yml", required=True)

    assert caught.value.problems == ["ci/review.yml: file not found (expected a YAML config file)"]


def test_the_smallest_setup_from_the_design(tmp_path: Path) -> None:
    write(
        tmp_path,
        "experiment: qa-bot\n"
        "defaults:\n"
        "  model: {provider: openai, name: gpt-4o-mini, temperature: 0}\n"
        "  dataset: datasets/{name}.jsonl\n"
        "  scorers: [exact_match]\n",
    )

    config = load_config(tmp_path)

    assert config.experiment == "qa-bot"
    assert config.model == ModelConfig(provider="openai", name="gpt-4o-mini", temperature=0)
    assert config.dataset == "datasets/{name}.jsonl"
    assert config.scorers == (ScorerSpec(type="exact_match", name="exact_match"),)


def test_every_key_is_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
prompts_dir: llm/prompts/
experiment: exp
alias: live
defaults:
  model:
    provider: echo
    name: m
    temperature: 0.7
    max_tokens: 128
    base_url: http://127.0.0.1:9/v1
    params: {seed: 3}
  dataset: data/{name}.csv
  scorers:
    - contains
    - {type: exact_match, name: strict, case_sensitive: false}
gate: {alpha: 0.01, max_drop: 0.05, min_score: {strict: 0.8}, max_error_rate: 0.1}
evaluation: {concurrency: 2, max_retries: 0, timeout_seconds: 5}
""",
    )

    config = load_config(tmp_path)

    assert config.prompts_dir == "llm/prompts"
    assert (config.experiment, config.alias) == ("exp", "live")
    assert config.model == ModelConfig(
        provider="echo",
        name="m",
        temperature=0.7,
        max_tokens=128,
        base_url="http://127.0.0.1:9/v1",
        params={"seed": 3},
    )
    assert config.dataset == "data/{name}.csv"
    assert config.scorers == (
        ScorerSpec(type="contains", name="contains"),
        ScorerSpec(type="exact_match", name="strict", options={"case_sensitive": False}),
    )
    assert config.gate == GateConfig(
        alpha=0.01, max_drop=0.05, min_score={"strict": 0.8}, max_error_rate=0.1
    )
    assert config.evaluation == EvaluationConfig(concurrency=2, max_retries=0, timeout_seconds=5)


def test_partial_model_keeps_the_other_defaults(tmp_path: Path) -> None:
    write(tmp_path, "defaults:\n  model: {temperature: 1.5}\n")

    assert load_config(tmp_path).model == ModelConfig(temperature=1.5)


# --- strict validation ------------------------------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "experimnet: x\n") == [
        ".prompt-review.yml: experimnet: unknown key (expected one of: alias, defaults, "
        "evaluation, experiment, gate, pricing, prompts_dir)"
    ]


def test_unknown_nested_key_names_the_full_path(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "defaults:\n  model:\n    tempreature: 0\n") == [
        ".prompt-review.yml: defaults.model.tempreature: unknown key (expected one of: "
        "base_url, max_tokens, name, params, provider, response_format, temperature, "
        "tool_choice, tools)"
    ]


def test_gate_is_not_a_default_but_a_top_level_key(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "defaults:\n  gate: {alpha: 0.1}\n") == [
        ".prompt-review.yml: defaults.gate: unknown key (expected one of: dataset, judge, model, "
        "scorers)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "defaults:\n  model:\n    temperature: hot\n",
            "defaults.model.temperature: expected a number or null, got 'hot'",
        ),
        (
            "defaults:\n  model:\n    temperature: true\n",
            "defaults.model.temperature: expected a number or null, got True",
        ),
        (
            "defaults:\n  model:\n    temperature: 3\n",
            "defaults.model.temperature: expected a value <= 2, got 3",
        ),
        (
            "defaults:\n  model:\n    max_tokens: 1.5\n",
            "defaults.model.max_tokens: expected an integer or null, got 1.5",
        ),
        (
            "defaults:\n  model:\n    provider: anthropic\n",
            "defaults.model.provider: expected one of 'openai', 'echo', 'python', got 'anthropic'",
        ),
        (
            "defaults:\n  model:\n    params: [1]\n",
            "defaults.model.params: expected a mapping, got a list",
        ),
        ("defaults:\n  model: gpt-4o\n", "defaults.model: expected a mapping, got 'gpt-4o'"),
        ("defaults: []\n", "defaults: expected a mapping, got a list"),
        ("defaults:\n  dataset: ''\n", "defaults.dataset: expected a non-empty string"),
        ("defaults:\n  scorers: []\n", "defaults.scorers: expected at least 1 item(s)"),
        (
            "defaults:\n  scorers: exact_match\n",
            "defaults.scorers: expected a list, got 'exact_match'",
        ),
        ("experiment: 12\n", "experiment: expected a string, got 12"),
        ("alias: ''\n", "alias: expected a non-empty string"),
        ("gate:\n  alpha: 0.9\n", "gate.alpha: expected a value <= 0.5, got 0.9"),
        ("gate:\n  max_drop: -0.1\n", "gate.max_drop: expected a value >= 0, got -0.1"),
        ("gate:\n  max_error_rate: 2\n", "gate.max_error_rate: expected a value <= 1, got 2"),
        (
            "gate:\n  min_score: {exact_match: high}\n",
            "gate.min_score.exact_match: expected a number, got 'high'",
        ),
        (
            "gate:\n  typo: 1\n",
            "gate.typo: unknown key (expected one of: alpha, max_drop, max_error_rate, "
            "min_score, non_inferiority, required)",
        ),
        (
            "evaluation:\n  concurrency: 0\n",
            "evaluation.concurrency: expected a value >= 1, got 0",
        ),
        (
            "evaluation:\n  concurrency: '8'\n",
            "evaluation.concurrency: expected an integer, got '8'",
        ),
        ("- prompts_dir: x\n", "(top level): expected a mapping, got a list"),
        ("just text\n", "(top level): expected a mapping, got 'just text'"),
        ("1: x\n", "line 1, column 1: key '1' is a number; expected text (quote it: '1')"),
    ],
)
def test_wrong_value_names_file_key_path_expected_and_got(
    tmp_path: Path, text: str, message: str
) -> None:
    assert problems_of(tmp_path, text) == [f".prompt-review.yml: {message}"]


def test_several_problems_are_reported_at_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        "experiment: 1\ndefaults:\n  model: {temperature: hot, colour: red}\ngate: {alpha: 0}\n",
    )

    with pytest.raises(UserInputError) as caught:
        load_config(tmp_path)

    assert caught.value.problems == [
        ".prompt-review.yml: experiment: expected a string, got 1",
        ".prompt-review.yml: defaults.model.temperature: expected a number or null, got 'hot'",
        ".prompt-review.yml: defaults.model.colour: unknown key (expected one of: base_url, "
        "max_tokens, name, params, provider, response_format, temperature, tool_choice, tools)",
        ".prompt-review.yml: gate.alpha: expected a value >= 0.0001, got 0",
    ]
    assert str(caught.value) == "\n".join(caught.value.problems)


def test_the_config_file_name_is_the_one_given(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "alias: 3\n", "ci/pr.yml") == [
        "ci/pr.yml: alias: expected a string, got 3"
    ]


# --- invalid YAML -----------------------------------------------------------------------------


def test_invalid_yaml_gives_line_and_column(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "experiment: qa\ndefaults:\n  scorers: [exact_match\n") == [
        ".prompt-review.yml: line 4, column 1: invalid YAML: expected ',' or ']', "
        "but got '<stream end>'"
    ]


def test_yaml_mapping_error_points_at_the_value(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "alias: a: b\n") == [
        ".prompt-review.yml: line 1, column 9: invalid YAML: mapping values are not allowed here"
    ]


def test_yaml_control_character_is_one_clear_line(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "alias: ok\nexperiment: a\x00b\n") == [
        ".prompt-review.yml: line 2, column 14: invalid YAML: unacceptable character #x0000: "
        "special characters are not allowed"
    ]


def test_non_utf8_config(tmp_path: Path) -> None:
    (tmp_path / CONFIG).write_bytes(b"experiment: caf\xe9\n")

    with pytest.raises(UserInputError) as caught:
        load_config(tmp_path)

    assert caught.value.problems == [".prompt-review.yml: not UTF-8 text"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    (tmp_path / CONFIG).write_bytes("\ufeffexperiment: qa\n".encode())

    assert load_config(tmp_path).experiment == "qa"


# --- scorers ----------------------------------------------------------------------------------


def test_scorers_string_and_mapping_forms(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
defaults:
  scorers:
    - exact_match
    - {type: contains, case_sensitive: false}
    - {type: regex, pattern: '^\\d+$', name: digits}
    - is_json
    - {type: max_length, max: 280}
""",
    )

    assert load_config(tmp_path).scorers == (
        ScorerSpec(type="exact_match", name="exact_match"),
        ScorerSpec(type="contains", name="contains", options={"case_sensitive": False}),
        ScorerSpec(type="regex", name="digits", options={"pattern": r"^\d+$"}),
        ScorerSpec(type="is_json", name="is_json"),
        ScorerSpec(type="max_length", name="max_length", options={"max": 280}),
    )


SCORER_TYPES = (
    "'exact_match', 'contains', 'regex', 'is_json', 'max_length', 'correctness', "
    "'relevance_to_query', 'safety', 'guidelines', 'expectations_guidelines', 'judge', 'python'"
)


@pytest.mark.parametrize(
    ("scorers", "message"),
    [
        ("[regex]", "defaults.scorers[0].pattern: missing (regex needs a pattern to search for)"),
        (
            "[{type: max_length}]",
            "defaults.scorers[0].max: missing (max_length needs a maximum length)",
        ),
        (
            "[exact_match, {type: is_json, max: 3}]",
            "defaults.scorers[1].max: not an option of is_json (expected no options)",
        ),
        (
            "[{type: regex, pattern: x, case_sensitive: true}]",
            "defaults.scorers[0].case_sensitive: not an option of regex (expected pattern)",
        ),
        (
            "[{type: regex, pattern: '(unclosed'}]",
            "defaults.scorers[0].pattern: invalid regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            "[{type: max_length, max: 0}]",
            "defaults.scorers[0].max: expected a value >= 1, got 0",
        ),
        (
            "[{type: contains, colour: red}]",
            "defaults.scorers[0].colour: unknown key (expected one of: case_sensitive, "
            "feedback_value_type, function, guidelines, instructions, max, model, name, "
            "pattern, type)",
        ),
        (
            "[{name: x}]",
            f"defaults.scorers[0].type: missing (expected one of {SCORER_TYPES})",
        ),
        (
            "[levenshtein]",
            f"defaults.scorers[0]: expected one of {SCORER_TYPES}, got 'levenshtein'",
        ),
        (
            "[{type: bleu}]",
            f"defaults.scorers[0].type: expected one of {SCORER_TYPES}, got 'bleu'",
        ),
        (
            "[5]",
            f"defaults.scorers[0]: expected one of {SCORER_TYPES} or a mapping with 'type' "
            "and its options, got 5",
        ),
        (
            "[exact_match, {type: exact_match, case_sensitive: false}]",
            "defaults.scorers: two scorers are named 'exact_match' (give one a 'name')",
        ),
        (
            "[{type: contains, name: s}, {type: exact_match, name: s}]",
            "defaults.scorers: two scorers are named 's' (give one a 'name')",
        ),
    ],
)
def test_bad_scorer(tmp_path: Path, scorers: str, message: str) -> None:
    assert problems_of(tmp_path, f"defaults:\n  scorers: {scorers}\n") == [
        f".prompt-review.yml: {message}"
    ]


def test_all_scorer_problems_are_collected(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "defaults:\n  scorers: [regex, {type: max_length}, regex]\n")

    assert problems == [
        ".prompt-review.yml: defaults.scorers[0].pattern: missing "
        "(regex needs a pattern to search for)",
        ".prompt-review.yml: defaults.scorers[1].max: missing (max_length needs a maximum length)",
        ".prompt-review.yml: defaults.scorers[2].pattern: missing "
        "(regex needs a pattern to search for)",
        ".prompt-review.yml: defaults.scorers: two scorers are named 'regex' (give one a 'name')",
    ]


def test_two_scorers_of_a_type_with_distinct_names(tmp_path: Path) -> None:
    write(
        tmp_path,
        "defaults:\n  scorers: [exact_match, {type: exact_match, name: loose, "
        "case_sensitive: false}]\n",
    )

    assert [s.name for s in load_config(tmp_path).scorers] == ["exact_match", "loose"]


# --- gate -------------------------------------------------------------------------------------


def test_gate_overrides_only_what_it_names(tmp_path: Path) -> None:
    write(tmp_path, "gate:\n  max_drop: 0.02\n")

    assert load_config(tmp_path).gate == GateConfig(max_drop=0.02)


def test_gate_min_score_per_scorer(tmp_path: Path) -> None:
    write(tmp_path, "gate:\n  min_score: {exact_match: 0.9, contains: 1}\n")

    assert load_config(tmp_path).gate.min_score == {"exact_match": 0.9, "contains": 1}


def test_gate_required_and_non_inferiority(tmp_path: Path) -> None:
    write(tmp_path, "gate:\n  required: [exact_match]\n  non_inferiority: 0.02\n")

    gate = load_config(tmp_path).gate

    assert gate == GateConfig(required=("exact_match",), non_inferiority=0.02)
    assert GateConfig().required is None  # by default every scorer is required
    assert GateConfig().non_inferiority is None  # and non-inferiority is opt-in


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gate: {required: exact_match}", "gate.required: expected a list, got 'exact_match'"),
        ("gate: {required: [1]}", "gate.required[0]: expected a string, got 1"),
        ("gate: {required: ['']}", "gate.required[0]: expected a non-empty string"),
        ("gate: {non_inferiority: 0}", "gate.non_inferiority: expected a value >= 0.0001, got 0"),
        ("gate: {non_inferiority: lots}", "gate.non_inferiority: expected a number or null"),
    ],
)
def test_gate_new_keys_are_validated(tmp_path: Path, text: str, message: str) -> None:
    (problem,) = problems_of(tmp_path, text + "\n")

    assert problem.startswith(f"{CONFIG}: {message}")


def test_pricing_maps_model_names_to_prices_per_million_tokens(tmp_path: Path) -> None:
    write(tmp_path, "pricing:\n  gpt-4o-mini: {input: 0.15, output: 0.6}\n")

    pricing = load_config(tmp_path).pricing

    assert pricing == {"gpt-4o-mini": Price(input=0.15, output=0.6)}
    assert pricing["gpt-4o-mini"].cost(2_000_000, 500_000) == pytest.approx(0.6)
    assert load_config(tmp_path / "absent").pricing == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pricing: 1", "pricing: expected a mapping, got 1"),
        ("pricing: {m: 1}", "pricing.m: expected a mapping with 'input' and 'output' prices"),
        ("pricing: {m: {input: 1}}", "pricing.m.output: missing (expected a number)"),
        ("pricing: {m: {input: 1, output: -2}}", "pricing.m.output: expected a value >= 0"),
        ("pricing: {m: {input: 1, output: 2, per: k}}", "pricing.m.per: unknown key"),
        ("defaults: {pricing: {}}", "defaults.pricing: unknown key"),
    ],
)
@pytest.mark.robustness(
    area="input",
    case="pricing: that is not a mapping of model name to {input, output} prices >= 0",
    behaviour="input error naming the file and the key path",
)
def test_pricing_is_validated_strictly(tmp_path: Path, text: str, message: str) -> None:
    (problem,) = problems_of(tmp_path, text + "\n")

    assert problem.startswith(f"{CONFIG}: {message}")


# --- gate names are checked against each prompt's scorers -------------------------------------


def prompt_problems(config_text: str, prompt_text: str) -> list[str]:
    from prompt_review.prompts import parse_prompt

    config = parse_config(yaml.safe_load(config_text), CONFIG)
    with pytest.raises(UserInputError) as caught:
        parse_prompt(prompt_text, "prompts/capital.yaml", config)
    return caught.value.problems


@pytest.mark.robustness(
    area="input",
    case="gate.required or gate.min_score naming a scorer the prompt does not have",
    behaviour="input error naming the prompt file, the key (and the file that set it) and "
    "the prompt's scorers",
)
def test_unknown_required_scorer_names_the_key_and_the_known_scorers() -> None:
    assert prompt_problems(
        "defaults: {scorers: [exact_match, contains]}\n",
        "template: x\ngate: {required: [exact_match, exact-match]}\n",
    ) == [
        "prompts/capital.yaml: gate.required[1]: 'exact-match' is not a scorer of this prompt "
        "(known: exact_match, contains)"
    ]


def test_unknown_min_score_name_set_in_the_config_says_where_it_was_set() -> None:
    assert prompt_problems(
        "gate: {min_score: {contain: 0.5}}\n", "template: x\nscorers: [contains]\n"
    ) == [
        "prompts/capital.yaml: gate.min_score.contain (set in .prompt-review.yml): 'contain' "
        "is not a scorer of this prompt (known: contains)"
    ]


def test_gate_names_are_checked_against_the_prompts_own_scorers() -> None:
    from prompt_review.prompts import parse_prompt

    config = parse_config(yaml.safe_load("gate: {required: [is_json]}\n"), CONFIG)

    prompt = parse_prompt("template: x\nscorers: [is_json]\n", "prompts/p.yaml", config)

    assert prompt.gate.required == ("is_json",)
    assert prompt_problems("gate: {required: [is_json]}\n", "template: x\n") == [
        "prompts/capital.yaml: gate.required[0] (set in .prompt-review.yml): 'is_json' is not "
        "a scorer of this prompt (known: exact_match)"
    ]


# --- paths ------------------------------------------------------------------------------------


def test_paths_are_relative_to_a_config_in_a_subfolder(tmp_path: Path) -> None:
    write(tmp_path, "experiment: demo\n", "examples/demo/.prompt-review.yml")

    config = load_config(tmp_path, "examples/demo/.prompt-review.yml")

    assert config.path == "examples/demo/.prompt-review.yml"
    assert config.prompts_dir == "examples/demo/prompts"
    assert resolve(config, "datasets/capital.jsonl") == "examples/demo/datasets/capital.jsonl"
    assert resolve(config, "../shared/data.jsonl") == "examples/shared/data.jsonl"


def test_absent_config_in_a_subfolder_still_resolves_there(tmp_path: Path) -> None:
    config = load_config(tmp_path, "examples/demo/.prompt-review.yml")

    assert config.prompts_dir == "examples/demo/prompts"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("prompts/", "prompts"),
        ("./prompts", "prompts"),
        ("llm//prompts/", "llm/prompts"),
        ("a/../b", "b"),
        (".", "."),
    ],
)
def test_prompts_dir_is_normalised(tmp_path: Path, written: str, expected: str) -> None:
    write(tmp_path, f"prompts_dir: '{written}'\n")

    assert load_config(tmp_path).prompts_dir == expected


def test_prompts_dir_relative_to_a_subfolder_config(tmp_path: Path) -> None:
    write(tmp_path, "prompts_dir: ../shared/prompts/\n", "apps/bot/.prompt-review.yml")

    config = load_config(tmp_path, "apps/bot/.prompt-review.yml")

    assert config.prompts_dir == "apps/shared/prompts"


@pytest.mark.parametrize(
    ("relpath", "written", "message"),
    [
        (
            CONFIG,
            "/etc/prompts",
            ".prompt-review.yml: prompts_dir: expected a folder inside the repository, "
            "relative to the repository root, got '/etc/prompts'",
        ),
        (
            CONFIG,
            "../prompts",
            ".prompt-review.yml: prompts_dir: expected a folder inside the repository, "
            "relative to the repository root, got '../prompts'",
        ),
        (
            "demo/.prompt-review.yml",
            "../../x",
            "demo/.prompt-review.yml: prompts_dir: expected a folder inside the repository, "
            "relative to demo, got '../../x'",
        ),
    ],
)
def test_prompts_dir_outside_the_repository(
    tmp_path: Path, relpath: str, written: str, message: str
) -> None:
    assert problems_of(tmp_path, f"prompts_dir: '{written}'\n", relpath) == [message]


def test_parse_config_none_is_defaults() -> None:
    assert parse_config(None, "x.yml") == Config(path="x.yml")


# --- JSON Schema ------------------------------------------------------------------------------


GOOD = """
prompts_dir: prompts
experiment: qa-bot
alias: production
defaults:
  model: {provider: openai, name: gpt-4o-mini, temperature: 0, max_tokens: null}
  dataset: datasets/{name}.jsonl
  scorers: [exact_match, {type: regex, pattern: 'x+', name: xs}]
gate: {alpha: 0.05, max_drop: 0, min_score: {exact_match: 0.5}, max_error_rate: 0.1,
       required: [exact_match], non_inferiority: 0.02}
pricing: {gpt-4o-mini: {input: 0.15, output: 0.6}}
evaluation: {concurrency: 4}
"""

BAD = [
    "defaults: {model: {tempreature: 0}}",
    "defaults: {model: {temperature: hot}}",
    "defaults: {scorers: [levenshtein]}",
    "defaults: {scorers: [{type: regex, patern: x}]}",
    "defaults: {scorers: []}",
    "gate: {alpha: 0.9}",
    "gate: {min_score: {a: high}}",
    "gate: {required: a}",
    "gate: {non_inferiority: -1}",
    "pricing: {m: {input: 1}}",
    "evaluation: {concurrency: 0}",
    "experiment: ''",
    "unknown: 1",
]


def test_json_schema_is_valid_draft_2020_12() -> None:
    published = json_schema()

    jsonschema.Draft202012Validator.check_schema(published)
    assert published["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "description_short" not in json.dumps(published)
    assert "description_short" in json.dumps(CONFIG_SCHEMA)  # the private one keeps it


def test_json_schema_accepts_a_good_config(tmp_path: Path) -> None:
    validator = jsonschema.Draft202012Validator(json_schema())

    assert list(validator.iter_errors(yaml.safe_load(GOOD))) == []
    write(tmp_path, GOOD)
    load_config(tmp_path)  # and our own validator agrees


@pytest.mark.parametrize("text", BAD)
def test_json_schema_and_our_validator_both_reject(tmp_path: Path, text: str) -> None:
    validator = jsonschema.Draft202012Validator(json_schema())

    assert list(validator.iter_errors(yaml.safe_load(text))) != []
    assert problems_of(tmp_path, text + "\n")


def test_json_schema_is_json_serialisable_and_stable() -> None:
    assert json.loads(json.dumps(json_schema())) == json_schema()


# --- hashing ----------------------------------------------------------------------------------


def test_stable_hash_ignores_key_order_and_is_fixed_across_runs() -> None:
    first = stable_hash({"b": [1, 2.5, None], "a": "é"})

    assert first == stable_hash({"a": "é", "b": [1, 2.5, None]})
    # Pinned: run reuse and content hashes in MLflow depend on this canonical form.
    assert first == hashlib.sha256('{"a":"é","b":[1,2.5,null]}'.encode()).hexdigest()
    assert first == "d764fee2563da33e3d57334755404e635da33c995824b0adfabc4b6e1af4f608"


def test_stable_hash_changes_with_the_data() -> None:
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    assert stable_hash([1, 2]) != stable_hash([2, 1])
    assert len(stable_hash("x")) == 64


def test_model_identity_excludes_only_the_endpoint() -> None:
    model = ModelConfig(name="m", base_url="http://a", params={"seed": 1})

    assert model.identity() == {
        "provider": "openai",
        "name": "m",
        "temperature": 0.0,
        "max_tokens": None,
        "params": {"seed": 1},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alias: latest\n", "alias: 'latest' is reserved"),
        ("alias: v2\n", "alias: 'v2' is reserved"),
        ("alias: previous-production\n", "alias: 'previous-production' is reserved"),
        ("alias: prod/eu\n", "alias: 'prod/eu' is not a valid registry alias"),
        ("experiment: " + "e" * 501 + "\n", "experiment: 501 characters; expected at most 500"),
    ],
)
def test_alias_and_experiment_names_mlflow_refuses(text: str, expected: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse_config(yaml.safe_load(text), ".prompt-review.yml")
    assert any(p.startswith(f".prompt-review.yml: {expected}") for p in caught.value.problems)
