"""One action run's wiring: settings, environment, its publisher, and the clients it builds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from prompt_review.action.publish import Publisher
from prompt_review.config import Config, load_config
from prompt_review.errors import UserInputError
from prompt_review.settings import DEFAULT_CONFIG, Settings

if TYPE_CHECKING:
    from prompt_review.github import GitHub
    from prompt_review.review import Reviewer


class Run:
    """Carries what every job needs; builds the GitHub client once, when first asked."""

    def __init__(
        self, settings: Settings, environ: Mapping[str, str], publisher: Publisher
    ) -> None:
        self.settings = settings
        self.environ = environ
        self.publisher = publisher
        self._github: GitHub | None = None

    def github(self) -> GitHub:
        from prompt_review.github import GitHub

        if self._github is None:
            settings = self.settings
            if not settings.token:
                raise UserInputError(
                    "no GitHub token: set the `github_token` input (its default is "
                    "`${{ github.token }}`) or GITHUB_TOKEN"
                )
            self._github = GitHub(
                token=settings.token,
                repository=settings.repository,
                api_url=settings.api_url,
                login=settings.comment_author or None,
            )
        return self._github

    def config(self) -> Config:
        """The repository's config (a path given explicitly must exist)."""
        settings = self.settings
        explicit = str(settings.config_path) != DEFAULT_CONFIG
        return load_config(settings.workspace, str(settings.config_path), required=explicit)

    def reviewer(self, config: Config) -> Reviewer:
        from prompt_review.local import build_reviewer

        settings = self.settings
        return build_reviewer(
            settings.workspace,
            config,
            settings.tracking_uri,
            self.publisher.say,
            environ=self.environ,
        )


def now() -> str:
    from prompt_review.promote import now_iso

    return now_iso()
