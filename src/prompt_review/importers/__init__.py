"""Convert what people already have into a prompt file and a dataset.

`prompt-review import promptfoo FILE --name NAME` and `prompt-review import prompty FILE
--name NAME` write ``<prompts_dir>/NAME.yaml`` and ``datasets/NAME.jsonl``. What can be
expressed is converted; what cannot is refused with a precise error naming the file, the
test or key, and what to do instead. Nothing is silently dropped: what is not carried over
and does not change the review (an output path, a provider's API key) is listed as a note.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prompt_review.errors import UserInputError

__all__ = ["Conversion", "dump_yaml", "import_file", "read_structured"]


@dataclass
class Conversion:
    """A prompt file's mapping and a dataset's records, ready to be written."""

    prompt: dict[str, Any] | None
    records: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def read_structured(path: Path, shown: str) -> Any:
    """JSON or YAML by suffix; an error names the file."""
    text = read_text(path, shown)
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise UserInputError(f"{shown}: invalid JSON: {exc}") from None
    from prompt_review.files import load_yaml

    return load_yaml(text, shown)  # alias bombs and non-JSON values refused, errors located


def read_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserInputError(f"{shown}: file not found") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{shown}: not UTF-8 text") from None
    except OSError as exc:
        raise UserInputError(f"{shown}: cannot read ({exc.strerror or exc})") from None


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so a converted template reads like the original."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def import_file(
    kind: str,
    source: Path,
    *,
    root: Path,
    config_path: str,
    name: str,
    prompt_index: int | None = None,
    force: bool = False,
) -> list[str]:
    """Convert ``source`` and write the files; returns what was written and the notes."""
    from prompt_review.config import load_config, resolve
    from prompt_review.prompts import NAME_RULE

    if not NAME_RULE.fullmatch(name):
        raise UserInputError(
            f"--name: {name!r} is not a valid registry name (expected letters, digits, '_', "
            "'-' and '.')"
        )
    converters: dict[str, Callable[..., Conversion]] = {
        "promptfoo": _promptfoo,
        "prompty": _prompty,
    }
    conversion = converters[kind](source, prompt_index=prompt_index)
    config = load_config(root, config_path)
    prompt_rel = posixpath.join(config.prompts_dir, f"{name}.yaml")
    dataset_rel = resolve(config, config.dataset.replace("{name}", name))
    if not dataset_rel.endswith(".jsonl"):
        dataset_rel = resolve(config, f"datasets/{name}.jsonl")
        if conversion.prompt is not None:
            conversion.prompt["dataset"] = posixpath.relpath(
                dataset_rel, posixpath.dirname(config.path) or "."
            )
    writes: dict[str, str] = {}
    if conversion.prompt is not None:
        writes[prompt_rel] = f"# Converted from {source.name} by prompt-review import {kind}\n"
        writes[prompt_rel] += dump_yaml(conversion.prompt)
    if conversion.records:
        writes[dataset_rel] = "".join(
            json.dumps(r, ensure_ascii=False) + "\n" for r in conversion.records
        )
    if not writes:
        raise UserInputError(f"{source}: nothing to import (no prompt and no tests)")
    existing = [rel for rel in writes if (root / rel).exists()]
    if existing and not force:
        raise UserInputError(
            [f"{rel}: already exists (pass --force to overwrite it)" for rel in existing]
        )
    for rel, text in writes.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    try:
        _check(
            root,
            config,
            prompt_rel if conversion.prompt is not None else None,
            dataset_rel if conversion.records else None,
        )
    except UserInputError:
        for rel in writes:
            if rel not in existing:
                (root / rel).unlink(missing_ok=True)
        raise
    lines = [f"wrote {rel}" for rel in writes]
    if conversion.prompt is None:
        lines.append(
            f"no prompt in {source.name}: write {prompt_rel} (template: or messages:) to review "
            f"{dataset_rel} with it"
        )
    return lines + [f"note: {note}" for note in conversion.notes]


def _check(root: Path, config: Any, prompt_rel: str | None, dataset_rel: str | None) -> None:
    """Read back what was written with the real loaders: a conversion that would not review
    is refused, not left behind."""
    from prompt_review.datasets import check_variables, load_dataset
    from prompt_review.prompts import load_prompts
    from prompt_review.scorers import check_expectations

    if prompt_rel is None:
        if dataset_rel is not None:
            load_dataset(root, dataset_rel)
        return
    [prompt] = load_prompts(root, config, [prompt_rel])
    if not (root / prompt.dataset).is_file():
        return
    dataset = load_dataset(root, prompt.dataset)
    check_variables(dataset, prompt.variable_paths, prompt.source_path)
    prompt.check_inputs(dataset.examples)
    check_expectations(dataset, prompt.scorers)


def _promptfoo(source: Path, *, prompt_index: int | None) -> Conversion:
    from prompt_review.importers.promptfoo import convert

    return convert(source, prompt_index=prompt_index)


def _prompty(source: Path, *, prompt_index: int | None) -> Conversion:
    from prompt_review.importers.prompty import convert

    if prompt_index is not None:
        raise UserInputError("--prompt-index: a .prompty file holds one prompt")
    return convert(source)
