"""A real `mlflow server` on loopback (SQLite by default, PostgreSQL when asked)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MlflowServer:
    uri: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_mlflow(workdir: Path, backend_uri: str | None = None) -> MlflowServer:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    backend = backend_uri or f"sqlite:///{workdir / 'mlflow.db'}"
    log = workdir / "server.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend,
        "--artifacts-destination", str(workdir / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = MlflowServer(uri=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.uri}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"mlflow server did not start in 120 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One server for the session; tests isolate themselves with unique names."""
    server = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL URI: $PROMPT_REVIEW_TEST_PG_URI, or a throwaway cluster we start."""
    given = os.environ.get("PROMPT_REVIEW_TEST_PG_URI")
    if given:
        yield given
        return
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL (initdb, pg_ctl) is required in CI: .ci/run installs it")
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
    # Not under pytest's 0700 temp root: the postgres user must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="prompt-review-pg-"))
    base.chmod(0o755)
    data = base / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run it as the postgres user
        shutil.chown(base, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*run_as, "initdb", "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run(
        [*run_as, "pg_ctl", "-D", str(data), "-l", str(base / "pg.log"), "-w",
         "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run([*run_as, "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                    "mlflow"], check=True, capture_output=True)  # fmt: skip
    yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    subprocess.run([*run_as, "pg_ctl", "-D", str(data), "-m", "fast", "stop"], check=False,
                   capture_output=True)  # fmt: skip
    shutil.rmtree(base, ignore_errors=True)
