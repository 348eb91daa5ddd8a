"""The catalogue of hostile inputs and injected faults, kept true by the tests themselves.

Mark each test (or each ``pytest.param``) that tries a bad input or a fault with::

    @pytest.mark.robustness(area="files", case="a prompt file that is a symlink to "
                            "/proc/self/environ", behaviour="input error naming the file, "
                            "exit 2, nothing registered, no model call")

``docs/robustness.md`` is generated from those marks::

    .venv/bin/python -m pytest tests --collect-only -q --no-cov --robustness-doc docs/robustness.md

and ``tests/unit/test_robustness_doc.py`` fails when the document and the marks disagree, so
the document can only say what a test asserts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

AREAS = {
    "files": "Files outside the repository, sizes and YAML bombs",
    "secrets": "Secrets in messages",
    "status": "The required check is never left missing",
    "comment": "Only our own comment",
    "faults": "Faults are errors, never crashes",
    "input": "Bad input is input, not infrastructure",
    "content": "Content in the comment",
}
HEADER = (
    "# Robustness: bad inputs and faults tried, and what prompt-review does\n\n"
    "Generated from the tests marked `robustness` (see `tests/robustness.py`); "
    "`tests/unit/test_robustness_doc.py` fails when this file and the tests disagree. "
    "Regenerate it with\n`.venv/bin/python -m pytest tests --collect-only -q --no-cov "
    "--robustness-doc docs/robustness.md`.\n"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--robustness-doc",
        metavar="PATH",
        help="write the robustness catalogue (docs/robustness.md) from the collected tests",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "robustness(area, case, behaviour): a hostile input or injected fault, "
        "listed in docs/robustness.md",
    )


def render(items: Iterable[pytest.Item]) -> str:
    rows: dict[str, list[tuple[str, str, str]]] = {area: [] for area in AREAS}
    for item in items:
        for mark in item.iter_markers("robustness"):
            area = mark.kwargs["area"]
            if area not in AREAS:
                raise pytest.UsageError(f"{item.nodeid}: unknown robustness area {area!r}")
            test = item.nodeid.split("[")[0]
            row = (_cell(mark.kwargs["case"]), _cell(mark.kwargs["behaviour"]), f"`{test}`")
            if row not in rows[area]:
                rows[area].append(row)
    lines = [HEADER]
    for area, title in AREAS.items():
        if not rows[area]:
            continue
        lines += [f"\n## {title}\n", "| case | observed behaviour | test |", "|---|---|---|"]
        lines += [f"| {case} | {behaviour} | {test} |" for case, behaviour, test in rows[area]]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def pytest_collection_finish(session: pytest.Session) -> None:
    target = session.config.getoption("--robustness-doc")
    if target:
        Path(target).write_text(render(session.items), encoding="utf-8")
