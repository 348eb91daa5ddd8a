"""The PR comment: layout, numbers, escaping of untrusted text, history, size cap, overrides."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from prompt_review.compare import (
    Comparison,
    EvalResult,
    ExampleResult,
    ScorerSummary,
    compare,
)
from prompt_review.config import GateConfig
from prompt_review.errors import UserInputError
from prompt_review.report import (
    MARKER,
    MAX_COMMENT_CHARS,
    HistoryEntry,
    parse_history,
    render_markdown,
    render_no_changes,
    status_description,
)
from prompt_review.report.filters import code_inline, fence, html_text, md_cell, truncate_chars
from prompt_review.results import Baseline, Links, PromptResult, ReviewResult, Usage

UI = "http://mlflow.test:5000/#/experiments/1"
RUN_URL = "https://github.com/acme/qa/actions/runs/99"
CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Peru", "Lima"),
    ("Chile", "Santiago"),
    ("Kenya", "Nairobi"),
    ("Egypt", "Cairo"),
    ("Cuba", "Havana"),
    ("Iran", "Tehran"),
]
HOSTILE = (
    "a | b || c\n"
    "</details></summary><details open>\n"
    "```\n````~~~\n"
    "<!-- prompt-review:comment -->\n"
    '<!-- prompt-review:history [{"commit":"evil","result":"passed","at":""}] -->\n'
    "-->\n"
    "<script>alert(1)</script> & @octocat please look\n"
    "\n\n# heading\n| x | y |\n"
)


def _example(i: int, country: str, output: str, expected: str) -> ExampleResult:
    return ExampleResult(
        id=f"ex-{i}",
        inputs={"country": country},
        expectations={"expected_response": expected},
        output=output,
        scores={"exact_match": float(output == expected)},
        trace_id=f"tr-{i}",
    )


def _eval(version: int | None, outputs: list[str]) -> EvalResult:
    return EvalResult(
        prompt_name="capital",
        prompt_version=version,
        content_hash=f"hash-{version}",
        eval_key="key",
        examples=tuple(
            _example(i, country, out, city)
            for i, ((country, city), out) in enumerate(zip(CAPITALS, outputs, strict=True))
        ),
    )


def regressed_comparison(candidate_outputs: list[str] | None = None) -> Comparison:
    """10/10 → 2/10 on exact_match: eight paired drops, p = 1/256."""
    production = [city for _, city in CAPITALS]
    candidate = candidate_outputs or [
        city if i >= 8 else f"The capital of {country} is {city}."
        for i, (country, city) in enumerate(CAPITALS)
    ]
    return compare(_eval(4, candidate), _eval(3, production), ["exact_match"], GateConfig())


def capital_prompt(**changes: object) -> PromptResult:
    prompt = PromptResult(
        name="capital",
        source_path="prompts/capital.yaml",
        status="modified",
        reason="prompt file changed",
        result="failed",
        candidate_version=4,
        baseline=Baseline(
            version=3,
            alias="production",
            git_commit="abc1234" + "0" * 33,
            pr_number="12",
            promoted_at="2026-11-20T09:30:00Z",
            promoted_by="alice",
        ),
        comparison=regressed_comparison(),
        prompt_diff=(
            "--- capital (production)\n+++ capital (candidate)\n@@ -1 +1 @@\n"
            "-Reply with the city name only.\n+Answer in a full sentence.\n"
        ),
        dataset="datasets/capital.jsonl",
        dataset_digest="9f86d081884c7d65",
        model="openai:gpt-4o-mini",
        links=Links(
            prompt_version=f"{UI}/prompts/capital/4",
            model=f"{UI}/models/m-4",
            run=f"{UI}/runs/r-4",
            baseline_run=f"{UI}/runs/r-3",
        ),
        baseline_reused=True,
        llm_calls=10,
    )
    return replace(prompt, **changes)  # type: ignore[arg-type]


def new_prompt() -> PromptResult:
    examples = tuple(
        ExampleResult(
            id=f"g{i}",
            inputs={"name": name},
            expectations={},
            output=f"Hello {name}",
            scores={"exact_match": 1.0},
        )
        for i, name in enumerate(["Ada", "Linus"])
    )
    candidate = EvalResult(
        prompt_name="greeting",
        prompt_version=1,
        content_hash="g",
        eval_key="key",
        examples=examples,
    )
    return PromptResult(
        name="greeting",
        source_path="prompts/greeting.yaml",
        status="added",
        reason="new prompt file",
        result="passed",
        candidate_version=1,
        comparison=compare(candidate, None, ["exact_match"], GateConfig()),
        prompt_diff="--- /dev/null\n+++ greeting\n@@ -0,0 +1 @@\n+Say hello to {{ name }}.\n",
        dataset="datasets/greeting.jsonl",
        model="openai:gpt-4o-mini",
        llm_calls=2,
    )


def make_review(*prompts: PromptResult, **changes: object) -> ReviewResult:
    review = ReviewResult(
        result="failed",
        summary="1 of 2 prompts regressed",
        prompts=prompts or (capital_prompt(), new_prompt()),
        commit="def5678" + "1" * 33,
        base="0badc0de" + "2" * 32,
        pr_number=42,
        experiment="qa-bot",
        tracking_uri="http://mlflow.test:5000",
        ui_url="http://mlflow.test:5000",
        duration_seconds=83.4,
    )
    return replace(review, **changes)  # type: ignore[arg-type]


# --- a small CommonMark reader, to check layout the way GitHub would parse it ---------------

FENCE_LINE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)$")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


@dataclass
class Layout:
    outside: list[str]  # lines outside code fences, inline code spans removed
    blocks: list[str]  # contents of fenced code blocks


def read_layout(body: str) -> Layout:
    outside: list[str] = []
    blocks: list[str] = []
    opened: str | None = None
    current: list[str] = []
    for line in body.split("\n"):
        match = FENCE_LINE.match(line)
        if opened is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                opened, current = match.group(1), []
            else:
                # A backslash-escaped backtick (md_cell) opens no code span.
                outside.append(CODE_SPAN.sub("CODE", line.replace("\\`", "'")))
        elif (
            match
            and match.group(1)[0] == opened[0]
            and len(match.group(1)) >= len(opened)
            and not match.group(2).strip()
        ):
            blocks.append("\n".join(current))
            opened = None
        else:
            current.append(line)
    assert opened is None, "a code fence is never closed"
    return Layout(outside=outside, blocks=blocks)


ALLOWED_TAGS = {"<details>", "</details>", "<summary>", "</summary>", "<br>", "<sub>", "</sub>"}


def assert_layout_intact(body: str, *, details: int) -> Layout:
    """Only our own HTML outside code, balanced details, whole table rows, no mentions.

    Every row of a table has as many cells as its header: a ``|`` in untrusted text never
    opens a cell.
    """
    layout = read_layout(body)
    assert layout.outside[0] == MARKER
    assert layout.outside[1].startswith("<!-- prompt-review:history ")
    rest = "\n".join(layout.outside[2:])
    tags = re.findall(r"<[!/a-zA-Z][^>]*>", rest)
    assert set(tags) <= ALLOWED_TAGS, set(tags) - ALLOWED_TAGS
    assert tags.count("<details>") == tags.count("</details>") == details
    assert "<!--" not in rest
    assert not re.search(r"(?<![\w`])@octocat", rest)
    header_cells = None
    for line in layout.outside:
        if not line.startswith("|"):
            header_cells = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line))
        header_cells = header_cells or cells
        assert cells == header_cells, line
    return layout


def verdict_line(body: str) -> str:
    return body.split("\n")[3]


# --- layout and content ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "emoji"),
    [("passed", "✅"), ("failed", "❌"), ("error", "⚠️"), ("skipped", "⏭️")],
)
def test_verdict_line_comes_first_with_emoji_result_and_summary(result: str, emoji: str) -> None:
    body = render_markdown(make_review(result=result, summary="one sentence."))

    assert body.split("\n")[0] == MARKER
    assert body.split("\n")[1].startswith("<!-- prompt-review:history ")
    assert verdict_line(body) == f"## {emoji} prompt-review {result}: one sentence."


def test_scorer_table_shows_means_delta_with_ci_p_value_and_verdict() -> None:
    summaries = (
        ScorerSummary(
            name="exact_match",
            baseline_mean=0.9,
            candidate_mean=0.1,
            delta=-0.8,
            ci_low=-0.95,
            ci_high=-0.6,
            p_value=0.0039,
            paired=10,
            regressed=8,
            improved=0,
            failed=True,
            reason="mean dropped by 0.8",
            detectable_drop=0.3,
        ),
        ScorerSummary(
            name="brevity",
            baseline_mean=0.5,
            candidate_mean=0.75,
            delta=0.25,
            ci_low=0.1,
            ci_high=0.4,
            p_value=0.31,
            paired=10,
            regressed=0,
            improved=3,
            failed=False,
            reason="improved by 0.25",
            required=False,
            level=0.05,
            detectable_drop=0.2,
        ),
    )
    comparison = replace(regressed_comparison(), scorers=summaries)
    body = render_markdown(make_review(capital_prompt(comparison=comparison)))

    assert (
        "| Scorer | Role | Production | Candidate | Δ [interval] | p | Detectable drop | Verdict |"
        in body
    )
    assert (
        "| exact\\_match | required | 0.90 | 0.10 | -0.80 [-0.95, -0.60] | 0.0039 | 0.3 "
        "| ❌ mean dropped by 0.8 |"
    ) in body
    assert (
        "| brevity | informational | 0.50 | 0.75 | +0.25 [+0.10, +0.40] <sub>90 %</sub> "
        "| 0.31 | 0.2 | 📈 improved by 0.25 |"
    ) in body


def test_real_comparison_numbers_reach_the_table_and_example_counts() -> None:
    body = render_markdown(make_review())

    assert (
        "| exact\\_match | required | 1.00 | 0.20 | -0.80 [-1.00, -0.40] <sub>90 %</sub> |" in body
    )
    assert "| 0.0039 | 0.5 | ❌ mean dropped by 0.8" in body
    assert "**Examples:** 8 regressed · 0 improved · 2 unchanged · 0 failed to run." in body


def test_regressed_example_shows_input_expected_and_both_outputs_inside_details() -> None:
    body = render_markdown(make_review())
    details = body.split("<details><summary>❌ 8 regressed examples", 1)[1].split("</details>")[0]

    first = details.split("**Example `ex-0`**", 1)[1].split("**Example `ex-1`**")[0]
    assert ": exact\\_match 1.00 → 0.00 (trace `tr-0`)" in first
    assert "**Input**\n\n```\ncountry: France\n```" in first
    assert "**Expected**\n\n```\nexpected_response: Paris\n```" in first
    assert "**Production output**\n\n```\nParis\n```" in first
    assert "**Candidate output**\n\n```\nThe capital of France is Paris.\n```" in first
    assert "**Example `ex-8`**" not in details  # unchanged examples are not listed


def test_production_provenance_and_new_prompt_line() -> None:
    body = render_markdown(make_review())

    assert (
        "- **Versions:** candidate is v4; production is v3, from commit `abc1234` (PR #12), "
        "promoted 2026-11-20 by alice\n"
    ) in body
    assert "- **Versions:** candidate is v1; new prompt: no production version yet\n" in body
    assert "**Examples:** 2 evaluated · 0 failed to run." in body


def test_failed_prompts_come_first_so_a_cut_loses_passing_ones() -> None:
    body = render_markdown(make_review(new_prompt(), capital_prompt()))

    assert body.index("### ❌ `capital` failed") < body.index("### ✅ `greeting` passed")


def test_prompt_diff_links_reuse_notes_and_footer() -> None:
    review = make_review(tracking_uri="https://bot:hunter2@mlflow.test:5000/path?token=sekrit#frag")
    body = render_markdown(review, run_url=RUN_URL)

    assert "<details><summary>Prompt diff (production v3 → candidate v4)</summary>" in body
    assert "```diff\n--- capital (production)\n" in body
    assert f"[evaluation run]({UI}/runs/r-4)" in body
    assert f"[logged model]({UI}/models/m-4)" in body
    assert f"- ♻️ Production scores reused from [an earlier run]({UI}/runs/r-3): 0 model" in body
    assert "10 examples from `datasets/capital.jsonl` (digest `9f86d081884c`)" in body
    footer = body.rsplit("\n---\n", 1)[1]
    assert "Commit `def5678` vs base `0badc0d`" in footer
    assert "experiment `qa-bot`" in footer
    assert "tracking server `https://mlflow.test:5000/path`" in footer
    assert "1 min 23 s" in footer
    assert f"[workflow run]({RUN_URL})" in footer
    assert "hunter2" not in body
    assert "sekrit" not in body


def test_candidate_reuse_is_noted() -> None:
    prompt = capital_prompt(candidate_reused=True, baseline_reused=False, llm_calls=0)

    body = render_markdown(make_review(prompt))

    assert f"- ♻️ Candidate scores reused from [an earlier run]({UI}/runs/r-4)" in body
    assert "Production scores reused" not in body
    assert "on `openai:gpt-4o-mini`, 0 model calls\n" in body


def test_unsafe_links_are_dropped_and_link_syntax_cannot_be_broken() -> None:
    links = Links(
        prompt_version="javascript:alert(1)",
        model="http://mlflow.test/models/a b)(c",
        run="https://user:pw@mlflow.test/runs/1",
    )
    body = render_markdown(make_review(capital_prompt(links=links)), run_url="file:///etc")

    assert "javascript" not in body
    assert "[logged model](http://mlflow.test/models/a%20b%29%28c)" in body
    assert "[evaluation run](https://mlflow.test/runs/1)" in body
    assert "pw@" not in body
    assert "file:" not in body


def test_errored_examples_and_hidden_counts() -> None:
    comparison = regressed_comparison()
    errored = tuple(
        replace(e, change="error", candidate_output=None, candidate_error=f"timeout #{e.id}")
        for e in comparison.examples
    )
    comparison = replace(comparison, examples=errored * 2, candidate_errors=20)
    body = render_markdown(make_review(capital_prompt(comparison=comparison)))

    block = body.split("<details><summary>⚠️ 20 examples failed to run</summary>", 1)[1]
    block = block.split("</details>")[0]
    assert block.count("**Candidate error**") == 10
    assert "```\ntimeout #ex-0\n```" in block
    assert f"_…and 10 more: see the [evaluation run]({UI}/runs/r-4)._" in block


def test_deleted_and_errored_prompts_render_without_comparison() -> None:
    deleted = PromptResult(
        name="old",
        source_path="prompts/old.yaml",
        status="deleted",
        reason="file removed",
        result="skipped",
    )
    broken = PromptResult(
        name="broken",
        source_path="prompts/broken.yaml",
        status="modified",
        reason="changed",
        result="error",
        error="Traceback:\n```\nboom | </details>",
    )
    body = render_markdown(make_review(deleted, broken, result="error"))

    assert (
        "### ⏭️ `old` skipped\n\n- **Change:** deleted: file removed (`prompts/old.yaml`)\n\n"
        in body
    )
    assert "**Versions:**" not in body.split("### ⚠️ `broken`")[0]
    layout = assert_layout_intact(body, details=0)
    assert "Traceback:\n```\nboom | </details>" in layout.blocks


def test_long_outputs_are_truncated_with_a_note() -> None:
    long = "x" * 5000
    comparison = regressed_comparison([long] * 10)
    body = render_markdown(make_review(capital_prompt(comparison=comparison)))

    assert f"```\n{'x' * 2000}… [3000 more characters]\n```" in body
    assert "x" * 2001 not in body


def test_problems_are_listed_under_the_verdict() -> None:
    body = render_markdown(make_review(problems=("dataset has 3 duplicate ids | see log",)))

    assert "\n\n- ⚠️ dataset has 3 duplicate ids \\| see log\n\n" in body


def test_rendering_is_deterministic() -> None:
    review = make_review()
    history = [HistoryEntry("abc1234" + "0" * 33, "passed", "2026-11-20T09:00:00Z")]

    first = render_markdown(review, history=history, run_url=RUN_URL, at="2026-11-21T00:00:00Z")
    again = render_markdown(review, history=history, run_url=RUN_URL, at="2026-11-21T00:00:00Z")

    assert first == again


# --- untrusted text ---------------------------------------------------------------------------


@pytest.mark.robustness(
    area="content",
    case="model outputs, inputs, expectations, judge rationales, scorer errors, scorer and "
    "model names carrying |, </details>, code fences, our hidden markers and @mentions",
    behaviour="escaped for each place (table cell, code block, HTML); every table row keeps "
    "its cells, one marker, no mention notifies anyone",
)
def test_hostile_outputs_inputs_and_expectations_cannot_break_the_layout() -> None:
    comparison = regressed_comparison()
    hostile_examples = tuple(
        replace(
            e,
            id=f"{e.id}`|</details>",
            inputs={"country": HOSTILE},
            expectations={"expected_response": HOSTILE},
            candidate_output=HOSTILE,
            baseline_output="`" * 7 + HOSTILE,
            candidate_rationales={"exact_match": HOSTILE},
            candidate_score_errors={f"judge{HOSTILE}": HOSTILE},
        )
        for e in comparison.examples
    )
    scorers = tuple(
        replace(s, name=f"{s.name}|<b>|\n", reason=f"{s.reason} | </details>\n@octocat")
        for s in comparison.scorers
    )
    comparison = replace(comparison, examples=hostile_examples, scorers=scorers, reasons=(HOSTILE,))
    hostile_usage = Usage(model=HOSTILE, examples=10, input_tokens=5)
    prompt = capital_prompt(
        comparison=comparison,
        reason=HOSTILE,
        prompt_diff=HOSTILE,
        baseline=Baseline(version=3, alias="production", promoted_by="@octocat</summary>"),
        candidate_usage=replace(hostile_usage, model="m"),
        baseline_usage=hostile_usage,
    )
    body = render_markdown(
        make_review(prompt, summary=HOSTILE, problems=(HOSTILE,)), run_url=RUN_URL
    )

    layout = assert_layout_intact(body, details=2)
    assert body.count(MARKER) == 1
    assert body.count("<!-- prompt-review:history") == 1
    # Verbatim inside code blocks, apart from a zero-width space defusing copies of our markers.
    shown = HOSTILE.rstrip("\n").replace("<!-- prompt-review:", "<!-- prompt-review\u200b:")
    assert shown in layout.blocks
    assert "`" * 7 + shown in layout.blocks
    assert f"country:\n{shown}" in layout.blocks
    assert verdict_line(body).startswith("## ❌ prompt-review failed: a \\| b \\|\\| c<br>")
    assert "by @\u200boctocat&lt;/summary&gt;" in body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a|b", "a\\|b"),
        ("line1\nline2\r\nline3", "line1<br>line2<br>line3"),
        ("</details><!-- x -->", "&lt;/details&gt;&lt;!-- x --&gt;"),
        (
            "**bold** _it_ [l](u) `c` ~s~ \\",
            "\\*\\*bold\\*\\* \\_it\\_ \\[l\\](u) \\`c\\` \\~s\\~ \\\\",
        ),
        ("ping @octocat, not a@b.c", "ping @\u200boctocat, not a@b.c"),
        (None, ""),
    ],
)
def test_md_cell(value: object, expected: str) -> None:
    assert md_cell(value) == expected


def test_html_filter_escapes_tags_quotes_and_newlines() -> None:
    assert html_text('</summary>"x"\n\n@team') == "&lt;/summary&gt;&quot;x&quot;<br><br>@\u200bteam"


@pytest.mark.parametrize(
    ("content", "expected_fence"),
    [("plain", "```"), ("has ``` inside", "````"), ("`````", "``````"), ("~~~\n", "```")],
)
def test_fence_is_longer_than_any_backtick_run(content: str, expected_fence: str) -> None:
    block = fence(content, "diff")

    assert block == f"{expected_fence}diff\n{content.rstrip(chr(10))}\n{expected_fence}"
    assert read_layout(block).blocks == [content.rstrip("\n")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<!--prompt-review:comment", "`<!--prompt-review\u200b:comment`"),
        ("abc", "`abc`"),
        ("a`b", "``a`b``"),
        ("`x", "`` `x ``"),
        ("a\nb", "`a b`"),
        ("", "` `"),
    ],
)
def test_code_inline(value: str, expected: str) -> None:
    assert code_inline(value) == expected


def test_truncate_chars_says_how_much_was_cut() -> None:
    assert truncate_chars("abcdef", 6) == "abcdef"
    assert truncate_chars("abcdef", 4) == "abcd… [2 more characters]"


# --- history ------------------------------------------------------------------------------


def test_history_round_trips_and_shows_one_visible_line() -> None:
    earlier = [HistoryEntry("abc1234" + "0" * 33, "failed", "2026-11-20T09:00:00Z")]
    review = make_review(new_prompt(), result="passed")

    body = render_markdown(review, history=earlier, at="2026-11-21T10:00:00+01:00")

    assert parse_history(body) == [
        earlier[0],
        HistoryEntry(review.commit, "passed", "2026-11-21T10:00:00+01:00"),
    ]
    assert "\nHistory: `abc1234` ❌ failed → `def5678` ✅ passed\n" in body


def test_history_survives_hostile_values_without_closing_the_hidden_comment() -> None:
    hostile = [
        HistoryEntry("--><b>x</b>", "failed", "-- --!> <!--"),
        HistoryEntry('"\\\u2028é', "error", "\n\t]} -->"),
    ]
    body = render_markdown(make_review(), history=hostile)

    header = body.split("\n")[1]
    assert header.endswith(" -->")
    assert header.count("--") == 2  # only the comment's own opening and closing
    assert ">" not in header[len("<!-- prompt-review:history ") : -len(" -->")]
    assert parse_history(body)[:2] == hostile
    assert_layout_intact(body, details=3)


def test_current_verdict_replaces_a_rerun_of_the_same_commit_and_history_is_capped() -> None:
    review = make_review()
    earlier = [HistoryEntry(f"{i:040x}", "passed", f"t{i}") for i in range(25)]
    rerun = [*earlier, HistoryEntry(review.commit, "error", "t-rerun")]

    entries = parse_history(render_markdown(review, history=rerun, at="now"))

    assert len(entries) == 20
    assert entries[-1] == HistoryEntry(review.commit, "failed", "now")
    assert entries[-2] == earlier[-1]
    assert sum(1 for e in entries if e.commit == review.commit) == 1


def test_caller_may_include_the_current_entry_with_its_time() -> None:
    review = make_review()
    earlier = HistoryEntry("abc1234" + "0" * 33, "passed", "t1")
    current = HistoryEntry(review.commit, review.result, "2026-11-21T10:00:00Z")

    entries = parse_history(render_markdown(review, history=[earlier, current]))

    assert entries == [earlier, current]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "no marker here",
        f"{MARKER}\nno history",
        f"{MARKER}\n<!-- prompt-review:history [not json] -->",
        f"{MARKER}\n<!-- prompt-review:history [{{}}, 3, null] -->",
        f"{MARKER}\n<!-- prompt-review:history {'[' * 100_000} -->",
        f"prefix\n{MARKER}\n<!-- prompt-review:history "
        '[{"commit":"a","result":"passed","at":""}] -->',
    ],
)
def test_parse_history_returns_nothing_for_garbage(body: str) -> None:
    assert parse_history(body) == []


def test_parse_history_drops_malformed_entries_and_keeps_valid_ones() -> None:
    body = (
        f"{MARKER}\n<!-- prompt-review:history ["
        '{"commit":"abc","result":"passed","at":"t1"},'
        '{"commit":"abc","result":"exploded","at":"t"},'
        '{"commit":1,"result":"passed","at":"t"},'
        f'{{"commit":"{"f" * 65}","result":"passed","at":"t"}},'
        '{"commit":"def","result":"failed","at":"t2","extra":1}'
        "] -->"
    )

    assert parse_history(body) == [
        HistoryEntry("abc", "passed", "t1"),
        HistoryEntry("def", "failed", "t2"),
    ]


def test_a_history_lookalike_in_model_output_is_not_read_back() -> None:
    comparison = regressed_comparison([HOSTILE] * 10)
    body = render_markdown(make_review(capital_prompt(comparison=comparison)), at="t")

    assert [e.commit for e in parse_history(body)] == [make_review().commit]


# --- size cap -----------------------------------------------------------------------------


def huge_review(prompts: int, examples: int, output_chars: int) -> ReviewResult:
    base = regressed_comparison()
    template = base.regressions[0]
    diffs = tuple(
        replace(
            template,
            id=f"ex-{i}",
            inputs={"document": "d" * output_chars},
            baseline_output="```" + "b" * output_chars,
            candidate_output="c" * output_chars + "\n<details>",
        )
        for i in range(examples)
    )
    comparison = replace(base, examples=diffs, total=examples)
    return make_review(
        *(
            capital_prompt(
                name=f"prompt-{n}", comparison=comparison, prompt_diff="+" + "z" * 200_000
            )
            for n in range(prompts)
        )
    )


def test_huge_review_is_cut_to_the_limit_keeping_marker_verdict_and_layout() -> None:
    review = huge_review(prompts=100, examples=300, output_chars=4000)

    body = render_markdown(review, run_url=RUN_URL, history=[HistoryEntry("a" * 40, "error", "")])

    assert len(body) <= MAX_COMMENT_CHARS
    assert body.startswith(MARKER + "\n")
    assert verdict_line(body) == "## ❌ prompt-review failed: 1 of 2 prompts regressed"
    assert "This comment was cut at 65,000 characters" in body
    assert "_Left out to fit the size limit: see the [evaluation run](" in body
    assert f"The [workflow run]({RUN_URL}) has the full report." in body
    assert [e.result for e in parse_history(body)] == ["error", "failed"]
    layout = read_layout(body)  # every fence closed
    tags = re.findall(r"</?details>", "\n".join(layout.outside))
    assert tags.count("<details>") == tags.count("</details>") > 0


def test_cutting_inside_a_code_block_closes_it_and_the_details(tmp_path: Path) -> None:
    (tmp_path / "comment.md.j2").write_text(
        "## {{ result }}\n\n{% for p in prompts %}<details><summary>diff</summary>\n\n"
        "{{ p.prompt.prompt_diff|fence('diff') }}\n\n</details>\n{% endfor %}",
        encoding="utf-8",
    )
    diff = "\n".join(f"+line {i}" for i in range(20_000))

    body = render_markdown(
        make_review(capital_prompt(prompt_diff=diff)), template_dir=tmp_path, max_chars=20_000
    )

    assert len(body) <= 20_000
    assert "+line 100\n" in body
    assert "+line 19999" not in body
    layout = read_layout(body)
    assert "This comment was cut at 20,000 characters" in "\n".join(layout.outside)
    assert layout.outside.count("<details><summary>diff</summary>") == 1
    assert layout.outside.count("</details>") == 1


@pytest.mark.parametrize("max_chars", [3000, 10_000, 30_000])
def test_any_limit_is_respected(max_chars: int) -> None:
    body = render_markdown(
        huge_review(prompts=3, examples=30, output_chars=3000), max_chars=max_chars
    )

    assert len(body) <= max_chars
    assert verdict_line(body).startswith("## ❌ prompt-review failed")
    read_layout(body)


def test_a_review_slightly_too_long_degrades_before_cutting() -> None:
    review = huge_review(prompts=1, examples=12, output_chars=3000)

    full = render_markdown(review, max_chars=10**9)
    body = render_markdown(review, max_chars=20_000, run_url=RUN_URL)

    assert len(full) > 20_000
    assert "Some details were left out" not in full
    assert len(body) <= 20_000
    assert "Some details were left out to fit GitHub's comment size limit" in body
    assert "This comment was cut" not in body
    assert body.count("**Example `") < full.count("**Example `")
    assert "_…and " in body
    assert_layout_intact(body, details=2)


def test_limit_too_small_for_the_verdict_is_an_error() -> None:
    with pytest.raises(ValueError, match="too small"):
        render_markdown(make_review(), max_chars=100)


# --- template overrides -------------------------------------------------------------------


def test_template_dir_overrides_the_comment_and_can_reuse_builtin_partials(
    tmp_path: Path,
) -> None:
    (tmp_path / "comment.md.j2").write_text(
        "# Custom {{ result }} {{ summary|md_cell }}\n"
        "{% for p in prompts %}* {{ p.prompt.name|code_inline }} {{ p.regressions|length }}\n"
        "{% endfor %}{% include '_history.md.j2' %}",
        encoding="utf-8",
    )

    body = render_markdown(make_review(summary="a|b"), template_dir=tmp_path, at="t")

    assert body.startswith(MARKER + "\n<!-- prompt-review:history ")
    assert verdict_line(body) == "# Custom failed a\\|b"
    assert "* `capital` 8\n* `greeting` 0\n" in body
    assert "History: `def5678` ❌ failed" in body
    assert len(parse_history(body)) == 1


def test_template_dir_without_comment_template_falls_back_to_builtin(tmp_path: Path) -> None:
    (tmp_path / "_footer.md.j2").write_text("custom footer\n", encoding="utf-8")

    body = render_markdown(make_review(), template_dir=tmp_path)

    assert verdict_line(body).startswith("## ❌ prompt-review failed")
    assert body.endswith("custom footer\n")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ review.__class__.__mro__ }}", "unsafe"),
        ("{{ review.to_json.__globals__ }}", "unsafe"),
        ("{{ no_such_variable }}", "undefined"),
        ("{% for %}", "template error"),
    ],
)
def test_template_override_is_sandboxed_and_errors_name_the_file(
    tmp_path: Path, source: str, message: str
) -> None:
    (tmp_path / "comment.md.j2").write_text(source, encoding="utf-8")

    with pytest.raises(UserInputError, match=message) as caught:
        render_markdown(make_review(), template_dir=tmp_path)
    assert str(tmp_path / "comment.md.j2") in str(caught.value)


def test_missing_template_dir_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="template directory not found"):
        render_markdown(make_review(), template_dir=tmp_path / "nope")


# --- no changes and commit status ---------------------------------------------------------


def test_no_changes_comment_keeps_marker_and_history() -> None:
    earlier = [HistoryEntry("abc1234" + "0" * 33, "failed", "t1")]

    body = render_no_changes(history=earlier, run_url=RUN_URL, commit="fedcba9" + "0" * 33, at="t2")

    assert body.startswith(MARKER + "\n")
    assert verdict_line(body) == (
        "## ⏭️ prompt-review skipped: this pull request no longer changes any prompt"
    )
    assert parse_history(body) == [*earlier, HistoryEntry("fedcba9" + "0" * 33, "skipped", "t2")]
    assert "History: `abc1234` ❌ failed → `fedcba9` ⏭️ skipped" in body
    assert f"([workflow run]({RUN_URL}))" in body


def failing(name: str, delta: float, p_value: float) -> PromptResult:
    scorer = replace(
        regressed_comparison().scorers[0],
        delta=delta,
        p_value=p_value,
        p_adjusted=p_value,
        failed=True,
    )
    comparison = replace(regressed_comparison(), scorers=(scorer,))
    return capital_prompt(name=name, comparison=comparison)


@pytest.mark.parametrize(
    ("prompts", "expected"),
    [
        ((), "no prompt changes"),
        (
            (failing("qa", -0.8, 0.0039), new_prompt()),
            "2 prompts: 1 regression (qa: exact_match -0.80, p=0.004)",
        ),
        ((new_prompt(),), "1 prompt: all passed (1 new)"),
        (
            (failing("qa", -0.5, 0.0001), replace(new_prompt(), result="error", name="summ")),
            "2 prompts: 1 regression (qa: exact_match -0.50, p=<0.001), 1 error (summ)",
        ),
        ((replace(new_prompt(), result="error"),), "1 prompt: 1 error (greeting)"),
    ],
)
def test_status_description(prompts: tuple[PromptResult, ...], expected: str) -> None:
    assert (
        status_description(make_review(*prompts) if prompts else replace(make_review(), prompts=()))
        == expected
    )


def test_status_description_stays_within_140_chars_with_many_long_regressions() -> None:
    prompts = tuple(
        failing(f"a-very-long-prompt-name-number-{i:03d}", -0.3, 0.01) for i in range(9)
    )

    text = status_description(make_review(*prompts))

    assert len(text) <= 140
    assert text.startswith(
        "9 prompts: 9 regressions (a-very-long-prompt-name-numbe…: exact_match -0.30, p=0.01; "
    )
    assert re.search(r"\+\d+ more\)$", text)


def test_status_description_for_an_infrastructure_error_without_prompts() -> None:
    review = replace(make_review(), prompts=(), result="error", summary="MLflow\nunreachable " * 20)

    text = status_description(review)

    assert text.startswith("error: MLflow unreachable MLflow")
    assert len(text) == 140
    assert "\n" not in text


# --- verdict line, scorer roles, usage and the regressions table -----------------------------


def test_a_pass_says_in_its_verdict_line_what_drop_it_could_not_see() -> None:
    passing = regressed_comparison([city for _, city in CAPITALS])
    body = render_markdown(make_review(capital_prompt(result="passed", comparison=passing)))

    assert (
        "**Passed:** no scorer is worse by more than noise; at 10 examples and alpha 0.05 it "
        "detects drops of 0.5 or more (80 % power): smaller ones can pass unseen\n"
    ) in body


def test_the_verdict_line_of_a_failure_comes_right_under_the_heading() -> None:
    body = render_markdown(make_review())

    assert (
        "### ❌ `capital` failed\n\n"
        "**Failed:** exact\\_match: mean dropped by 0.8 (p=0.0039 &lt; alpha 0.05)\n"
    ) in body


def five_scorer_comparison() -> Comparison:
    names = ["exact_match", "contains", "is_json", "judge", "length"]

    def run(scores: list[list[float]], version: int) -> EvalResult:
        return EvalResult(
            prompt_name="capital",
            prompt_version=version,
            content_hash=f"h{version}",
            eval_key="k",
            examples=tuple(
                ExampleResult(
                    id=f"ex-{i}",
                    inputs={"country": f"c{i}"},
                    expectations={},
                    output="o",
                    scores=dict(zip(names, row, strict=True)),
                    repeats=3,
                )
                for i, row in enumerate(scores)
            ),
        )

    base = [[1.0] * 5 for _ in range(20)]
    cand = [[0.0 if i < 6 else 1.0] + [1.0] * 4 for i in range(20)]  # p = 1/64 on one scorer
    gate = GateConfig(required=("exact_match", "contains", "judge"))
    return compare(run(cand, 2), run(base, 1), names, gate)


def test_each_scorer_shows_its_role_and_corrected_p_value() -> None:
    comparison = five_scorer_comparison()
    body = render_markdown(make_review(capital_prompt(result="passed", comparison=comparison)))

    # 3 required scorers: Holm p = 3 x 1/64 = 0.047, tested at 0.05 / 3 (a 96.7 % interval)
    assert (
        "| exact\\_match | required | 1.00 | 0.70 | -0.30 [-0.50, -0.10] <sub>96.7 %</sub> "
        "| 0.047 <sub>(raw 0.016)</sub> | 0.37 | ❌ mean dropped by 0.3 (Holm p=0.047 &lt; alpha "
        "0.05) |"
    ) in body
    assert (
        "| is\\_json | informational | 1.00 | 1.00 | +0.00 [+0.00, +0.00] <sub>90 %</sub> |" in body
    )
    assert "Holm-corrected over the 3 required scorers" in body
    assert "3 samples per example and version" in body
    assert_layout_intact(body, details=2)


def test_usage_per_version_with_deltas_and_cost() -> None:
    prompt = capital_prompt(
        candidate_usage=Usage(
            model="gpt-4o-mini",
            examples=10,
            input_tokens=15_100,
            output_tokens=900,
            mean_latency_ms=420.0,
            cost=0.0028,
        ),
        baseline_usage=Usage(
            model="gpt-4o-mini",
            examples=10,
            input_tokens=12_400,
            output_tokens=1_200,
            mean_latency_ms=350.0,
            cost=0.0026,
        ),
    )

    body = render_markdown(make_review(prompt))

    assert "| Usage | Production | Candidate | Change |" in body
    assert "| Input tokens | 12,400 | 15,100 | +2,700 (+22 %) |" in body
    assert "| Output tokens | 1,200 | 900 | -300 (-25 %) |" in body
    assert "| Mean latency per call | 350 ms | 420 ms | +70 ms (+20 %) |" in body
    assert "| Cost (pricing:) | $0.0026 | $0.0028 | +$0.0002 (+8 %) |" in body
    assert "| Model |" not in body


def test_a_change_too_small_to_show_gets_no_percentage() -> None:
    prompt = capital_prompt(
        candidate_usage=Usage(model="echo", examples=6, mean_latency_ms=0.45),
        baseline_usage=Usage(model="echo", examples=6, mean_latency_ms=0.40),
    )

    body = render_markdown(make_review(prompt))
    slower = render_markdown(make_review(capital_prompt(
        candidate_usage=Usage(model="echo", examples=6, mean_latency_ms=0.40),
        baseline_usage=Usage(model="echo", examples=6, mean_latency_ms=0.45),
    )))  # fmt: skip

    assert "| Mean latency per call | 0 ms | 0 ms | ±0 ms |" in body
    assert "| Mean latency per call | 0 ms | 0 ms | ±0 ms |" in slower


def test_usage_table_names_a_model_change_and_leaves_out_what_was_not_measured() -> None:
    prompt = capital_prompt(
        candidate_usage=Usage(model="gpt-4o", examples=10, input_tokens=100),
        baseline_usage=Usage(model="gpt-4o-mini", examples=10, input_tokens=100),
    )

    body = render_markdown(make_review(prompt))

    assert "| Model | gpt-4o-mini | gpt-4o | changed |" in body
    assert "| Input tokens | 100 | 100 | +0 (+0 %) |" in body
    assert "latency" not in body and "Cost" not in body
    assert "| Usage |" not in render_markdown(make_review(capital_prompt()))


def test_regressed_examples_are_a_compact_table_worst_first_with_rationales() -> None:
    comparison = regressed_comparison()
    examples = tuple(
        replace(
            e,
            candidate_rationales={"exact_match": f"says more than the city ({e.id})"},
            worst_delta=-0.5 if e.id == "ex-3" else e.worst_delta,
        )
        for e in comparison.examples
    )
    # ex-3 dropped less than the others: it comes last
    examples = tuple(
        replace(e, candidate_scores={"exact_match": 0.5}) if e.id == "ex-3" else e for e in examples
    )
    body = render_markdown(
        make_review(capital_prompt(comparison=replace(comparison, examples=examples)))
    )

    header = (
        "| Regressed (worst first) | Input | Expected | Production | Candidate | Judge rationale |"
    )
    assert header in body
    rows = body.split(header, 1)[1].split("\n\n")[0].split("\n")[2:]
    assert [row.split(" | ")[0] for row in rows] == [
        f"| ex-{i}<br>exact\\_match 1.00 → {'0.50' if i == 3 else '0.00'}"
        for i in (0, 1, 2, 4, 5, 6, 7, 3)
    ]
    assert rows[0] == (
        "| ex-0<br>exact\\_match 1.00 → 0.00 | country: France | expected\\_response: Paris "
        "| Paris | The capital of France is Paris. | says more than the city (ex-0) |"
    )
    # the full texts stay below, in the details, with the rationale
    details = body.split("<details><summary>❌ 8 regressed examples", 1)[1]
    assert "**Judge rationale (candidate)**\n\n- exact\\_match: says more than the city (ex-0)" in (
        details
    )


def test_table_cells_shrink_with_the_size_ladder() -> None:
    review = huge_review(prompts=1, examples=12, output_chars=3000)

    body = render_markdown(review, max_chars=20_000)

    rows = [line for line in body.split("\n") if line.startswith("| ex-")]
    assert rows and all(len(row) < 2000 for row in rows)
    assert "more characters\\]" in rows[0]
    assert_layout_intact(body, details=body.count("<details>"))


def test_scorer_errors_are_shown_with_the_failed_example() -> None:
    comparison = regressed_comparison()
    broken = replace(
        comparison.examples[9],
        change="error",
        candidate_score_errors={"judge": "judge call failed after 3 attempts: HTTP 500"},
    )
    comparison = replace(comparison, examples=(*comparison.examples[:9], broken))

    body = render_markdown(make_review(capital_prompt(comparison=comparison)))

    failed = body.split("<details><summary>⚠️ 1 example failed to run</summary>", 1)[1]
    assert (
        "**Candidate scorer errors**\n\n- judge: judge call failed after 3 attempts: HTTP 500"
        in (failed)
    )


def test_status_description_uses_the_corrected_p_value() -> None:
    scorer = replace(
        regressed_comparison().scorers[0], p_value=0.001, p_adjusted=0.004, failed=True
    )
    prompt = capital_prompt(comparison=replace(regressed_comparison(), scorers=(scorer,)))

    assert status_description(make_review(prompt)) == (
        "1 prompt: 1 regression (capital: exact_match -0.80, p=0.004)"
    )


def test_usage_of_an_evaluation_sums_tokens_and_prices_listed_models() -> None:
    from prompt_review.config import Price
    from prompt_review.results import usage_of

    evaluation = replace(
        _eval(4, [city for _, city in CAPITALS]),
        examples=tuple(
            replace(e, input_tokens=1000, output_tokens=100, latency_ms=float(100 + i))
            for i, e in enumerate(_eval(4, [city for _, city in CAPITALS]).examples)
        ),
        llm_calls=10,
        judge_calls=20,
    )

    priced = usage_of(evaluation, "gpt-4o-mini", {"gpt-4o-mini": Price(input=0.15, output=0.6)})
    unpriced = usage_of(evaluation, "other", {"gpt-4o-mini": Price(input=0.15, output=0.6)})

    assert priced == Usage(
        model="gpt-4o-mini",
        examples=10,
        input_tokens=10_000,
        output_tokens=1_000,
        mean_latency_ms=104.5,
        llm_calls=10,
        judge_calls=20,
        cost=pytest.approx(0.0021),
    )
    assert unpriced.cost is None and unpriced.input_tokens == 10_000
    assert (
        usage_of(
            _eval(4, ["x"] * 10), "gpt-4o-mini", {"gpt-4o-mini": Price(input=1, output=1)}
        ).cost
        is None
    )


def test_example_traces_and_the_traces_view_are_linked_and_judge_calls_counted() -> None:
    prompt = capital_prompt(
        links=Links(
            run=f"{UI}/runs/r-4",
            traces=f"{UI}/evaluation-runs?selectedRunUuid=r-4",
            trace_prefix=f"{UI}/traces/",
        ),
        judge_calls=7,
    )
    body = render_markdown(make_review(prompt))
    assert f": exact\\_match 1.00 → 0.00 (trace [`tr-0`]({UI}/traces/tr-0))" in body
    assert f"[traces and scores]({UI}/evaluation-runs?selectedRunUuid=r-4)" in body
    assert "10 model calls, 7 judge calls" in body


def test_a_trace_id_that_is_not_mlflows_is_shown_but_never_linked() -> None:
    comparison = regressed_comparison()
    odd = replace(comparison.examples[0], candidate_trace_id="tr-0)](https://evil.example")
    prompt = capital_prompt(
        comparison=replace(comparison, examples=(odd, *comparison.examples[1:])),
        links=Links(trace_prefix=f"{UI}/traces/"),
    )
    body = render_markdown(make_review(prompt))
    assert "evil.example)" not in body.replace("`tr-0)](https://evil.example`", "")
    assert f"]({UI}/traces/tr-0)" not in body
