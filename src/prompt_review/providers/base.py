"""What every provider shares: the message shape, the completion it returns, its failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from prompt_review.config import ModelConfig
from prompt_review.errors import InfrastructureError

Message = dict[str, str]
"""One chat message: ``{"role": ..., "content": ...}``."""


@dataclass(frozen=True)
class Completion:
    """A model's answer, with what the call cost when the provider reports it."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    attempts: int = 1


class Provider(Protocol):
    """Turns rendered messages into an output. Implementations must be thread-safe."""

    def complete(self, messages: Sequence[Message], model: ModelConfig) -> Completion: ...


class ProviderError(InfrastructureError):
    """The model call failed after retries, or with an error that retrying cannot fix.

    The message names the provider, model and endpoint (never a credential), the HTTP
    status when there was one, and what to do about it.
    """

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
