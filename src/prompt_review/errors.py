"""Domain errors. Each carries a message a user can act on: where, what, expected."""

from __future__ import annotations


class PromptReviewError(Exception):
    """Base class for every error the CLI reports without a traceback."""

    exit_code = 2


class UserInputError(PromptReviewError):
    """Bad configuration, prompt or dataset file: the user must fix an input.

    ``problems`` lists every problem found, each already naming its file and key or row.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class InfrastructureError(PromptReviewError):
    """A service we depend on (MLflow, GitHub, the LLM provider) failed after retries."""

    exit_code = 3


CAUSE_CHARS = 2000


def cause(exc: BaseException) -> str:
    """What went wrong, whole and on one line: the message, else the exception's type.

    A very long message keeps its head and its tail, where the reason (``Connection
    refused``) usually is; nothing is cut in the middle of a URL at a fixed width.
    """
    message = " ".join(str(exc).split()) or type(exc).__name__
    if len(message) <= CAUSE_CHARS:
        return message
    half = (CAUSE_CHARS - 3) // 2
    return f"{message[:half]} … {message[-half:]}"
