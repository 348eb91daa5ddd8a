"""Datasets: load JSONL/CSV/YAML in MLflow's record shape, validate, and digest."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from prompt_review import files, schema
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
    suffix = PurePosixPath(relpath).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserInputError(
            f"{relpath}: unsupported dataset format (expected one of {', '.join(SUFFIXES)})"
        )
    text = files.read_text(
        root, relpath, kind="dataset file", limit=files.MAX_DATASET_BYTES, encoding="utf-8-sig"
    )
    raw = list(_records(text, relpath, suffix))
    problems: list[str] = []
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for where, record in raw:
        example = _example(record, where, problems)
        if example is None:
            continue
        if example.id in seen:
            if isinstance(record, dict) and record.get("id") is not None:
                problems.append(
                    f"{where}: duplicate id {example.id!r} (first at {seen[example.id]})"
                )
            else:
                problems.append(
                    f"{where}: same inputs as {seen[example.id]} "
                    "(expected each record to have distinct inputs or its own 'id')"
                )
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
            except RecursionError:
                raise UserInputError(f"{relpath}: line {number}: nested too deeply") from None
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
        except RecursionError:
            raise UserInputError(f"{relpath}: invalid JSON: nested too deeply") from None
    else:
        data = files.load_yaml(text, relpath)
    if data is None:
        return
    if not isinstance(data, list):
        raise UserInputError(f"{relpath}: expected a list of records, got {schema.describe(data)}")
    for index, record in enumerate(data, start=1):
        yield f"{relpath}: record {index}", record


def _csv_records(text: str, relpath: str) -> Iterator[tuple[str, Any]]:
    """Columns ``inputs.X`` / ``expectations.Y`` / ``id``, or JSON objects in ``inputs``."""
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    bad = [
        c
        for c in columns
        if c not in RECORD_KEYS
        and not (c.startswith(("inputs.", "expectations.")) and c.partition(".")[2])
    ]
    if bad:
        raise UserInputError(
            f"{relpath}: line 1: unknown column(s) {', '.join(map(repr, bad))} "
            "(expected 'inputs.NAME', 'expectations.NAME', 'id', or JSON 'inputs'/'expectations')"
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise UserInputError(
            f"{relpath}: line 1: duplicate column(s) {', '.join(map(repr, repeated))} "
            "(expected each column once)"
        )
    for row in reader:
        number = reader.line_num
        if None in row or None in row.values():
            cells = len(columns) + len(row.get(None) or []) - list(row.values()).count(None)
            raise UserInputError(
                f"{relpath}: line {number}: expected {len(columns)} field(s) like the header, "
                f"got {cells}"
            )
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
        problems.append(f"{where}: expected an object with 'inputs', got {schema.describe(record)}")
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
    if not isinstance(tags, dict):
        problems.append(f"{where}: tags: expected an object, got {schema.describe(tags)}")
        return None
    return Example(
        id=str(example_id) if example_id is not None else stable_hash(inputs)[:12],
        inputs=inputs,
        expectations=expectations,
        tags=tags,
        location=where,
    )


def _has_path(inputs: dict[str, Any], path: str) -> bool:
    """``a.b`` needs ``inputs["a"]["b"]``: MLflow's dotted placeholders reach into objects."""
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def check_variables(dataset: Dataset, variables: Sequence[str], prompt_source: str) -> None:
    """Every template variable must be in every record's inputs: checked before any model call."""
    problems = []
    for example in dataset.examples:
        missing = [v for v in variables if not _has_path(example.inputs, v)]
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
