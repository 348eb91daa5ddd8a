"""What a scorer said about one example, in one shape whatever the scorer was.

``yes``/``no`` and booleans become 1/0 and numbers stay as they are, so every numeric
verdict can be averaged and compared; anything else is kept as a label (never a silent
``None``); a failure is an ``error``, never a low score.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TRUE = frozenset({"yes", "true"})
_FALSE = frozenset({"no", "false"})
_LABEL_LIMIT = 200


@dataclass(frozen=True, kw_only=True)
class ScoreValue:
    """Exactly one of ``value`` (a number), ``label`` (not a number) or ``error`` is set."""

    value: float | None = None
    label: str | None = None
    rationale: str | None = None
    error: str | None = None

    @classmethod
    def failure(cls, message: str) -> ScoreValue:
        return cls(error=message)


def normalize(raw: Any, *, rationale: Any = None) -> ScoreValue:
    """A scorer's raw result (bool, number, string, ``Feedback``...) as a ``ScoreValue``."""
    if _is_feedback(raw):
        error = getattr(raw, "error", None)
        if error is not None:
            return ScoreValue.failure(_error_text(error))
        return normalize(raw.value, rationale=raw.rationale)
    why = _text(rationale)
    if type(raw).__module__ == "numpy" and hasattr(raw, "item"):
        raw = raw.item()  # a result frame's numpy.bool_ / numpy.int64
    if isinstance(raw, bool):
        return ScoreValue(value=1.0 if raw else 0.0, rationale=why)
    if isinstance(raw, int | float):
        number = float(raw)
        if math.isnan(number):
            return ScoreValue.failure("the scorer returned NaN (no value)")
        return ScoreValue(value=number, rationale=why)
    if raw is None:
        return ScoreValue.failure("the scorer returned no value")
    if isinstance(raw, str):  # also MLflow's CategoricalRating, a str enum
        word = str(raw).strip()
        if word.casefold() in _TRUE:
            return ScoreValue(value=1.0, rationale=why)
        if word.casefold() in _FALSE:
            return ScoreValue(value=0.0, rationale=why)
        return ScoreValue(label=_shorten(word), rationale=why)
    if isinstance(raw, list) and raw and all(_is_feedback(f) for f in raw):
        return ScoreValue.failure(
            f"the scorer returned {len(raw)} Feedback objects; return one value or one Feedback"
        )
    try:
        shown = json.dumps(raw, sort_keys=True, default=str)
    except ValueError:  # a circular structure
        shown = repr(raw)
    return ScoreValue(label=_shorten(shown), rationale=why)


def from_result_row(row: Mapping[str, Any], name: str) -> ScoreValue:
    """One scorer's cells of a ``genai.evaluate`` result row.

    mlflow 3.17.2 writes ``NAME/value``, ``NAME/rationale`` and ``NAME/error_message``
    (a column only when some row has it; NaN in the rows that do not).
    """
    error = row.get(f"{name}/error_message")
    if not _missing(error):
        return ScoreValue.failure(str(error))
    rationale = row.get(f"{name}/rationale")
    value = row.get(f"{name}/value")
    if _missing(value) and f"{name}/value" not in row:
        return ScoreValue.failure(f"MLflow returned no result for scorer {name!r}")
    return normalize(value, rationale=None if _missing(rationale) else rationale)


def _is_feedback(raw: Any) -> bool:
    if "mlflow.entities" not in sys.modules:  # then nothing can be a Feedback yet
        return False
    from mlflow.entities import Feedback

    return isinstance(raw, Feedback)


def _error_text(error: Any) -> str:
    message = getattr(error, "error_message", None) or getattr(error, "error_code", None)
    return str(message or error)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _shorten(text: str) -> str:
    return text if len(text) <= _LABEL_LIMIT else text[: _LABEL_LIMIT - 1] + "…"
