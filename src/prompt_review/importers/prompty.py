"""Prompty → prompt-review: a ``.prompty`` file (YAML front matter, then the template body).

As Prompty's own runtime reads it (``runtime/prompty``: ``utils.parse``, ``PromptyChatParser``):
the body is split into messages on role lines (``system:``, ``user:``, ``assistant:``, case
insensitive, optionally ``# system:``); text before the first role line is a system message.
Prompty renders the body with Jinja2 before splitting it; we split first, so a role line the
template generates (``{{ role }}:``) or a ``{% %}`` block that spans messages is refused.

Front matter: ``model.configuration`` (v1) or ``model.id`` (v2) name the model;
``model.parameters``/``model.options`` carry temperature, max_tokens, response_format, tools;
``sample`` (or the inputs' ``sample``/``default`` values) becomes the dataset's first record.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prompt_review.errors import UserInputError
from prompt_review.files import load_yaml
from prompt_review.importers import Conversion, read_structured, read_text

_FRONT_MATTER = re.compile(r"^\s*(?:---|\+\+\+)(.*?)(?:---|\+\+\+)\s*(.+)$", re.S | re.M)
_ROLE = re.compile(r"(?i)^\s*#?\s*(assistant|function|system|user|tools)(\[.*\])?\s*:\s*$")
_GENERATED_ROLE = re.compile(r"^\s*\{\{.*\}\}\s*:\s*$")
_BLOCK_START = re.compile(r"\{%-?\s*(?:if|for|macro|call|filter|raw)\b")
_BLOCK_END = re.compile(r"\{%-?\s*end(?:if|for|macro|call|filter|raw)\b")
ROLES = ("system", "user", "assistant")
PARAMETERS = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "maxOutputTokens": "max_tokens",
    "response_format": "response_format",
    "responseFormat": "response_format",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "toolChoice": "tool_choice",
}
KNOWN_KEYS = {
    "name", "description", "authors", "metadata", "version", "tags", "model", "sample",
    "inputs", "inputSchema", "outputs", "outputSchema", "template",
}  # fmt: skip


def convert(source: Path) -> Conversion:
    shown = str(source)
    text = read_text(source, shown)
    match = _FRONT_MATTER.search(text)
    first_line = 1
    if match is None:
        front: Any = {}
        body = text
    else:
        first_line = text.count("\n", 0, match.start(2)) + 1
        front = load_yaml(match.group(1), f"{shown}: front matter") or {}
        body = match.group(2)
    if not isinstance(front, dict):
        raise UserInputError(f"{shown}: front matter: expected a mapping")
    problems: list[str] = []
    notes: list[str] = []
    for key in front:
        if key not in KNOWN_KEYS:
            problems.append(
                f"{shown}: {key}: not supported by the importer"
                + (" (Prompty inheritance); inline the base prompt" if key == "base" else "")
            )
    _check_template_format(front.get("template"), shown, problems)
    messages = _messages(body, first_line, shown, problems)
    model = _model(front.get("model"), source.parent, shown, problems, notes)
    if problems:
        raise UserInputError(problems)
    prompt: dict[str, Any] = {}
    description = front.get("description") or front.get("name")
    if isinstance(description, str):
        prompt["description"] = description
    prompt["messages"] = messages
    if model:
        prompt["model"] = model
    sample = _sample(front, source.parent, shown, notes)
    records = [{"inputs": sample}] if sample else []
    if records:
        notes.append(
            "the dataset holds the prompty sample only: add records, and expectations for "
            "your scorers (e.g. expectations.expected_response for exact_match)"
        )
    return Conversion(prompt=prompt, records=records, notes=notes)


def _check_template_format(raw: Any, shown: str, problems: list[str]) -> None:
    kind = raw
    if isinstance(raw, dict):
        fmt = raw.get("format", raw.get("type", "jinja2"))
        kind = fmt.get("kind") if isinstance(fmt, dict) else fmt
    if kind in (None, "jinja2", "jinja"):
        return
    problems.append(
        f"{shown}: template: {kind!r} templates are not supported: MLflow renders Jinja2 and "
        "{{ name }} placeholders only; rewrite the template as Jinja2"
    )


def _messages(body: str, first_line: int, shown: str, problems: list[str]) -> list[dict[str, str]]:
    found_messages: list[tuple[str, str, int]] = []
    role, start = "system", first_line
    lines: list[str] = []

    def flush() -> None:
        content = "\n".join(lines).strip()
        if content:
            found_messages.append((role, content, start))

    for number, line in enumerate(body.splitlines(), start=first_line):
        where = f"{shown}: line {number}"
        if line.strip().startswith("![thread]"):
            problems.append(f"{where}: ![thread] (chat history) is not supported")
            continue
        found = _ROLE.match(line)
        if found is None:
            if _GENERATED_ROLE.match(line):
                problems.append(
                    f"{where}: a role line generated by the template ({line.strip()}): MLflow "
                    "chat prompts have a fixed list of messages; write each message out"
                )
            if re.search(r"!\[[^\]]*\]\(", line):
                problems.append(f"{where}: images are not supported (text messages only)")
            lines.append(line)
            continue
        flush()
        role, start, lines = found.group(1).lower(), number, []
        if role not in ROLES:
            problems.append(
                f"{where}: role {role!r} is not supported (expected {', '.join(ROLES)})"
            )
        if found.group(2):
            problems.append(
                f"{where}: role attributes {found.group(2)} are not supported (MLflow messages "
                "hold role and content only)"
            )
    flush()
    if not found_messages:
        problems.append(f"{shown}: the template body is empty")
    for _, content, first in found_messages:
        opened = len(_BLOCK_START.findall(content))
        if opened != len(_BLOCK_END.findall(content)):
            problems.append(
                f"{shown}: line {first}: a {{% %}} block spans messages (a role line inside it); "
                "MLflow renders each message on its own: keep every block inside one message"
            )
    return [{"role": r, "content": c} for r, c, _ in found_messages]


def _model(
    raw: Any, base: Path, shown: str, problems: list[str], notes: list[str]
) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        return {"name": raw}
    if not isinstance(raw, dict):
        problems.append(f"{shown}: model: expected a mapping or a model name")
        return {}
    api = raw.get("api", raw.get("apiType", "chat"))
    if api != "chat":
        problems.append(f"{shown}: model.api: {api!r} is not supported (chat prompts only)")
    configuration = raw.get("configuration") or raw.get("connection") or {}
    name = raw.get("id") or (
        configuration.get("azure_deployment") or configuration.get("name")
        if isinstance(configuration, dict)
        else None
    )
    model: dict[str, Any] = {}
    if isinstance(name, str) and name:
        model["name"] = name
    if configuration:
        notes.append(
            f"{shown}: model.configuration/connection not imported (endpoints and keys come from "
            "OPENAI_BASE_URL / OPENAI_API_KEY or model.base_url)"
        )
    settings = raw.get("parameters") or raw.get("options") or {}
    if not isinstance(settings, dict):
        problems.append(f"{shown}: model.parameters: expected a mapping")
        return model
    params: dict[str, Any] = {}
    for key, raw_value in settings.items():
        where = f"{shown}: model.parameters.{key}"
        value = _reference(raw_value, base, where, problems)
        if key in PARAMETERS:
            model[PARAMETERS[key]] = value
        elif key == "topP":
            params["top_p"] = value
        else:
            params[key] = value
    if params:
        model["params"] = params
    return model


def _reference(value: Any, base: Path, where: str, problems: list[str]) -> Any:
    """``${file:x.json}`` loads a file next to the .prompty; ``${env:X}`` is refused."""
    if not isinstance(value, str) or not value.startswith("${"):
        return value
    if value.startswith("${file:") and value.endswith("}"):
        path = base / value[len("${file:") : -1]
        return read_structured(path, str(path))
    problems.append(f"{where}: {value}: environment references are not supported here")
    return None


def _sample(front: dict[str, Any], base: Path, shown: str, notes: list[str]) -> dict[str, Any]:
    sample = front.get("sample")
    if isinstance(sample, str) and sample.startswith("${file:"):
        path = base / sample[len("${file:") : -1]
        sample = read_structured(path, str(path))
    if isinstance(sample, dict):
        return sample
    values: dict[str, Any] = {}
    inputs = front.get("inputs") or {}
    defaults = []
    if isinstance(inputs, dict):
        for key, spec in inputs.items():
            if isinstance(spec, dict):
                if "sample" in spec or "default" in spec:
                    values[key] = spec.get("sample", spec.get("default"))
                if "default" in spec:
                    defaults.append(key)
            else:
                values[key] = spec
    schema = front.get("inputSchema")
    if isinstance(schema, dict) and isinstance(schema.get("properties"), list):
        for spec in schema["properties"]:
            if isinstance(spec, dict) and "name" in spec and "default" in spec:
                values[spec["name"]] = spec["default"]
                defaults.append(spec["name"])
    if defaults:
        notes.append(
            f"{shown}: input defaults ({', '.join(defaults)}) are not applied by MLflow's "
            "format(): every dataset record must give these inputs"
        )
    return values
