"""The action's packaging: action.yml, the Dockerfile and the workflows, checked by the same
linters CI runs and against the contract in DESIGN.md."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

from prompt_review.settings import Settings, input_variable

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
DOCKERFILE = ROOT / "Dockerfile"
WORKFLOWS = ROOT / ".github" / "workflows"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
PIN_SCRIPT = ROOT / ".ci" / "pin-action-image.sh"
DIGEST_REF = "docker://ghcr.io/octo-org/prompt-review@sha256:" + "ab" * 32

CONTRACT_INPUTS = {
    "github_token",
    "config",
    "mlflow_tracking_uri",
    "fail_on_regression",
    "comment",
    "review_drafts",
    "comment_author",
}
CONTRACT_OUTPUTS = {"result", "changed_prompts", "comment_url", "report_path"}
SHA_PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")


def tool(name: str) -> str:
    """A linter's executable: next to this interpreter (a venv) or on PATH; else skip."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' provides it)")
    return found


def run(*command: str) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"


def load_yaml(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def workflow_files() -> list[Path]:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert files, f"no workflows in {WORKFLOWS}"
    return files


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict)
    return on


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


# -- the linters CI runs ------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    run(tool("hadolint"), str(DOCKERFILE))


def test_action_metadata_passes_the_github_actions_schema() -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION))


def test_workflows_pass_the_github_workflows_schema() -> None:
    files = [str(path) for path in workflow_files()]
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files)


def test_workflows_and_action_pass_zizmor_offline() -> None:
    run(tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS), str(ACTION))


def test_scripts_parse() -> None:
    run("bash", "-n", str(ROOT / ".ci" / "check-docker.sh"))
    run("bash", "-n", str(ROOT / ".ci" / "pin-action-image.sh"))
    run("sh", "-n", str(ROOT / "docker" / "install.sh"))


def test_team_server_compose_file_passes_the_compose_spec_schema() -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE))


def test_team_server_dockerfile_passes_hadolint() -> None:
    run(tool("hadolint"), str(ROOT / "deploy" / "mlflow.Dockerfile"))


# -- action.yml against the contract ------------------------------------------------------


def test_action_inputs_are_the_contract_inputs_each_documented_with_a_default() -> None:
    inputs = load_yaml(ACTION)["inputs"]

    assert set(inputs) == CONTRACT_INPUTS
    for name, spec in inputs.items():
        assert spec.get("description"), f"input {name} has no description"
        assert "default" in spec, f"input {name} has no default"
        assert isinstance(spec["default"], str), f"input {name}: default must be a string"
    assert inputs["github_token"]["default"] == "${{ github.token }}"
    assert inputs["config"]["default"] == ".prompt-review.yml"
    assert inputs["mlflow_tracking_uri"]["default"] == ""
    assert inputs["fail_on_regression"]["default"] == "true"
    assert inputs["comment"]["default"] == "true"
    assert inputs["review_drafts"]["default"] == "false"


def test_action_outputs_are_the_contract_outputs() -> None:
    outputs = load_yaml(ACTION)["outputs"]

    assert set(outputs) == CONTRACT_OUTPUTS
    for name, spec in outputs.items():
        assert spec.get("description"), f"output {name} has no description"


def test_action_runs_the_repository_dockerfile() -> None:
    action = load_yaml(ACTION)

    assert action["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert action["branding"]["icon"]
    assert action["branding"]["color"]


def runner_env() -> dict[str, str]:
    return {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REPOSITORY": "octo-org/qa-bot",
        "GITHUB_SHA": "ffac537e6cbbf934b08745a378932722df287a53",
        "GITHUB_WORKSPACE": "/github/workspace",
    }


def test_the_action_defaults_parse_into_the_default_settings() -> None:
    env = runner_env()
    for name, spec in load_yaml(ACTION)["inputs"].items():
        env[input_variable(name)] = spec["default"].replace("${{ github.token }}", "ghs_token")

    settings = Settings.from_environ(env)

    assert settings.token == "ghs_token"
    assert settings.config_path == Path(".prompt-review.yml")
    assert settings.tracking_uri is None
    assert settings.fail_on_regression is True
    assert settings.comment is True
    assert settings.review_drafts is False


def test_every_action_input_reaches_settings() -> None:
    non_defaults = {
        "github_token": ("token", "ghs_other"),
        "config": ("config_path", Path("ci/review.yml")),
        "mlflow_tracking_uri": ("tracking_uri", "http://127.0.0.1:5000"),
        "fail_on_regression": ("fail_on_regression", False),
        "comment": ("comment", False),
        "review_drafts": ("review_drafts", True),
        "comment_author": ("comment_author", "prompt-app[bot]"),
    }
    raw = {
        "github_token": "ghs_other",
        "config": "ci/review.yml",
        "mlflow_tracking_uri": "http://127.0.0.1:5000",
        "fail_on_regression": "false",
        "comment": "false",
        "review_drafts": "true",
        "comment_author": "prompt-app[bot]",
    }
    assert set(non_defaults) == set(load_yaml(ACTION)["inputs"])

    for name, (field, expected) in non_defaults.items():
        settings = Settings.from_environ({**runner_env(), input_variable(name): raw[name]})
        assert getattr(settings, field) == expected, name


# -- Dockerfile ---------------------------------------------------------------------------


def test_entrypoint_is_exec_form_prompt_review_action() -> None:
    entrypoints = [args for keyword, args in dockerfile_instructions() if keyword == "ENTRYPOINT"]

    assert entrypoints, "the Dockerfile has no ENTRYPOINT"
    assert json.loads(entrypoints[-1]) == ["prompt-review", "action"]


def test_console_script_is_the_cli_main() -> None:
    (script,) = entry_points(group="console_scripts", name="prompt-review")

    assert script.value == "prompt_review.cli:main"


def test_image_runs_as_root_as_docker_actions_must() -> None:
    keywords = [keyword for keyword, _ in dockerfile_instructions()]

    assert "USER" not in keywords
    assert "WORKDIR" not in keywords  # the runner sets the workspace as working directory


def test_base_images_are_pinned_by_tag_and_digest() -> None:
    instructions = dockerfile_instructions()
    stages = {
        args.split()[-1] for keyword, args in instructions if keyword == "FROM" and " AS " in args
    }
    images = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    external = [image for image in images if image not in stages]

    assert external
    for image in external:
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), image


def test_image_installs_with_the_script_the_checker_replays() -> None:
    runs = [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }

    assert "sh /src/docker/install.sh /src /opt/prompt-review" in runs
    assert (ROOT / "docker" / "install.sh").is_file()
    assert {"pyproject.toml", "src", "docker"} <= allowed


def test_image_dependencies_are_pinned_exactly() -> None:
    lines = (ROOT / "docker" / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = [line for line in lines if line and not line.startswith("#")]

    assert pins
    for pin in pins:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", pin), pin
    assert not any(pin.lower().startswith(("prompt-review==", "prompt_review==")) for pin in pins)
    assert any(pin.lower().startswith("mlflow-skinny==") for pin in pins)
    assert not any(pin.lower().startswith("mlflow==") for pin in pins), "the image is skinny"


def test_image_sets_the_runtime_environment() -> None:
    env = " ".join(args for keyword, args in dockerfile_instructions() if keyword == "ENV")
    runs = " ".join(args for keyword, args in dockerfile_instructions() if keyword == "RUN")

    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "MLFLOW_SQLALCHEMYSTORE_POOLCLASS=NullPool",
    ):
        assert setting in env
    assert "apt-get install -y --no-install-recommends git" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs
    assert "git config --system --add safe.directory '*'" in runs


# -- workflows ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", workflow_files(), ids=lambda path: path.name)
def test_workflow_is_least_privilege_and_pinned(path: Path) -> None:
    workflow = load_yaml(path)

    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {name} does not declare its permissions"
    for step in steps(workflow):
        uses = step.get("uses")
        if uses is None or uses == "./":
            continue
        assert SHA_PINNED.fullmatch(uses), f"{uses} is not pinned by commit SHA"
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_dogfooding_reviews_the_demo_with_the_local_action() -> None:
    workflow = load_yaml(WORKFLOWS / "prompt-review.yml")
    on = triggers(workflow)
    local = [step for step in steps(workflow) if step.get("uses") == "./"]

    assert "pull_request" in on
    assert on["push"]["branches"] == ["main"]
    assert "pull_request.number" in workflow["concurrency"]["group"]
    assert local
    for step in local:
        assert step["with"]["config"] == "src/prompt_review/examples/demo/.prompt-review.yml"
    review = workflow["jobs"]["review"]["permissions"]
    assert review == {"contents": "read", "pull-requests": "write", "statuses": "write"}


# -- release ------------------------------------------------------------------------------


def test_release_pushes_the_image_then_pins_action_yml_to_its_digest() -> None:
    workflow = load_yaml(WORKFLOWS / "release.yml")
    image, publish = workflow["jobs"]["image"], workflow["jobs"]["publish"]
    build = next(s for s in image["steps"] if "build-push-action" in s.get("uses", ""))

    assert triggers(workflow) == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert image["permissions"] == {"contents": "read", "packages": "write"}
    assert publish["permissions"] == {"contents": "write"}
    assert publish["needs"] == "image"
    assert build["with"]["push"] is True
    assert image["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    runs = " ".join(step.get("run", "") for step in publish["steps"])
    assert 'bash .ci/pin-action-image.sh "$IMAGE"' in runs
    assert "push --force origin" in runs
    assert '"refs/tags/$TAG" "refs/tags/$major"' in runs


def test_the_pinned_action_yml_runs_the_image_by_digest(tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    action.write_text(ACTION.read_text(encoding="utf-8"), encoding="utf-8")

    run("bash", str(PIN_SCRIPT), DIGEST_REF, str(action))

    pinned = load_yaml(action)
    assert pinned["runs"] == {"using": "docker", "image": DIGEST_REF}
    assert {k: v for k, v in pinned.items() if k != "runs"} == {
        k: v for k, v in load_yaml(ACTION).items() if k != "runs"
    }
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(action))


@pytest.mark.parametrize(
    "image",
    [
        "docker://ghcr.io/octo-org/prompt-review:v1.2.3",  # a tag can move: digests only
        "ghcr.io/octo-org/prompt-review@sha256:" + "ab" * 32,
        "docker://ghcr.io/octo-org/prompt-review@sha256:abc",
        "docker://ghcr.io/x/y@sha256:" + "ab" * 32 + "\n  image: evil",
    ],
    ids=["tag", "no-scheme", "short-digest", "newline"],
)
def test_pinning_refuses_anything_but_a_digest(tmp_path: Path, image: str) -> None:
    action = tmp_path / "action.yml"
    original = ACTION.read_text(encoding="utf-8")
    action.write_text(original, encoding="utf-8")

    done = subprocess.run(
        ["bash", str(PIN_SCRIPT), image, str(action)], capture_output=True, text=True, check=False
    )

    assert done.returncode == 2, done.stderr
    assert "expected docker://REGISTRY/OWNER/NAME@sha256:" in done.stderr
    assert action.read_text(encoding="utf-8") == original
