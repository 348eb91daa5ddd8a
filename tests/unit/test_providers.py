"""Providers that need no network (echo, python) and get_provider's choices and refusals."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prompt_review.config import ModelConfig
from prompt_review.errors import InfrastructureError, UserInputError
from prompt_review.providers import (
    KNOWN_PROVIDERS,
    EchoProvider,
    OpenAIProvider,
    ProviderError,
    PythonProvider,
    ToolCall,
    get_provider,
    tool_calls_text,
)

USER = [{"role": "user", "content": "What is the capital of {France}?\n"}]
CHAT = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]

WriteModule = Callable[[str], str]


def echo(messages: list[dict[str, str]]) -> str:
    return EchoProvider().complete(messages, ModelConfig(provider="echo")).text


def test_echo_returns_a_single_message_unchanged() -> None:
    assert echo(USER) == "What is the capital of {France}?\n"


def test_echo_joins_a_chat_as_role_lines() -> None:
    assert echo(CHAT) == "system: Be terse.\nuser: Hi"


def test_echo_is_deterministic_and_reports_one_attempt() -> None:
    provider = get_provider(ModelConfig(provider="echo"), environ={})

    first = provider.complete(CHAT, ModelConfig(provider="echo"))

    assert first == provider.complete(CHAT, ModelConfig(provider="echo"))
    assert (first.attempts, first.input_tokens, first.output_tokens) == (1, None, None)


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(UserInputError) as caught:
        get_provider(ModelConfig(provider="anthropic"), environ={})

    assert "unknown provider 'anthropic'" in str(caught.value)
    assert "echo, openai, python" in str(caught.value)
    assert KNOWN_PROVIDERS == ("echo", "openai", "python")


@pytest.mark.parametrize("environ", [{}, {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}])
def test_openai_without_key_or_base_url_says_what_to_set(environ: dict[str, str]) -> None:
    with pytest.raises(UserInputError) as caught:
        get_provider(ModelConfig(name="gpt-4o"), environ=environ)

    message = str(caught.value)
    assert "'gpt-4o'" in message
    assert "set OPENAI_API_KEY" in message
    assert "OPENAI_BASE_URL" in message


@pytest.mark.parametrize(
    "model",
    [
        ModelConfig(base_url="http://127.0.0.1:1/v1"),
        ModelConfig(),  # with OPENAI_BASE_URL below
    ],
)
def test_openai_with_a_base_url_needs_no_key(model: ModelConfig) -> None:
    provider = get_provider(model, environ={"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})

    assert isinstance(provider, OpenAIProvider)


def test_openai_refuses_params_it_sets_itself() -> None:
    model = ModelConfig(params={"stream": True, "model": "x", "top_p": 0.5})

    with pytest.raises(UserInputError, match="model, stream cannot be set"):
        get_provider(model, environ={"OPENAI_API_KEY": "sk-x"})


def test_openai_refuses_model_settings_hidden_in_params() -> None:
    model = ModelConfig(params={"response_format": {"type": "json_object"}})

    with pytest.raises(UserInputError, match=r"set response_format as model\.response_format"):
        get_provider(model, environ={"OPENAI_API_KEY": "sk-x"})


@pytest.mark.parametrize(
    ("response_format", "sent"),
    [
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "object"},
            {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}},  # noqa: E501
        ),
        (
            {"title": "Ticket triage / v2", "type": "object"},
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "Ticket_triage___v2",
                    "schema": {"title": "Ticket triage / v2", "type": "object"},
                },
            },
        ),
    ],
)  # fmt: skip
def test_response_format_in_openai_form(
    response_format: dict[str, Any], sent: dict[str, Any]
) -> None:
    from prompt_review.providers.openai import openai_response_format

    assert openai_response_format(response_format) == sent


def test_tool_calls_text_is_stable_whatever_the_argument_order() -> None:
    one = ToolCall(
        name="f", arguments={"b": 1, "a": {"y": 2, "x": [3, {"d": 4, "c": 5}]}}, raw_arguments=""
    )
    other = ToolCall(
        name="f", arguments={"a": {"x": [3, {"c": 5, "d": 4}], "y": 2}, "b": 1}, raw_arguments=""
    )

    assert (
        tool_calls_text([one])
        == tool_calls_text([other])
        == ('[{"name": "f", "arguments": {"a": {"x": [3, {"c": 5, "d": 4}], "y": 2}, "b": 1}}]')
    )
    assert tool_calls_text([ToolCall(name="g", arguments="{bad", raw_arguments="{bad")]) == (
        '[{"name": "g", "arguments": "{bad"}]'
    )  # fmt: skip


def test_a_tool_call_in_openai_shape_keeps_the_raw_arguments() -> None:
    call = ToolCall(name="f", arguments={"a": 1}, raw_arguments='{"a":1}', id="call_1")

    assert call.to_openai() == {
        "type": "function",
        "function": {"name": "f", "arguments": '{"a":1}'},
        "id": "call_1",
    }
    assert "id" not in ToolCall(name="f", arguments={}, raw_arguments="").to_openai()


def test_openai_provider_repr_and_import_stay_cheap() -> None:
    code = (
        "import sys; from prompt_review.providers import get_provider, OpenAIProvider; "
        "print(repr(OpenAIProvider(api_key='sk-secret'))); print('openai' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert "sk-secret" not in result.stdout
    assert result.stdout.splitlines()[-1] == "False"


def test_provider_error_is_an_infrastructure_error() -> None:
    err = ProviderError("boom", status=503, attempts=5)

    assert isinstance(err, InfrastructureError)
    assert (err.status, err.attempts, err.exit_code) == (503, 5, 3)


@pytest.fixture
def write_module(tmp_path: Path) -> Iterator[WriteModule]:
    """Write a uniquely named module under tmp_path; forget it (and tmp_path) afterwards."""
    names: list[str] = []

    def write(source: str) -> str:
        name = f"user_entry_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)
    while str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def python_model(entry_point: str, **params: object) -> ModelConfig:
    return ModelConfig(provider="python", name=entry_point, params=dict(params))


def test_python_entry_point_gets_messages_and_params(
    tmp_path: Path, write_module: WriteModule
) -> None:
    module = write_module(
        """
        def answer(messages, *, style="plain", repeat=1):
            shown = " | ".join(f"{m['role']}={m['content']}" for m in messages)
            return shown + f" {style}" * repeat
        """
    )
    model = python_model(f"{module}:answer", style="loud", repeat=2)
    provider = get_provider(model, environ={}, search_path=str(tmp_path))

    completion = provider.complete(CHAT, model)

    assert completion.text == "system=Be terse. | user=Hi loud loud"
    assert completion.attempts == 1


def test_python_entry_point_cannot_change_the_callers_messages(
    tmp_path: Path, write_module: WriteModule
) -> None:
    module = write_module(
        """
        def answer(messages):
            messages[0]["content"] = "changed"
            messages.append({"role": "user", "content": "more"})
            return "ok"
        """
    )
    messages = [{"role": "user", "content": "original"}]

    PythonProvider(search_path=str(tmp_path)).complete(messages, python_model(f"{module}:answer"))

    assert messages == [{"role": "user", "content": "original"}]


def test_python_dotted_attribute_path(tmp_path: Path, write_module: WriteModule) -> None:
    module = write_module(
        """
        class Bot:
            @staticmethod
            def reply(messages):
                return messages[-1]["content"].upper()
        """
    )
    model = python_model(f"{module}:Bot.reply")

    assert PythonProvider(search_path=str(tmp_path)).complete(USER, model).text == (
        "WHAT IS THE CAPITAL OF {FRANCE}?\n"
    )


@pytest.mark.parametrize(
    ("entry_point", "expected"),
    [
        ("no_colon_here", "bad entry point 'no_colon_here'"),
        ("module:", "bad entry point 'module:'"),
        (":function", "bad entry point ':function'"),
        ("a:b:c", "bad entry point 'a:b:c'"),
        ("surely_not_a_module_xyz:answer", "cannot import module 'surely_not_a_module_xyz'"),
    ],
)
def test_python_bad_entry_point_fails_before_any_call(entry_point: str, expected: str) -> None:
    with pytest.raises(UserInputError) as caught:
        get_provider(python_model(entry_point), environ={}, search_path=None)

    assert expected in str(caught.value)
    assert "'package.module:function'" in str(caught.value)


def test_python_module_only_importable_from_the_search_path(
    tmp_path: Path, write_module: WriteModule
) -> None:
    module = write_module("def answer(messages):\n    return 'ok'\n")
    model = python_model(f"{module}:answer")

    with pytest.raises(UserInputError, match="cannot import module"):
        get_provider(model, environ={})
    assert get_provider(model, environ={}, search_path=str(tmp_path)).complete(USER, model).text


@pytest.mark.parametrize(
    ("source", "entry", "expected"),
    [
        ("def answer(messages):\n    return 'x'\n", "missing", "'missing' not found"),
        ("answer = 42\n", "answer", "is a int, not a function"),
        ("def answer(messages:\n", "answer", "SyntaxError"),
        ("raise RuntimeError('no config')\n", "answer", "RuntimeError: no config"),
    ],
)
def test_python_unusable_entry_point_is_named(
    tmp_path: Path, write_module: WriteModule, source: str, entry: str, expected: str
) -> None:
    entry_point = f"{write_module(source)}:{entry}"

    with pytest.raises(UserInputError) as caught:
        get_provider(python_model(entry_point), environ={}, search_path=str(tmp_path))

    assert expected in str(caught.value)
    assert repr(entry_point) in str(caught.value)


def test_python_non_string_output_is_rejected(tmp_path: Path, write_module: WriteModule) -> None:
    module = write_module("def answer(messages):\n    return {'text': 'Paris'}\n")
    model = python_model(f"{module}:answer")

    with pytest.raises(UserInputError, match="returned dict; expected str"):
        PythonProvider(search_path=str(tmp_path)).complete(USER, model)


def test_python_params_the_function_does_not_accept(
    tmp_path: Path, write_module: WriteModule
) -> None:
    module = write_module("def answer(messages):\n    return 'x'\n")
    model = python_model(f"{module}:answer", top_p=0.5)

    with pytest.raises(
        UserInputError, match=r"cannot be called as function\(messages, top_p=...\)"
    ):
        PythonProvider(search_path=str(tmp_path)).complete(USER, model)


def test_python_function_failure_is_a_provider_error(
    tmp_path: Path, write_module: WriteModule
) -> None:
    module = write_module(
        """
        def answer(messages):
            raise ConnectionError("upstream down")
        """
    )
    model = python_model(f"{module}:answer")

    with pytest.raises(ProviderError) as caught:
        PythonProvider(search_path=str(tmp_path)).complete(USER, model)

    assert f"{module}:answer' raised ConnectionError: upstream down" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionError)
