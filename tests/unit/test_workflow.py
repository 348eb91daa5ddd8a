"""Workflow commands and environment files, checked against the runner's own parsing rules."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompt_review import workflow


def parse_env_file(text: str) -> dict[str, str]:
    """Port of actions/runner ``EnvFileKeyValuePairs`` (src/Runner.Worker/FileCommandManager.cs).

    Reads ``NAME=VALUE`` and ``NAME<<DELIMITER`` heredocs the way the Linux runner does, so a
    round trip through it shows what a later step would really see.
    """
    values: dict[str, str] = {}
    index = 0

    def read_line() -> tuple[str | None, str | None]:
        nonlocal index
        if index >= len(text):
            return None, None
        start = index
        lf = text.find("\n", index)
        if lf < 0:
            index = len(text)
            return text[start:], None
        index = lf + 1
        return text[start:lf], "\n"

    line, _ = read_line()
    while line is not None:
        if line:
            equals, heredoc = line.find("="), line.find("<<")
            if equals >= 0 and (heredoc < 0 or equals < heredoc):
                key, value = line.split("=", 1)
            elif heredoc >= 0 and (equals < 0 or heredoc < equals):
                key, delimiter = line.split("<<", 1)
                assert key, f"Invalid format {line!r}"
                assert delimiter, f"Invalid format {line!r}"
                start = end = index
                temp, newline = read_line()
                while temp != delimiter:
                    assert temp is not None, f"Matching delimiter not found {delimiter!r}"
                    assert newline is not None, "EOF marker missing new line."
                    end = index - len(newline)
                    temp, newline = read_line()
                value = text[start:end] if end > start else ""
            else:
                raise AssertionError(f"Invalid format {line!r}")
            values[key] = value
        line, _ = read_line()
    return values


def read_raw(path: Path) -> str:
    """The file as the runner reads it: no newline translation (CR stays CR)."""
    return path.read_bytes().decode("utf-8")


@pytest.fixture
def output_file(tmp_path: Path) -> Path:
    return tmp_path / "set_output_0123"


AWKWARD_VALUES = [
    "passed",
    "",
    "line one\nline two",
    "ends with a newline\n",
    "\n\nleading blank lines",
    '["capital", "summary"]',
    "100% done\r\nwith CRLF",
    "EOF\nname<<EOF\nsmuggled=1\nEOF",
    "ghadelimiter_0000\ncomment_url=https://evil.example",
    "key=value",
    "has << in it",
]


@pytest.mark.parametrize("value", AWKWARD_VALUES)
def test_outputs_round_trip_through_the_runner_parser(output_file: Path, value: str) -> None:
    assert workflow.write_outputs(output_file, {"result": value, "report_path": "r.json"})

    assert parse_env_file(read_raw(output_file)) == {
        "result": value,
        "report_path": "r.json",
    }


def test_outputs_are_appended_after_what_earlier_steps_wrote(output_file: Path) -> None:
    output_file.write_text("earlier=1\n", encoding="utf-8")

    workflow.write_outputs(output_file, {"result": "failed"})
    workflow.write_outputs(output_file, {"comment_url": "https://github.com/o/r/pull/1#c"})

    assert parse_env_file(read_raw(output_file)) == {
        "earlier": "1",
        "result": "failed",
        "comment_url": "https://github.com/o/r/pull/1#c",
    }


def test_a_delimiter_that_occurs_in_the_value_is_drawn_again(output_file: Path) -> None:
    draws: Iterator[str] = iter(["EOF", "EOF", "SAFE"])

    workflow.write_outputs(output_file, {"result": "a\nEOF\nb"}, new_delimiter=lambda: next(draws))

    assert read_raw(output_file) == "result<<SAFE\na\nEOF\nb\nSAFE\n"


def test_random_delimiters_differ_between_values(output_file: Path) -> None:
    workflow.write_outputs(output_file, {"a": "1", "b": "2"})

    headers = [line for line in read_raw(output_file).splitlines() if "<<" in line]
    delimiters = {header.split("<<", 1)[1] for header in headers}
    assert len(delimiters) == 2
    assert all(d.startswith("ghadelimiter_") and len(d) > 30 for d in delimiters)


@pytest.mark.parametrize("delimiter", ["", "two\nlines"])
def test_a_delimiter_must_be_one_non_empty_line(output_file: Path, delimiter: str) -> None:
    with pytest.raises(ValueError, match="heredoc delimiter must be one non-empty line"):
        workflow.write_outputs(output_file, {"result": "x"}, new_delimiter=lambda: delimiter)


@pytest.mark.parametrize("name", ["", "has space", "a=b", "x<<y", "multi\nline", "9lives"])
def test_invalid_output_names_are_rejected_before_anything_is_written(
    output_file: Path, name: str
) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        workflow.write_outputs(output_file, {"result": "passed", name: "x"})

    assert not output_file.exists()


def test_outside_a_runner_writing_outputs_is_a_no_op() -> None:
    assert workflow.write_outputs(None, {"result": "passed"}) is False


def test_summary_is_appended_with_a_trailing_newline(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary_1"

    assert workflow.append_summary(summary, "## Prompt review")
    assert workflow.append_summary(summary, "| a | b |\n")

    assert read_raw(summary) == "## Prompt review\n| a | b |\n"


def test_outside_a_runner_the_summary_is_a_no_op() -> None:
    assert workflow.append_summary(None, "## Prompt review") is False


def test_annotation_escapes_message_and_properties_like_actions_core() -> None:
    line = workflow.annotation(
        "error",
        "score dropped 12%\r\nsee report",
        file="prompts/a:b,c.yaml",
        line=3,
        title="Regression: capital, v2",
    )

    assert line == (
        "::error title=Regression%3A capital%2C v2,file=prompts/a%3Ab%2Cc.yaml,line=3"
        "::score dropped 12%25%0D%0Asee report"
    )


def test_annotation_without_properties() -> None:
    assert workflow.annotation("notice", "no prompt changes") == "::notice::no prompt changes"
    assert workflow.annotation("warning", "a: b, c") == "::warning::a: b, c"


def test_annotation_rejects_unknown_levels_and_bad_lines() -> None:
    with pytest.raises(ValueError, match="annotation level must be one of error, warning, notice"):
        workflow.annotation("debug", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="line numbers start at 1"):
        workflow.annotation("error", "x", file="a.yaml", line=0)


def test_mask_registers_the_value_and_each_of_its_lines() -> None:
    stream = io.StringIO()

    workflow.mask("sk-one\n\nsk-two%", stream)

    assert stream.getvalue() == (
        "::add-mask::sk-one%0A%0Ask-two%25\n::add-mask::sk-one\n::add-mask::sk-two%25\n"
    )


def test_mask_of_a_blank_value_writes_nothing() -> None:
    stream = io.StringIO()

    workflow.mask("  ", stream)

    assert stream.getvalue() == ""


def test_group_is_closed_even_when_the_block_fails() -> None:
    stream = io.StringIO()

    def evaluate() -> None:
        with workflow.group("Evaluate capital\nv2", stream):
            stream.write("working\n")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        evaluate()

    assert stream.getvalue() == "::group::Evaluate capital%0Av2\nworking\n::endgroup::\n"


def test_commands_are_ignored_while_untrusted_text_is_printed() -> None:
    stream = io.StringIO()

    with workflow.commands_stopped(stream):
        stream.write("::add-mask::model output\n")

    first, middle, last = stream.getvalue().splitlines()
    token = first.removeprefix("::stop-commands::")
    assert len(token) == 32
    assert middle == "::add-mask::model output"
    assert last == f"::{token}::"
