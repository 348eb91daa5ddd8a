"""A real `mlflow server` on loopback (SQLite by default), and what a team server runs on:
a throwaway PostgreSQL cluster and an S3-compatible store (moto in server mode).

A service that cannot start on a user's machine skips its tests with the reason; under
``CI`` (where ``.ci/run`` installs every tool) it fails loudly instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

# Where operating systems keep PostgreSQL's server tools when they are not on PATH.
POSTGRES_DIRS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/usr/local/pgsql/bin",  # built from source
    "/opt/homebrew/opt/postgresql*/bin",  # macOS, Homebrew
    "/usr/local/opt/postgresql*/bin",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable(reason: str) -> NoReturn:
    """Skip on a user's machine; fail in CI, where the service is guaranteed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI: .ci/run installs it)")
    pytest.skip(reason)


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started with ``start_new_session``: its whole group (mlflow server
    forks uvicorn workers and job consumers that outlive a signal to the parent alone)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of an exited parent


@dataclass
class MlflowServer:
    uri: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        stop_process(self.process)


def start_mlflow(
    workdir: Path,
    backend_uri: str | None = None,
    *,
    artifacts_destination: str | None = None,
    app_name: str | None = None,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    startup_seconds: float = 300,  # a deadline: a busy 2-core machine needs minutes
) -> MlflowServer:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    backend = backend_uri or f"sqlite:///{workdir / 'mlflow.db'}"
    log = workdir / "server.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend,
        "--artifacts-destination", artifacts_destination or str(workdir / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    if app_name:
        command += ["--app-name", app_name]
    environ = {
        **os.environ,
        "MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool",
        # No server-side jobs (online scoring, optimisation) run in these tests: without this
        # every server starts a job runner and nine huey consumer processes.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        # The server prices each traced chat call from MLflow's model catalog: the bundled
        # one, as docs/mlflow.md tells an offline team server (no GitHub download to retry).
        "MLFLOW_MODEL_CATALOG_URI": "",
        **(env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=environ, start_new_session=True
        )
    server = MlflowServer(uri=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        wait_for_http(f"{server.uri}/health", process, log, timeout=startup_seconds)
    except RuntimeError:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One server for the session; tests isolate themselves with unique names."""
    server = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


# -- PostgreSQL ---------------------------------------------------------------------------


def postgres_tool(name: str) -> str | None:
    """``name`` on PATH, else in the newest PostgreSQL install the OS keeps off PATH."""
    found = shutil.which(name)
    if found:
        return str(Path(found).resolve())
    candidates = [Path(d) / name for pattern in POSTGRES_DIRS for d in glob.glob(pattern)]
    runnable = [c for c in candidates if os.access(c, os.X_OK)]
    return str(max(runnable, key=_version_key)) if runnable else None


def _version_key(path: Path) -> tuple[int, ...]:
    digits = "".join(ch if ch.isdigit() else " " for ch in str(path)).split()
    return tuple(int(d) for d in digits)


@dataclass
class _Cluster:
    base: Path
    data: Path
    bin_dir: Path
    port: int
    user: str | None  # run the server tools as this user (initdb refuses root)

    def run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
            user=self.user,
            group=pwd.getpwnam(self.user).pw_gid if self.user else None,
            extra_groups=[] if self.user else None,
            cwd=self.base,
        )


def _cluster() -> _Cluster:
    initdb = postgres_tool("initdb")
    if initdb is None:
        unavailable(
            "PostgreSQL is not installed (no initdb on PATH or in "
            + ", ".join(POSTGRES_DIRS)
            + "); set PROMPT_REVIEW_TEST_PG_URI to use a running server"
        )
    bin_dir = Path(initdb).parent
    if not (bin_dir / "pg_ctl").is_file():
        unavailable(f"PostgreSQL: {bin_dir} has initdb but no pg_ctl")
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            unavailable("running as root, and there is no 'postgres' user to run initdb as")
    # Not under pytest's 0700 temp root: the postgres user must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="prompt-review-pg-"))
    base.chmod(0o755)
    if user:
        shutil.chown(base, user)
    return _Cluster(base=base, data=base / "data", bin_dir=bin_dir, port=free_port(), user=user)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL URI: $PROMPT_REVIEW_TEST_PG_URI, or a throwaway cluster we start."""
    given = os.environ.get("PROMPT_REVIEW_TEST_PG_URI")
    if given:
        yield given
        return
    cluster = _cluster()
    options = f"-p {cluster.port} -k {cluster.base} -c listen_addresses=127.0.0.1"
    try:
        cluster.run("initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust")
        cluster.run("pg_ctl", "-D", str(cluster.data), "-l", str(cluster.base / "pg.log"),
                    "-w", "-o", options, "start")  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        log = cluster.base / "pg.log"
        detail = stderr.decode(errors="replace") + (log.read_text() if log.is_file() else "")
        shutil.rmtree(cluster.base, ignore_errors=True)
        unavailable(f"PostgreSQL did not start: {exc}\n{detail[-2000:]}")
    try:
        _create_database(cluster.port, "mlflow")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{cluster.port}/mlflow"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            cluster.run("pg_ctl", "-D", str(cluster.data), "-m", "fast", "stop")
        shutil.rmtree(cluster.base, ignore_errors=True)


def _create_database(port: int, name: str) -> None:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


# -- S3 -----------------------------------------------------------------------------------


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        """What a client (the MLflow server's boto3) needs to reach this store."""
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3-compatible server on loopback: moto in server mode (a real HTTP S3 API)."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        unavailable(f"moto[server] and boto3 are not installed ({exc}): pip install -e '.[test]'")
    port = free_port()
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{endpoint}/moto-api/", process, log, timeout=60)
    except RuntimeError:
        stop_process(process)
        raise
    yield S3Server(endpoint=endpoint, access_key="testing", secret_key="testing", process=process)
    stop_process(process)
