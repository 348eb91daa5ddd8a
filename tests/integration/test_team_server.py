"""The team server of deploy/docker-compose.yml, without Docker: `mlflow server` of the pinned
version with PostgreSQL for metadata, artifacts proxied to a real S3 API on loopback (moto),
and basic auth, driven by concurrent `prompt-review` processes as several CI jobs would."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.git_repo import GitRepo
from tests.fakes.mlflow_server import MlflowServer, S3Server, start_mlflow
from tests.fakes.openai_server import OpenAIStub
from tests.integration.test_review_pipeline import CAPITALS, GOOD, capital_responder

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
BUCKET = "team-artifacts"
ADMIN = ("admin", "admin-password-for-tests")
CI_USER = ("prompt-review-ci", "ci-password-for-tests")
TERSE = "Name the capital of {{ country }}. Reply with the city name only."

pytestmark = pytest.mark.postgres


def compose_auth_config() -> str:
    """The basic-auth config the compose file ships, with its SQLite path made local."""
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return str(compose["configs"]["basic-auth"]["content"])


def request(url: str, auth: tuple[str, str] | None, body: dict[str, Any] | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@pytest.fixture(scope="module")
def team_server(
    tmp_path_factory: pytest.TempPathFactory, postgres: str, s3_server: S3Server
) -> Iterator[MlflowServer]:
    workdir = tmp_path_factory.mktemp("team-server")
    s3_server.client().create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    auth_ini = workdir / "basic_auth.ini"
    auth_ini.write_text(
        compose_auth_config().replace("sqlite:////auth/", f"sqlite:///{workdir}/"),
        encoding="utf-8",
    )
    server = start_mlflow(
        workdir,
        backend_uri=postgres,
        artifacts_destination=f"s3://{BUCKET}/mlflow",
        app_name="basic-auth",
        env={
            **s3_server.env,
            "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
            "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret",
        },
    )
    try:
        # As docs/deploy.md says: one account for CI, created by the admin.
        request(
            f"{server.uri}/api/2.0/mlflow/users/create",
            ADMIN,
            {"username": CI_USER[0], "password": CI_USER[1]},
        )
        yield server
    finally:
        server.stop()


def run_all(
    repos: list[GitRepo], *args: str, server: MlflowServer, stub: OpenAIStub
) -> list[subprocess.CompletedProcess[str]]:
    """Run `prompt-review ARGS` in every repository at once, as concurrent CI jobs."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MLFLOW_", "AWS_"))},
        "MLFLOW_TRACKING_URI": server.uri,
        "MLFLOW_TRACKING_USERNAME": CI_USER[0],
        "MLFLOW_TRACKING_PASSWORD": CI_USER[1],
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": "sk-test",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "prompt_review.cli", *args, "--repo", str(repo.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for repo in repos
    ]
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=900)
            results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return results


def make_team_repo(root: Path, name: str) -> GitRepo:
    """A repository with one prompt and a small dataset (the machine runs three at once)."""
    root.mkdir()
    repo = GitRepo(root)
    repo.write(
        ".prompt-review.yml",
        "experiment: team-experiment\n"
        "defaults:\n"
        "  model: {provider: openai, name: gpt-4o-mini, temperature: 0}\n"
        "  dataset: datasets/{name}.jsonl\n"
        "  scorers: [exact_match]\n",
    )
    repo.write(
        f"datasets/{name}.jsonl",
        "".join(
            json.dumps({"inputs": {"country": c}, "expectations": {"expected_response": city}})
            + "\n"
            for c, city in list(CAPITALS.items())[:4]
        ),
    )
    repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    repo.commit("production prompt")
    return repo


# Nine CLI runs, three at a time, against one server: minutes on a busy 2-core machine.
@pytest.mark.timeout(1800)
def test_concurrent_reviews_and_promotions_land_in_postgres_and_s3(
    tmp_path: Path, team_server: MlflowServer, s3_server: S3Server, openai_stub: OpenAIStub
) -> None:
    openai_stub.responder = capital_responder
    shared = f"capital-{uuid.uuid4().hex[:8]}"  # two repositories race to create this prompt
    names = [shared, shared, f"capital-{uuid.uuid4().hex[:8]}"]
    repos = [make_team_repo(tmp_path / f"repo{i}", name) for i, name in enumerate(names)]

    reviews = run_all(repos, "review", "--all", server=team_server, stub=openai_stub)
    for done in reviews:
        assert done.returncode == 0, done.stderr + done.stdout
    calls = openai_stub.call_count
    promotions = run_all(repos, "promote", server=team_server, stub=openai_stub)

    for done in promotions:
        assert done.returncode == 0, done.stderr + done.stdout
        assert "promoted: production → v1" in done.stdout or "already" in done.stdout
    assert openai_stub.call_count == calls, "the reviews' evaluations are reused"

    # Each repository then pushes an unreviewed change to main and promotes it, all at once:
    # evaluated now against production, promoted because it passes.
    for repo, name in zip(repos, names, strict=True):
        repo.write(f"prompts/{name}.yaml", f'template: "{TERSE}"\n')
        repo.commit("terser prompt")
    changed = run_all(repos, "promote", server=team_server, stub=openai_stub)
    for done in changed:
        assert done.returncode == 0, done.stderr + done.stdout

    from mlflow import MlflowClient

    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = CI_USER
    try:
        client = MlflowClient(tracking_uri=team_server.uri, registry_uri=team_server.uri)
        for name in set(names):
            versions = client.search_prompt_versions(name)
            assert len({v.tags["content_hash"] for v in versions}) == 2, "one version per content"
            production = client.get_prompt_version_by_alias(name, "production")
            assert production.template == TERSE
            assert client.get_prompt_version_by_alias(name, "previous-production").version == 1
        experiment = client.get_experiment_by_name("team-experiment")
        runs = client.search_runs([experiment.experiment_id], max_results=200)
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]

    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    keys = {
        item["Key"]
        for page in s3_server.client()  # type: ignore[attr-defined]
        .get_paginator("list_objects_v2")
        .paginate(Bucket=BUCKET, Prefix="mlflow/")
        for item in page.get("Contents", [])
    }
    assert len(runs) >= 2 * len(set(names))
    for run in runs:
        key = f"mlflow/{experiment.experiment_id}/{run.info.run_id}/artifacts/"
        assert key + "prompt_review/examples.json" in keys, f"{run.info.run_id}: not in the bucket"
    assert not (team_server.log.parent / "artifacts").exists(), "artifacts went to local disk"


def test_the_team_server_refuses_anonymous_and_wrong_credentials(
    team_server: MlflowServer,
) -> None:
    url = f"{team_server.uri}/api/2.0/mlflow/experiments/search?max_results=1"
    for auth in (None, (CI_USER[0], "wrong")):
        with pytest.raises(urllib.error.HTTPError) as raised:
            request(url, auth)
        raised.value.close()
        assert raised.value.code == 401

    assert isinstance(request(url, CI_USER), dict)  # the CI account gets in


def test_the_compose_file_runs_this_server_configuration() -> None:
    """What the test above runs is what deploy/docker-compose.yml starts."""
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    mlflow = compose["services"]["mlflow"]
    env = mlflow["environment"]

    assert "--app-name=basic-auth" in mlflow["command"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://s3:8333"
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert mlflow["image"].endswith(":" + _pinned_mlflow())
    assert list(mlflow.get("ports", [])) == ["${MLFLOW_PORT:-5000}:5000"]
    assert "ports" not in compose["services"]["postgres"], "PostgreSQL stays internal"
    assert "ports" not in compose["services"]["s3"], "S3 stays internal"


def _pinned_mlflow() -> str:
    from tests.integration.test_pins import pins

    (version,) = set(pins().values())
    return version
