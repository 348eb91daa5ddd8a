"""Datasets: JSONL/CSV/YAML/JSON in MLflow's record shape, ids, validation messages, digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompt_review.datasets import Dataset, Example, check_variables, load_dataset
from prompt_review.errors import UserInputError


def write(root: Path, relpath: str, text: str) -> str:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return relpath


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def problems(root: Path, relpath: str, text: str) -> list[str]:
    write(root, relpath, text)
    with pytest.raises(UserInputError) as caught:
        load_dataset(root, relpath)
    return caught.value.problems


FRANCE = {"inputs": {"country": "France"}, "expectations": {"expected_response": "Paris"}}
JAPAN = {"inputs": {"country": "Japan"}, "expectations": {"expected_response": "Tokyo"}}


# --- formats ----------------------------------------------------------------------------------


def test_jsonl_in_mlflow_shape(tmp_path: Path) -> None:
    rel = write(
        tmp_path,
        "datasets/capital.jsonl",
        jsonl(FRANCE, {**JAPAN, "id": "jp", "tags": {"region": "asia"}}),
    )

    dataset = load_dataset(tmp_path, rel)

    assert dataset.path == "datasets/capital.jsonl"
    assert dataset.name == "capital"
    first, second = dataset.examples
    assert first.inputs == {"country": "France"}
    assert first.expectations == {"expected_response": "Paris"}
    assert first.location == "datasets/capital.jsonl: line 1"
    assert len(first.id) == 12
    assert second == Example(
        id="jp",
        inputs={"country": "Japan"},
        expectations={"expected_response": "Tokyo"},
        tags={"region": "asia"},
        location="datasets/capital.jsonl: line 2",
    )


def test_jsonl_blank_lines_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    rel = write(tmp_path, "d.jsonl", "\n" + json.dumps(FRANCE) + "\n   \n" + json.dumps(JAPAN))

    assert [e.location for e in load_dataset(tmp_path, rel).examples] == [
        "d.jsonl: line 2",
        "d.jsonl: line 4",
    ]


def test_expectations_are_optional(tmp_path: Path) -> None:
    rel = write(tmp_path, "d.jsonl", jsonl({"inputs": {"q": "x"}}))

    assert load_dataset(tmp_path, rel).examples[0].expectations == {}


def test_yaml_dataset(tmp_path: Path) -> None:
    rel = write(
        tmp_path,
        "d.yml",
        "- inputs: {country: France}\n"
        "  expectations: {expected_response: Paris}\n"
        "- id: 7\n"
        "  inputs: {country: Japan}\n",
    )

    dataset = load_dataset(tmp_path, rel)

    assert [(e.id, e.inputs, e.location) for e in dataset.examples][1] == (
        "7",
        {"country": "Japan"},
        "d.yml: record 2",
    )
    assert dataset.examples[0].expectations == {"expected_response": "Paris"}


def test_json_dataset(tmp_path: Path) -> None:
    rel = write(tmp_path, "d.json", json.dumps([FRANCE, JAPAN], indent=2))

    dataset = load_dataset(tmp_path, rel)

    assert [e.inputs["country"] for e in dataset.examples] == ["France", "Japan"]
    assert dataset.examples[1].location == "d.json: record 2"


def test_csv_dotted_columns(tmp_path: Path) -> None:
    rel = write(
        tmp_path,
        "d.csv",
        "id,inputs.country,inputs.style,expectations.expected_response\n"
        "fr,France,,Paris\n"
        ",Japan,formal,\n",
    )

    first, second = load_dataset(tmp_path, rel).examples

    assert first == Example(
        id="fr",
        inputs={"country": "France", "style": ""},
        expectations={"expected_response": "Paris"},
        location="d.csv: line 2",
    )
    # an empty input is an empty string; an empty expectation is absent; an empty id derives one
    assert second.inputs == {"country": "Japan", "style": "formal"}
    assert second.expectations == {}
    assert len(second.id) == 12


def test_csv_json_columns(tmp_path: Path) -> None:
    rel = write(
        tmp_path,
        "d.csv",
        "inputs,expectations,tags\n"
        '"{""country"": ""France"", ""n"": 2}","{""expected_response"": ""Paris""}",\n',
    )

    (example,) = load_dataset(tmp_path, rel).examples

    assert example.inputs == {"country": "France", "n": 2}
    assert example.expectations == {"expected_response": "Paris"}
    assert example.tags == {}


def test_csv_quoted_multiline_cell(tmp_path: Path) -> None:
    rel = write(tmp_path, "d.csv", 'inputs.text\n"line one\nline two"\nnext\n')

    dataset = load_dataset(tmp_path, rel)

    assert [e.inputs["text"] for e in dataset.examples] == ["line one\nline two", "next"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes("\ufeffinputs.country\nFrance\n".encode())
    (tmp_path / "d.jsonl").write_bytes(("\ufeff" + json.dumps(FRANCE) + "\n").encode())

    assert load_dataset(tmp_path, "d.csv").examples[0].inputs == {"country": "France"}
    assert load_dataset(tmp_path, "d.jsonl").examples[0].inputs == {"country": "France"}


# --- ids --------------------------------------------------------------------------------------


def test_derived_ids_depend_on_inputs_only_and_survive_reordering(tmp_path: Path) -> None:
    a = write(tmp_path, "a.jsonl", jsonl(FRANCE, JAPAN))
    b = write(tmp_path, "b.jsonl", jsonl(JAPAN, {**FRANCE, "expectations": {"x": 1}}))

    ids_a = {e.inputs["country"]: e.id for e in load_dataset(tmp_path, a).examples}
    ids_b = {e.inputs["country"]: e.id for e in load_dataset(tmp_path, b).examples}

    assert ids_a == ids_b
    assert ids_a["France"] != ids_a["Japan"]


def test_derived_id_is_the_same_across_formats(tmp_path: Path) -> None:
    j = write(tmp_path, "d.jsonl", jsonl({"inputs": {"country": "France"}}))
    c = write(tmp_path, "d.csv", "inputs.country\nFrance\n")

    assert load_dataset(tmp_path, j).examples[0].id == load_dataset(tmp_path, c).examples[0].id


def test_numeric_ids_become_strings(tmp_path: Path) -> None:
    rel = write(tmp_path, "d.jsonl", jsonl({**FRANCE, "id": 1}, {**JAPAN, "id": "2"}))

    assert [e.id for e in load_dataset(tmp_path, rel).examples] == ["1", "2"]


def test_duplicate_ids(tmp_path: Path) -> None:
    text = jsonl({**FRANCE, "id": "a"}, {**JAPAN, "id": "b"}, {**JAPAN, "id": "a"})

    assert problems(tmp_path, "d.jsonl", text) == [
        "d.jsonl: line 3: duplicate id 'a' (first at d.jsonl: line 1)"
    ]


def test_numeric_and_string_ids_collide(tmp_path: Path) -> None:
    text = jsonl({**FRANCE, "id": 1}, {**JAPAN, "id": "1"})

    assert problems(tmp_path, "d.jsonl", text) == [
        "d.jsonl: line 2: duplicate id '1' (first at d.jsonl: line 1)"
    ]


def test_same_inputs_without_ids(tmp_path: Path) -> None:
    text = jsonl(FRANCE, JAPAN, {**FRANCE, "expectations": {"expected_response": "paris"}})

    assert problems(tmp_path, "d.jsonl", text) == [
        "d.jsonl: line 3: same inputs as d.jsonl: line 1 "
        "(expected each record to have distinct inputs or its own 'id')"
    ]


def test_same_inputs_with_distinct_ids_are_fine(tmp_path: Path) -> None:
    rel = write(tmp_path, "d.jsonl", jsonl({**FRANCE, "id": "a"}, {**FRANCE, "id": "b"}))

    assert len(load_dataset(tmp_path, rel).examples) == 2


# --- bad input --------------------------------------------------------------------------------


def test_invalid_json_line_names_the_line(tmp_path: Path) -> None:
    text = json.dumps(FRANCE) + "\n" + '{"inputs": {"country": "Spain"}\n'

    assert problems(tmp_path, "datasets/capital.jsonl", text) == [
        "datasets/capital.jsonl: line 2: invalid JSON: Expecting ',' delimiter (column 32)"
    ]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"expectations": {"expected_response": "Paris"}},
            "inputs: expected a non-empty object of template variables",
        ),
        ({"inputs": {}}, "inputs: expected a non-empty object of template variables"),
        ({"inputs": "France"}, "inputs: expected a non-empty object of template variables"),
        ({"inputs": {"c": 1}, "expectations": "Paris"}, "expectations: expected an object"),
        ({"inputs": {"c": 1}, "id": 1.5}, "id: expected a string or number"),
        ({"inputs": {"c": 1}, "id": None, "tags": "t"}, "tags: expected an object, got 't'"),
        (["France"], "expected an object with 'inputs', got a list"),
        ("France", "expected an object with 'inputs', got 'France'"),
    ],
)
def test_bad_record(tmp_path: Path, record: object, message: str) -> None:
    assert problems(tmp_path, "d.jsonl", jsonl(record)) == [f"d.jsonl: line 1: {message}"]


def test_unknown_keys(tmp_path: Path) -> None:
    record = {"inputs": {"c": 1}, "expected": "x", "outputs": "y"}

    assert problems(tmp_path, "d.jsonl", jsonl(record)) == [
        "d.jsonl: line 1: unknown key(s) 'expected', 'outputs' "
        "(expected 'inputs', 'expectations', 'id', 'tags')"
    ]


def test_problems_from_every_record_are_collected(tmp_path: Path) -> None:
    text = jsonl(FRANCE, {"input": {"c": 1}}, {"inputs": {"c": 2}, "expectations": []}, FRANCE)

    assert problems(tmp_path, "d.jsonl", text) == [
        "d.jsonl: line 2: unknown key(s) 'input' (expected 'inputs', 'expectations', 'id', 'tags')",
        "d.jsonl: line 2: inputs: expected a non-empty object of template variables",
        "d.jsonl: line 3: expectations: expected an object",
        "d.jsonl: line 4: same inputs as d.jsonl: line 1 "
        "(expected each record to have distinct inputs or its own 'id')",
    ]


@pytest.mark.parametrize(
    ("relpath", "text"),
    [
        ("d.jsonl", ""),
        ("d.jsonl", "\n\n  \n"),
        ("d.csv", ""),
        ("d.csv", "inputs.country\n"),
        ("d.yaml", ""),
        ("d.yaml", "# nothing yet\n"),
        ("d.yaml", "[]\n"),
        ("d.json", "[]"),
    ],
)
def test_empty_dataset(tmp_path: Path, relpath: str, text: str) -> None:
    assert problems(tmp_path, relpath, text) == [
        f"{relpath}: no examples (expected at least one record)"
    ]


@pytest.mark.parametrize(
    ("relpath", "text", "message"),
    [
        ("d.yaml", "inputs: {c: 1}\n", "expected a list of records, got a mapping"),
        ("d.json", '"text"', "expected a list of records, got 'text'"),
        ("d.json", "[1,\n", "line 2: invalid JSON: Expecting value"),
        (
            "d.yaml",
            "- inputs: {c: 1\n",
            "line 2, column 1: invalid YAML: expected ',' or '}', but got '<stream end>'",
        ),
        (
            "d.yaml",
            "- inputs: {c: \x07}\n",
            "line 1, column 15: invalid YAML: unacceptable "
            "character #x0007: special characters are not allowed",
        ),
    ],
)
def test_bad_document(tmp_path: Path, relpath: str, text: str, message: str) -> None:
    assert problems(tmp_path, relpath, text) == [f"{relpath}: {message}"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as caught:
        load_dataset(tmp_path, "datasets/capital.jsonl")

    assert caught.value.problems == ["datasets/capital.jsonl: dataset file not found"]


def test_unsupported_format(tmp_path: Path) -> None:
    assert problems(tmp_path, "d.parquet", "x") == [
        "d.parquet: unsupported dataset format (expected one of .jsonl, .csv, .yaml, .yml, .json)"
    ]


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_bytes(b'{"inputs": {"c": "caf\xe9"}}\n')

    with pytest.raises(UserInputError) as caught:
        load_dataset(tmp_path, "d.jsonl")

    assert caught.value.problems == ["d.jsonl: not UTF-8 text"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "inputs.country,expected\nFrance,Paris\n",
            "line 1: unknown column(s) 'expected' (expected 'inputs.NAME', 'expectations.NAME', "
            "'id', or JSON 'inputs'/'expectations')",
        ),
        (
            "country,answer\nFrance,Paris\n",
            "line 1: unknown column(s) 'country', 'answer' (expected 'inputs.NAME', "
            "'expectations.NAME', 'id', or JSON 'inputs'/'expectations')",
        ),
        (
            "inputs.,id\nx,1\n",
            "line 1: unknown column(s) 'inputs.' (expected 'inputs.NAME', 'expectations.NAME', "
            "'id', or JSON 'inputs'/'expectations')",
        ),
        (
            "inputs.country,inputs.country\nFrance,Spain\n",
            "line 1: duplicate column(s) 'inputs.country' (expected each column once)",
        ),
        (
            "inputs.country,expectations.expected_response\nFrance,Paris\nJapan,Tokyo,extra\n",
            "line 3: expected 2 field(s) like the header, got 3",
        ),
        (
            "inputs.country,expectations.expected_response\nFrance\n",
            "line 2: expected 2 field(s) like the header, got 1",
        ),
        (
            'inputs\n"{not json}"\n',
            "line 2: column 'inputs': expected a JSON object",
        ),
        (
            'inputs\n"[1, 2]"\n',
            "line 2: inputs: expected a non-empty object of template variables",
        ),
    ],
)
def test_bad_csv(tmp_path: Path, text: str, message: str) -> None:
    assert problems(tmp_path, "data/set.csv", text) == [f"data/set.csv: {message}"]


# --- digest -----------------------------------------------------------------------------------


def digest(root: Path, relpath: str, text: str) -> str:
    write(root, relpath, text)
    return load_dataset(root, relpath).digest


def test_digest_ignores_formatting(tmp_path: Path) -> None:
    compact = digest(tmp_path, "a.jsonl", jsonl(FRANCE, JAPAN))
    spaced = digest(
        tmp_path,
        "b.jsonl",
        "\n".join(json.dumps(r, indent=None, separators=(" ,  ", " :  ")) for r in (FRANCE, JAPAN))
        + "\n\n\n",
    )
    reordered_keys = digest(
        tmp_path,
        "c.jsonl",
        jsonl(
            *({"expectations": r["expectations"], "inputs": r["inputs"]} for r in (FRANCE, JAPAN))
        ),
    )
    as_yaml = digest(
        tmp_path,
        "d.yaml",
        "- inputs: {country: France}\n  expectations: {expected_response: Paris}\n"
        "- expectations:\n    expected_response: Tokyo\n  inputs:\n    country: Japan\n",
    )

    assert compact == spaced == reordered_keys == as_yaml
    assert len(compact) == 16


def test_digest_ignores_tags(tmp_path: Path) -> None:
    assert digest(tmp_path, "a.jsonl", jsonl(FRANCE)) == digest(
        tmp_path, "b.jsonl", jsonl({**FRANCE, "tags": {"owner": "me"}})
    )


@pytest.mark.parametrize(
    "changed",
    [
        {**JAPAN, "inputs": {"country": "Japan "}},
        {**JAPAN, "expectations": {"expected_response": "Kyoto"}},
        {**JAPAN, "id": "jp"},
        {"inputs": JAPAN["inputs"]},
    ],
)
def test_digest_changes_when_a_record_changes(tmp_path: Path, changed: dict[str, object]) -> None:
    assert digest(tmp_path, "a.jsonl", jsonl(FRANCE, JAPAN)) != digest(
        tmp_path, "b.jsonl", jsonl(FRANCE, changed)
    )


def test_digest_changes_when_a_record_is_added_or_removed(tmp_path: Path) -> None:
    both = digest(tmp_path, "a.jsonl", jsonl(FRANCE, JAPAN))

    assert both != digest(tmp_path, "b.jsonl", jsonl(FRANCE))
    assert both != digest(tmp_path, "c.jsonl", jsonl(FRANCE, JAPAN, {"inputs": {"country": "X"}}))


# --- template variables -----------------------------------------------------------------------


def dataset_of(*records: dict[str, object]) -> Dataset:
    return Dataset(
        path="datasets/capital.jsonl",
        examples=tuple(
            Example(
                id=str(i),
                inputs=dict(r),
                location=f"datasets/capital.jsonl: line {i}",
            )
            for i, r in enumerate(records, start=1)
        ),
    )


def test_check_variables_passes_when_every_record_has_them() -> None:
    check_variables(
        dataset_of({"country": "France", "extra": 1}, {"country": "Japan"}),
        ("country",),
        "prompts/capital.yaml",
    )


def test_check_variables_names_file_line_and_variable() -> None:
    dataset = dataset_of({"country": "France"}, {"nation": "Japan"}, {"city": "x"})

    with pytest.raises(UserInputError) as caught:
        check_variables(dataset, ("country", "style"), "prompts/capital.yaml")

    assert caught.value.problems == [
        "datasets/capital.jsonl: line 1: inputs: missing 'style' "
        "(the template in prompts/capital.yaml uses {{ style }})",
        "datasets/capital.jsonl: line 2: inputs: missing 'country', 'style' "
        "(the template in prompts/capital.yaml uses {{ country }}, {{ style }})",
        "datasets/capital.jsonl: line 3: inputs: missing 'country', 'style' "
        "(the template in prompts/capital.yaml uses {{ country }}, {{ style }})",
    ]


def test_check_variables_on_a_loaded_file(tmp_path: Path) -> None:
    rel = write(tmp_path, "datasets/capital.jsonl", jsonl(FRANCE, {"inputs": {"nation": "x"}}))

    with pytest.raises(UserInputError) as caught:
        check_variables(load_dataset(tmp_path, rel), ("country",), "prompts/capital.yaml")

    assert str(caught.value) == (
        "datasets/capital.jsonl: line 2: inputs: missing 'country' "
        "(the template in prompts/capital.yaml uses {{ country }})"
    )


def test_nested_placeholders_are_checked_to_the_leaf(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(
        '{"inputs": {"q": {"text": "hi"}}}\n{"inputs": {"q": {"lang": "en"}}}\n', encoding="utf-8"
    )
    dataset = load_dataset(tmp_path, "d.jsonl")
    with pytest.raises(UserInputError) as caught:
        check_variables(dataset, ("q.text",), "prompts/p.yaml")
    assert caught.value.problems == [
        "d.jsonl: line 2: inputs: missing 'q.text' "
        "(the template in prompts/p.yaml uses {{ q.text }})"
    ]
