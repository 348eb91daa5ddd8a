"""Real git repositories in temp dirs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]


class GitRepo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *IDENTITY, *args], cwd=self.root, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def remove(self, relpath: str) -> None:
        (self.root / relpath).unlink()

    def copy_tree(self, source: Path, exclude: tuple[str, ...] = ()) -> None:
        shutil.copytree(source, self.root, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(*exclude))  # fmt: skip

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    root = tmp_path / "repo"
    root.mkdir()
    return GitRepo(root)
