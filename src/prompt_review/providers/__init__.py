"""How a prompt becomes an output. `get_provider` picks the implementation for a ModelConfig.

Importing this package stays cheap: the openai SDK is imported on the first model call.
"""

from __future__ import annotations

from collections.abc import Mapping

from prompt_review.config import ModelConfig
from prompt_review.errors import UserInputError
from prompt_review.providers.base import (
    Completion,
    Message,
    Provider,
    ProviderError,
    ToolCall,
    tool_calls_text,
)
from prompt_review.providers.echo import EchoProvider
from prompt_review.providers.openai import OpenAIProvider
from prompt_review.providers.python import PythonProvider

__all__ = [
    "KNOWN_PROVIDERS",
    "Completion",
    "EchoProvider",
    "Message",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "PythonProvider",
    "ToolCall",
    "get_provider",
    "tool_calls_text",
]

KNOWN_PROVIDERS = ("echo", "openai", "python")


def get_provider(
    model: ModelConfig,
    *,
    environ: Mapping[str, str],
    max_retries: int = 4,
    timeout_seconds: float = 60.0,
    retry_base_delay: float = 0.5,
    search_path: str | None = None,
) -> Provider:
    """Build the provider for ``model``; what would fail every call fails here, before any call.

    ``max_retries``, ``timeout_seconds`` (per attempt) and ``retry_base_delay`` apply to the
    openai provider; ``search_path`` (the repository root) to the python provider.
    """
    if model.provider == "openai":
        provider = OpenAIProvider.from_environ(
            environ,
            max_retries=max_retries,
            timeout_seconds=timeout_seconds,
            retry_base_delay=retry_base_delay,
        )
        provider.check(model)
        return provider
    if model.provider == "echo":
        return EchoProvider()
    if model.provider == "python":
        python_provider = PythonProvider(search_path=search_path)
        python_provider.resolve(model.name)
        return python_provider
    raise UserInputError(
        f"model.provider: unknown provider {model.provider!r}; "
        f"expected one of: {', '.join(KNOWN_PROVIDERS)}"
    )
