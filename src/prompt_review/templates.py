"""Prompt templates, rendered exactly as MLflow 3.17.2's ``PromptVersion.format`` renders them.

MLflow has two renderers and picks one per prompt version: a template (any message of a chat
template) containing both ``{%`` and ``%}`` is rendered by Jinja2 in a
``SandboxedEnvironment(undefined=Undefined)``; any other by plain substitution, where only
``{{ name }}`` is replaced (``str(value)``) and a missing variable is an error. We follow the
same rules but compile a Jinja template once per prompt instead of once per call (MLflow's
``format`` builds a new environment every time, ~4 ms a message); tests/unit/test_templates.py
proves the output identical to ``PromptVersion.format`` on a corpus of templates.

Checks are stricter than MLflow where MLflow would silently send something else than the
author meant: in a plain template every ``{{`` must open a ``{{ name }}`` placeholder (an
unbalanced ``{{``, a filter or a dotted name would reach the model as written, or fail).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prompt_review.errors import UserInputError

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes

Message = dict[str, str]
Template = str | list[Message]

# mlflow.prompt.constants.PROMPT_TEMPLATE_VARIABLE_PATTERN (a test keeps the two equal).
MLFLOW_VARIABLE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*)\s*\}\}")
_PLAIN_NAME = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*")
_GUARD_TESTS = frozenset({"defined", "undefined", "none"})
_GUARD_FILTERS = frozenset({"default", "d"})
_JINJA_HINT = (
    "make it a Jinja template: MLflow renders a template with Jinja only when it contains a "
    "{% %} tag (for literal braces: {% raw %}{{ ... }}{% endraw %})"
)


class TemplateError(UserInputError):
    """A template that cannot be parsed, or that cannot be rendered for some inputs."""


def is_jinja(template: Template) -> bool:
    """MLflow's own rule (``_is_jinja2_template``): ``{%`` and ``%}`` anywhere in a text."""
    return any("{%" in text and "%}" in text for text in _texts(template))


def _texts(template: Template) -> list[str]:
    if isinstance(template, str):
        return [template]
    return [m.get("content", "") for m in template]


def _where(template: Template, index: int) -> str:
    return "" if isinstance(template, str) else f"messages[{index}].content: "


@dataclass(frozen=True)
class Variables:
    """What a template reads from an example's inputs, in first-use order.

    ``names`` are top-level input names; ``required`` the dotted paths that must be present
    (a Jinja variable only tested by ``{% if %}``, ``is defined`` or ``| default`` is optional).
    """

    names: tuple[str, ...]
    required: tuple[str, ...]


def parse_template(template: Template) -> Variables:
    """Check a template strictly and find its variables; ``TemplateError`` lists every problem
    with its line (and message, for a chat template)."""
    if is_jinja(template):
        return _jinja_variables(_compile_jinja(template))
    return _plain_variables(template)


class Renderer:
    """Renders a template exactly as ``PromptVersion.format(**inputs)`` does.

    No stricter check than MLflow's here: a production version registered long ago renders
    as MLflow renders it. A Jinja template is compiled on first use.
    """

    def __init__(self, template: Template) -> None:
        self.template = template
        self.jinja = is_jinja(template)
        self._compiled: list[jinja2.Template] | None = None
        self._lock = threading.Lock()

    def _jinja_templates(self) -> list[jinja2.Template]:
        with self._lock:
            if self._compiled is None:
                self._compiled = [compiled for _, compiled in _compile_jinja(self.template)]
            return self._compiled

    def render(self, inputs: Mapping[str, Any]) -> Template:
        """The rendered text, or messages for a chat template; ``TemplateError`` if it fails."""
        if self.jinja:
            return self._render_jinja(inputs)
        return self._render_plain(inputs)

    def _render_jinja(self, inputs: Mapping[str, Any]) -> Template:
        templates = self._jinja_templates()
        try:
            texts = [compiled.render(**inputs) for compiled in templates]
        except Exception as exc:  # any error MLflow's format() would raise for these inputs
            raise TemplateError(f"Jinja rendering failed: {type(exc).__name__}: {exc}") from None
        return self._shape(texts)

    def _render_plain(self, inputs: Mapping[str, Any]) -> Template:
        # MLflow's missing check uses the variables of the whole template, in the JSON text
        # of a chat template (so dotted names count as names of their own).
        missing = sorted(_mlflow_variables(self.template) - set(inputs))
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise TemplateError(f"missing variables {names}: MLflow's format() would fail")
        try:
            texts = [_format_prompt(text, inputs) for text in _texts(self.template)]
        except re.error as exc:
            raise TemplateError(
                f"an input name is not a plain name ({exc}): MLflow's format() uses each input "
                "name as a regular expression; rename the input"
            ) from None
        return self._shape(texts)

    def _shape(self, texts: list[str]) -> Template:
        if isinstance(self.template, str):
            return texts[0]
        pairs = zip(self.template, texts, strict=True)
        return [{"role": m["role"], "content": text} for m, text in pairs]


def _format_prompt(text: str, values: Mapping[str, Any]) -> str:
    """``mlflow.genai.prompts.utils.format_prompt``: one substitution per input, in order."""
    for key, value in values.items():
        replacement = str(value).replace("\\", "\\\\")
        text = re.sub(r"\{\{\s*" + key + r"\s*\}\}", replacement, text)
    return text


def _mlflow_variables(template: Template) -> set[str]:
    import json

    text = template if isinstance(template, str) else json.dumps(template)
    return set(MLFLOW_VARIABLE.findall(text))


def environment() -> jinja2.Environment:
    """The environment MLflow's ``format`` renders Jinja templates in (its default sandbox)."""
    from jinja2 import Undefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=Undefined)


def _compile_jinja(template: Template) -> list[tuple[nodes.Template, jinja2.Template]]:
    import jinja2

    env = environment()
    compiled = []
    problems = []
    for index, text in enumerate(_texts(template)):
        try:
            compiled.append((env.parse(text), env.from_string(text)))
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{_where(template, index)}line {exc.lineno}: {exc.message}")
    if problems:
        raise TemplateError(problems)
    return compiled


def _plain_variables(template: Template) -> Variables:
    """Lex each text with Jinja's lexer, ``{{ }}`` only: each placeholder must be a name."""
    import jinja2

    # Only {{ }} means something to MLflow's plain substitution: park the other delimiters.
    env = jinja2.Environment(  # noqa: S701 (it only lexes; nothing is rendered to HTML)
        block_start_string="\x00{%",
        block_end_string="%}\x00",
        comment_start_string="\x00{#",
        comment_end_string="#}\x00",
    )
    names: dict[str, None] = {}
    problems = []
    for index, text in enumerate(_texts(template)):
        where = _where(template, index)
        try:
            blocks = list(_placeholders(env, text))
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{where}line {exc.lineno}: {exc.message}")
            continue
        for line, inner, closed in blocks:
            shown = "{{" + inner + ("}}" if closed else "")
            if not closed:
                problems.append(
                    f"{where}line {line}: unbalanced '{{{{': {shown.strip()!r} is never closed "
                    "by '}}'"
                )
                continue
            match = _PLAIN_NAME.fullmatch(inner)
            if match is None:
                problems.append(f"{where}line {line}: {_not_a_placeholder(shown)}")
                continue
            names.setdefault(match.group(1), None)
    if problems:
        raise TemplateError(problems)
    return Variables(names=tuple(names), required=tuple(names))


def _not_a_placeholder(shown: str) -> str:
    if MLFLOW_VARIABLE.fullmatch(shown):  # a dotted name
        return (
            f"{shown}: MLflow's plain format() does not look into inputs (it fails with "
            f"'Missing variables'); use a flat input name, or {_JINJA_HINT}"
        )
    return (
        f"{shown!r} is not a placeholder MLflow substitutes, it would reach the model as "
        f"written; {_JINJA_HINT}"
    )


def _placeholders(env: jinja2.Environment, text: str) -> Iterator[tuple[int, str, bool]]:
    """(line, inner text, closed) of every ``{{ ... }}`` in ``text``."""
    inner: list[str] | None = None
    start = 0
    for line, kind, value in env.lex(text):
        if kind == "variable_begin":
            inner, start = [], line
        elif kind == "variable_end" and inner is not None:
            yield start, "".join(inner), True
            inner = None
        elif inner is not None:
            inner.append(value)
    if inner is not None:
        yield start, "".join(inner), False


def _jinja_variables(compiled: Sequence[tuple[nodes.Template, jinja2.Template]]) -> Variables:
    from jinja2 import meta

    names: dict[str, None] = {}
    required: dict[str, None] = {}
    for ast, _ in compiled:
        free = meta.find_undeclared_variables(ast)
        for path, guarded in _references(ast, frozenset()):
            root = path.split(".")[0]
            if root not in free:
                continue  # a loop variable or a {% set %} name, not an input
            names.setdefault(root, None)
            if not guarded:
                required.setdefault(path, None)
    return Variables(names=tuple(names), required=tuple(required))


def _references(node: nodes.Node, guarded: frozenset[str]) -> Iterator[tuple[str, bool]]:
    """(dotted path, guarded) of every input read below ``node``, in source order.

    A name is guarded inside an ``{% if %}`` whose test mentions it, in that test itself, and
    under ``is defined``/``| default``: there, a missing input is what the author planned for.
    """
    from jinja2 import nodes

    if isinstance(node, nodes.If):
        tested = frozenset(_names(node.test))
        yield from ((path, True) for path, _ in _references(node.test, guarded))
        inner = guarded | tested
        for child in [*node.body, *node.elif_]:
            yield from _references(child, inner)
        for child in node.else_:
            yield from _references(child, guarded)
        return
    if isinstance(node, nodes.CondExpr):
        tested = frozenset(_names(node.test))
        yield from ((path, True) for path, _ in _references(node.test, guarded))
        yield from _references(node.expr1, guarded | tested)
        if node.expr2 is not None:
            yield from _references(node.expr2, guarded)
        return
    if (isinstance(node, nodes.Test) and node.name in _GUARD_TESTS) or (
        isinstance(node, nodes.Filter) and node.name in _GUARD_FILTERS
    ):
        if node.node is not None:
            yield from ((path, True) for path, _ in _references(node.node, guarded))
        for child in [*node.args, *(kw.value for kw in node.kwargs)]:
            yield from _references(child, guarded)
        return
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        # q.items(): a method of q, not a key of it
        for child in [node.node.node, *node.args, *(kw.value for kw in node.kwargs)]:
            yield from _references(child, guarded)
        return
    path = _path(node)
    if path is not None:
        yield path, path.split(".")[0] in guarded
        return
    for child in node.iter_child_nodes():
        yield from _references(child, guarded)


def _path(node: nodes.Node) -> str | None:
    """``q.text`` for ``q.text`` or ``q["text"]``; ``None`` when not a plain lookup chain."""
    from jinja2 import nodes

    if isinstance(node, nodes.Name) and node.ctx == "load":
        return node.name
    if isinstance(node, nodes.Getattr) and isinstance(node.attr, str):
        base = _path(node.node)
        return f"{base}.{node.attr}" if base is not None else None
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        base = _path(node.node)
        return f"{base}.{node.arg.value}" if base is not None else None
    return None


def _names(node: nodes.Node) -> Iterator[str]:
    from jinja2 import nodes

    if isinstance(node, nodes.Name):
        yield node.name
    for name in node.find_all(nodes.Name):
        yield name.name
