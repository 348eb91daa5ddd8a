"""Settings.from_environ: the runner environment and action inputs, parsed once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from prompt_review.errors import UserInputError
from prompt_review.settings import Settings, input_variable

TOKEN = "ghs_secretsecretsecret"


def runner_env(**overrides: str) -> dict[str, str]:
    """What a GitHub-hosted runner sets for a pull_request run of this action."""
    env = {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_REPOSITORY": "octo-org/qa-bot",
        "GITHUB_SHA": "ffac537e6cbbf934b08745a378932722df287a53",
        "GITHUB_REF": "refs/pull/7/merge",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "1658821493",
        "GITHUB_OUTPUT": "/github/file_commands/set_output_1",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/step_summary_1",
        "INPUT_GITHUB_TOKEN": TOKEN,
        "INPUT_CONFIG": ".prompt-review.yml",
        "INPUT_MLFLOW_TRACKING_URI": "",
        "INPUT_FAIL_ON_REGRESSION": "true",
        "INPUT_COMMENT": "true",
        "INPUT_REVIEW_DRAFTS": "false",
    }
    env.update(overrides)
    return env


def test_runner_environment_is_parsed_into_typed_fields() -> None:
    settings = Settings.from_environ(runner_env())

    assert settings == Settings(
        event_name="pull_request",
        event_path=Path("/github/workflow/event.json"),
        repository="octo-org/qa-bot",
        sha="ffac537e6cbbf934b08745a378932722df287a53",
        ref="refs/pull/7/merge",
        workspace=Path("/github/workspace"),
        api_url="https://api.github.com",
        server_url="https://github.com",
        run_id="1658821493",
        output_path=Path("/github/file_commands/set_output_1"),
        step_summary_path=Path("/github/file_commands/step_summary_1"),
        token=TOKEN,
        config_path=Path(".prompt-review.yml"),
        tracking_uri=None,
        fail_on_regression=True,
        comment=True,
        review_drafts=False,
        debug=False,
    )


def test_token_never_appears_in_repr() -> None:
    settings = Settings.from_environ(runner_env())

    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)
    assert settings.token == TOKEN


def test_settings_are_frozen_and_keyword_only() -> None:
    settings = Settings.from_environ(runner_env())

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.comment = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        Settings("push", None, "o/r", "sha", "refs/heads/main", Path())  # type: ignore[call-arg]


def test_defaults_apply_when_optional_variables_are_absent() -> None:
    env = {
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REPOSITORY": "octo-org/qa-bot",
        "GITHUB_SHA": "abc123",
        "GITHUB_WORKSPACE": "/work",
    }

    settings = Settings.from_environ(env)

    assert settings.api_url == "https://api.github.com"
    assert settings.server_url == "https://github.com"
    assert settings.event_path is None
    assert settings.ref == ""
    assert settings.run_id is None
    assert settings.run_url is None
    assert settings.output_path is None
    assert settings.step_summary_path is None
    assert settings.token == ""
    assert settings.config_path == Path(".prompt-review.yml")
    assert settings.tracking_uri is None
    assert (settings.fail_on_regression, settings.comment, settings.review_drafts) == (
        True,
        True,
        False,
    )


def test_github_enterprise_server_urls_are_used_as_given() -> None:
    env = runner_env(
        GITHUB_API_URL="https://ghe.example.com/api/v3/",
        GITHUB_SERVER_URL="https://ghe.example.com/",
    )

    settings = Settings.from_environ(env)

    assert settings.api_url == "https://ghe.example.com/api/v3"
    assert settings.server_url == "https://ghe.example.com"
    assert settings.run_url == "https://ghe.example.com/octo-org/qa-bot/actions/runs/1658821493"


def test_run_url_points_at_the_workflow_run() -> None:
    settings = Settings.from_environ(runner_env())

    assert settings.run_url == "https://github.com/octo-org/qa-bot/actions/runs/1658821493"


def test_token_falls_back_to_github_token_variable() -> None:
    env = runner_env(INPUT_GITHUB_TOKEN="", GITHUB_TOKEN="ghs_fallback")

    assert Settings.from_environ(env).token == "ghs_fallback"


def test_tracking_uri_input_wins_over_environment() -> None:
    env = runner_env(
        INPUT_MLFLOW_TRACKING_URI="https://mlflow.example.com",
        MLFLOW_TRACKING_URI="http://127.0.0.1:5000",
    )

    assert Settings.from_environ(env).tracking_uri == "https://mlflow.example.com"


def test_tracking_uri_falls_back_to_mlflow_environment_variable() -> None:
    env = runner_env(MLFLOW_TRACKING_URI="http://127.0.0.1:5000")

    assert Settings.from_environ(env).tracking_uri == "http://127.0.0.1:5000"


def test_config_input_is_kept_as_written_relative_to_the_workspace() -> None:
    given = Settings.from_environ(runner_env(INPUT_CONFIG="examples/demo/.prompt-review.yml"))
    blank = Settings.from_environ(runner_env(INPUT_CONFIG="  "))

    assert given.config_path == Path("examples/demo/.prompt-review.yml")
    assert given.workspace / given.config_path == Path(
        "/github/workspace/examples/demo/.prompt-review.yml"
    )
    assert blank.config_path == Path(".prompt-review.yml")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("YES", True),
        ("1", True),
        ("on", True),
        (" true ", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        ("OFF", False),
    ],
)
def test_boolean_inputs_accept_common_spellings(raw: str, expected: bool) -> None:
    env = runner_env(
        INPUT_FAIL_ON_REGRESSION=raw,
        INPUT_COMMENT=raw,
        INPUT_REVIEW_DRAFTS=raw,
    )

    settings = Settings.from_environ(env)

    assert settings.fail_on_regression is expected
    assert settings.comment is expected
    assert settings.review_drafts is expected


def test_empty_boolean_input_means_the_default() -> None:
    env = runner_env(INPUT_FAIL_ON_REGRESSION="", INPUT_COMMENT="", INPUT_REVIEW_DRAFTS="")

    settings = Settings.from_environ(env)

    assert (settings.fail_on_regression, settings.comment, settings.review_drafts) == (
        True,
        True,
        False,
    )


def test_invalid_boolean_names_the_input_and_the_accepted_values() -> None:
    with pytest.raises(UserInputError) as caught:
        Settings.from_environ(runner_env(INPUT_FAIL_ON_REGRESSION="sometimes"))

    assert caught.value.problems == [
        "Input 'fail_on_regression' must be a boolean "
        "(true/false, yes/no, 1/0, on/off), got 'sometimes'."
    ]


def test_every_problem_is_reported_at_once() -> None:
    env = runner_env(INPUT_FAIL_ON_REGRESSION="maybe", INPUT_REVIEW_DRAFTS="2")
    del env["GITHUB_EVENT_NAME"]
    del env["GITHUB_WORKSPACE"]

    with pytest.raises(UserInputError) as caught:
        Settings.from_environ(env)

    assert caught.value.problems == [
        "prompt-review action is meant to run inside GitHub Actions; "
        "missing runner variables: GITHUB_EVENT_NAME, GITHUB_WORKSPACE. "
        "Use `prompt-review review` to run a review locally.",
        "Input 'fail_on_regression' must be a boolean "
        "(true/false, yes/no, 1/0, on/off), got 'maybe'.",
        "Input 'review_drafts' must be a boolean (true/false, yes/no, 1/0, on/off), got '2'.",
    ]
    assert str(caught.value) == "\n".join(caught.value.problems)


def test_outside_github_actions_every_missing_runner_variable_is_named() -> None:
    with pytest.raises(UserInputError) as caught:
        Settings.from_environ({"HOME": "/root", "PATH": "/usr/bin"})

    assert caught.value.problems == [
        "prompt-review action is meant to run inside GitHub Actions; "
        "missing runner variables: GITHUB_EVENT_NAME, GITHUB_REPOSITORY, GITHUB_SHA, "
        "GITHUB_WORKSPACE. Use `prompt-review review` to run a review locally."
    ]


@pytest.mark.parametrize("repository", ["qa-bot", "octo-org/", "/qa-bot", "a/b/c"])
def test_repository_must_be_owner_slash_name(repository: str) -> None:
    with pytest.raises(UserInputError) as caught:
        Settings.from_environ(runner_env(GITHUB_REPOSITORY=repository))

    assert caught.value.problems == [
        f"GITHUB_REPOSITORY must look like 'owner/name', got {repository!r}."
    ]


def test_runner_debug_turns_on_debug() -> None:
    assert Settings.from_environ(runner_env(RUNNER_DEBUG="1")).debug is True
    assert Settings.from_environ(runner_env()).debug is False


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("github_token", "INPUT_GITHUB_TOKEN"),
        ("fail_on_regression", "INPUT_FAIL_ON_REGRESSION"),
        ("my input", "INPUT_MY_INPUT"),
    ],
)
def test_input_variable_follows_the_runner_naming(name: str, variable: str) -> None:
    assert input_variable(name) == variable


def test_comment_author_input_names_who_writes_our_comments() -> None:
    assert Settings.from_environ(runner_env()).comment_author == ""
    given = Settings.from_environ(runner_env(INPUT_COMMENT_AUTHOR=" prompt-app[bot] "))
    assert given.comment_author == "prompt-app[bot]"
