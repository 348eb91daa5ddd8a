"""`prompt-review ui`: the MLflow UI on the repository's embedded store.

The runtime installs ``mlflow-skinny``, which has no UI (no Flask, no web app). The UI is
the full ``mlflow`` package's server, and it must be the *same* version as the skinny
one that wrote the store: another version refuses the database schema or migrates it.
So this command checks that pairing, prints the exact install command when it is off,
and otherwise runs ``mlflow server`` on the store until interrupted.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType

from prompt_review.errors import PromptReviewError

Progress = Callable[[str], None]
STARTUP_SECONDS = 120


class UiUnavailable(PromptReviewError):
    """The MLflow UI cannot run here; the message says what to install or do."""


def installed_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in ("mlflow-skinny", "mlflow"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def server_problem(versions: Mapping[str, str | None], python: str = sys.executable) -> str | None:
    """Why the full MLflow server cannot open our store, with the command that fixes it."""
    skinny, full = versions.get("mlflow-skinny"), versions.get("mlflow")
    if skinny is None or full == skinny:
        return None
    install = f"{shlex.quote(python)} -m pip install 'mlflow=={skinny}'"
    if full is None:
        why = (
            f"the MLflow UI is part of the full mlflow package; this install has only "
            f"mlflow-skinny {skinny}, which has no server"
        )
    else:
        why = (
            f"mlflow {full} is installed next to mlflow-skinny {skinny}: the UI must be the "
            "version that wrote the store"
        )
    return (
        f"{why}. Install the matching version next to prompt-review:\n"
        f"    {install}\n"
        "(or install prompt-review with its extra: pip install 'prompt-review[ui]')"
    )


def server_command(store_uri: str, artifacts: Path, host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", store_uri,
        "--artifacts-destination", str(artifacts),
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip


def run(
    root: Path,
    store_uri: str,
    *,
    host: str,
    port: int,
    log_path: Path,
    progress: Progress,
) -> int:
    """Serve the UI on ``store_uri`` until Ctrl-C or SIGTERM; the server's log goes to a file."""
    problem = server_problem(installed_versions())
    if problem:
        raise UiUnavailable(problem)
    # The UI needs no server-side jobs (online scoring, prompt optimisation): without this
    # flag the server starts a job runner and nine worker processes next to it.
    env = {
        **os.environ,
        "MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    command = server_command(store_uri, root / ".prompt-review" / "artifacts", host, port)
    with log_path.open("ab") as log:
        # Its own session: `mlflow server` forks workers and job consumers, stopped as a group.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        url = f"http://{host}:{port}"
        _wait_until_up(url, process, log_path)
        progress(f"MLflow UI on {store_uri}: {url} (Ctrl-C stops it; log: {log_path})")
        code = process.wait()
        raise UiUnavailable(f"mlflow server stopped (exit code {code}):\n{_tail(log_path)}")
    except KeyboardInterrupt:
        progress("stopping the MLflow UI")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(process)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UiUnavailable(
                f"mlflow server exited (code {process.returncode}) before it served {url}:\n"
                + _tail(log_path)
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):  # noqa: S310 (http only)
                return
        except OSError:
            time.sleep(0.3)
    raise UiUnavailable(f"mlflow server did not answer on {url} in {STARTUP_SECONDS} s")


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
            break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
