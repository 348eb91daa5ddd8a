"""LLM judges: MLflow's built-in ones and custom ``make_judge`` judges, on any
OpenAI-compatible endpoint.

The judge objects are MLflow's own (prompts, ``{result, rationale}`` schema, parsing);
where their requests go, with which key, and how failures are retried is ours (see
``transport``). The endpoint is the scorer's ``model.base_url``, else ``defaults.judge``'s,
else ``OPENAI_BASE_URL``, else OpenAI; a custom endpoint needs no API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prompt_review.errors import UserInputError
from prompt_review.providers.openai import DEFAULT_BASE_URL, PLACEHOLDER_API_KEY
from prompt_review.scorer_config import JudgeModel, ScorerSpec
from prompt_review.scorers.transport import Endpoint
from prompt_review.tracking import strip_credentials

_VALUE_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}


def endpoint(spec: ScorerSpec, environ: Mapping[str, str]) -> Endpoint:
    """Where ``spec``'s judge model is served; UserInputError when no call could succeed."""
    model = spec.judge or JudgeModel()
    custom = model.base_url or environ.get("OPENAI_BASE_URL") or None
    key = environ.get("OPENAI_API_KEY") or None
    if key:
        return Endpoint(base_url=custom or DEFAULT_BASE_URL, api_key=key)
    if custom:
        return Endpoint(base_url=custom, api_key=PLACEHOLDER_API_KEY)
    raise UserInputError(
        f"scorer {spec.name!r}: no API key for judge model {model.name!r} at "
        f"{DEFAULT_BASE_URL}: set OPENAI_API_KEY (in the Action, pass it through `env:` from "
        "a secret), or set defaults.judge.base_url, the scorer's model.base_url or "
        "OPENAI_BASE_URL to an OpenAI-compatible server that needs no key"
    )


def describe(spec: ScorerSpec, where: Endpoint) -> str:
    """``judge 'tone' (openai:/gpt-4o-mini at http://host/v1)``, credentials stripped."""
    model = spec.judge or JudgeModel()
    return f"judge {spec.name!r} ({model.uri} at {strip_credentials(where.base_url)})"


def make(spec: ScorerSpec) -> Any:
    """The MLflow judge object for ``spec`` (imports MLflow)."""
    from mlflow.genai import scorers as mlflow_scorers

    scorers: Any = mlflow_scorers  # some of its classes are untyped
    model = (spec.judge or JudgeModel()).uri
    if spec.type == "correctness":
        return scorers.Correctness(name=spec.name, model=model)
    if spec.type == "relevance_to_query":
        return scorers.RelevanceToQuery(name=spec.name, model=model)
    if spec.type == "safety":
        return scorers.Safety(name=spec.name, model=model)
    if spec.type == "guidelines":
        return scorers.Guidelines(
            name=spec.name, guidelines=list(spec.options["guidelines"]), model=model
        )
    if spec.type == "expectations_guidelines":
        return scorers.ExpectationsGuidelines(name=spec.name, model=model)
    if spec.type == "judge":
        from mlflow.genai.judges import make_judge

        return make_judge(
            name=spec.name,
            instructions=str(spec.options["instructions"]),
            feedback_value_type=_VALUE_TYPES[str(spec.options["feedback_value_type"])],
            model=model,
        )
    raise UserInputError(f"scorer {spec.name!r}: {spec.type!r} is not a judge")
