"""The openai provider through the real SDK, over HTTP, against the loopback stub."""

from __future__ import annotations

import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from typing import Any

import openai
import pytest

from prompt_review.config import ModelConfig
from prompt_review.errors import UserInputError
from prompt_review.providers import OpenAIProvider, ProviderError, get_provider
from tests.fakes.openai_server import OpenAIStub, tool_call_reply

SECRET = "sk-test-do-not-leak-0123456789"
USER = [{"role": "user", "content": "What is the capital of France?"}]

MakeProvider = Callable[..., OpenAIProvider]


@pytest.fixture
def make_provider(openai_stub: OpenAIStub) -> Iterator[MakeProvider]:
    """Providers pointed at the stub with fast backoff; closed after the test."""
    made: list[OpenAIProvider] = []

    def make(
        model: ModelConfig | None = None, environ: dict[str, str] | None = None, **options: Any
    ) -> OpenAIProvider:
        if environ is None:
            environ = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": openai_stub.base_url}
        options.setdefault("retry_base_delay", 0.001)
        provider = get_provider(model or ModelConfig(), environ=environ, **options)
        assert isinstance(provider, OpenAIProvider)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def assert_no_secret(err: BaseException) -> None:
    shown = "".join(traceback.format_exception(err)) + repr(err)
    assert SECRET not in shown


def test_answer_and_sampling_settings_reach_the_server(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    model = ModelConfig(
        name="gpt-4o-mini",
        temperature=0.3,
        max_tokens=50,
        params={"top_p": 0.5, "seed": 7, "top_k": 40},
    )
    messages = [{"role": "system", "content": "Be terse."}, *USER]

    completion = make_provider(model).complete(messages, model)

    assert completion.text == "What is the capital of France?"
    assert (completion.input_tokens, completion.output_tokens, completion.attempts) == (8, 6, 1)
    [request] = openai_stub.calls
    assert request["model"] == "gpt-4o-mini"
    assert request["messages"] == messages
    assert request["temperature"] == 0.3
    assert request["max_tokens"] == 50
    assert (request["top_p"], request["seed"], request["top_k"]) == (0.5, 7, 40)
    assert "stream" not in request
    assert openai_stub.headers[0]["authorization"] == f"Bearer {SECRET}"


def test_unset_settings_are_left_to_the_server(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    model = ModelConfig(temperature=None, max_tokens=None)

    make_provider(model).complete(USER, model)

    assert "temperature" not in openai_stub.calls[0]
    assert "max_tokens" not in openai_stub.calls[0]


def test_custom_responder_sees_the_request(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.responder = lambda request: f"Paris ({request['model']})"
    model = ModelConfig(name="my-model")

    assert make_provider(model).complete(USER, model).text == "Paris (my-model)"


def test_rate_limit_twice_then_success_takes_three_calls(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.fail_next(429, times=2, headers={"Retry-After": "0"})
    provider = make_provider(retry_base_delay=5.0)  # Retry-After: 0 must win over the backoff
    started = time.monotonic()

    completion = provider.complete(USER, ModelConfig())

    assert time.monotonic() - started < 2.0
    assert completion.text == USER[0]["content"]
    assert completion.attempts == 3
    assert openai_stub.call_count == 3


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "0.4"}, 0.4),
        ({"Retry-After-Ms": "400"}, 0.4),
        ({"Retry-After": formatdate(time.time() - 60, usegmt=True)}, 0.0),
    ],
)
def test_retry_waits_what_the_server_asks(
    openai_stub: OpenAIStub, make_provider: MakeProvider, headers: dict[str, str], wait: float
) -> None:
    openai_stub.fail_next(503, headers=headers)
    provider = make_provider(retry_base_delay=5.0)
    started = time.monotonic()

    assert provider.complete(USER, ModelConfig()).attempts == 2

    assert wait <= time.monotonic() - started < wait + 2.0


def test_server_error_forever_gives_up_after_max_retries(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.fail_next(500, times=100)
    provider = make_provider(max_retries=3)

    with pytest.raises(ProviderError) as caught:
        provider.complete(USER, ModelConfig(name="gpt-4o-mini"))

    assert openai_stub.call_count == 4
    message = str(caught.value)
    assert "'gpt-4o-mini'" in message
    assert openai_stub.base_url in message
    assert "HTTP 500 after 4 attempts" in message
    assert "try again later" in message
    assert (caught.value.status, caught.value.attempts) == (500, 4)
    assert caught.value.exit_code == 3
    assert_no_secret(caught.value)


def test_backoff_grows_between_attempts(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.fail_next(502, times=3)
    provider = make_provider(max_retries=3, retry_base_delay=0.1)
    started = time.monotonic()

    assert provider.complete(USER, ModelConfig()).attempts == 4

    # 0.1 + 0.2 + 0.4 seconds, less up to 25 % jitter
    assert 0.5 <= time.monotonic() - started < 3.0


def test_zero_max_retries_makes_one_call(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.fail_next(503)

    with pytest.raises(ProviderError, match="after 1 attempt:"):
        make_provider(max_retries=0).complete(USER, ModelConfig())

    assert openai_stub.call_count == 1


def test_wrong_key_fails_at_once_without_leaking_it(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.api_key = "sk-the-right-one"  # the stub's 401 echoes the key it was sent

    with pytest.raises(ProviderError) as caught:
        make_provider().complete(USER, ModelConfig())

    assert openai_stub.call_count == 1
    message = str(caught.value)
    assert "HTTP 401 after 1 attempt" in message
    assert "Incorrect API key provided: ***" in message
    assert "OPENAI_API_KEY" in message
    assert caught.value.status == 401
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, "check the model's temperature, max_tokens and params"),
        (403, "no access to this model"),
        (404, "Check the model name and the base URL"),
        (422, "check the model's temperature, max_tokens and params"),
    ],
)
def test_client_errors_are_not_retried(
    openai_stub: OpenAIStub, make_provider: MakeProvider, status: int, hint: str
) -> None:
    openai_stub.fail_next(
        status, body={"error": {"message": "The model does not exist", "type": "x", "code": None}}
    )

    with pytest.raises(ProviderError) as caught:
        make_provider().complete(USER, ModelConfig())

    assert openai_stub.call_count == 1
    assert f"HTTP {status} after 1 attempt: The model does not exist." in str(caught.value)
    assert hint in str(caught.value)


def test_exhausted_quota_is_not_retried(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.fail_next(
        429,
        times=5,
        body={"error": {"message": "You exceeded your quota", "code": "insufficient_quota"}},
    )

    with pytest.raises(ProviderError, match="run out of quota"):
        make_provider().complete(USER, ModelConfig())

    assert openai_stub.call_count == 1


def test_server_saying_do_not_retry_is_obeyed(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.fail_next(503, times=5, headers={"x-should-retry": "false"})

    with pytest.raises(ProviderError):
        make_provider().complete(USER, ModelConfig())

    assert openai_stub.call_count == 1


def test_long_retry_after_gives_up_and_says_so(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.fail_next(429, times=5, headers={"Retry-After": "3600"})

    with pytest.raises(ProviderError, match="asked to wait 3600 s"):
        make_provider().complete(USER, ModelConfig())

    assert openai_stub.call_count == 1


def _fault(case: str, behaviour: str = "") -> pytest.MarkDecorator:
    return pytest.mark.robustness(
        area="faults",
        case=case,
        behaviour=behaviour
        or "retried with backoff, then ProviderError naming the endpoint: an error on that "
        "example, the review goes on",
    )


COMPLETION_PREFIX = '{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, '


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(
            "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
            "text/html",
            "not JSON \\(text/html: '<!DOCTYPE html>",
            marks=_fault("the model server answers HTTP 200 with an HTML error page"),
            id="html-page",
        ),
        pytest.param(
            "upstream connect error or disconnect/reset before headers",
            "application/json",
            "not JSON \\(application/json",
            marks=_fault("HTTP 200, JSON content type, a body that is not JSON"),
            id="not-json",
        ),
        pytest.param(
            COMPLETION_PREFIX + '"message": {"role": "assistant", "content": "Par',
            "application/json",
            "not JSON",
            marks=_fault("HTTP 200 with a truncated JSON chat completion"),
            id="truncated",
        ),
        pytest.param(
            b"\xff\xfe\x00garbage",
            None,
            "not JSON",
            marks=_fault("HTTP 200 with binary garbage"),
            id="binary",
        ),
        pytest.param(
            [1, 2, 3],
            None,
            "JSON but not an object",
            marks=_fault("HTTP 200 with a JSON list instead of a completion"),
            id="json-list",
        ),
        pytest.param(
            {"id": "x", "object": "chat.completion", "choices": []},
            None,
            "no choices",
            marks=_fault("HTTP 200 with a completion that has no choices"),
            id="no-choices",
        ),
        pytest.param(
            {"choices": "Paris"},
            None,
            "no choices",
            marks=_fault("HTTP 200 with choices of the wrong type"),
            id="choices-wrong-type",
        ),
        pytest.param(
            {"error": {"message": "proxy failure"}},
            None,
            "HTTP 200 with an error: 'proxy failure'",
            marks=_fault("HTTP 200 with an OpenAI-shaped error body"),
            id="error-body",
        ),
        pytest.param(
            {"choices": [{"index": 0, "message": "Paris"}]},
            None,
            "choices\\[0\\] has no message",
            marks=_fault("HTTP 200 with a message that is a string, not an object"),
            id="message-wrong-type",
        ),
        pytest.param(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": 42}}]},
            None,
            "no text content and no tool calls",
            marks=_fault("HTTP 200 with a numeric message content"),
            id="content-wrong-type",
        ),
        pytest.param(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]},
            None,
            "no text content and no tool calls",
            marks=_fault("HTTP 200 with null content and no tool calls"),
            id="content-null",
        ),
        pytest.param(
            {"choices": [{"message": {"content": None, "tool_calls": [{"function": "f"}]}}]},
            None,
            "tool_calls\\[0\\] is not",
            marks=_fault("HTTP 200 with a malformed tool call"),
            id="tool-call-wrong-shape",
        ),
    ],
)
def test_malformed_replies_are_retried_then_a_provider_error(
    openai_stub: OpenAIStub,
    make_provider: MakeProvider,
    body: Any,
    content_type: str | None,
    expected: str,
) -> None:
    openai_stub.fail_next(200, times=3, body=body, content_type=content_type)

    with pytest.raises(ProviderError, match=f"unusable response after 3 attempts: .*{expected}"):
        make_provider(max_retries=2).complete(USER, ModelConfig())

    assert openai_stub.call_count == 3


@_fault(
    "one malformed reply, then a good one",
    "retried: the example gets the good answer, attempts says 2",
)
def test_one_malformed_reply_then_success(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.fail_next(200, body="<html>oops</html>", content_type="text/html")

    completion = make_provider().complete(USER, ModelConfig())

    assert (completion.text, completion.attempts) == ("What is the capital of France?", 2)
    assert openai_stub.call_count == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None, "refusal": "No."},
                        "finish_reason": "content_filter",
                    }
                ]
            },
            "the model refused: No.",
        ),
        (
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None},
                        "finish_reason": "content_filter",
                    }
                ]
            },
            "it was filtered",
        ),
        (
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": ""},
                        "finish_reason": "length",
                    }
                ]
            },
            "raise max_tokens",
        ),
    ],
)
def test_answers_without_text_are_errors_not_retried(
    openai_stub: OpenAIStub, make_provider: MakeProvider, body: Any, expected: str
) -> None:
    openai_stub.fail_next(200, body=body)

    with pytest.raises(ProviderError, match=expected) as caught:
        make_provider().complete(USER, ModelConfig())

    assert openai_stub.call_count == 1
    assert caught.value.attempts == 1


# --- model settings and tool calls -------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ANSWER_SCHEMA = {
    "title": "Capital answer",
    "type": "object",
    "properties": {"city": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["city"],
}


def test_response_format_schema_is_sent_as_openai_json_schema(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    model = ModelConfig(response_format=ANSWER_SCHEMA)

    make_provider(model).complete(USER, model)

    [request] = openai_stub.calls
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Capital_answer", "schema": ANSWER_SCHEMA},
    }


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": ANSWER_SCHEMA, "strict": True},
        },
    ],
)
def test_openai_shaped_response_format_is_sent_as_written(
    openai_stub: OpenAIStub, make_provider: MakeProvider, response_format: dict[str, Any]
) -> None:
    model = ModelConfig(response_format=response_format)

    make_provider(model).complete(USER, model)

    assert openai_stub.calls[0]["response_format"] == response_format


def test_tools_and_tool_choice_are_sent(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    model = ModelConfig(tools=[WEATHER_TOOL], tool_choice=choice)

    make_provider(model).complete(USER, model)

    [request] = openai_stub.calls
    assert (request["tools"], request["tool_choice"]) == ([WEATHER_TOOL], choice)
    assert "response_format" not in request


def test_a_reply_with_tool_calls_is_the_calls(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.responder = lambda request: tool_call_reply(
        ("get_weather", {"unit": "C", "city": "Paris"}), ("get_time", {})
    )
    model = ModelConfig(tools=[WEATHER_TOOL])

    completion = make_provider(model).complete(USER, model)

    assert completion.text == (
        '[{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}, '
        '{"name": "get_time", "arguments": {}}]'
    )
    assert [(c.name, c.arguments, c.id) for c in completion.tool_calls] == [
        ("get_weather", {"unit": "C", "city": "Paris"}, "call_0"),
        ("get_time", {}, "call_1"),
    ]
    assert completion.tool_calls[0].raw_arguments == '{"unit": "C", "city": "Paris"}'
    assert completion.output_tokens is not None


def test_tool_call_arguments_that_are_not_json_are_kept_for_the_scorers(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.responder = lambda request: tool_call_reply(("get_weather", '{"city": "Par'))

    completion = make_provider().complete(USER, ModelConfig())

    assert completion.text == '[{"name": "get_weather", "arguments": "{\\"city\\": \\"Par"}]'
    assert completion.tool_calls[0].arguments == '{"city": "Par'
    assert openai_stub.call_count == 1


def test_empty_answer_that_finished_normally_is_an_output(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.responder = lambda request: ""

    assert make_provider().complete(USER, ModelConfig()).text == ""


def test_unreachable_server_is_retried_then_reported(make_provider: MakeProvider) -> None:
    url = closed_port_url()
    provider = make_provider(environ={"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": url})

    with pytest.raises(ProviderError) as caught:
        provider.complete(USER, ModelConfig())

    message = str(caught.value)
    assert f"at {url}: cannot connect" in message
    assert "5 attempts" in message
    assert "OPENAI_BASE_URL" in message
    assert caught.value.attempts == 5
    assert_no_secret(caught.value)


def test_slow_server_times_out(openai_stub: OpenAIStub, make_provider: MakeProvider) -> None:
    openai_stub.latency_seconds = 2.0
    provider = make_provider(max_retries=1, timeout_seconds=0.2)

    with pytest.raises(ProviderError, match=r"no response within 0\.2 s, 2 attempts"):
        provider.complete(USER, ModelConfig())

    assert openai_stub.call_count == 2


def test_base_url_credentials_are_not_shown(openai_stub: OpenAIStub) -> None:
    url = openai_stub.base_url.replace("http://", "http://user:hunter2@")
    openai_stub.fail_next(404)

    with (
        OpenAIProvider(api_key=SECRET, base_url=url, retry_base_delay=0.001) as provider,
        pytest.raises(ProviderError) as caught,
    ):
        provider.complete(USER, ModelConfig())

    assert "hunter2" not in str(caught.value)
    assert openai_stub.base_url in str(caught.value)


def test_custom_base_url_needs_no_key(openai_stub: OpenAIStub, make_provider: MakeProvider) -> None:
    provider = make_provider(environ={"OPENAI_BASE_URL": openai_stub.base_url})

    assert provider.complete(USER, ModelConfig()).text == USER[0]["content"]
    assert openai_stub.headers[0]["authorization"] == "Bearer not-needed"


def test_model_base_url_wins_over_the_environment(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    model = ModelConfig(base_url=openai_stub.base_url)
    provider = make_provider(model, environ={"OPENAI_BASE_URL": closed_port_url()})

    assert provider.complete(USER, model).text == USER[0]["content"]
    assert openai_stub.call_count == 1


def test_without_key_or_base_url_nothing_is_called(openai_stub: OpenAIStub) -> None:
    with pytest.raises(UserInputError) as caught:
        get_provider(ModelConfig(), environ={"OPENAI_API_KEY": ""})

    assert "set OPENAI_API_KEY" in str(caught.value)
    assert "OPENAI_BASE_URL" in str(caught.value)
    assert openai_stub.call_count == 0


def test_provider_repr_hides_the_key(make_provider: MakeProvider) -> None:
    provider = make_provider()

    assert SECRET not in repr(provider)
    assert "api_key=<set>" in repr(provider)


def test_sixteen_threads_share_one_provider(
    openai_stub: OpenAIStub, make_provider: MakeProvider
) -> None:
    openai_stub.latency_seconds = 0.05
    openai_stub.fail_next(429, times=8, headers={"Retry-After": "0"})
    provider = make_provider()
    model = ModelConfig()
    barrier = threading.Barrier(16)

    def ask(index: int) -> str:
        if index < 16:
            barrier.wait(timeout=10)
        return provider.complete([{"role": "user", "content": f"question {index}"}], model).text

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(ask, range(64)))

    assert answers == [f"question {index}" for index in range(64)]
    assert openai_stub.call_count == 64 + 8
    assert openai_stub.max_concurrency > 1


def test_stub_lists_models_like_the_real_api(openai_stub: OpenAIStub) -> None:
    openai_stub.models = ("gpt-4o-mini", "local-llama")

    with openai.OpenAI(base_url=openai_stub.base_url, api_key="x", max_retries=0) as client:
        assert [model.id for model in client.models.list()] == ["gpt-4o-mini", "local-llama"]
