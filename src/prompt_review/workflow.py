"""Talking to the Actions runner: workflow commands on stdout and the step's environment files.

Formats follow GitHub's "Workflow commands for GitHub Actions" reference and the encoding
that ``@actions/core`` uses (``command.ts``): ``::name key=value,key=value::message``, where
``%``, CR and LF are percent-encoded in the message and, in property values, ``:`` and ``,``
as well. Every function writes only where it is told to; outside a runner the paths are
``None`` and writing is a no-op.
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TextIO

Level = Literal["error", "warning", "notice"]

_LEVELS = ("error", "warning", "notice")
_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def escape_data(value: str) -> str:
    """Encode a command's message so it stays on one line and round-trips exactly."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Encode a property value: also ``:`` and ``,``, which delimit properties."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", properties: Mapping[str, str] | None = None) -> str:
    """One workflow command line (without the trailing newline)."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in (properties or {}).items())
    head = f"::{name} {props}" if props else f"::{name}"
    return f"{head}::{escape_data(message)}"


def annotation(
    level: Level,
    message: str,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
) -> str:
    """An error/warning/notice line; with ``file`` GitHub also shows it on the PR diff."""
    if level not in _LEVELS:
        raise ValueError(f"annotation level must be one of {', '.join(_LEVELS)}, got {level!r}")
    if line is not None and line < 1:
        raise ValueError(f"annotation line numbers start at 1, got {line}")
    properties: dict[str, str] = {}
    if title is not None:
        properties["title"] = title
    if file is not None:
        properties["file"] = file
    if line is not None:
        properties["line"] = str(line)
    return command(level, message, properties)


def mask(value: str, stream: TextIO | None = None) -> None:
    """Ask the runner to redact ``value`` from the log from now on.

    The runner matches masks within single log lines, so a multi-line secret is registered
    line by line; blank lines are skipped (masking them would redact nothing useful).
    """
    out = stream if stream is not None else sys.stdout
    for part in dict.fromkeys([value, *value.splitlines()]):
        if part.strip():
            out.write(command("add-mask", part) + "\n")
    out.flush()


@contextmanager
def group(title: str, stream: TextIO | None = None) -> Iterator[None]:
    """Fold everything printed inside the block under ``title`` in the log."""
    out = stream if stream is not None else sys.stdout
    out.write(command("group", title) + "\n")
    out.flush()
    try:
        yield
    finally:
        out.write(command("endgroup") + "\n")
        out.flush()


@contextmanager
def commands_stopped(stream: TextIO | None = None) -> Iterator[None]:
    """Print untrusted text (prompt diffs, model outputs) without the runner obeying it.

    Inside the block a line such as ``::add-mask::`` in a model's output is shown, not run.
    """
    out = stream if stream is not None else sys.stdout
    token = secrets.token_hex(16)
    out.write(command("stop-commands", token) + "\n")
    out.flush()
    try:
        yield
    finally:
        out.write(f"::{token}::\n")
        out.flush()


def _random_delimiter() -> str:
    return f"ghadelimiter_{secrets.token_hex(16)}"


def _draw(new_delimiter: Callable[[], str]) -> str:
    delimiter = new_delimiter()
    if not delimiter or "\n" in delimiter or "\r" in delimiter:
        raise ValueError(f"a heredoc delimiter must be one non-empty line, got {delimiter!r}")
    return delimiter


def format_outputs(
    outputs: Mapping[str, str], new_delimiter: Callable[[], str] = _random_delimiter
) -> str:
    """The ``GITHUB_OUTPUT`` text for ``outputs``: one heredoc per value, safe for any text.

    A delimiter found anywhere in its value is drawn again, so no value can end its own
    heredoc early or smuggle in another output.
    """
    chunks = []
    for name, value in outputs.items():
        if not _OUTPUT_NAME.fullmatch(name):
            raise ValueError(f"invalid output name {name!r}: use letters, digits, '_' and '-'")
        delimiter = _draw(new_delimiter)
        while delimiter in value:
            delimiter = _draw(new_delimiter)
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


def write_outputs(
    path: Path | None,
    outputs: Mapping[str, str],
    *,
    new_delimiter: Callable[[], str] = _random_delimiter,
) -> bool:
    """Append step outputs to the ``GITHUB_OUTPUT`` file; ``False`` when not on a runner."""
    text = format_outputs(outputs, new_delimiter)
    if path is None:
        return False
    with path.open("a", encoding="utf-8", newline="\n") as file:
        file.write(text)
    return True


def append_summary(path: Path | None, markdown: str) -> bool:
    """Append Markdown to the job summary; ``False`` when not on a runner.

    GitHub rejects a step summary over 1 MiB, so callers keep reports within that.
    """
    if path is None:
        return False
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    with path.open("a", encoding="utf-8", newline="\n") as file:
        file.write(text)
    return True
