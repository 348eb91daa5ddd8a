"""Scorers without a model server: deterministic rules, value normalization, the scorer
config (judges, custom judges, python scorers), the expectation check, and user-code
imports from a real folder. Judges over HTTP are in tests/integration/test_judges.py."""

from __future__ import annotations

import math
import os
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from prompt_review.config import Config, load_config, parse_config
from prompt_review.datasets import Dataset, Example
from prompt_review.errors import UserInputError
from prompt_review.scorer_config import TEMPLATE_VARIABLE, JudgeModel, ScorerSpec
from prompt_review.scorers import (
    ScoreValue,
    Scoring,
    check_expectations,
    from_result_row,
    needed_expectation,
    normalize,
    preflight,
    score_function,
)


def spec(kind: str, name: str | None = None, **options: Any) -> ScorerSpec:
    return ScorerSpec(type=kind, name=name or kind, options=options)


def score(scorer: ScorerSpec, output: str, **expectations: Any) -> bool:
    return score_function(scorer)(output, expectations)


# --- exact_match ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "result"),
    [
        ("Paris", "Paris", True),
        ("  Paris\n", "Paris", True),
        ("Paris", " Paris ", True),
        ("paris", "Paris", False),
        ("Paris.", "Paris", False),
        ("The capital is Paris", "Paris", False),
        ("", "", True),
        ("4", 4, True),
        ('{"a": 1}', {"a": 1}, True),
        ("true", True, True),
    ],
)
def test_exact_match(output: str, expected: Any, result: bool) -> None:
    assert score(spec("exact_match"), output, expected_response=expected) is result


def test_exact_match_case_insensitive() -> None:
    loose = spec("exact_match", case_sensitive=False)

    assert score(loose, "PARIS", expected_response="paris") is True
    assert score(loose, " straße ", expected_response="STRASSE") is True  # casefold, not lower
    assert score(loose, "Pariss", expected_response="paris") is False
    assert (
        score(spec("exact_match", case_sensitive=True), "PARIS", expected_response="paris") is False
    )


# --- contains ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expectations", "result"),
    [
        ("The capital is Paris.", {"expected_response": "Paris"}, True),
        ("The capital is paris.", {"expected_response": "Paris"}, False),
        ("Paris, France", {"expected_substrings": ["Paris", "France"]}, True),
        ("Paris", {"expected_substrings": ["Paris", "France"]}, False),
        ("Paris", {"expected_substrings": "Par"}, True),
        ("Paris", {"expected_substrings": ["Paris"], "expected_response": "Lyon"}, True),
        ("Lyon", {"expected_substrings": ["Paris"], "expected_response": "Lyon"}, False),
        ("42 items", {"expected_substrings": [42]}, True),
    ],
)
def test_contains(output: str, expectations: dict[str, Any], result: bool) -> None:
    assert score(spec("contains"), output, **expectations) is result


def test_contains_case_insensitive() -> None:
    loose = spec("contains", case_sensitive=False)

    assert score(loose, "THE CAPITAL IS PARIS", expected_substrings=["paris", "Capital"]) is True
    assert score(loose, "THE CAPITAL IS LYON", expected_substrings=["paris"]) is False


# --- regex, is_json, max_length ---------------------------------------------------------------


def test_regex_searches_anywhere_unless_anchored() -> None:
    assert score(spec("regex", pattern=r"\d{4}"), "founded in 1889.") is True
    assert score(spec("regex", pattern=r"\d{4}"), "founded long ago") is False
    assert score(spec("regex", pattern=r"^\d+$"), "12 apples") is False
    assert score(spec("regex", pattern=r"^\d+$"), "12") is True


def test_regex_ignores_expectations() -> None:
    assert score(spec("regex", pattern="yes"), "yes", expected_response="no") is True


@pytest.mark.parametrize(
    ("output", "result"),
    [
        ('{"answer": "Paris"}', True),
        ("[1, 2]", True),
        ("  42 \n", True),
        ('"text"', True),
        ("null", True),
        ("{'single': 'quotes'}", False),
        ("Paris", False),
        ('```json\n{"a": 1}\n```', False),
        ("", False),
    ],
)
def test_is_json(output: str, result: bool) -> None:
    assert score(spec("is_json"), output) is result


@pytest.mark.parametrize(("output", "result"), [("", True), ("abc", True), ("abcd", False)])
def test_max_length(output: str, result: bool) -> None:
    assert score(spec("max_length", max=3), output) is result


def test_max_length_counts_characters_not_bytes() -> None:
    assert score(spec("max_length", max=3), "été") is True


def test_unknown_type_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match=r"^unknown scorer type 'bleu'$"):
        score_function(spec("bleu"))


# --- expectations -----------------------------------------------------------------------------


def test_needed_expectations() -> None:
    assert needed_expectation(spec("exact_match")) == ("expected_response",)
    assert needed_expectation(spec("contains")) == ("expected_substrings", "expected_response")
    assert needed_expectation(spec("regex", pattern="x")) == ()
    assert needed_expectation(spec("is_json")) == ()
    assert needed_expectation(spec("max_length", max=1)) == ()


def dataset_of(*expectations: dict[str, Any]) -> Dataset:
    return Dataset(
        path="datasets/qa.jsonl",
        examples=tuple(
            Example(
                id=str(i),
                inputs={"q": str(i)},
                expectations=e,
                location=f"datasets/qa.jsonl: line {i}",
            )
            for i, e in enumerate(expectations, start=1)
        ),
    )


def test_check_expectations_passes_when_everything_is_there() -> None:
    check_expectations(
        dataset_of(
            {"expected_response": "a"},
            {"expected_response": "b", "expected_substrings": ["b"]},
        ),
        [spec("exact_match"), spec("contains"), spec("is_json"), spec("regex", pattern="x")],
    )


def test_scorers_without_expectations_accept_any_record() -> None:
    check_expectations(dataset_of({}, {}), [spec("is_json"), spec("max_length", max=5)])


def test_check_expectations_names_row_key_and_scorer() -> None:
    dataset = dataset_of(
        {"expected_response": "a"}, {"answer": "b"}, {"expected_substrings": ["c"]}
    )

    with pytest.raises(UserInputError) as caught:
        check_expectations(dataset, [spec("exact_match", name="strict"), spec("contains")])

    assert caught.value.problems == [
        "datasets/qa.jsonl: line 2: expectations: missing 'expected_response' "
        "(needed by scorer 'strict')",
        "datasets/qa.jsonl: line 3: expectations: missing 'expected_response' "
        "(needed by scorer 'strict')",
        "datasets/qa.jsonl: line 2: expectations: missing 'expected_substrings' or "
        "'expected_response' (needed by scorer 'contains')",
    ]


@pytest.mark.parametrize("value", [3, None, {"a": 1}])
def test_contains_needs_a_string_or_list(value: Any) -> None:
    with pytest.raises(UserInputError) as caught:
        check_expectations(dataset_of({"expected_substrings": value}), [spec("contains")])

    assert caught.value.problems == [
        "datasets/qa.jsonl: line 1: expectations.expected_substrings: "
        "expected a string or a list of strings"
    ]


# --- one interface for every kind -------------------------------------------------------------


def test_deterministic_scorers_score_directly_and_inside_mlflow() -> None:
    pytest.importorskip("mlflow")
    strict, short = Scoring().build([spec("exact_match", name="strict"), spec("max_length", max=3)])

    assert strict.score({}, " Paris ", {"expected_response": "Paris"}) == ScoreValue(value=1.0)
    assert strict.score({}, "Lyon", {"expected_response": "Paris"}) == ScoreValue(value=0.0)
    assert short.score({}, None, None) == ScoreValue(value=1.0)  # no output scores as ""
    assert short.score({}, 12, {}) == ScoreValue(value=1.0)  # non-strings are scored as str()
    assert not strict.is_judge
    feedback = strict.mlflow_scorer.run(
        outputs="Paris", expectations={"expected_response": "Paris"}
    )
    assert (strict.mlflow_scorer.name, feedback.name, feedback.value) == ("strict", "strict", 1.0)


def test_a_rule_that_crashes_is_an_error_on_the_example_not_a_crash() -> None:
    (exact,) = Scoring().build([spec("exact_match")])

    result = exact.score({}, "Paris", {})  # no expected_response: check_expectations's job

    assert result.value is None
    assert result.error == "scorer 'exact_match' failed: KeyError: 'expected_response'"


def test_contains_names_the_key_it_reads() -> None:
    with pytest.raises(UserInputError) as caught:
        check_expectations(dataset_of({"expected_response": 4}), [spec("contains")])

    assert caught.value.problems == [
        "datasets/qa.jsonl: line 1: expectations.expected_response: "
        "expected a string or a list of strings"
    ]


def test_contains_with_no_substrings_would_always_pass() -> None:
    with pytest.raises(UserInputError) as caught:
        check_expectations(dataset_of({"expected_substrings": []}), [spec("contains", name="c")])

    assert caught.value.problems == [
        "datasets/qa.jsonl: line 1: expectations.expected_substrings: empty list "
        "(expected at least one substring; scorer 'c' would always pass)"
    ]


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, ScoreValue(value=1.0)),
        (False, ScoreValue(value=0.0)),
        ("yes", ScoreValue(value=1.0)),
        (" No ", ScoreValue(value=0.0)),
        ("TRUE", ScoreValue(value=1.0)),
        ("false", ScoreValue(value=0.0)),
        (4, ScoreValue(value=4.0)),
        (0.25, ScoreValue(value=0.25)),
        (-1, ScoreValue(value=-1.0)),
        ("formal", ScoreValue(label="formal")),
        ("4", ScoreValue(label="4")),  # a str judge's answer is a label, even if it looks numeric
        ({"tone": "dry"}, ScoreValue(label='{"tone": "dry"}')),
        (None, ScoreValue(error="the scorer returned no value")),
        (math.nan, ScoreValue(error="the scorer returned NaN (no value)")),
    ],
)
def test_normalize(raw: Any, expected: ScoreValue) -> None:
    assert normalize(raw) == expected


def test_normalize_reads_mlflow_values() -> None:
    pytest.importorskip("mlflow")
    import numpy as np
    from mlflow.entities import AssessmentError, Feedback
    from mlflow.genai.judges import CategoricalRating

    assert normalize(CategoricalRating.YES) == ScoreValue(value=1.0)
    assert normalize(CategoricalRating.UNKNOWN) == ScoreValue(label="unknown")
    assert normalize(np.bool_(True)) == ScoreValue(value=1.0)
    assert normalize(np.int64(3)) == ScoreValue(value=3.0)
    assert normalize(Feedback(value="no", rationale=" wrong city ")) == ScoreValue(
        value=0.0, rationale="wrong city"
    )
    broken = Feedback(error=AssessmentError(error_code="X", error_message="judge down"))
    assert normalize(broken) == ScoreValue(error="judge down")
    assert normalize([Feedback(value=1), Feedback(value=2)]).error == (
        "the scorer returned 2 Feedback objects; return one value or one Feedback"
    )


def test_long_labels_are_shortened() -> None:
    label = normalize("x" * 500).label
    assert label is not None and len(label) == 200 and label.endswith("…")


def test_from_result_row_reads_mlflow_3_17_columns() -> None:
    row = {
        "tone/value": "yes",
        "tone/rationale": "polite",
        "boom/value": math.nan,
        "boom/error_message": "kaboom",
        "style/value": "formal",
        "style/rationale": math.nan,
        "score/value": 0.5,
    }

    assert from_result_row(row, "tone") == ScoreValue(value=1.0, rationale="polite")
    assert from_result_row(row, "boom") == ScoreValue(error="kaboom")
    assert from_result_row(row, "style") == ScoreValue(label="formal")
    assert from_result_row(row, "score") == ScoreValue(value=0.5)
    assert from_result_row(row, "absent") == ScoreValue(
        error="MLflow returned no result for scorer 'absent'"
    )


# --- config -----------------------------------------------------------------------------------


def config_of(text: str) -> Config:
    import yaml

    return parse_config(yaml.safe_load(text), ".prompt-review.yml")


def config_problems(text: str) -> list[str]:
    with pytest.raises(UserInputError) as caught:
        config_of(text)
    return caught.value.problems


FULL = """
defaults:
  judge: {name: judge-model, base_url: "http://127.0.0.1:11434/v1"}
  scorers:
    - correctness
    - {type: relevance_to_query, model: gpt-4o}
    - {type: safety, model: {name: llama-guard, base_url: "http://guard/v1"}}
    - {type: guidelines, name: terse, guidelines: ["At most one sentence."]}
    - expectations_guidelines
    - type: judge
      name: tone
      instructions: "Is {{ outputs }} a polite answer to {{ inputs }}?"
      feedback_value_type: bool
    - {type: python, name: short, function: "checks.length:short"}
"""


def test_every_scorer_type_parses_with_its_judge_model_resolved() -> None:
    scorers = {s.name: s for s in config_of(FULL).scorers}
    local = JudgeModel(name="judge-model", base_url="http://127.0.0.1:11434/v1")

    assert scorers["correctness"] == ScorerSpec(type="correctness", name="correctness", judge=local)
    assert scorers["relevance_to_query"].judge == JudgeModel(
        name="gpt-4o", base_url="http://127.0.0.1:11434/v1"
    )
    assert scorers["safety"].judge == JudgeModel(name="llama-guard", base_url="http://guard/v1")
    assert scorers["terse"].options == {"guidelines": ["At most one sentence."]}
    assert scorers["tone"].options["feedback_value_type"] == "bool"
    assert scorers["tone"].judge == local
    assert scorers["short"] == ScorerSpec(
        type="python", name="short", options={"function": "checks.length:short"}
    )


def test_the_default_judge_is_gpt_4o_mini_on_openai() -> None:
    (spec_,) = config_of("defaults: {scorers: [safety]}").scorers
    assert spec_.judge == JudgeModel(provider="openai", name="gpt-4o-mini", base_url=None)
    assert spec_.judge.uri == "openai:/gpt-4o-mini"


def test_a_prompt_file_scorer_uses_the_default_judge(tmp_path: Path) -> None:
    from prompt_review.prompts import parse_prompt

    (tmp_path / ".prompt-review.yml").write_text("defaults: {judge: {name: local-judge}}\n")
    prompt = parse_prompt(
        "template: '{{ q }}'\nscorers: [correctness]\n", "prompts/p.yaml", load_config(tmp_path)
    )
    assert prompt.scorers[0].judge == JudgeModel(name="local-judge")


def test_identity_has_what_changes_verdicts_and_not_the_endpoint() -> None:
    def identity(text: str) -> list[dict[str, Any]]:
        return [s.identity() for s in config_of(text).scorers]

    base = identity("defaults: {scorers: [correctness]}")
    assert base == [
        {
            "type": "correctness",
            "name": "correctness",
            "options": {},
            "judge": {"provider": "openai", "name": "gpt-4o-mini"},
        }
    ]
    moved = "defaults: {judge: {base_url: 'http://elsewhere/v1'}, scorers: [correctness]}"
    assert identity(moved) == base
    assert identity("defaults: {judge: {name: gpt-4o}, scorers: [correctness]}") != base
    guidelines = "defaults: {scorers: [{type: guidelines, guidelines: [%s]}]}"
    assert identity(guidelines % "'Be short.'") != identity(guidelines % "'Be kind.'")
    judge = (
        "defaults: {scorers: [{type: judge, name: j, feedback_value_type: bool, "
        "instructions: '%s {{ outputs }}'}]}"
    )
    assert identity(judge % "Is it polite?") != identity(judge % "Is it short?")
    python = ScorerSpec(type="python", name="p", options={"function": "m:f"})
    assert (
        python.identity()
        != ScorerSpec(
            type="python", name="p", options={"function": "m:f"}, source_digest="abc"
        ).identity()
    )


@pytest.mark.parametrize(
    ("scorer", "message"),
    [
        (
            "{type: guidelines}",
            "[0].guidelines: missing (guidelines needs a list of guidelines to check)",
        ),
        ("{type: guidelines, guidelines: []}", "[0].guidelines: expected at least 1 item(s)"),
        (
            "{type: guidelines, guidelines: 'Be short'}",
            "[0].guidelines: expected a list, got 'Be short'",
        ),
        (
            "{type: judge, instructions: 'x {{ outputs }}', feedback_value_type: bool}",
            "[0].name: missing (a judge needs a name for its scores)",
        ),
        (
            "{type: judge, name: j, feedback_value_type: bool}",
            "[0].instructions: missing (a "
            "judge needs instructions with {{ inputs }}, {{ outputs }} or {{ expectations }})",
        ),
        (
            "{type: judge, name: j, instructions: 'x {{ outputs }}'}",
            "[0].feedback_value_type: "
            "missing (expected one of 'bool', 'int', 'float', 'str': the type of the judge's "
            "result)",
        ),
        (
            "{type: judge, name: j, instructions: 'x {{ outputs }}', feedback_value_type: list}",
            "[0].feedback_value_type: expected one of 'bool', 'int', 'float', 'str', got 'list'",
        ),
        (
            "{type: judge, name: j, instructions: 'Is it good?', feedback_value_type: bool}",
            "[0].instructions: no template variable (expected at least one of {{ inputs }}, "
            "{{ outputs }}, {{ expectations }})",
        ),
        (
            "{type: judge, name: j, instructions: 'Rate {{ output }}', feedback_value_type: int}",
            "[0].instructions: unsupported template variable(s) {{ output }} (a judge's "
            "instructions can only use these variables; use {{ inputs }}, {{ outputs }}, "
            "{{ expectations }})",
        ),
        (
            "{type: judge, name: j, instructions: 'Read {{ trace }}', feedback_value_type: int}",
            "[0].instructions: unsupported template variable(s) {{ trace }} (prompt-review judges "
            "one example at a time, without a trace or a conversation; use {{ inputs }}, "
            "{{ outputs }}, {{ expectations }})",
        ),
        (
            "{type: judge, name: j, instructions: '{{ inputs.q }}', feedback_value_type: str}",
            "[0].instructions: unsupported template variable(s) {{ inputs.q }} (a judge's "
            "instructions can only use these variables; use {{ inputs }}, {{ outputs }}, "
            "{{ expectations }})",
        ),
        (
            "{type: python, function: 'm:f'}",
            "[0].name: missing (a python scorer needs a name for its scores)",
        ),
        (
            "{type: python, name: p}",
            "[0].function: missing (expected 'module.path:function', "
            "an MLflow @scorer in the repository)",
        ),
        (
            "{type: python, name: p, function: 'checks/length.py'}",
            "[0].function: "
            "'checks/length.py' is not an entry point (expected 'module.path:function', e.g. "
            "'scorers.tone:polite')",
        ),
        (
            "{type: python, name: p, function: 'a:b:c'}",
            "[0].function: 'a:b:c' is not an entry "
            "point (expected 'module.path:function', e.g. 'scorers.tone:polite')",
        ),
        (
            "{type: correctness, guidelines: [x]}",
            "[0].guidelines: not an option of correctness (expected model)",
        ),
        (
            "{type: exact_match, model: gpt-4o}",
            "[0].model: not an option of exact_match (expected case_sensitive)",
        ),
        (
            "{type: python, name: p, function: 'm:f', model: gpt-4o}",
            "[0].model: not an option of python (expected function)",
        ),
        (
            "{type: safety, model: {name: x, temperature: 0}}",
            "[0].model.temperature: unknown key (expected one of: base_url, name, provider)",
        ),
        (
            "{type: safety, model: {provider: anthropic}}",
            "[0].model.provider: expected one of 'openai', got 'anthropic'",
        ),
        (
            "{type: safety, name: 'a/b'}",
            "[0].name: 'a/b' is not a valid scorer name (expected "
            "up to 100 letters, digits, '_', '-' and '.', not starting with '-' or '.')",
        ),
    ],
)
@pytest.mark.robustness(
    area="input",
    case="a scorer config with a missing, unknown or malformed key (judge instructions with "
    "an unsupported {{ variable }}, a python function that is not 'module:function')",
    behaviour="input error naming the file, the key path and what was expected",
)
def test_bad_scorer_config(scorer: str, message: str) -> None:
    assert config_problems(f"defaults:\n  scorers: [{scorer}]\n") == [
        f".prompt-review.yml: defaults.scorers{message}"
    ]


def test_bad_default_judge() -> None:
    assert config_problems("defaults: {judge: {name: ''}}") == [
        ".prompt-review.yml: defaults.judge.name: expected a non-empty string"
    ]
    assert config_problems("defaults: {judge: gpt-4o}") == [
        ".prompt-review.yml: defaults.judge: expected a mapping, got 'gpt-4o'"
    ]


def test_our_template_variable_pattern_is_mlflows() -> None:
    pytest.importorskip("mlflow")
    from mlflow.prompt.constants import PROMPT_TEMPLATE_VARIABLE_PATTERN

    assert TEMPLATE_VARIABLE.pattern == PROMPT_TEMPLATE_VARIABLE_PATTERN.pattern


@pytest.mark.parametrize(
    "instructions",
    [
        "Is {{ outputs }} polite?",
        "Compare {{outputs}} with {{ expectations }} for {{ inputs }}.",
        "No variable at all.",
        "Rate {{ output }}.",
        "Read {{ inputs.question }}.",
        "{{ conversation }} and {{ outputs }}",
        "{{ trace }}",
        "{{ outputs }} {% if x %}{% endif %}",
    ],
)
def test_instructions_are_checked_the_way_make_judge_checks_them(instructions: str) -> None:
    """Where make_judge rejects, so do we; where we accept, so does make_judge (we also refuse
    {{ trace }} and {{ conversation }}, which make_judge accepts, as we never pass them)."""
    pytest.importorskip("mlflow")
    from mlflow.exceptions import MlflowException
    from mlflow.genai.judges import make_judge

    from prompt_review.scorer_config import instructions_problems

    ours = instructions_problems(instructions, "x")
    try:
        make_judge(name="j", instructions=instructions, feedback_value_type=bool,
                   model="openai:/gpt-4o-mini")  # fmt: skip
    except MlflowException:
        assert ours, "make_judge rejects what we accepted"
    else:
        uses_context = re.search(r"\{\{\s*(trace|conversation)\s*\}\}", instructions)
        assert bool(ours) == bool(uses_context)


# --- expectations -----------------------------------------------------------------------------


def test_correctness_needs_an_expected_response_or_facts() -> None:
    correctness = spec("correctness")
    assert needed_expectation(correctness) == ("expected_response", "expected_facts")
    check_expectations(
        dataset_of({"expected_response": "Paris"}, {"expected_facts": ["Paris", "France"]}),
        [correctness],
    )
    with pytest.raises(UserInputError) as caught:
        check_expectations(
            dataset_of({"answer": "Paris"}, {"expected_facts": "Paris"}, {"expected_facts": []}),
            [correctness],
        )
    assert caught.value.problems == [
        "datasets/qa.jsonl: line 1: expectations: missing 'expected_response' or "
        "'expected_facts' (needed by scorer 'correctness')",
        "datasets/qa.jsonl: line 2: expectations.expected_facts: expected a non-empty list of "
        "strings (read by scorer 'correctness')",
        "datasets/qa.jsonl: line 3: expectations.expected_facts: expected a non-empty list of "
        "strings (read by scorer 'correctness')",
    ]


def test_expectations_guidelines_needs_guidelines_per_record() -> None:
    scorer = spec("expectations_guidelines")
    check_expectations(
        dataset_of({"guidelines": ["Mention Paris."]}, {"guidelines": "Be short."}), [scorer]
    )
    with pytest.raises(UserInputError) as caught:
        check_expectations(dataset_of({}, {"guidelines": [""]}, {"guidelines": {"a": 1}}), [scorer])
    assert caught.value.problems == [
        "datasets/qa.jsonl: line 1: expectations: missing 'guidelines' "
        "(needed by scorer 'expectations_guidelines')",
        "datasets/qa.jsonl: line 2: expectations.guidelines: expected a non-empty string or "
        "list of strings (read by scorer 'expectations_guidelines')",
        "datasets/qa.jsonl: line 3: expectations.guidelines: expected a non-empty string or "
        "list of strings (read by scorer 'expectations_guidelines')",
    ]


def test_a_judge_reading_expectations_needs_them() -> None:
    reads = spec("judge", "ref", instructions="Does {{ outputs }} match {{expectations}}?",
                 feedback_value_type="bool")  # fmt: skip
    ignores = spec("judge", "tone", instructions="Is {{ outputs }} polite?",
                   feedback_value_type="bool")  # fmt: skip

    check_expectations(dataset_of({}, {}), [ignores, spec("safety"), spec("relevance_to_query")])
    with pytest.raises(UserInputError) as caught:
        check_expectations(dataset_of({"expected_response": "x"}, {}), [reads])
    assert caught.value.problems == [
        "datasets/qa.jsonl: line 2: expectations: missing (needed by scorer 'ref': its "
        "instructions use {{ expectations }})"
    ]


@pytest.mark.robustness(
    area="input",
    case="a dataset expectation key that has a scorer's name (MLflow's result table would "
    "overwrite the score with the expectation)",
    behaviour="input error naming the record, the key and the scorer",
)
def test_an_expectation_named_like_a_scorer_is_refused() -> None:
    with pytest.raises(UserInputError) as caught:
        check_expectations(
            dataset_of({"expected_response": "a"}, {"guidelines": ["x"], "expected_response": "b"}),
            [spec("guidelines", guidelines=["Be short."]), spec("exact_match")],
        )
    assert caught.value.problems == [
        "datasets/qa.jsonl: line 2: expectations.guidelines: has the name of scorer "
        "'guidelines', and MLflow would mix the two up in its results (rename the scorer with "
        "'name:')"
    ]


# --- pre-flight: judge keys -------------------------------------------------------------------


def judge_spec(kind: str = "correctness", base_url: str | None = None) -> ScorerSpec:
    return ScorerSpec(type=kind, name=kind, judge=JudgeModel(base_url=base_url))


def test_a_judge_on_openai_needs_a_key_before_any_call() -> None:
    problems = preflight([judge_spec()], environ={}, repo_root=None)
    assert problems == [
        "scorer 'correctness': no API key for judge model 'gpt-4o-mini' at "
        "https://api.openai.com/v1: set OPENAI_API_KEY (in the Action, pass it through `env:` "
        "from a secret), or set defaults.judge.base_url, the scorer's model.base_url or "
        "OPENAI_BASE_URL to an OpenAI-compatible server that needs no key"
    ]
    assert preflight([judge_spec()], environ={"OPENAI_API_KEY": "sk-x"}, repo_root=None) == []


def test_a_judge_on_a_custom_endpoint_needs_no_key() -> None:
    local = judge_spec(base_url="http://127.0.0.1:11434/v1")
    assert preflight([local], environ={}, repo_root=None) == []
    via_env = {"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}
    assert preflight([judge_spec("safety")], environ=via_env, repo_root=None) == []


def test_preflight_does_not_touch_the_process_environment() -> None:
    before = dict(os.environ)
    preflight([judge_spec(base_url="http://127.0.0.1:1/v1")], environ={}, repo_root=None)
    assert dict(os.environ) == before


# --- python scorers: imports from a real folder -----------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return root


def python_spec(function: str, name: str = "custom") -> ScorerSpec:
    return ScorerSpec(type="python", name=name, options={"function": function})


def module(repo: Path, source: str, package: str | None = None) -> str:
    """Write a uniquely named module (sys.modules is per process) and return its dotted name."""
    name = f"checks_{uuid.uuid4().hex[:10]}"
    folder = repo / package if package else repo
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return f"{package.replace('/', '.')}.{name}" if package else name


def load_problems(repo: Path, function: str) -> list[str]:
    return preflight([python_spec(function)], environ={}, repo_root=repo)


def test_a_python_scorer_is_imported_from_the_repository(repo: Path) -> None:
    pytest.importorskip("mlflow")
    name = module(repo, """
        from mlflow.genai.scorers import scorer

        @scorer
        def short(outputs, expectations):
            return len(outputs) <= expectations.get("max", 5)

        def ratio(inputs, outputs):
            return len(outputs) / len(inputs["q"])

        @scorer
        def label(outputs):
            return "formal" if outputs.istitle() else "casual"
    """, package="lib/checks")  # fmt: skip
    scoring = Scoring(repo_root=repo)
    short, ratio, label = scoring.build(
        [python_spec(f"{name}:short", "short"), python_spec(f"{name}:ratio", "ratio"),
         python_spec(f"{name}:label", "label")]
    )  # fmt: skip

    assert short.score({}, "Paris", {"max": 5}) == ScoreValue(value=1.0)
    assert short.score({}, "Paris!", {}) == ScoreValue(value=0.0)
    assert ratio.score({"q": "abcd"}, "ab", {}) == ScoreValue(value=0.5)  # a plain function
    assert label.score({}, "Hello World", {}) == ScoreValue(label="formal")
    assert not short.is_judge
    assert scoring.pin([python_spec(f"{name}:short")])[0].source_digest is not None


def test_editing_a_python_scorer_changes_its_pinned_digest(repo: Path) -> None:
    name = module(repo, "def f(outputs):\n    return 1\n")
    scoring = Scoring(repo_root=repo)
    before = scoring.pin([python_spec(f"{name}:f")])[0].identity()
    (repo / f"{name}.py").write_text("def f(outputs):\n    return 0\n", encoding="utf-8")
    assert scoring.pin([python_spec(f"{name}:f")])[0].identity() != before


def test_a_python_scorer_that_raises_is_an_error_on_the_example(repo: Path) -> None:
    pytest.importorskip("mlflow")
    name = module(repo, """
        def strict(outputs):
            raise ValueError("no verdict for " + outputs)

        def nothing(outputs):
            return None

        def listy(outputs):
            return [1, 2]
    """)  # fmt: skip
    strict, nothing, listy = Scoring(repo_root=repo).build(
        [python_spec(f"{name}:{f}", f) for f in ("strict", "nothing", "listy")]
    )

    assert strict.score({}, "Paris", {}) == ScoreValue(
        error=f"python scorer 'strict' ({name}:strict) raised ValueError: no verdict for Paris"
    )
    assert nothing.score({}, "Paris", {}) == ScoreValue(
        error=f"python scorer 'nothing' ({name}:nothing): the scorer returned no value"
    )
    error = listy.score({}, "Paris", {}).error
    assert error is not None and error.startswith(f"python scorer 'listy' ({name}:listy) raised")
    assert "must return one of int, float, bool, str, Feedback" in error


@pytest.mark.robustness(
    area="input",
    case="a python scorer that cannot be imported: module missing, attribute missing, not "
    "callable, wrong parameters, raising (or sys.exit) at import, shadowed by an installed "
    "module",
    behaviour="input error from the pre-flight check naming the scorer, the module file and "
    "what was expected",
)
def test_every_way_an_import_can_fail_is_named(repo: Path) -> None:
    pytest.importorskip("mlflow")
    where = "scorer 'custom' (function {f!r})"
    expected = "expected an MLflow @scorer (or a function) whose parameters are among inputs, "
    expected += "outputs, expectations"

    missing = "nowhere.checks:f"
    assert load_problems(repo, missing) == [
        where.format(f=missing) + ": module 'nowhere.checks' not found in the repository "
        "(expected nowhere/checks.py or nowhere/checks/__init__.py under the repository root)"
    ]
    name = module(repo, "from mlflow.genai.scorers import scorer\n\n"
                  "@scorer\ndef polite(outputs):\n    return True\n\nLIMIT = 3\n")  # fmt: skip
    assert load_problems(repo, f"{name}:polit") == [
        where.format(f=f"{name}:polit")
        + f": {name}.py has no 'polit' (its scorers: polite); "
        + expected
    ]
    assert load_problems(repo, f"{name}:LIMIT") == [
        where.format(f=f"{name}:LIMIT") + f": {name}:LIMIT is a int, not a function; " + expected
    ]
    wrong = module(repo, "def f(output):\n    return 1\n\ndef g(trace):\n    return 1\n"
                   "def h(outputs, *args):\n    return 1\n")  # fmt: skip
    assert load_problems(repo, f"{wrong}:f") == [
        where.format(f=f"{wrong}:f") + f": {wrong}:f: unknown parameter 'output'; " + expected
    ]
    assert load_problems(repo, f"{wrong}:g") == [
        where.format(f=f"{wrong}:g") + f": {wrong}:g: parameter 'trace' is not supported: "
        "prompt-review scores one output at a time, without a trace or a session; " + expected
    ]
    assert load_problems(repo, f"{wrong}:h") == [
        where.format(f=f"{wrong}:h") + f": {wrong}:h: *args is not supported (MLflow passes "
        "keyword arguments); " + expected
    ]
    raising = module(repo, "import json\nraise RuntimeError('needs a GPU')\n")
    assert load_problems(repo, f"{raising}:f") == [
        where.format(f=f"{raising}:f") + f": importing {raising!r} ({raising}.py) raised "
        "RuntimeError: needs a GPU"
    ]
    exiting = module(repo, "import sys\nsys.exit(4)\n")
    assert load_problems(repo, f"{exiting}:f") == [
        where.format(f=f"{exiting}:f") + f": importing {exiting!r} ({exiting}.py) raised "
        "SystemExit: 4"
    ]
    broken_dependency = module(repo, "import not_installed_anywhere_xyz\n")
    assert load_problems(repo, f"{broken_dependency}:f") == [
        where.format(f=f"{broken_dependency}:f") + f": importing {broken_dependency!r} "
        f"({broken_dependency}.py) raised ModuleNotFoundError: No module named "
        "'not_installed_anywhere_xyz'"
    ]
    (repo / "json.py").write_text("def f(outputs):\n    return 1\n", encoding="utf-8")
    (problem,) = load_problems(repo, "json:f")
    assert problem.startswith(where.format(f="json:f") + ": importing 'json' loads ")
    assert problem.endswith(
        "not json.py: another module of that name is installed or already imported; rename "
        "the repository's module"
    )


@pytest.mark.robustness(
    area="files",
    case="a python scorer module that is a symlink to a file outside the repository",
    behaviour="input error naming the module, nothing imported",
)
def test_a_scorer_module_must_be_inside_the_repository(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("raise SystemExit('imported!')\n", encoding="utf-8")
    (repo / "linked.py").symlink_to(outside)

    assert load_problems(repo, "linked:f") == [
        "scorer 'custom' (function 'linked:f'): linked.py does not resolve to a file inside the "
        "repository (a symlink out of it?); a scorer must be a file of the repository"
    ]
    assert preflight([python_spec("m:f")], environ={}, repo_root=None) == [
        "scorer 'custom': a python scorer needs the repository root to import from"
    ]


def test_a_session_scorer_is_refused(repo: Path) -> None:
    pytest.importorskip("mlflow")
    name = module(repo, "from mlflow.genai.scorers import scorer\n\n"
                  "@scorer\ndef chat(session):\n    return 1\n")  # fmt: skip
    (problem,) = load_problems(repo, f"{name}:chat")
    assert "parameter 'session' is not supported" in problem


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "150", "retry-after": "9"}, 0.15),
        ({"retry-after": "3600"}, 30.0),  # capped: the attempts stay bounded and fast
        ({"retry-after": "-1"}, 0.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # a date: back off instead
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    from prompt_review.scorers.transport import _retry_after

    assert _retry_after(headers) == seconds


def test_backoff_is_bounded_and_jittered() -> None:
    from prompt_review.scorers import RetryPolicy

    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    assert 0.375 <= policy.delay(1) <= 0.5
    assert 0.75 <= policy.delay(2) <= 1.0
    assert 6.0 <= policy.delay(10) <= 8.0
