"""The offline provider: answers with the prompt itself, so a demo runs with no network."""

from __future__ import annotations

from collections.abc import Sequence

from prompt_review.config import ModelConfig
from prompt_review.providers.base import Completion, Message


class EchoProvider:
    """Returns the prompt: one message's content as is, several as ``role: content`` lines."""

    def complete(self, messages: Sequence[Message], model: ModelConfig) -> Completion:
        if len(messages) == 1:
            return Completion(text=messages[0]["content"])
        return Completion(text="\n".join(f"{m['role']}: {m['content']}" for m in messages))

    def __repr__(self) -> str:
        return "EchoProvider()"
