"""A hostile pull request's files, through the real CLI: `prompt-review review` / `validate` as
a subprocess in a real git repository, against the real `mlflow server` and the stub
OpenAI-compatible server. Every bad input is exit 2 with an error naming the file, found
before anything is registered and before any model call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.git_repo import GitRepo
from tests.fakes.mlflow_server import MlflowServer
from tests.fakes.openai_server import OpenAIStub
from tests.integration.test_review_pipeline import CAPITALS, GOOD, capital_responder

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{level}: &{level} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, level in zip("abcdefgh", "bcdefghi", strict=True)
)


@dataclass
class Hostile:
    """A repository with a config and a dataset on main, and a pull-request branch."""

    repo: GitRepo
    server: MlflowServer
    stub: OpenAIStub
    suffix: str
    secret: str

    @property
    def experiment(self) -> str:
        return f"hostile-{self.suffix}"

    def name(self, stem: str = "capital") -> str:
        return f"{stem}-{self.suffix}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OPENAI_", "MLFLOW_", "GITHUB_"))
        }
        env.update(
            MLFLOW_TRACKING_URI=self.server.uri,
            OPENAI_BASE_URL=self.stub.base_url,
            OPENAI_API_KEY="sk-test-key",
            PROMPT_REVIEW_PLANTED_SECRET=self.secret,  # what /proc/self/environ would leak
        )
        return subprocess.run(
            [sys.executable, "-m", "prompt_review.cli", *args, "--repo", str(self.repo.root)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )

    def review(self) -> subprocess.CompletedProcess[str]:
        self.repo.commit("hostile change")
        return self.cli("review", "--base", "main")

    def registered(self) -> list[str]:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.server.uri, registry_uri=self.server.uri)
        found = client.search_prompts(filter_string=f"name LIKE '%{self.suffix}%'")
        return [p.name for p in found]

    def store_holds(self, *texts: str) -> bool:
        """Whether any of ``texts`` is in the MLflow server's database, artifacts or log."""
        needles = [text.encode() for text in texts]
        for path in self.server.log.parent.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if any(needle in data for needle in needles):
                    return True
        return False


@pytest.fixture
def hostile(git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub) -> Hostile:
    openai_stub.responder = capital_responder
    suffix = uuid.uuid4().hex[:8]
    h = Hostile(git_repo, mlflow_server, openai_stub, suffix, f"sk-planted-{uuid.uuid4().hex}")
    git_repo.write(
        ".prompt-review.yml",
        f"experiment: {h.experiment}\n"
        "defaults:\n"
        "  model: {provider: openai, name: gpt-4o-mini, temperature: 0}\n"
        "  dataset: datasets/capitals.jsonl\n"
        "  scorers: [exact_match]\n",
    )
    git_repo.write(
        "datasets/capitals.jsonl",
        "".join(
            json.dumps({"inputs": {"country": c}, "expectations": {"expected_response": city}})
            + "\n"
            for c, city in CAPITALS.items()
        ),
    )
    git_repo.commit("config and dataset")
    git_repo.git("checkout", "-q", "-b", "hostile")
    return h


def assert_refused(h: Hostile, done: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 2, each expected message on stderr, nothing registered, no model called."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("prompt-review: invalid input:"), done.stderr
    for message in expected:
        assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert h.registered() == []
    assert h.stub.call_count == 0


def outside_dir(h: Hostile) -> Path:
    outside = h.repo.root.parent / f"outside-{h.suffix}"
    outside.mkdir()
    (outside / "secret.yaml").write_text(f"template: 'the secret is {h.secret}'\n")
    (outside / "secret.jsonl").write_text(
        json.dumps({"inputs": {"country": h.secret}, "expectations": {}}) + "\n"
    )
    return outside


# --- files outside the repository ---------------------------------------------------------


@pytest.mark.robustness(
    area="files",
    case="a prompt file that is a symlink to /proc/self/environ, with a secret in the "
    "environment (review and validate)",
    behaviour="exit 2, the error names the file, the secret appears nowhere (stdout, stderr, "
    "MLflow store), nothing registered, 0 model calls",
)
def test_symlink_to_proc_self_environ_leaks_nothing(hostile: Hostile) -> None:
    leak = f"prompts/{hostile.name('leak')}.yaml"
    (hostile.repo.root / "prompts").mkdir()
    (hostile.repo.root / leak).symlink_to("/proc/self/environ")
    hostile.repo.write(f"prompts/{hostile.name()}.yaml", f'template: "{GOOD}"\n')

    reviewed = hostile.review()
    validated = hostile.cli("validate")

    for done in (reviewed, validated):
        assert_refused(
            hostile,
            done,
            f"{leak}: is a symlink to a file outside the repository; expected a file inside it",
        )
        assert hostile.secret not in done.stdout + done.stderr
    assert not hostile.store_holds(hostile.secret, hostile.experiment)


@pytest.mark.robustness(
    area="files",
    case="a prompt symlinked to a file outside through a symlinked folder, and a symlinked "
    "folder under prompts/ that points outside",
    behaviour="exit 2 naming the file (or folder); the outside file is never read",
)
def test_symlinks_through_folders_outside(hostile: Hostile) -> None:
    outside = outside_dir(hostile)
    root = hostile.repo.root
    (root / "prompts").mkdir()
    (root / "vendor").symlink_to(outside)
    (root / "prompts" / "via.yaml").symlink_to("../vendor/secret.yaml")
    (root / "prompts" / "shared").symlink_to(outside)

    done = hostile.review()

    assert_refused(
        hostile,
        done,
        "prompts/via.yaml: is a symlink to a file outside the repository",
        "prompts/shared: is a symlink to a folder outside the repository; "
        "expected a folder inside it",
    )
    assert hostile.secret not in done.stdout + done.stderr


@pytest.mark.robustness(
    area="files",
    case="dataset: ../../outside.jsonl in a prompt file; a dataset that is a symlink outside",
    behaviour="exit 2 naming the file and the key (or the dataset file); nothing read outside",
)
@pytest.mark.parametrize("how", ["dots", "symlink"])
def test_dataset_paths_outside_the_repository(hostile: Hostile, how: str) -> None:
    outside = outside_dir(hostile)
    path = f"prompts/{hostile.name(how)}.yaml"
    if how == "dots":
        hostile.repo.write(path, f'template: "{GOOD}"\ndataset: ../../outside.jsonl\n')
        expected = (
            f"{path}: dataset: expected a file inside the repository, relative to the "
            "repository root, got '../../outside.jsonl'"
        )
    else:
        hostile.repo.write(path, f'template: "{GOOD}"\ndataset: d/leak.jsonl\n')
        (hostile.repo.root / "d").mkdir()
        (hostile.repo.root / "d" / "leak.jsonl").symlink_to(outside / "secret.jsonl")
        expected = (
            "d/leak.jsonl: is a symlink to a file outside the repository; expected a file inside it"
        )

    done = hostile.review()

    assert_refused(hostile, done, expected)
    assert hostile.secret not in done.stdout + done.stderr


def test_a_symlink_inside_the_repository_is_followed(hostile: Hostile) -> None:
    name = hostile.name("alias")
    hostile.repo.write("shared/capital.yaml", f'name: {name}\ntemplate: "{GOOD}"\n')
    (hostile.repo.root / "prompts").mkdir()
    (hostile.repo.root / "prompts" / "capital.yaml").symlink_to("../shared/capital.yaml")

    done = hostile.cli("validate")

    assert done.returncode == 0, done.stderr
    assert "OK: 1 prompt(s), 1 dataset(s), 10 example(s)" in done.stdout


# --- sizes, bombs and pipes -----------------------------------------------------------------


@pytest.mark.robustness(
    area="files",
    case="a 1 MiB + 1 byte prompt file and a 16 MiB + 1 byte dataset",
    behaviour="exit 2 naming each file with its size and the limit",
)
@pytest.mark.parametrize("what", ["prompt", "dataset"])
def test_oversized_prompt_and_dataset(hostile: Hostile, what: str) -> None:
    if what == "prompt":
        path = f"prompts/{hostile.name('big')}.txt"
        hostile.repo.write(path, "x" * (1024 * 1024 + 1))
        limit = "the limit for a prompt file is 1,048,576 bytes (1 MiB)"
    else:
        path = "datasets/big.jsonl"
        hostile.repo.write(
            f"prompts/{hostile.name()}.yaml", f'template: "{GOOD}"\ndataset: {path}\n'
        )
        line = json.dumps({"inputs": {"country": "x" * 1000}}) + "\n"
        hostile.repo.write(path, line * (16 * 1024 * 1024 // len(line) + 1))
        limit = "the limit for a dataset file is 16,777,216 bytes (16 MiB)"

    done = hostile.review()

    size = (hostile.repo.root / path).stat().st_size
    assert_refused(hostile, done, f"{path}: is {size:,} bytes; {limit}")


@pytest.mark.robustness(
    area="files",
    case="a YAML alias bomb in .prompt-review.yml, and in a prompt file",
    behaviour="exit 2 naming the file, in about a second (mostly Python start-up)",
)
@pytest.mark.parametrize("where", ["config", "prompt"])
def test_yaml_bombs(hostile: Hostile, where: str) -> None:
    path = ".prompt-review.yml" if where == "config" else f"prompts/{hostile.name('bomb')}.yaml"
    hostile.repo.write(f"prompts/{hostile.name()}.yaml", f'template: "{GOOD}"\n')
    hostile.repo.write(path, BOMB)

    started = time.monotonic()
    done = hostile.review()
    seconds = time.monotonic() - started

    assert_refused(hostile, done, f"{path}: invalid YAML: its aliases expand ")
    print(f"{where} bomb: exit {done.returncode} in {seconds:.2f} s")  # reported, not asserted


@pytest.mark.robustness(
    area="files",
    case="a FIFO (named pipe) committed in place of a prompt file",
    behaviour="exit 2 at once (no blocking read) naming the file: expected a regular file",
)
def test_fifo_instead_of_a_prompt_file(hostile: Hostile) -> None:
    (hostile.repo.root / "prompts").mkdir()
    pipe = f"prompts/{hostile.name('pipe')}.yaml"
    os.mkfifo(hostile.repo.root / pipe)

    done = hostile.cli("validate")

    assert_refused(hostile, done, f"{pipe}: is a FIFO (named pipe); expected a regular file")


# --- what MLflow would refuse, found before any registry write ---------------------------


def _long_param(h: Hostile) -> str:
    return f'template: "{GOOD}"\nmodel: {{params: {{user: "{"u" * 100_000}"}}}}\n'


def _settings_size() -> str:
    """How long the settings of ``_long_param`` are as the registry would store them."""
    from prompt_review.config import ModelConfig

    model = ModelConfig(name="gpt-4o-mini", temperature=0, params={"user": "u" * 100_000})
    return f"{len(json.dumps(model.identity(), ensure_ascii=False)):,}"


CASES: list[tuple[str, Callable[[Hostile], str], str]] = [
    (
        "dots",
        lambda h: f'name: ".."\ntemplate: "{GOOD}"\n',
        "name: '..' is not a valid registry name (MLflow refuses a name that reads as a path",
    ),
    (
        "long",
        lambda h: f'name: "{"n" * 600}"\ntemplate: "{GOOD}"\n',
        "name: 600 characters; expected at most 200",
    ),
    (
        "slash",
        lambda h: f'name: "a/b"\ntemplate: "{GOOD}"\n',
        "name: 'a/b' is not a valid registry name (expected letters, digits",
    ),
    (
        "tmpl",
        lambda h: f'template: "{"t" * 100_001}"\n',
        "template: 100,001 characters as MLflow stores it; expected at most 100,000",
    ),
    (
        "chat",
        lambda h: 'messages:\n  - {role: user, content: "' + "é" * 20_000 + '"}\n',
        "messages: 120,033 characters as MLflow stores it; expected at most 100,000",
    ),
    (
        "params",
        _long_param,
        f"model: the settings are {_settings_size()} characters as JSON (tools and "
        "response_format included); MLflow keeps them in a prompt version tag of at most 100,000",
    ),
    (
        "key",
        lambda h: f'template: "{GOOD}"\nmodel: {{params: {{{"k" * 300}: 1}}}}\n',
        "model.params." + "k" * 40 + "…: a key of 300 characters; expected at most 249",
    ),
    (
        "desc",
        lambda h: f'template: "{GOOD}"\ndescription: "{"d" * 5001}"\n',
        "description: 5,001 characters; expected at most 5,000",
    ),
]


@pytest.mark.robustness(
    area="input",
    case="a registry name MLflow refuses ('..', 600 characters, 'a/b'), a template or chat "
    "over the registry's 100,000 characters, model settings over the 100,000-character tag, a "
    "param name over 249 characters, a description over 5,000",
    behaviour="exit 2 naming the file and key, found when the prompt is parsed: nothing "
    "registered, no experiment created, 0 model calls",
)
@pytest.mark.parametrize(("stem", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_what_mlflow_would_refuse_is_an_input_error_before_any_write(
    hostile: Hostile, stem: str, text: Callable[[Hostile], str], expected: str
) -> None:
    path = f"prompts/{hostile.name(stem)}.yaml"
    hostile.repo.write(path, text(hostile))

    done = hostile.review()

    assert_refused(hostile, done, f"{path}: {expected}")
    assert not hostile.store_holds(hostile.experiment)


@pytest.mark.robustness(
    area="input",
    case="a python entry point outside the repository (name: 'os:getcwd')",
    behaviour="exit 2 naming the prompt file, before anything is imported or registered",
)
def test_python_entry_point_outside_the_repository(hostile: Hostile) -> None:
    path = f"prompts/{hostile.name('py')}.yaml"
    hostile.repo.write(
        path, f'template: "{GOOD}"\nmodel: {{provider: python, name: "os:getcwd"}}\n'
    )

    done = hostile.review()

    assert_refused(
        hostile,
        done,
        f"{path}: python provider: entry point 'os:getcwd': module 'os' resolves to ",
        "outside the repository; expected the entry point's module inside the repository",
    )


def test_a_prompt_named_with_a_dot_is_reviewed_end_to_end(hostile: Hostile) -> None:
    """MLflow allows '.' in a prompt name but not in a LoggedModel's: the model is renamed."""
    name = f"support.reply.{hostile.suffix}"
    hostile.repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')

    done = hostile.review()

    assert done.returncode == 0, done.stderr
    assert hostile.registered() == [name]
    assert hostile.stub.call_count == len(CAPITALS)
    client: Any = _client(hostile)
    experiment = client.get_experiment_by_name(hostile.experiment)
    [model] = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert model.name == f"support_reply_{hostile.suffix}-v1"
    assert model.tags["prompt_name"] == name


def _client(h: Hostile) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=h.server.uri, registry_uri=h.server.uri)
