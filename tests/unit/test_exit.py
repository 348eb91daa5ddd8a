"""The CLI's exit skips the interpreter's teardown but nothing that Python's exit does first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from prompt_review.cli import exit_without_teardown

out = Path(sys.argv[1])
atexit.register(lambda: print("exit handler ran", flush=True))
pool = ThreadPoolExecutor(1)  # left open: Python's exit tells its idle worker to stop
pool.submit(lambda: (time.sleep(0.3), out.write_text("work finished")))
sys.stdout.write("buffered, not yet flushed")
exit_without_teardown(5)
print("not reached")
"""


def test_exit_waits_for_threads_runs_handlers_flushes_and_keeps_the_code(tmp_path: Path) -> None:
    out = tmp_path / "work.txt"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert out.read_text() == "work finished"
    assert done.stdout == "buffered, not yet flushedexit handler ran\n"
    assert done.stderr == ""


def test_a_call_in_process_returns_instead_of_exiting() -> None:
    from prompt_review.cli import main

    assert main(["schema"]) == 0
