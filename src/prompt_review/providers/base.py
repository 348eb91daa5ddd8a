"""What every provider shares: the message shape, the completion it returns, its failure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prompt_review.config import ModelConfig
from prompt_review.errors import InfrastructureError

Message = dict[str, str]
"""One chat message: ``{"role": ..., "content": ...}``."""


@dataclass(frozen=True)
class ToolCall:
    """One function call a model asked for.

    ``arguments`` is the parsed JSON of ``raw_arguments``, or that string itself when the model
    wrote invalid JSON (a quality problem for the scorers to see, not a failed call).
    """

    name: str
    arguments: Any
    raw_arguments: str
    id: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The call as it came, in OpenAI's message shape (for a trace's chat span)."""
        call: dict[str, Any] = {
            "type": "function",
            "function": {"name": self.name, "arguments": self.raw_arguments},
        }
        if self.id is not None:
            call["id"] = self.id
        return call


@dataclass(frozen=True)
class Completion:
    """A model's answer, with what the call cost when the provider reports it.

    ``text`` is what scorers read: the reply's text, or for a reply with tool calls their
    stable JSON rendering (``tool_calls_text``), the calls themselves in ``tool_calls``.
    """

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    attempts: int = 1
    tool_calls: tuple[ToolCall, ...] = ()


def tool_calls_text(calls: Sequence[ToolCall]) -> str:
    """``[{"name": ..., "arguments": {...}}]``, argument keys sorted at every level, so that
    equal calls give equal text whatever order the model wrote the arguments in."""
    rendered = [
        {"name": call.name, "arguments": json.loads(json.dumps(call.arguments, sort_keys=True))}
        for call in calls
    ]
    return json.dumps(rendered, ensure_ascii=False)


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
