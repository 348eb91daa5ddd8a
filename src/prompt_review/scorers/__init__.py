"""Scorers: deterministic checks, MLflow's LLM judges, custom judges and the user's own
``@scorer`` functions, behind one interface.

``Scoring.build(specs)`` turns configured scorers into ``BuiltScorer`` objects that grade one
example directly (``score``) or run inside ``mlflow.genai.evaluate`` (``mlflow_scorer``);
``from_result_row`` reads them back from ``genai.evaluate``'s result table. Importing this
package does not import MLflow.
"""

from __future__ import annotations

from prompt_review.scorers.built import (
    BuiltScorer,
    Scoring,
    build,
    preflight,
    to_feedback,
    to_mlflow,
)
from prompt_review.scorers.deterministic import score_function
from prompt_review.scorers.expectations import check_expectations, needed_expectation
from prompt_review.scorers.transport import JudgeCounter, RetryPolicy
from prompt_review.scorers.values import ScoreValue, from_result_row, normalize

__all__ = [
    "BuiltScorer",
    "JudgeCounter",
    "RetryPolicy",
    "ScoreValue",
    "Scoring",
    "build",
    "check_expectations",
    "from_result_row",
    "needed_expectation",
    "normalize",
    "preflight",
    "score_function",
    "to_feedback",
    "to_mlflow",
]
