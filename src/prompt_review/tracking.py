"""Where MLflow lives: a tracking server, or an embedded SQLite store inside the repo."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prompt_review.errors import InfrastructureError, UserInputError, cause

EMBEDDED_DIR = ".prompt-review"
SQLITE_BUSY_SECONDS = 60


@dataclass(frozen=True, kw_only=True)
class Tracking:
    uri: str
    display_uri: str  # credentials stripped
    ui_url: str | None
    experiment_id: str
    experiment_name: str
    embedded: bool
    client: Any

    def link(self, kind: str, *parts: str) -> str | None:
        """A link into the MLflow UI (3.17's routes), when the store has one (a server)."""
        if not self.ui_url:
            return None
        experiment = f"{self.ui_url.rstrip('/')}/#/experiments/{self.experiment_id}"
        if kind == "run":
            return f"{experiment}/runs/{parts[0]}"
        if kind == "model":
            return f"{experiment}/models/{parts[0]}"
        if kind == "prompt":  # the UI reads the version from ?promptVersion=, not ?version=
            return f"{experiment}/prompts/{parts[0]}?promptVersion={parts[1]}"
        if kind == "trace":
            return f"{experiment}/traces/{parts[0]}"
        if kind == "evaluation":  # the run's traces with their scores, side by side
            return f"{experiment}/evaluation-runs?selectedRunUuid={parts[0]}"
        return None


def strip_credentials(uri: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", uri)


def embedded_uri(root: Path) -> str:
    return f"sqlite:///{(root / EMBEDDED_DIR / 'mlflow.db').resolve()}"


def connect(tracking_uri: str | None, root: Path, experiment: str) -> Tracking:
    """Point MLflow at the store and make sure the experiment exists.

    Without a URI an embedded SQLite store under ``.prompt-review/`` is used; its pool is
    set to NullPool because MLflow's default pool stalls evaluation on SQLite (measured:
    >120 s instead of 10 s for 100 examples).
    """
    embedded = not tracking_uri
    uri = tracking_uri or embedded_uri(root)
    artifact_location = None
    if embedded:
        check_embedded_dir(root)
        (root / EMBEDDED_DIR).mkdir(exist_ok=True)
        ignore = root / EMBEDDED_DIR / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")
        artifact_location = (root / EMBEDDED_DIR / "artifacts").resolve().as_uri()
    if uri.startswith("sqlite:"):
        tune_sqlite(uri)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    os.environ.setdefault("MLFLOW_GENAI_EVAL_SKIP_TRACE_VALIDATION", "true")
    use_bundled_model_catalog()
    import mlflow

    # MLflow configures its loggers on import: quiet them after, not before.
    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)

    registry_uri = registry_uri_for(uri, os.environ)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(registry_uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=registry_uri)
    try:
        experiment_id = _experiment_id(client, experiment, artifact_location)
        mlflow.set_experiment(experiment_id=experiment_id)
    except Exception as exc:
        raise InfrastructureError(
            f"MLflow tracking store {strip_credentials(uri)} is not usable: {_first_line(exc)}"
        ) from exc
    ui_url = uri if uri.startswith(("http://", "https://")) else None
    return Tracking(
        uri=uri,
        display_uri=strip_credentials(uri),
        ui_url=strip_credentials(ui_url) if ui_url else None,
        experiment_id=str(experiment_id),
        experiment_name=experiment,
        embedded=embedded,
        client=client,
    )


def registry_uri_for(tracking_uri: str, environ: Mapping[str, str]) -> str:
    """The prompt registry lives with the tracking store, except on Databricks (Unity
    Catalog) or wherever ``MLFLOW_REGISTRY_URI`` says."""
    if environ.get("MLFLOW_REGISTRY_URI"):
        return environ["MLFLOW_REGISTRY_URI"]
    if tracking_uri == "databricks" or tracking_uri.startswith("databricks://"):
        return "databricks-uc"
    return tracking_uri


def check_embedded_dir(root: Path) -> None:
    """The embedded store must be this machine's own, inside the repository.

    A pull request could commit ``.prompt-review`` as a symlink (MLflow would then write
    wherever it points) or commit a forged ``mlflow.db`` whose "production" runs a review
    would trust and reuse.
    """
    folder = root / EMBEDDED_DIR
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UserInputError(
            f"{EMBEDDED_DIR}: is a symlink or a file; expected the folder prompt-review "
            "creates for its embedded MLflow store (remove it from the repository)"
        )
    from prompt_review.changes import git

    try:
        listing = git(root, "ls-files", "-z", "--", EMBEDDED_DIR)
    except UserInputError:  # not a git checkout: nothing can have been committed
        return
    tracked = [path for path in listing.split("\0") if path]
    if tracked:
        raise UserInputError(
            f"{tracked[0]}: committed to the repository, but {EMBEDDED_DIR}/ holds this "
            "machine's embedded MLflow store, which a review must not take from a commit; "
            f"remove it (git rm -r --cached {EMBEDDED_DIR}) or set MLFLOW_TRACKING_URI"
        )


def use_bundled_model_catalog() -> None:
    """MLflow's model catalog from its own package, unless the user points elsewhere.

    MLflow looks a model up in its catalog to price a traced chat call and to size a judge's
    context; by default it downloads the catalog from GitHub once per process, with retries:
    4-30 s where GitHub is unreachable (measured), the whole cost of a small review. The
    bundled catalog gives the same columns without the network.
    """
    os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")


def tune_sqlite(uri: str) -> None:
    """Make a SQLite store fit for concurrent writers (trace export runs on several threads).

    MLflow's default pool stalls evaluation on SQLite (measured: >120 s instead of 10 s for
    100 examples), so connections are not pooled. Write-ahead logging lets readers proceed
    while one thread writes, ``synchronous=NORMAL`` drops an fsync per transaction (safe in
    WAL mode: a crash can lose the last commits, never corrupt the file), and a busy timeout
    makes a writer wait for the lock instead of failing with "database is locked".
    """
    os.environ["MLFLOW_SQLALCHEMYSTORE_POOLCLASS"] = "NullPool"
    path = uri.removeprefix("sqlite:///").split("?")[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_SECONDS)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the database file
    _install_sqlite_pragmas()


@functools.cache
def _install_sqlite_pragmas() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def pragmas(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            cursor = connection.cursor()
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cursor.close()

    event.listen(Engine, "connect", pragmas)


def _experiment_id(client: Any, name: str, artifact_location: str | None) -> str:
    """Get or create the experiment; a concurrent review may create it first."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=artifact_location))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    found = client.get_experiment_by_name(name)
    if found is None:
        raise InfrastructureError(f"experiment {name!r} exists but cannot be read")
    return str(found.experiment_id)


def _first_line(exc: BaseException) -> str:
    return cause(exc)  # whole: the reason comes last, after the URL
