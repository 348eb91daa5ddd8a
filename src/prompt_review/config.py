"""`.prompt-review.yml`: schema, defaults and strict validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """How a prompt becomes an output: which provider, which model, which sampling settings."""

    provider: str = "openai"
    name: str = "gpt-4o-mini"
    temperature: float | None = 0.0
    max_tokens: int | None = None
    base_url: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
