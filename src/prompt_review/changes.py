"""What a change touches: the files git says differ, and the prompts they affect."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from prompt_review.config import Config
from prompt_review.errors import UserInputError
from prompt_review.prompts import Prompt, is_prompt_path

ChangeStatus = Literal["added", "modified", "renamed", "deleted", "affected"]


@dataclass(frozen=True, kw_only=True)
class FileChange:
    """One changed path, in the vocabulary of GitHub's PR files API."""

    path: str
    status: str
    previous_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class PromptChange:
    """A prompt this change touches and why (`affected`: its dataset or settings changed)."""

    name: str
    source_path: str
    status: ChangeStatus
    reason: str
    previous_path: str | None = None


def git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise UserInputError("git is not installed (expected git on PATH)") from None
    if done.returncode != 0:
        raise UserInputError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def git_changes(root: Path, base: str) -> list[FileChange]:
    """Files that differ between ``base`` and the working tree, untracked files included."""
    # -z: paths verbatim (no C-quoting of non-ASCII names); --relative: relative to
    # ``root`` like ls-files below, even when ``root`` is a subfolder of the repository.
    out = git(root, "diff", "-z", "--relative", "--name-status", "-M", "--no-color", base, "--")
    codes = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "copied"}
    changes: list[FileChange] = []
    fields = iter(out.split("\0"))
    for code in fields:
        if not code:
            continue
        status = codes.get(code[:1], "changed")
        if status in ("renamed", "copied"):
            previous, path = next(fields), next(fields)
            changes.append(FileChange(path=path, status=status, previous_path=previous))
        else:
            changes.append(FileChange(path=next(fields), status=status))
    untracked = git(root, "ls-files", "-z", "--others", "--exclude-standard")
    changes.extend(FileChange(path=p, status="added") for p in untracked.split("\0") if p)
    return changes


def prompt_changes(
    changes: Sequence[FileChange],
    prompts: Sequence[Prompt],
    config: Config,
) -> list[PromptChange]:
    """Which prompts a set of file changes touches, and deleted prompt files to report."""
    by_path = {c.path: c for c in changes}
    found: dict[str, PromptChange] = {}
    for prompt in prompts:
        change = by_path.get(prompt.source_path)
        if change is not None and change.status != "removed":
            status: ChangeStatus = (
                "added"
                if change.status in ("added", "copied")
                else "renamed"
                if change.status == "renamed"
                else "modified"
            )
            found[prompt.name] = PromptChange(
                name=prompt.name,
                source_path=prompt.source_path,
                status=status,
                reason=f"prompt file {status}",
                previous_path=change.previous_path,
            )
        elif prompt.dataset in by_path:
            found[prompt.name] = PromptChange(
                name=prompt.name,
                source_path=prompt.source_path,
                status="affected",
                reason=f"its dataset {prompt.dataset} changed",
            )
        elif config.path in by_path:
            found[prompt.name] = PromptChange(
                name=prompt.name,
                source_path=prompt.source_path,
                status="affected",
                reason=f"{config.path} changed",
            )
    for change in changes:
        if change.status == "removed" and is_prompt_path(change.path, config.prompts_dir):
            stem = PurePosixPath(change.path).stem
            if stem not in found:
                found[stem] = PromptChange(
                    name=stem, source_path=change.path, status="deleted", reason="file deleted"
                )
    return sorted(found.values(), key=lambda c: c.name)
