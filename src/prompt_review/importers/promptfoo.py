"""promptfoo → prompt-review: a ``promptfooconfig.yaml``, or a tests file (CSV, YAML, JSON, JSONL).

Formats as promptfoo reads them (``src/csv.ts``, the config reference): ``vars`` become the
record's ``inputs``; ``assert`` entries become scorers and per-record expectations:

- ``equals`` → ``exact_match`` (``expected_response``)
- ``contains``/``contains-all`` and ``icontains``/``icontains-all`` → ``contains``
  (``expected_substrings``; case-insensitive for the ``i`` forms)
- ``regex`` and ``starts-with`` → ``{type: regex}``, ``is-json`` → ``is_json``
- ``llm-rubric`` → a judge: ``{type: guidelines}`` when every test has the same rubric, else
  ``{type: expectations_guidelines}`` with each record's ``expectations.guidelines``.

prompt-review applies every scorer to every example, so an assertion type must be in every
test (or in ``defaultTest``); anything else is refused with what to write instead.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prompt_review.errors import UserInputError
from prompt_review.importers import Conversion, read_structured, read_text
from prompt_review.importers import promptfoo_asserts as assertion_map

CONFIG_KEYS = {"description", "prompts", "providers", "tests", "defaultTest"}
IGNORED_CONFIG_KEYS = {
    "outputPath": "where promptfoo writes results",
    "sharing": "promptfoo's result sharing",
    "evaluateOptions": "promptfoo's concurrency and repeat (see evaluation.concurrency, "
    "evaluation.repeats)",
    "writeLatestResults": "promptfoo's result store",
    "tags": "promptfoo's suite tags",
    "env": "promptfoo's environment (set OPENAI_API_KEY / OPENAI_BASE_URL instead)",
}
MODEL_KEYS = {"temperature", "max_tokens", "response_format", "tools", "tool_choice"}
SECRET_KEYS = {"apiKey", "apiKeyEnvar", "organization", "headers"}


def convert(source: Path, *, prompt_index: int | None = None) -> Conversion:
    """A config file (a mapping with ``prompts``/``tests``) or a bare tests file."""
    shown = str(source)
    notes: list[str] = []
    problems = assertion_map.Problems()
    if source.suffix.lower() in (".csv", ".jsonl"):
        data: Any = {"tests": f"file://{source.name}"}
        base = source.parent
    else:
        data = read_structured(source, shown)
        base = source.parent
        if isinstance(data, list):
            data = {"tests": data}
    if not isinstance(data, dict):
        raise UserInputError(f"{shown}: expected a promptfoo config (a mapping) or a list of tests")
    for key in data:
        if key in IGNORED_CONFIG_KEYS:
            notes.append(f"{shown}: {key} not imported ({IGNORED_CONFIG_KEYS[key]})")
        elif key not in CONFIG_KEYS:
            problems.add(
                f"{shown}: {key}",
                "not supported by the importer (it changes what promptfoo evaluates); remove it "
                "or convert that part by hand",
            )
    problems.raise_any()
    prompt = _prompt(data.get("prompts"), base, shown, prompt_index)
    if prompt is not None:
        if isinstance(data.get("description"), str):
            prompt["description"] = data["description"]
        model = _model(data.get("providers"), base, shown, notes)
        if model:
            prompt["model"] = model
    default = data.get("defaultTest", {})
    if isinstance(default, str):
        default = _load_file(default, base, f"{shown}: defaultTest")
    if not isinstance(default, dict):
        raise UserInputError(f"{shown}: defaultTest: expected a mapping")
    tests = _tests(data.get("tests"), base, shown)
    records, scorers = _dataset(tests, default, f"{shown}: defaultTest")
    if prompt is not None and scorers:
        prompt["scorers"] = scorers
    elif scorers:
        notes.append(
            "the tests' assertions need these scorers in the prompt file: " + json.dumps(scorers)
        )
    return Conversion(prompt=prompt, records=records, notes=notes)


# --- prompts ----------------------------------------------------------------------------------


def _prompt(raw: Any, base: Path, shown: str, index: int | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    entries = raw if isinstance(raw, list) else [raw]
    found: list[tuple[str, dict[str, Any]]] = []
    for position, entry in enumerate(entries):
        where = f"{shown}: prompts[{position}]"
        label = entry.get("label") if isinstance(entry, dict) else None
        text = entry.get("raw", entry.get("id")) if isinstance(entry, dict) else entry
        if not isinstance(text, str):
            raise UserInputError(f"{where}: expected a string, file:// path or {{raw|id, label}}")
        for number, prompt in enumerate(_prompt_texts(text, base, where)):
            found.append((str(label or f"{where} #{number + 1}"), prompt))
    if not found:
        return None
    if index is None and len(found) > 1:
        listed = "; ".join(f"{n + 1}: {label}" for n, (label, _) in enumerate(found))
        raise UserInputError(
            f"{shown}: prompts: {len(found)} prompts ({listed}); prompt-review reviews one prompt "
            "per file: choose one with --prompt-index N and import the others under other names"
        )
    chosen = index or 1
    if not 1 <= chosen <= len(found):
        raise UserInputError(f"--prompt-index: expected 1 to {len(found)}, got {chosen}")
    return found[chosen - 1][1]


def _prompt_texts(entry: str, base: Path, where: str) -> list[dict[str, Any]]:
    if not entry.startswith("file://"):
        if entry.lstrip().startswith("["):
            try:
                return [_chat(json.loads(entry), where)]
            except ValueError:
                pass
        return [{"template": entry}]
    path_text = entry.removeprefix("file://")
    if any(c in path_text for c in "*?[") or ":" in Path(path_text).name:
        raise UserInputError(
            f"{where}: {entry}: globs and prompt functions are not supported; name one "
            "text or chat JSON/YAML file"
        )
    path = base / path_text
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        return [_chat(read_structured(path, str(path)), f"{where} ({path_text})")]
    if suffix in (".txt", ".md", ".j2", ".jinja", ".njk", ".nunjucks", ".prompt"):
        text = read_text(path, str(path))
        # promptfoo splits a text file into several prompts on lines that are exactly ---
        parts = re.split(r"^---\s*$", text, flags=re.MULTILINE)
        return [{"template": part.strip("\n")} for part in parts if part.strip()]
    raise UserInputError(
        f"{where}: {entry}: {suffix or 'no suffix'} prompts are not supported (expected a text "
        "file, or a JSON/YAML list of {role, content} messages)"
    )


def _chat(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, list) or not data:
        raise UserInputError(f"{where}: expected a list of {{role, content}} messages")
    messages = []
    for position, message in enumerate(data):
        if (
            not isinstance(message, dict)
            or set(message) != {"role", "content"}
            or message["role"] not in ("system", "user", "assistant")
            or not isinstance(message["content"], str)
        ):
            raise UserInputError(
                f"{where}: message {position}: expected exactly {{role: system|user|assistant, "
                "content: text}} (MLflow chat prompts hold text messages only)"
            )
        messages.append({"role": message["role"], "content": message["content"]})
    return {"messages": messages}


# --- providers --------------------------------------------------------------------------------


def _model(raw: Any, base: Path, shown: str, notes: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    entries = raw if isinstance(raw, list) else [raw]
    ids = [
        e if isinstance(e, str) else e.get("id") if isinstance(e, dict) else None for e in entries
    ]
    if len(entries) != 1 or not isinstance(ids[0], str) or not ids[0].startswith("openai:"):
        notes.append(
            f"{shown}: providers {ids} not imported: prompt-review reviews one OpenAI-compatible "
            "model per prompt (set model: in the prompt file or defaults.model; point "
            "OPENAI_BASE_URL at a gateway for other vendors)"
        )
        return {}
    name = ids[0].removeprefix("openai:").removeprefix("chat:")
    model: dict[str, Any] = {"provider": "openai", "name": name}
    options = entries[0].get("config", {}) if isinstance(entries[0], dict) else {}
    params: dict[str, Any] = {}
    for key, value in options.items():
        where = f"{shown}: providers[0].config.{key}"
        if key in SECRET_KEYS:
            notes.append(f"{where} not imported (credentials come from OPENAI_API_KEY)")
        elif key in ("apiBaseUrl", "apiHost"):
            notes.append(f"{where} not imported (set OPENAI_BASE_URL or model.base_url)")
        elif key in MODEL_KEYS:
            loaded = isinstance(value, str) and value.startswith("file://")
            model[key] = _load_file(value, base, where) if loaded else value
        else:
            params[key] = value
    if params:
        model["params"] = params
    return model


# --- tests ------------------------------------------------------------------------------------


def _load_file(reference: str, base: Path, where: str) -> Any:
    if not reference.startswith("file://"):
        raise UserInputError(f"{where}: expected file://PATH, got {reference!r}")
    path = base / reference.removeprefix("file://")
    return read_structured(path, str(path))


def _tests(raw: Any, base: Path, shown: str) -> list[tuple[str, dict[str, Any]]]:
    """(where, test) for every test, files expanded."""
    if raw is None:
        return []
    entries = raw if isinstance(raw, list) else [raw]
    tests: list[tuple[str, dict[str, Any]]] = []
    for position, entry in enumerate(entries):
        if isinstance(entry, dict):
            tests.append((f"{shown}: tests[{position}]", entry))
        elif isinstance(entry, str) and entry.startswith("file://"):
            tests.extend(_tests_file(base / entry.removeprefix("file://"), shown))
        else:
            raise UserInputError(
                f"{shown}: tests[{position}]: expected a test mapping or a file:// path to a "
                f"CSV/YAML/JSON/JSONL file, got {entry!r}"
            )
    return tests


def _tests_file(path: Path, shown: str) -> list[tuple[str, dict[str, Any]]]:
    where = str(path)
    if any(c in path.name for c in "*?["):
        raise UserInputError(f"{shown}: tests: {path.name}: globs are not supported; name a file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_tests(read_text(path, where), where)
    if suffix == ".jsonl":
        tests = []
        for number, line in enumerate(read_text(path, where).splitlines(), start=1):
            if line.strip():
                try:
                    tests.append((f"{where}: line {number}", json.loads(line)))
                except ValueError as exc:
                    raise UserInputError(f"{where}: line {number}: invalid JSON: {exc}") from None
        return tests
    if suffix in (".yaml", ".yml", ".json"):
        data = read_structured(path, where)
        if not isinstance(data, list):
            raise UserInputError(f"{where}: expected a list of tests")
        return [(f"{where}: tests[{n}]", t) for n, t in enumerate(data)]
    raise UserInputError(f"{where}: {suffix or 'no suffix'} test files are not supported")


def _csv_tests(text: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """promptfoo's ``testCaseFromCsvRow``: ``__expected*`` cells are assertions."""
    reader = csv.DictReader(io.StringIO(text))
    tests = []
    for row in reader:
        line = f"{where}: line {reader.line_num}"
        test: dict[str, Any] = {"vars": {}, "assert": [], "metadata": {}}
        for key, cell in row.items():
            if key is None:
                raise UserInputError(f"{line}: more cells than columns in the header")
            value = cell or ""
            if key.startswith("__expected"):
                if value.strip():
                    test["assert"].append(assertion_map.csv_assertion(value))
            elif key == "__description":
                test["description"] = value
            elif key.startswith("__metadata:"):
                test["metadata"][key.removeprefix("__metadata:")] = value
            elif key in ("__threshold", "__prefix", "__suffix", "__providerOutput", "__metric"):
                if value.strip():
                    test["options" if key in ("__prefix", "__suffix") else key[2:]] = value
            elif key.startswith("__"):
                raise UserInputError(f"{line}: column {key}: not a promptfoo column we know")
            else:
                test["vars"][key] = value
        tests.append((line, test))
    return tests


# --- dataset and scorers ----------------------------------------------------------------------


def _dataset(
    tests: list[tuple[str, dict[str, Any]]], default: Mapping[str, Any], default_where: str
) -> tuple[list[dict[str, Any]], list[Any]]:
    problems = assertion_map.Problems()
    assertion_map.check_test(default, default_where, problems)
    rows: list[tuple[str, dict[str, Any], dict[str, list[Any]], dict[str, Any]]] = []
    for where, test in tests:
        if not isinstance(test, dict):
            problems.add(where, "expected a test mapping with vars and assert")
            continue
        assertion_map.check_test(test, where, problems)
        inputs = {**default.get("vars", {}), **(test.get("vars") or {})}
        for key, value in inputs.items():
            if isinstance(value, list):
                problems.add(
                    f"{where}: vars.{key}",
                    "a list: promptfoo runs one test per value; write one test per value",
                )
            elif isinstance(value, str) and value.startswith("file://"):
                problems.add(f"{where}: vars.{key}", "file:// values are not loaded; inline it")
        found: dict[str, list[Any]] = {}
        asserts = [*(default.get("assert") or []), *(test.get("assert") or [])]
        for position, assertion in enumerate(asserts):
            family = assertion_map.family(assertion, f"{where}: assert[{position}]", problems)
            if family is not None:
                found.setdefault(family, []).append(assertion)
        tags = {str(k): v for k, v in (test.get("metadata") or {}).items()}
        if test.get("description"):
            tags["description"] = test["description"]
        rows.append((where, inputs, found, tags))
    problems.raise_any()
    scorers, expectations = assertion_map.scorers(rows, problems)
    problems.raise_any()
    records = []
    seen: dict[str, str] = {}
    for (where, inputs, _, tags), expected in zip(rows, expectations, strict=True):
        record: dict[str, Any] = {"inputs": inputs}
        key = json.dumps(inputs, sort_keys=True)
        if key in seen:
            record["id"] = where.rsplit(": ", 1)[-1]
        seen.setdefault(key, where)
        if expected:
            record["expectations"] = expected
        if tags:
            record["tags"] = tags
        records.append(record)
    return records, scorers
