"""Datasets: load JSONL/CSV/YAML in MLflow's record shape, validate, and digest."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from prompt_review.config import stable_hash
from prompt_review.errors import UserInputError

SUFFIXES = (".jsonl", ".csv", ".yaml", ".yml", ".json")
RECORD_KEYS = ("inputs", "expectations", "id", "tags")


@dataclass(frozen=True, kw_only=True)
class Example:
    """One dataset record. ``id`` is given by the user or derived from the inputs (stable)."""

    id: str
    inputs: dict[str, Any]
    expectations: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    location: str = ""


@dataclass(frozen=True, kw_only=True)
class Dataset:
    path: str
    examples: tuple[Example, ...]

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).stem

    @property
    def digest(self) -> str:
        """Changes when any record changes, not when the file is merely reformatted."""
        return stable_hash([[e.id, e.inputs, e.expectations] for e in self.examples])[:16]


def load_dataset(root: Path, relpath: str) -> Dataset:
    path = root / relpath
    suffix = PurePosixPath(relpath).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserInputError(
            f"{relpath}: unsupported dataset format (expected one of {', '.join(SUFFIXES)})"
        )
    if not path.is_file():
        raise UserInputError(f"{relpath}: dataset file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserInputError(f"{relpath}: not UTF-8 text") from None
    raw = list(_records(text, relpath, suffix))
    problems: list[str] = []
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for where, record in raw:
        example = _example(record, where, problems)
        if example is None:
            continue
        if example.id in seen:
            problems.append(f"{where}: duplicate id {example.id!r} (first at {seen[example.id]})")
            continue
        seen[example.id] = where
        examples.append(example)
    if not raw:
        problems.append(f"{relpath}: no examples (expected at least one record)")
    if problems:
        raise UserInputError(problems)
    return Dataset(path=relpath, examples=tuple(examples))


def _records(text: str, relpath: str, suffix: str) -> Iterator[tuple[str, Any]]:
    if suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{relpath}: line {number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserInputError(
                    f"{relpath}: line {number}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from None
    elif suffix == ".csv":
        yield from _csv_records(text, relpath)
    else:
        yield from _document_records(text, relpath, suffix)


def _document_records(text: str, relpath: str, suffix: str) -> Iterator[tuple[str, Any]]:
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{relpath}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}:" if mark else ""
            raise UserInputError(f"{relpath}:{where} invalid YAML: {exc}") from None
    if not isinstance(data, list):
        raise UserInputError(f"{relpath}: expected a list of records, got {type(data).__name__}")
    for index, record in enumerate(data, start=1):
        yield f"{relpath}: record {index}", record


def _csv_records(text: str, relpath: str) -> Iterator[tuple[str, Any]]:
    """Columns ``inputs.X`` / ``expectations.Y`` / ``id``, or JSON objects in ``inputs``."""
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    bad = [
        c
        for c in columns
        if c not in RECORD_KEYS and not c.startswith(("inputs.", "expectations."))
    ]
    if bad:
        raise UserInputError(
            f"{relpath}: line 1: unknown column(s) {', '.join(map(repr, bad))} "
            "(expected 'inputs.NAME', 'expectations.NAME', 'id', or JSON 'inputs'/'expectations')"
        )
    for row in reader:
        number = reader.line_num
        record: dict[str, Any] = {}
        for column, value in row.items():
            if column in ("inputs", "expectations", "tags"):
                try:
                    record[column] = json.loads(value) if value else {}
                except json.JSONDecodeError:
                    raise UserInputError(
                        f"{relpath}: line {number}: column {column!r}: expected a JSON object"
                    ) from None
            elif column == "id":
                if value:
                    record["id"] = value
            else:
                section, _, key = column.partition(".")
                if value != "" or section == "inputs":
                    record.setdefault(section, {})[key] = value
        yield f"{relpath}: line {number}", record


def _example(record: Any, where: str, problems: list[str]) -> Example | None:
    if not isinstance(record, dict):
        problems.append(f"{where}: expected an object with 'inputs', got {type(record).__name__}")
        return None
    unknown = sorted(set(record) - set(RECORD_KEYS))
    if unknown:
        problems.append(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
            "(expected 'inputs', 'expectations', 'id', 'tags')"
        )
    inputs = record.get("inputs")
    if not isinstance(inputs, dict) or not inputs:
        problems.append(f"{where}: inputs: expected a non-empty object of template variables")
        return None
    expectations = record.get("expectations", {})
    if not isinstance(expectations, dict):
        problems.append(f"{where}: expectations: expected an object")
        return None
    example_id = record.get("id")
    if example_id is not None and not isinstance(example_id, str | int):
        problems.append(f"{where}: id: expected a string or number")
        return None
    tags = record.get("tags", {})
    return Example(
        id=str(example_id) if example_id is not None else stable_hash(inputs)[:12],
        inputs=inputs,
        expectations=expectations,
        tags=tags if isinstance(tags, dict) else {},
        location=where,
    )


def check_variables(dataset: Dataset, variables: Sequence[str], prompt_source: str) -> None:
    """Every template variable must be in every record's inputs: checked before any model call."""
    problems = []
    for example in dataset.examples:
        missing = [v for v in variables if v not in example.inputs]
        if missing:
            names = ", ".join(repr(v) for v in missing)
            problems.append(
                f"{example.location}: inputs: missing {names} "
                f"(the template in {prompt_source} uses "
                + ", ".join("{{ " + v + " }}" for v in missing)
                + ")"
            )
    if problems:
        raise UserInputError(problems)
