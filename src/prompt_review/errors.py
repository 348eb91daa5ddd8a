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
