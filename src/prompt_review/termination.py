"""SIGTERM as an exception, so a cancelled run cleans up instead of vanishing.

The Actions runner cancels a job with SIGTERM (then SIGKILL a few seconds later). Python's
default for SIGTERM ends the process at once: an MLflow run being scored stays RUNNING
forever. Raised as an exception instead, it unwinds through ``with mlflow.start_run()``,
whose ``ActiveRun.__exit__`` ends the run as FAILED (checked on mlflow 3.17.2), and
through ``Executor.map``, which cancels the calls not yet started.

``Terminated`` derives from ``KeyboardInterrupt``: no ``except Exception`` (ours or
MLflow's) swallows it, and MLflow's evaluation harness cancels its pending futures on it as
it does for Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_TERMINATED = 128 + signal.SIGTERM  # the shell's convention: 143


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM)."""


def _raise(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends us at once
    raise Terminated(f"terminated by signal {signal.Signals(signum).name}")


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Inside the block, the next SIGTERM raises ``Terminated`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
