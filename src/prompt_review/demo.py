"""`prompt-review demo`: the whole loop on the bundled example, offline.

It builds a scratch git repository from the example shipped in the package
(``prompt_review/examples/demo``: the production state), reviews and promotes those
prompts, applies ``proposed-change/`` on a branch as a pull request would, and prints the
review of that change against production.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from prompt_review import local
from prompt_review.changes import git
from prompt_review.errors import UserInputError

CHANGE_DIR = "proposed-change"
IDENTITY = ("-c", "user.name=prompt-review demo", "-c", "user.email=demo@example.invalid")


def bundled_example() -> Path:
    """The example that ships with the package (a folder: the package is never zipped)."""
    return Path(__file__).resolve().parent / "examples" / "demo"


def run(example: Path | None, target: Path | None, progress: Callable[[str], None]) -> int:
    example = example or bundled_example()
    if not (example / ".prompt-review.yml").is_file():
        raise UserInputError(
            f"{example}: no .prompt-review.yml here (expected an example folder like "
            f"{bundled_example()}, with prompts/, datasets/ and {CHANGE_DIR}/)"
        )
    repo = Path(tempfile.mkdtemp(prefix="prompt-review-demo-")) if target is None else target
    if repo.exists() and any(repo.iterdir()):
        raise UserInputError(f"{repo}: folder is not empty (expected a new or empty folder)")
    shutil.copytree(example, repo, ignore=shutil.ignore_patterns(CHANGE_DIR), dirs_exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, *IDENTITY, "commit", "-q", "-m", "Production prompts")
    progress(f"demo repository: {repo}")

    progress("step 1/3: review and promote the production prompts (no baseline yet)")
    quiet = _Quiet()
    code = local.promote(
        repo,
        ".prompt-review.yml",
        base=None,
        promote_all=True,
        prompt=None,
        version=None,
        tracking_uri=None,
        progress=progress,
    )
    if code != 0:
        return code
    quiet.restore()

    progress(f"step 2/3: apply {CHANGE_DIR}/ on a branch, as a pull request would")
    git(repo, "checkout", "-q", "-b", "change")
    shutil.copytree(example / CHANGE_DIR, repo, dirs_exist_ok=True)
    git(repo, "add", "-A")
    git(repo, *IDENTITY, "commit", "-q", "-m", "Shorter support reply; new greeting prompt")

    progress("step 3/3: review the change against production")
    code = local.review(
        repo,
        ".prompt-review.yml",
        base="main",
        review_all=False,
        tracking_uri=None,
        json_path=None,
        progress=progress,
    )
    progress(
        "the demo's change drops {{ order_id }} from support-reply on purpose, so the gate "
        "fails; try your own edit in " + str(repo) + " and run `prompt-review review` there"
    )
    return 0 if code in (0, 1) else code


class _Quiet:
    """Step 1 prints promotion lines; keep them on stderr so stdout is the report."""

    def __init__(self) -> None:
        self._stdout = sys.stdout
        sys.stdout = sys.stderr

    def restore(self) -> None:
        sys.stdout = self._stdout
