"""Drive `prompt-review action` the way the runner does: a subprocess with runner-shaped env.

Everything the action talks to is real or a loopback server: a git repository in a temp dir,
the session's `mlflow server`, the fake GitHub REST API and the stub OpenAI-compatible server.
Event payloads are the recorded webhook examples in ``tests/fixtures/github/events``, adapted
(repository, numbers, SHAs, refs) the way GitHub would fill them in for this repository.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.git_repo import GitRepo
from tests.fakes.github_server import FAKE_TOKEN, FakeGitHub, LoggedRequest
from tests.fakes.openai_server import OpenAIStub

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "events"
REPOSITORY = "acme/prompt-lab"
SERVER_URL = "https://github.com"
RUN_ID = "4242"
ZERO_SHA = "0" * 40
MARKER = "<!-- prompt-review:comment -->"
API_KEY = "sk-test-e2e"

# The stub model "knows" these capitals; a prompt that asks sloppily gets a wrong answer.
CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Peru": "Lima",
    "Canada": "Ottawa",
    "Egypt": "Cairo",
}
GOOD = "What is the capital of {{ country }}? Reply with the city name only."
BETTER = "Name the capital city of {{ country }}. Reply with the city name only."
SLOPPY = "Guess a big city in {{ country }} (sloppy)."
SLOPPY_AGAIN = "Guess any large city of {{ country }}, be sloppy."


def capital_responder(request: dict[str, Any]) -> str:
    """The stub model: the capital of the country in the prompt, unless asked sloppily."""
    text = ""
    for message in request.get("messages", []):
        if message.get("role") == "user":
            text = str(message.get("content", ""))
    country = next((c for c in CAPITALS if c in text), None)
    if country is None:
        return "I do not know"
    if "sloppy" in text.lower():
        return f"Somewhere in {country}"
    return CAPITALS[country]


# -- step outputs ------------------------------------------------------------------------------

_HEREDOC = re.compile(r"^(?P<name>[^=<\s]+)<<(?P<delimiter>.+)$")


def parse_github_output(text: str) -> dict[str, str]:
    """Parse a ``GITHUB_OUTPUT`` file as the runner does: ``name=value`` lines and heredocs
    (``name<<DELIMITER`` … ``DELIMITER``). A later value of a name wins."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        match = _HEREDOC.match(line)
        if match:
            delimiter = match.group("delimiter")
            value: list[str] = []
            while True:
                if index >= len(lines):
                    raise ValueError(f"heredoc {delimiter!r} of {match.group('name')} never ends")
                if lines[index] == delimiter:
                    index += 1
                    break
                value.append(lines[index])
                index += 1
            outputs[match.group("name")] = "\n".join(value)
            continue
        name, sep, rest = line.partition("=")
        if not sep:
            raise ValueError(f"malformed GITHUB_OUTPUT line: {line!r}")
        outputs[name] = rest
    return outputs


# -- event payloads ----------------------------------------------------------------------------


def _load_event(name: str, repository: str) -> Any:
    """A recorded payload with its example repository renamed to ``repository``."""
    text = (EVENTS / name).read_text(encoding="utf-8")
    owner, repo = repository.split("/")
    for old, new in (
        ("Codertocat/Hello-World", repository),
        ("octo-org/octo-repo", repository),
        ("Hello-World", repo),
        ("octo-repo", repo),
    ):
        text = text.replace(old, new)
    data = json.loads(text)
    data["repository"].update(default_branch="main", master_branch="main")
    data["repository"]["owner"]["login"] = owner
    return data


def pull_request_event(
    action: str,
    *,
    number: int,
    head_sha: str,
    base_sha: str,
    repository: str = REPOSITORY,
    head_ref: str = "feature",
    head_repository: str | None = None,
    draft: bool = False,
    merged: bool = False,
) -> dict[str, Any]:
    fixture = {
        "synchronize": "pull_request.synchronize.json",
        "closed": "pull_request.closed.json",
    }.get(action, "pull_request.opened.json")
    data = _load_event(fixture, repository)
    data["action"] = action
    data["number"] = number
    pr = data["pull_request"]
    pr.update(number=number, draft=draft, merged=merged, state="closed" if merged else "open")
    owner = repository.partition("/")[0]
    pr["head"].update(sha=head_sha, ref=head_ref, label=f"{owner}:{head_ref}")
    pr["base"].update(sha=base_sha, ref="main", label=f"{owner}:main")
    if head_repository is not None:
        head_repo = copy.deepcopy(pr["head"]["repo"])
        head_repo.update(full_name=head_repository, name=head_repository.split("/")[1], fork=True)
        head_repo["owner"] = dict(head_repo["owner"], login=head_repository.split("/")[0])
        pr["head"]["repo"] = head_repo
    if action == "synchronize":
        data["after"] = head_sha
    return data


def push_event(
    *, before: str, after: str, repository: str = REPOSITORY, ref: str = "refs/heads/main"
) -> dict[str, Any]:
    data = _load_event("push.json", repository)
    data.update(ref=ref, before=before, after=after, created=before == ZERO_SHA, deleted=False)
    data["head_commit"] = dict(data.get("head_commit") or {}, id=after)
    return data


def dispatch_event(inputs: Mapping[str, str], repository: str = REPOSITORY) -> dict[str, Any]:
    data = _load_event("workflow_dispatch.json", repository)
    data["inputs"] = dict(inputs)
    data["ref"] = "refs/heads/main"
    return data


def issue_comment_event(repository: str = REPOSITORY) -> dict[str, Any]:
    data: dict[str, Any] = _load_event("issue_comment.created.json", repository)
    return data


# -- the project in the git repository ---------------------------------------------------------


def config_text(experiment: str, *, gate: str = "") -> str:
    return (
        f"experiment: {experiment}\n"
        "defaults:\n"
        "  model: {provider: openai, name: gpt-4o-mini, temperature: 0}\n"
        "  dataset: datasets/capitals.jsonl\n"
        "  scorers: [exact_match]\n"
        "evaluation:\n"
        "  concurrency: 4\n"
        "  max_retries: 0\n" + gate
    )


def dataset_text(countries: Sequence[str] = tuple(CAPITALS)) -> str:
    return "".join(
        json.dumps({"inputs": {"country": c}, "expectations": {"expected_response": CAPITALS[c]}})
        + "\n"
        for c in countries
    )


def prompt_text(template: str) -> str:
    return f"template: {json.dumps(template)}\n"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# -- running the action ------------------------------------------------------------------------


@dataclass
class ActionRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    seconds: float
    github_requests: list[LoggedRequest] = field(default_factory=list)
    llm_calls: int = 0
    output_text: str = ""  # the GITHUB_OUTPUT file as written
    github_bodies: list[str] = field(default_factory=list)  # request bodies GitHub received
    report_text: str = ""  # the JSON report, when one was written

    def explain(self) -> str:
        return (
            f"exit {self.returncode} after {self.seconds:.1f} s\n--- stdout ---\n"
            f"{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}"
        )


@dataclass
class Action:
    """One repository's workflow: the git checkout, its fake GitHub and model, its MLflow."""

    repo: GitRepo
    github: FakeGitHub
    llm: OpenAIStub
    tracking_uri: str
    scratch: Path
    repository: str = REPOSITORY
    ref: str = "refs/heads/main"
    experiment: str = ""
    runs: int = 0

    def __post_init__(self) -> None:
        self.github.add_repository(self.repository)

    # -- the repository --------------------------------------------------------------------

    def setup(
        self, prompts: Mapping[str, str], *, gate: str = "", countries: Sequence[str] = ()
    ) -> str:
        """Commit config, dataset and ``prompts`` (name → template) on main; the commit."""
        self.experiment = unique("e2e")
        self.repo.write(".prompt-review.yml", config_text(self.experiment, gate=gate))
        self.repo.write("datasets/capitals.jsonl", dataset_text(countries or tuple(CAPITALS)))
        self.repo.write("README.md", "# prompts\n")
        for name, template in prompts.items():
            self.repo.write(f"prompts/{name}.yaml", prompt_text(template))
        return self.repo.commit("base")

    def branch(self, name: str, start: str) -> None:
        self.repo.git("checkout", "-q", "-B", name, start)

    def checkout_pull(self, number: int, head: str, base: str) -> str:
        """What actions/checkout gives a pull_request job: head merged into base, detached.

        ``GITHUB_SHA`` is that merge commit, never the head the status belongs on."""
        self.repo.git("checkout", "-q", "--detach", base)
        self.repo.git("merge", "-q", "--no-ff", "--no-edit", head)
        self.ref = f"refs/pull/{number}/merge"
        return self.repo.head()

    def merge_to_main(self, head: str) -> str:
        """Merge ``head`` into main with a merge commit and check main out; the merge SHA."""
        self.repo.git("checkout", "-q", "main")
        self.repo.git("merge", "-q", "--no-ff", "--no-edit", head)
        self.ref = "refs/heads/main"
        return self.repo.head()

    def env(self, event_name: str, event_path: Path, **overrides: str) -> dict[str, str]:
        self.runs += 1
        output = self.scratch / f"output-{self.runs}.txt"
        summary = self.scratch / f"summary-{self.runs}.md"
        output.write_text("", encoding="utf-8")
        summary.write_text("", encoding="utf-8")
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
        for name in ("MLFLOW_TRACKING_URI", "OPENAI_BASE_URL", "OPENAI_API_KEY", "RUNNER_DEBUG"):
            keep.pop(name, None)
        env = {
            **keep,
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_SHA": self.repo.head(),
            "GITHUB_REF": self.ref,
            "GITHUB_WORKSPACE": str(self.repo.root),
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": SERVER_URL,
            "GITHUB_RUN_ID": RUN_ID,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "INPUT_GITHUB_TOKEN": FAKE_TOKEN,
            "INPUT_CONFIG": ".prompt-review.yml",
            "INPUT_MLFLOW_TRACKING_URI": self.tracking_uri,
            "INPUT_FAIL_ON_REGRESSION": "true",
            "INPUT_COMMENT": "true",
            "INPUT_REVIEW_DRAFTS": "false",
            "OPENAI_BASE_URL": self.llm.base_url,
            "OPENAI_API_KEY": API_KEY,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(overrides)
        return env

    def run(
        self,
        event_name: str,
        payload: Mapping[str, Any],
        *,
        timeout: float = 240,
        **env_overrides: str,
    ) -> ActionRun:
        event_path = self.scratch / f"event-{self.runs + 1}.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        env = self.env(event_name, event_path, **env_overrides)
        requests_before = len(self.github.requests)
        bodies_before = len(self.github.bodies)
        calls_before = self.llm.call_count
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "prompt_review.cli", "action"],
            cwd=self.repo.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        output_text = Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8")
        run = ActionRun(
            returncode=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
            outputs=parse_github_output(output_text),
            summary=Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8"),
            seconds=seconds,
            github_requests=self.github.requests[requests_before:],
            llm_calls=self.llm.call_count - calls_before,
            output_text=output_text,
            github_bodies=self.github.bodies[bodies_before:],
        )
        outputs = run.outputs
        report = self.repo.root / outputs["report_path"] if outputs.get("report_path") else None
        if report is not None and report.is_file():
            run.report_text = report.read_text(encoding="utf-8")
        log_dir = os.environ.get("PROMPT_REVIEW_E2E_LOG")  # keep every run's log for a look
        if log_dir:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            label = f"{self.scratch.parent.name}-{self.runs:02d}-{event_name}"
            Path(log_dir, f"{label}.log").write_text(
                f"{run.explain()}\n--- outputs ---\n{json.dumps(run.outputs, indent=2)}\n"
                f"--- github ---\n"
                + "\n".join(f"{r.method} {r.path} {r.status}" for r in run.github_requests)
                + f"\n--- summary ---\n{run.summary}",
                encoding="utf-8",
            )
        return run

    # -- pull requests ---------------------------------------------------------------------

    def open_pull(
        self,
        number: int,
        *,
        head_sha: str,
        base_sha: str,
        files: Sequence[str | tuple[str, str]],
        head_repository: str | None = None,
        draft: bool = False,
    ) -> None:
        self.github.add_pull(
            self.repository,
            number,
            head_sha=head_sha,
            base_sha=base_sha,
            head_repository=head_repository,
            draft=draft,
            files=self.file_entries(files),
        )

    def set_files(self, number: int, files: Sequence[str | tuple[str, str]]) -> None:
        self.github.set_files(self.repository, number, self.file_entries(files))

    @staticmethod
    def file_entries(files: Sequence[str | tuple[str, str]]) -> list[dict[str, Any]]:
        from tests.fakes.github_server import changed_file

        entries = []
        for item in files:
            path, status = (item, "modified") if isinstance(item, str) else item
            entries.append(changed_file(path, status))
        return entries

    def push_to_pull(
        self, number: int, *, head_sha: str, base_sha: str, files: Sequence[str | tuple[str, str]]
    ) -> None:
        """A push to the PR branch: the fake's pull request gets the new head (comments stay)."""
        self.open_pull(number, head_sha=head_sha, base_sha=base_sha, files=files)

    def comments(self, number: int) -> list[dict[str, Any]]:
        return self.github.comments(self.repository, number)

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        return [
            s for s in self.github.statuses(self.repository, sha) if s["context"] == "prompt-review"
        ]


def where_secrets_leak(
    secrets: Sequence[str], run: ActionRun, stores: Sequence[Path] = ()
) -> list[str]:
    """Everywhere the tool wrote one of ``secrets``: [] when nowhere.

    Looked at: stdout (but ``::add-mask::`` lines, which the runner consumes to hide the
    value), stderr, GITHUB_OUTPUT, the job summary, the JSON report, every request body
    GitHub received, and each file under ``stores`` (an MLflow server's SQLite file and
    artifact folder).
    """
    log = "\n".join(line for line in run.stdout.splitlines() if not line.startswith("::add-mask::"))
    texts = {
        "stdout": log,
        "stderr": run.stderr,
        "GITHUB_OUTPUT": run.output_text,
        "job summary": run.summary,
        "JSON report": run.report_text,
        **{f"GitHub request body {i}": body for i, body in enumerate(run.github_bodies)},
    }
    found = [
        f"{name}: {secret!r}"
        for name, text in texts.items()
        for secret in secrets
        if secret in text
    ]
    for store in stores:
        for path in sorted(p for p in store.rglob("*") if p.is_file()):
            data = path.read_bytes()
            found += [f"{path}: {secret!r}" for secret in secrets if secret.encode() in data]
    return found


def annotations(stdout: str, level: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(f"::{level}")]
