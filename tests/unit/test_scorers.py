"""Built-in deterministic scorers and the expectation check that runs before any model call."""

from __future__ import annotations

from typing import Any

import pytest

from prompt_review.config import ScorerSpec
from prompt_review.datasets import Dataset, Example
from prompt_review.errors import UserInputError
from prompt_review.scorers import check_expectations, needed_expectation, score_function


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


# --- MLflow wrapping (imports MLflow) ---------------------------------------------------------


def test_to_mlflow_wraps_each_rule_under_its_name() -> None:
    pytest.importorskip("mlflow")
    from prompt_review.scorers import to_mlflow

    strict, short = to_mlflow([spec("exact_match", name="strict"), spec("max_length", max=3)])

    assert (strict.name, short.name) == ("strict", "max_length")
    assert strict(outputs=" Paris ", expectations={"expected_response": "Paris"}) is True
    assert strict(outputs="Lyon", expectations={"expected_response": "Paris"}) is False
    assert short(outputs="abcd") is False
    assert short(outputs=None) is True  # no output scores as the empty string
    assert short(outputs=12) is True  # non-string outputs are scored as their str()


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
