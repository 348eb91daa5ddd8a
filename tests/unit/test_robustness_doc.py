"""docs/robustness.md says exactly what the tests marked `robustness` assert."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_robustness_doc_matches_the_marked_tests(tmp_path: Path) -> None:
    generated = tmp_path / "robustness.md"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--no-cov",
         "-p", "no:cacheprovider", "--robustness-doc", str(generated), "tests"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    committed = (ROOT / "docs" / "robustness.md").read_text(encoding="utf-8")
    assert generated.read_text(encoding="utf-8") == committed, (
        "docs/robustness.md is out of date: regenerate it with "
        "`python -m pytest tests --collect-only -q --no-cov --robustness-doc docs/robustness.md`"
    )
