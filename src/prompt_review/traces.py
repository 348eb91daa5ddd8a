"""One MLflow trace per model call, written while the call happens.

A trace holds a root span for the example (its inputs, the output, the scores as
assessments) and a chat-model span for the call itself: the rendered messages, model
name and parameters, the reply (text or tool calls), token usage, latency and status. It
is tagged with the prompt, version, role and review commit, carries the reviewed
repository's git metadata, and is linked to the evaluation run, the LoggedModel and the
prompt version, so MLflow's UI shows output and scores side by side and the prompt
version's page lists its traces. Traces are exported by MLflow's asynchronous queue, so
writing them overlaps the next model calls; the run flushes the queue before it closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prompt_review import redact
from prompt_review.config import ModelConfig
from prompt_review.errors import InfrastructureError
from prompt_review.providers import Completion, Message, Provider
from prompt_review.providers.base import ToolCall

TAG_PROMPT = "prompt_name"
TAG_VERSION = "prompt_version"
TAG_ROLE = "prompt_review.role"
TAG_COMMIT = "prompt_review.commit"
TAG_EXAMPLE = "prompt_review.example_id"
TAG_SAMPLE = "prompt_review.sample"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"


@dataclass(frozen=True, kw_only=True)
class GitInfo:
    """The reviewed repository's state: never the tool's own checkout."""

    commit: str
    branch: str | None = None
    repo_url: str | None = None

    def tags(self) -> dict[str, str]:
        tags = {GIT_COMMIT: self.commit}
        if self.branch:
            tags[GIT_BRANCH] = self.branch
        if self.repo_url:
            tags[GIT_REPO_URL] = self.repo_url
        return tags


@dataclass(frozen=True, kw_only=True)
class Score:
    """One scorer's verdict on one output (a number, a label, or why there is none)."""

    name: str
    value: float | None = None
    label: str | None = None
    rationale: str | None = None
    error: str | None = None
    source_type: str = "CODE"  # CODE | LLM_JUDGE
    source_id: str = ""


ScoreFn = Callable[[Mapping[str, Any], str, Mapping[str, Any]], Sequence[Score]]


@dataclass(frozen=True, kw_only=True)
class TraceContext:
    """What every trace of one evaluation run is linked to."""

    run_id: str
    model_id: str | None
    prompt_name: str
    prompt_version: int | None
    role: str
    git: GitInfo
    prompt_entity: Any = None  # mlflow PromptVersion, linked to each trace

    def tags(self) -> dict[str, str]:
        tags = {TAG_PROMPT: self.prompt_name, TAG_ROLE: self.role, TAG_COMMIT: self.git.commit}
        if self.prompt_version is not None:
            tags[TAG_VERSION] = str(self.prompt_version)
        return tags


@dataclass(frozen=True, kw_only=True)
class Call:
    """One sample of one example: what the model said, what it cost, how it scored."""

    output: str | None
    error: str | None
    scores: tuple[Score, ...] = ()
    trace_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    tool_calls: tuple[ToolCall, ...] = field(default_factory=tuple)


def traced_call(
    context: TraceContext,
    *,
    example_id: str,
    sample: int,
    inputs: Mapping[str, Any],
    expectations: Mapping[str, Any],
    messages: Sequence[Message],
    model: ModelConfig,
    provider: Provider,
    score: ScoreFn,
) -> Call:
    """Call the model inside a trace, score the output, and leave the trace to export."""
    import mlflow
    from mlflow.entities import SpanType

    with mlflow.start_span(
        name=context.prompt_name, span_type=SpanType.CHAIN, run_id=context.run_id
    ) as root:
        root.set_inputs(redact.data(dict(inputs)))
        mlflow.update_current_trace(
            tags=redact.mapping(
                {**context.tags(), TAG_EXAMPLE: example_id, TAG_SAMPLE: str(sample)}
            ),
            metadata=redact.mapping(context.git.tags()),
            model_id=context.model_id,
        )
        _link_prompt(root.trace_id, context.prompt_entity)
        call = _chat(messages, model, provider)
        if call.output is None:
            root.set_status("ERROR")
            root.set_outputs({"error": redact.text(call.error or "")})
            return call
        root.set_outputs(redact.text(call.output))
        scores = tuple(score(inputs, call.output, expectations))
        _log_assessments(root.trace_id, scores, expectations)
        return Call(
            output=call.output,
            error=None,
            scores=scores,
            trace_id=root.trace_id,
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            latency_ms=call.latency_ms,
            tool_calls=call.tool_calls,
        )


def _chat(messages: Sequence[Message], model: ModelConfig, provider: Provider) -> Call:
    """The chat-model span: what was sent, what came back, tokens, latency, status."""
    import mlflow
    from mlflow.entities import SpanEvent, SpanType
    from mlflow.tracing.constant import SpanAttributeKey

    request = {"model": model.name, "messages": [dict(m) for m in messages], **_params(model)}
    with mlflow.start_span(
        name=f"{model.provider}/{model.name}", span_type=SpanType.CHAT_MODEL
    ) as span:
        span.set_inputs(redact.data(request))
        span.set_attribute(SpanAttributeKey.MODEL, model.name)
        span.set_attribute(SpanAttributeKey.MODEL_PROVIDER, model.provider)
        span.set_attribute(SpanAttributeKey.MESSAGE_FORMAT, "openai")
        if model.tools:
            span.set_attribute(SpanAttributeKey.CHAT_TOOLS, model.tools)
        started = time.perf_counter()
        try:
            completion = provider.complete(messages, model)
        except InfrastructureError as exc:
            latency = (time.perf_counter() - started) * 1000
            span.set_status("ERROR")
            span.add_event(
                SpanEvent(  # type: ignore[abstract]
                    name="exception",
                    attributes={
                        "exception.type": type(exc).__name__,
                        "exception.message": redact.text(str(exc)),
                    },
                )
            )
            span.set_attribute("prompt_review.latency_ms", round(latency, 1))
            return Call(output=None, error=str(exc), trace_id=span.trace_id, latency_ms=latency)
        latency = (time.perf_counter() - started) * 1000
        span.set_outputs(redact.data(_reply(completion, model)))
        span.set_attribute("prompt_review.latency_ms", round(latency, 1))
        span.set_attribute("prompt_review.attempts", completion.attempts)
        usage = _usage(completion)
        if usage:
            span.set_attribute(SpanAttributeKey.CHAT_USAGE, usage)
        return Call(
            output=completion.text,
            error=None,
            trace_id=span.trace_id,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            latency_ms=latency,
            tool_calls=completion.tool_calls,
        )


def _params(model: ModelConfig) -> dict[str, Any]:
    """The request's settings as sent (a JSON-schema response format, tools, sampling)."""
    params: dict[str, Any] = dict(model.params)
    settings = {
        "temperature": model.temperature,
        "max_tokens": model.max_tokens,
        "response_format": model.response_format,
        "tools": model.tools,
        "tool_choice": model.tool_choice,
    }
    params.update({k: v for k, v in settings.items() if v is not None})
    return params


def _reply(completion: Completion, model: ModelConfig) -> dict[str, Any]:
    """The reply in OpenAI's chat-completion shape, which MLflow's trace UI renders as chat."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    if completion.tool_calls:
        message["content"] = None
        message["tool_calls"] = [call.to_openai() for call in completion.tool_calls]
    reply: dict[str, Any] = {
        "object": "chat.completion",
        "model": model.name,
        "choices": [{"index": 0, "message": message}],
    }
    usage = _usage(completion)
    if usage:
        reply["usage"] = {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["total_tokens"],
        }
    return reply


def _usage(completion: Completion) -> dict[str, int] | None:
    if completion.input_tokens is None and completion.output_tokens is None:
        return None
    inp, out = completion.input_tokens or 0, completion.output_tokens or 0
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


def _link_prompt(trace_id: str, prompt: Any) -> None:
    """Link the prompt version to the trace the way ``mlflow.genai.load_prompt`` does."""
    if prompt is None:
        return
    from mlflow.tracing.trace_manager import InMemoryTraceManager

    manager = InMemoryTraceManager.get_instance()  # type: ignore[no-untyped-call]
    manager.register_prompt(trace_id=trace_id, prompt=prompt)


def _log_assessments(
    trace_id: str, scores: Sequence[Score], expectations: Mapping[str, Any]
) -> None:
    """Scores and expectations join the live trace in memory: one write with the trace."""
    import mlflow
    from mlflow.entities import AssessmentError, AssessmentSource

    for item in scores:
        value: Any = item.label if item.value is None else item.value
        mlflow.log_feedback(
            trace_id=trace_id,
            name=item.name,
            value=None if item.error else redact.data(value),
            source=AssessmentSource(
                source_type=item.source_type, source_id=item.source_id or item.name
            ),
            rationale=redact.text(item.rationale) if item.rationale else None,
            error=AssessmentError(error_code="SCORER_ERROR", error_message=redact.text(item.error))
            if item.error
            else None,
        )
    for name, expected in expectations.items():
        mlflow.log_expectation(trace_id=trace_id, name=name, value=redact.data(expected))
