"""The JSON Schema of `.prompt-review.yml` and of a prompt file's overrides.

One schema serves two readers: `prompt-review schema` publishes it for editors, and
`schema.check` validates user files against it (``config.py`` builds the typed config).
"""

from __future__ import annotations

from typing import Any

from prompt_review.scorer_config import JUDGE_SCHEMA, SCORER_SCHEMA

_NUMBER = {"type": "number"}
_STRING = {"type": "string", "minLength": 1}

MODEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Which model turns the prompt into an output.",
    "additionalProperties": False,
    "properties": {
        "provider": {
            "type": "string",
            "enum": ["openai", "echo", "python"],
            "description": "openai: any OpenAI-compatible server; echo: offline demo; "
            "python: a 'module:function' entry point.",
        },
        "name": {**_STRING, "description": "Model name, or 'module:function' for python."},
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "max_tokens": {"type": ["integer", "null"], "minimum": 1},
        "base_url": {"type": ["string", "null"], "description": "Overrides OPENAI_BASE_URL."},
        "params": {"type": "object", "description": "Extra request parameters (top_p, seed)."},
        "response_format": {
            "type": "object",
            "description": "Structured output: a JSON Schema of an object (as Pydantic's "
            "model_json_schema() writes it), or OpenAI's {type: json_schema, json_schema: "
            "{name, schema, strict}} / {type: json_object}. Registered as the prompt version's "
            "response_format.",
        },
        "tools": {
            "type": "array",
            "minItems": 1,
            "description": "OpenAI tool definitions; a reply with tool calls is scored on the "
            "calls, rendered as JSON [{name, arguments}].",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "function"],
                "properties": {
                    "type": {"type": "string", "enum": ["function"]},
                    "function": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": _STRING,
                            "description": {"type": "string"},
                            "parameters": {"type": "object"},
                            "strict": {"type": "boolean"},
                        },
                    },
                },
            },
        },
        "tool_choice": {
            "oneOf": [
                {"type": "string", "enum": ["none", "auto", "required"]},
                {
                    "type": "object",
                    "description_short": "'none', 'auto', 'required' or "
                    "{type: function, function: {name: NAME}}",
                    "additionalProperties": False,
                    "required": ["type", "function"],
                    "properties": {
                        "type": {"type": "string", "enum": ["function"]},
                        "function": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name"],
                            "properties": {"name": _STRING},
                        },
                    },
                },
            ],
        },
    },
}

GATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "alpha": {
            "type": "number",
            "minimum": 0.0001,
            "maximum": 0.5,
            "description": "Significance level of the paired test (default 0.05).",
        },
        "max_drop": {
            "type": "number",
            "minimum": 0,
            "description": "Drop in a scorer's mean tolerated even when significant.",
        },
        "min_score": {
            "type": "object",
            "additionalProperties": {"type": "number"},
            "description": "Absolute floor per scorer name for the candidate's mean.",
        },
        "max_error_rate": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Fraction of examples whose model call may fail.",
        },
        "required": {
            "type": "array",
            "items": _STRING,
            "description": "Scorers whose drops block (default: all); the others are "
            "informational. Alpha is shared among these through Holm's correction.",
        },
        "non_inferiority": {
            "type": ["number", "null"],
            "minimum": 0.0001,
            "description": "Opt-in: fail unless each required scorer is shown to be at most "
            "this much worse (the upper confidence bound of its drop is below it).",
        },
    },
}

PRICING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Model name -> price per million tokens (USD), for the report's cost.",
    "additionalProperties": {
        "type": "object",
        "description_short": "a mapping with 'input' and 'output' prices per million tokens",
        "additionalProperties": False,
        "required": ["input", "output"],
        "properties": {
            "input": {"type": "number", "minimum": 0, "description": "Per million input."},
            "output": {"type": "number", "minimum": 0, "description": "Per million output."},
        },
    },
}

OVERRIDABLE = {
    "model": MODEL_SCHEMA,
    "dataset": {**_STRING, "description": "Dataset path; '{name}' is the prompt name."},
    "scorers": {"type": "array", "items": SCORER_SCHEMA, "minItems": 1},
    "gate": GATE_SCHEMA,
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "prompt-review configuration (.prompt-review.yml)",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "prompts_dir": {**_STRING, "description": "Where prompt files live (default prompts)."},
        "experiment": {**_STRING, "description": "MLflow experiment for evaluation runs."},
        "alias": {**_STRING, "description": "Registry alias of the baseline (production)."},
        "defaults": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **{k: v for k, v in OVERRIDABLE.items() if k != "gate"},
                "judge": JUDGE_SCHEMA,
            },
        },
        "gate": GATE_SCHEMA,
        "pricing": PRICING_SCHEMA,
        "evaluation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 64},
                "max_retries": {"type": "integer", "minimum": 0, "maximum": 10},
                "timeout_seconds": {"type": "number", "minimum": 1},
                "repeats": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 20,
                    "description": "Samples per example and version (default 1); scores are "
                    "averaged per example before the versions are compared.",
                },
            },
        },
    },
}
