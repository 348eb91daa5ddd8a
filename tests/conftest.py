"""Shared fixtures live in tests/fakes/*: real servers on loopback, never monkeypatches."""

pytest_plugins = [
    "tests.fakes.github_server",
    "tests.fakes.openai_server",
    "tests.fakes.mlflow_server",
    "tests.fakes.git_repo",
    "tests.robustness",
]
