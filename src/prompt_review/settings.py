"""Runner environment and action inputs, parsed once into a typed, frozen `Settings`.

This is the only module that reads the runner environment. GitHub passes each action input
``some_name`` as ``INPUT_SOME_NAME`` (upper-cased, spaces turned into underscores), and the
standard ``GITHUB_*`` variables describe the event, the repository and the files the step
may write to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prompt_review.errors import UserInputError

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
DEFAULT_CONFIG = ".prompt-review.yml"

REQUIRED_RUNNER_VARIABLES = (
    "GITHUB_EVENT_NAME",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_WORKSPACE",
)

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
ACCEPTED_BOOLEANS = "true/false, yes/no, 1/0, on/off"


def input_variable(name: str) -> str:
    """The environment variable the runner sets for action input ``name``."""
    return "INPUT_" + name.replace(" ", "_").upper()


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Everything the action needs to know about its run, validated up front."""

    event_name: str
    event_path: Path | None
    repository: str
    sha: str
    ref: str
    workspace: Path
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    run_id: str | None = None
    output_path: Path | None = None
    step_summary_path: Path | None = None
    token: str = field(default="", repr=False)
    config_path: Path = Path(DEFAULT_CONFIG)
    tracking_uri: str | None = None
    fail_on_regression: bool = True
    comment: bool = True
    review_drafts: bool = False
    comment_author: str = ""  # the login our comments carry, when GitHub cannot tell us
    debug: bool = False

    @property
    def run_url(self) -> str | None:
        """Link to this workflow run, for the PR comment and the commit status."""
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Parse the runner environment; raise one `UserInputError` listing every problem.

        ``config_path`` stays as the user wrote it: relative to ``workspace`` (as error
        messages should name it) unless absolute.
        """
        problems: list[str] = []
        env = _Environment(environ, problems)

        missing = [name for name in REQUIRED_RUNNER_VARIABLES if not env.get(name)]
        if missing:
            problems.append(
                "prompt-review action is meant to run inside GitHub Actions; "
                f"missing runner variables: {', '.join(missing)}. "
                "Use `prompt-review review` to run a review locally."
            )

        repository = env.get("GITHUB_REPOSITORY")
        owner, _, name = repository.partition("/")
        if repository and not (owner and name and "/" not in name):
            problems.append(f"GITHUB_REPOSITORY must look like 'owner/name', got {repository!r}.")

        settings = cls(
            event_name=env.get("GITHUB_EVENT_NAME"),
            event_path=env.path("GITHUB_EVENT_PATH"),
            repository=repository,
            sha=env.get("GITHUB_SHA"),
            ref=env.get("GITHUB_REF"),
            workspace=Path(env.get("GITHUB_WORKSPACE") or "."),
            api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            server_url=(env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
            run_id=env.get("GITHUB_RUN_ID") or None,
            output_path=env.path("GITHUB_OUTPUT"),
            step_summary_path=env.path("GITHUB_STEP_SUMMARY"),
            token=env.input("github_token") or env.get("GITHUB_TOKEN"),
            config_path=Path(env.input("config") or DEFAULT_CONFIG),
            tracking_uri=env.input("mlflow_tracking_uri") or env.get("MLFLOW_TRACKING_URI") or None,
            fail_on_regression=env.boolean("fail_on_regression", default=True),
            comment=env.boolean("comment", default=True),
            review_drafts=env.boolean("review_drafts", default=False),
            comment_author=env.input("comment_author"),
            debug=env.get("RUNNER_DEBUG") == "1",
        )
        if problems:
            raise UserInputError(problems)
        return settings


class _Environment:
    """Reads variables, stripping whitespace; records problems instead of raising."""

    def __init__(self, environ: Mapping[str, str], problems: list[str]) -> None:
        self._environ = environ
        self._problems = problems

    def get(self, name: str) -> str:
        return self._environ.get(name, "").strip()

    def path(self, name: str) -> Path | None:
        value = self.get(name)
        return Path(value) if value else None

    def input(self, name: str) -> str:
        return self.get(input_variable(name))

    def boolean(self, name: str, *, default: bool) -> bool:
        raw = self.input(name)
        value = raw.lower()
        if not value:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self._problems.append(
            f"Input '{name}' must be a boolean ({ACCEPTED_BOOLEANS}), got {raw!r}."
        )
        return default
