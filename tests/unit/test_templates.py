"""Templates render exactly as MLflow's PromptVersion.format; variables come from a real parser."""

from __future__ import annotations

from typing import Any

import pytest

from prompt_review.templates import (
    MLFLOW_VARIABLE,
    Renderer,
    Template,
    TemplateError,
    is_jinja,
    parse_template,
)

FEW_SHOT: list[dict[str, str]] = [
    {"role": "system", "content": "You classify tickets. Answer with one word."},
    {"role": "user", "content": "My invoice is wrong"},
    {"role": "assistant", "content": "billing"},
    {"role": "user", "content": "The app crashes"},
    {"role": "assistant", "content": "bug"},
    {"role": "user", "content": "{{ ticket }}"},
]
JINJA_CHAT: list[dict[str, str]] = [
    {
        "role": "system",
        "content": "You help {{ user.name }}.{% if tone %} Be {{ tone }}.{% endif %}",
    },
    {"role": "user", "content": "Example: {{ example | upper }}"},
    {"role": "assistant", "content": "{{ missing }}ok"},
    {
        "role": "user",
        "content": "{% for d in docs %}[{{ loop.index }}] {{ d.title }}: {{ d.body }}\n"
        "{% endfor %}Q: {{ question }}",
    },
]
DOCS = [{"title": "A", "body": "first"}, {"title": "B", "body": "x < y & z"}]

# (template, inputs): MLflow's format() and ours must give the same text, or both fail.
CORPUS: list[tuple[Template, dict[str, Any]]] = [
    ("Hello {{ name }}!", {"name": "Ada"}),
    ("{{a}}{{ a }}{{   a   }}", {"a": 1}),
    ("{{ n }}|{{ f }}|{{ items }}|{{ obj }}|{{ none }}|{{ x }}", {
        "n": 3, "f": False, "items": [1, "é"], "obj": {"k": 2.5}, "none": None, "x": 1e-7,
    }),
    ("path {{ p }}", {"p": "C:\\new\\u00e9 \\g<0> \\1 $1 &"}),
    ("{{ s }}", {"s": "é ✓ 中文 \n\ttabs"}),
    ("{{ a }} / {{ b }}", {"a": "{{ b }}", "b": "B"}),
    ("{{ b }} / {{ a }}", {"a": "{{ b }}", "b": "B"}),
    ("no variables at all", {"unused": 1}),
    ("\n\n  leading and trailing  \n\n", {}),
    ("{{\n  a\n}} wraps", {"a": "A"}),
    ("Hello {{ name }}!", {}),
    ("{{ a }} and {{ b }}", {"a": 1}),
    ("{ single } {{a}}}", {"a": "A"}),
    ("{{ q.text }}", {"q": {"text": "T"}}),
    ("{{ q.text }}", {"q.text": "flat key"}),
    (FEW_SHOT, {"ticket": "I was charged twice"}),
    (FEW_SHOT, {}),
    ([{"role": "user", "content": "{{\na }}"}], {"a": "A"}),
    ([{"role": "user", "content": "{{\na }}"}], {}),
    ([{"role": "system", "content": 'quote " and \\ {{ v }}'}], {"v": '"v"'}),
    ("Hello {% if name %}{{ name }}{% else %}Guest{% endif %}!", {"name": "Ada"}),
    ("Hello {% if name %}{{ name }}{% else %}Guest{% endif %}!", {}),
    ("{% if x %}yes{% endif %}\n", {"x": 1}),
    ("{% if x %}yes{% endif %}\n\n", {"x": 1}),
    ("  {%- if x -%}  yes  {%- endif -%}  \n", {"x": 1}),
    ("{% for i in items %}{{ i }},{% endfor %}", {"items": [1, "two", None, {"k": 3}]}),
    ("{% for i in items %}{{ i }},{% endfor %}", {}),
    ("{% if 1 %}{% endif %}{{ missing }}|{{ obj }}|{{ none }}|{{ t }}", {
        "obj": {"k": [1, 2]}, "none": None, "t": True,
    }),
    ("{% if 1 %}{% endif %}{{ missing.attr }}", {}),
    ("{% if 1 %}{% endif %}{{ q.text }} {{ q['text'] }} {{ q.absent }}", {"q": {"text": "T"}}),
    ("{% if 1 %}{% endif %}{{ a | upper }} {{ xs | join('-') }} {{ xs | length }}", {
        "a": "shout", "xs": ["p", "q"],
    }),
    ("{% if 1 %}{% endif %}{{ xs | tojson }} {{ html }}", {"xs": {"a": "<b>"}, "html": "<i>&"}),
    ("{% if 1 %}{% endif %}{{ ''.__class__ }}", {}),
    ("{% raw %}{{ literal }}{% endraw %} {{ v }}", {"v": "V"}),
    ("{% set greeting = 'hi' %}{{ greeting }} {{ who }}", {"who": "you"}),
    ("100 %} and {% oops", {}),
    ("{% if x %}unclosed", {"x": 1}),
    ("{% for i in range(3) %}{{ loop.index }}{% endfor %}", {}),
    ("{% if 1 %}{% endif %}{{ 1 / 0 }}", {}),
    (JINJA_CHAT, {"user": {"name": "Ada"}, "tone": "brief", "example": "e", "docs": DOCS,
                  "question": "Which?"}),
    (JINJA_CHAT, {"user": {"name": "Ada"}, "example": "e", "docs": [], "question": "Q"}),
    ([{"role": "system", "content": "{{ a | upper }}"},
      {"role": "user", "content": "{% if b %}{{ b }}{% endif %}"}], {"a": "x", "b": "y"}),
]  # fmt: skip


def _mlflow_format(template: Template, inputs: dict[str, Any]) -> Any:
    from mlflow.entities.model_registry.prompt_version import PromptVersion

    return PromptVersion("t", 1, template).format(**inputs)


@pytest.mark.parametrize(("template", "inputs"), CORPUS)
def test_rendering_is_identical_to_mlflow_format(
    template: Template, inputs: dict[str, Any]
) -> None:
    try:
        expected = _mlflow_format(template, inputs)
    except Exception:
        with pytest.raises(TemplateError):
            Renderer(template).render(inputs)
        return
    assert Renderer(template).render(inputs) == expected


def test_jinja_detection_is_mlflows() -> None:
    from mlflow.entities.model_registry.prompt_version import _is_jinja2_template

    detected = [is_jinja(template) for template, _ in CORPUS]
    assert detected == [_is_jinja2_template(template) for template, _ in CORPUS]
    assert True in detected
    assert False in detected


def test_placeholder_pattern_is_mlflows() -> None:
    from mlflow.prompt.constants import PROMPT_TEMPLATE_VARIABLE_PATTERN

    assert MLFLOW_VARIABLE.pattern == PROMPT_TEMPLATE_VARIABLE_PATTERN.pattern


def test_a_renderer_is_reused_across_examples_and_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    renderer = Renderer(JINJA_CHAT)
    inputs = [
        {"user": {"name": f"u{i}"}, "example": str(i), "docs": DOCS, "question": "q"}
        for i in range(40)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        ours = list(pool.map(renderer.render, inputs))
    assert ours == [_mlflow_format(JINJA_CHAT, i) for i in inputs]


# --- variables ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "names", "required"),
    [
        ("{{ b }} {{a}} {{ b }}", ("b", "a"), ("b", "a")),
        (FEW_SHOT, ("ticket",), ("ticket",)),
        (
            "Hello {% if name %}{{ name }}{% else %}Guest{% endif %}! {{ x if x else '-' }}",
            ("name", "x"),
            (),
        ),
        (
            "{% for d in docs %}{{ d.title }} {{ loop.index }}{% endfor %}{% set s = 1 %}{{ s }}",
            ("docs",),
            ("docs",),
        ),
        (
            "{% if 1 %}{% endif %}{{ q.text }} {{ r['k'] }} {{ m.items() }} {{ z.a.b | upper }}",
            ("q", "r", "m", "z"),
            ("q.text", "r.k", "m", "z.a.b"),
        ),
        (
            "{% if n is defined %}{{ n }}{% endif %}{{ o | default('none') }}{{ p.k|d }}",
            ("n", "o", "p"),
            (),
        ),
        (JINJA_CHAT, ("user", "tone", "example", "missing", "docs", "question"),
         ("user.name", "example", "missing", "docs", "question")),
    ],
)  # fmt: skip
def test_variables_come_from_the_parser(
    template: Template, names: tuple[str, ...], required: tuple[str, ...]
) -> None:
    variables = parse_template(template)

    assert variables.names == names
    assert variables.required == required


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("Hi {{ name", "line 1: unbalanced '{{': '{{ name' is never closed by '}}'"),
        ("one\ntwo {{ a }} {{ b\nthree", "line 2: unbalanced '{{'"),
        ("{{ a | upper }}", "line 1: '{{ a | upper }}' is not a placeholder MLflow substitutes"),
        ("{{ q.text }}", "line 1: {{ q.text }}: MLflow's plain format() does not look into"),
        ("x {{ }} y", "line 1: '{{ }}' is not a placeholder"),
        ("{{ 9lives }}", "line 1: '{{ 9lives }}' is not a placeholder"),
        ("{{{x}}}", "line 1: '{{{x}}}' is not a placeholder"),
        ('{{ "unterminated }}', "line 1: unexpected char"),
        ("a\n{% if x %}\nno end", "line 2: Unexpected end of template"),
        ("{% if 1 %}{% endif %}\n\n{{ x | nofilter }}", "line 3: No filter named 'nofilter'"),
        ("{% for %}", "line 1: Expected an expression"),
        ("100 %} and {% oops", "line 1:"),
        (
            [{"role": "system", "content": "fine {{ a }}"}, {"role": "user", "content": "{{ b"}],
            "messages[1].content: line 1: unbalanced '{{'",
        ),
        (
            [{"role": "system", "content": "{% if x %}"}, {"role": "user", "content": "ok"}],
            "messages[0].content: line 1: Unexpected end of template",
        ),
    ],
)
def test_syntax_errors_name_the_line(template: Template, problem: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(template)

    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template([{"role": "user", "content": "{{ a"}, {"role": "user", "content": "{{ b"}])

    assert [p.split(":")[0] for p in caught.value.problems] == [
        "messages[0].content",
        "messages[1].content",
    ]


def test_render_never_applies_the_strict_checks() -> None:
    """A production version registered before the checks still renders as MLflow does."""
    template = "{{ a | upper }} {{ b }}"

    assert Renderer(template).render({"b": "B"}) == _mlflow_format(template, {"b": "B"})


def test_input_names_that_are_not_names_fail_like_mlflow() -> None:
    with pytest.raises(TemplateError, match="uses each input name as a regular expression"):
        Renderer("{{ a }}").render({"a": 1, "(": 2})
    with pytest.raises(Exception, match="missing \\)"):
        _mlflow_format("{{ a }}", {"a": 1, "(": 2})
