"""errors.cause: the whole reason a service failed, on one line."""

from __future__ import annotations

from prompt_review.errors import CAUSE_CHARS, cause


def test_the_whole_cause_is_kept_past_a_long_url() -> None:
    url = "http://127.0.0.1:59433/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + (
        "e" * 300
    )
    error = ConnectionError(
        f"API request to {url} failed with exception HTTPConnectionPool(host='127.0.0.1'):\n"
        "  Max retries exceeded (Caused by NewConnectionError: [Errno 111] Connection refused)"
    )
    text = cause(error)
    assert text.endswith("[Errno 111] Connection refused)")
    assert url in text
    assert "\n" not in text


def test_an_empty_message_names_the_exception() -> None:
    assert cause(TimeoutError()) == "TimeoutError"


def test_a_huge_message_keeps_its_head_and_its_tail() -> None:
    text = cause(RuntimeError("start " + "x" * 10_000 + " the reason"))
    assert len(text) <= CAUSE_CHARS
    assert text.startswith("start ") and text.endswith(" the reason")
    assert " … " in text
