"""files.py: the one seam every repository read goes through. Real files, symlinks and FIFOs
in temp dirs; nothing is mocked."""

from __future__ import annotations

import os
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompt_review import files
from prompt_review.errors import UserInputError

ENVIRON = "/proc/self/environ"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(repo root, a folder beside it): the repository and the rest of the machine."""
    root, outside = tmp_path / "repo", tmp_path / "outside"
    (root / "prompts").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.yaml").write_text("template: the runner's secret\n")
    (root / "prompts" / "real.yaml").write_text("template: hello\n")
    return root, outside


def problem(root: Path, relpath: str, limit: int = 1000) -> str:
    with pytest.raises(UserInputError) as caught:
        files.read_text(root, relpath, kind="prompt file", limit=limit)
    [message] = caught.value.problems
    return message


# --- reading ------------------------------------------------------------------------------


def test_a_file_inside_and_a_symlink_to_a_file_inside_are_read(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "prompts" / "alias.yaml").symlink_to("real.yaml")
    (root / "shared").symlink_to("prompts")

    assert files.read_text(root, "prompts/real.yaml", kind="prompt file", limit=100) == (
        "template: hello\n"
    )
    assert files.read_text(root, "prompts/alias.yaml", kind="prompt file", limit=100) == (
        "template: hello\n"
    )
    assert files.read_text(root, "shared/real.yaml", kind="prompt file", limit=100) == (
        "template: hello\n"
    )


@pytest.mark.robustness(
    area="files",
    case="a prompt file that is a symlink to /proc/self/environ (unit)",
    behaviour="input error naming the file: a symlink to a file outside the repository",
)
def test_a_symlink_to_proc_self_environ_is_refused(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "prompts" / "leak.yaml").symlink_to(ENVIRON)

    assert problem(root, "prompts/leak.yaml") == (
        "prompts/leak.yaml: is a symlink to a file outside the repository; "
        "expected a file inside it"
    )


@pytest.mark.robustness(
    area="files",
    case="a file reached through a symlinked folder that points outside (unit)",
    behaviour="input error naming the file and the symlinked folder",
)
def test_a_file_through_a_symlinked_folder_outside_is_refused(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "prompts" / "linked").symlink_to(outside)

    assert problem(root, "prompts/linked/secret.yaml") == (
        "prompts/linked/secret.yaml: is reached through prompts/linked, a symlink to a folder "
        "outside the repository; expected a file inside it"
    )


@pytest.mark.robustness(
    area="files",
    case="a path with ../ segments or an absolute path (unit)",
    behaviour="input error: outside the repository, nothing opened",
)
@pytest.mark.parametrize("relpath", ["../outside/secret.yaml", "prompts/../../x", "/etc/passwd"])
def test_a_path_that_leaves_the_root_as_written_is_refused(
    tree: tuple[Path, Path], relpath: str
) -> None:
    root, _ = tree

    assert problem(root, relpath) == (
        f"{relpath}: is outside the repository; expected a path inside it"
    )


def test_a_symlinked_repository_root_is_resolved_too(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    link = root.parent / "checkout"
    link.symlink_to(root)
    (root / "prompts" / "up.yaml").symlink_to(outside / "secret.yaml")

    assert files.read_text(link, "prompts/real.yaml", kind="prompt file", limit=100)
    assert "outside the repository" in problem(link, "prompts/up.yaml")


@pytest.mark.robustness(
    area="files",
    case="a FIFO (named pipe) where a prompt file should be (unit)",
    behaviour="input error at once, no blocking read: expected a regular file",
)
def test_a_fifo_is_refused_without_blocking(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    os.mkfifo(root / "prompts" / "pipe.yaml")

    assert problem(root, "prompts/pipe.yaml") == (
        "prompts/pipe.yaml: is a FIFO (named pipe); expected a regular file"
    )


def test_a_folder_is_refused(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "prompts" / "dir.yaml").mkdir()

    assert problem(root, "prompts/dir.yaml") == (
        "prompts/dir.yaml: is a folder; expected a regular file"
    )


def test_a_missing_file_and_a_dangling_symlink_are_not_found(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "prompts" / "dangling.yaml").symlink_to("nowhere.yaml")

    assert problem(root, "prompts/gone.yaml") == "prompts/gone.yaml: prompt file not found"
    assert problem(root, "prompts/dangling.yaml") == (
        "prompts/dangling.yaml: prompt file not found"
    )
    assert files.exists(root, "prompts/dangling.yaml")
    assert not files.exists(root, "prompts/gone.yaml")


@pytest.mark.robustness(
    area="files",
    case="a file one byte over its size limit (unit)",
    behaviour="input error giving the size and the limit; a file of exactly the limit is read",
)
def test_size_limit_names_the_size_and_the_limit(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "prompts" / "fits.txt").write_bytes(b"x" * 2048)
    (root / "prompts" / "big.txt").write_bytes(b"x" * 2049)

    assert len(files.read_text(root, "prompts/fits.txt", kind="prompt file", limit=2048)) == 2048
    assert problem(root, "prompts/big.txt", limit=2048) == (
        "prompts/big.txt: is 2,049 bytes; the limit for a prompt file is 2,048 bytes (2 KiB)"
    )


def test_documented_limits() -> None:
    assert files.MAX_CONFIG_BYTES == 256 * 1024
    assert files.MAX_PROMPT_BYTES == 1024 * 1024
    assert files.MAX_DATASET_BYTES == 16 * 1024 * 1024


def test_not_utf8(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "prompts" / "latin1.txt").write_bytes(b"caf\xe9")

    assert problem(root, "prompts/latin1.txt") == "prompts/latin1.txt: not UTF-8 text"


# --- paths as written and real locations --------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "inside"),
    [
        ("prompts/a.yaml", True),
        ("./a/../b", True),
        (".", True),
        ("..", False),
        ("../x", False),
        ("a/../../x", False),
        ("/abs", False),
        ("..x/file", True),
    ],
)
def test_stays_inside(relpath: str, inside: bool) -> None:
    assert files.stays_inside(relpath) is inside


def test_inside_resolves_symlinks(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "in").symlink_to("prompts")
    (root / "out").symlink_to(outside)

    assert files.inside(root, Path("prompts/real.yaml"))
    assert files.inside(root, Path("in/real.yaml"))
    assert files.inside(root, root)
    assert not files.inside(root, Path("out/secret.yaml"))
    assert not files.inside(root, outside / "secret.yaml")
    assert not files.inside(root, Path(ENVIRON))


# --- walking a folder ---------------------------------------------------------------------


@pytest.mark.robustness(
    area="files",
    case="a symlinked folder inside prompts_dir that points outside the repository (unit)",
    behaviour="not walked; reported as an input error naming the folder",
)
def test_walk_lists_entries_without_following_symlinked_folders(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "prompts" / "sub").mkdir()
    (root / "prompts" / "sub" / "b.md").write_text("b")
    (root / "prompts" / "leak.yaml").symlink_to(ENVIRON)
    os.mkfifo(root / "prompts" / "pipe.yaml")
    (root / "prompts" / "away").symlink_to(outside)
    (root / "prompts" / "again").symlink_to("sub")
    (root / "prompts" / ".hidden").mkdir()
    (root / "prompts" / ".hidden" / "x.yaml").write_text("x")

    found, problems = files.walk(root, "prompts")

    assert found == [
        "prompts/leak.yaml",
        "prompts/pipe.yaml",
        "prompts/real.yaml",
        "prompts/sub/b.md",
    ]
    assert problems == [
        "prompts/away: is a symlink to a folder outside the repository; expected a folder inside it"
    ]


def test_walk_of_a_folder_that_is_a_symlink_outside(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "elsewhere").symlink_to(outside)

    assert files.walk(root, "elsewhere") == (
        [],
        ["elsewhere: is a symlink to a folder outside the repository; expected a folder inside it"],
    )
    assert files.walk(root, "missing") == ([], [])


# --- python entry points ------------------------------------------------------------------


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    """A repository root first on sys.path, as the python provider puts it; undone after."""
    root = tmp_path / "repo"
    root.mkdir()
    sys.path.insert(0, str(root))
    before = set(sys.modules)
    yield root
    sys.path.remove(str(root))
    for name in set(sys.modules) - before:
        sys.modules.pop(name, None)


def write(
    root: Path, relpath: str, source: str = "def answer(messages):\n    return 'x'\n"
) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def test_a_module_and_a_package_module_in_the_repository_are_allowed(importable: Path) -> None:
    name = f"bot_{uuid.uuid4().hex[:8]}"
    write(importable, f"{name}.py")
    write(importable, f"{name}_pkg/__init__.py", "")
    write(importable, f"{name}_pkg/entry.py")
    write(importable, f"{name}_ns/entry.py")  # a namespace package: no __init__.py

    files.check_module_in_repo(importable, name)
    files.check_module_in_repo(importable, f"{name}_pkg.entry")
    files.check_module_in_repo(importable, f"{name}_ns.entry")
    files.check_module_in_repo(importable, f"surely_missing_{name}")  # the import reports it


@pytest.mark.robustness(
    area="files",
    case="a python entry point in the standard library, an installed package or built in "
    "(os:system, yaml:load, sys:exit)",
    behaviour="input error before anything is imported: the module must live in the repository",
)
@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("os", "module 'os' resolves to "),
        ("yaml", "module 'yaml' resolves to "),
        ("email.mime.text", "module 'email' resolves to "),
        ("sys", "module 'sys' is built into Python, not a file in the repository"),
    ],
)
def test_a_module_outside_the_repository_is_refused(
    importable: Path, module: str, expected: str
) -> None:
    with pytest.raises(UserInputError) as caught:
        files.check_module_in_repo(importable, module)

    assert expected in str(caught.value)
    assert "expected the entry point's module inside the repository" in str(caught.value)


def test_a_repository_file_shadowing_an_imported_module_is_refused(importable: Path) -> None:
    write(importable, "json.py")  # `import json` returns the cached stdlib module, not this

    with pytest.raises(UserInputError, match=r"module 'json' resolves to .*json/__init__\.py"):
        files.check_module_in_repo(importable, "json")


def test_a_module_symlinked_to_a_file_outside_is_refused(importable: Path) -> None:
    name = f"linked_{uuid.uuid4().hex[:8]}"
    elsewhere = importable.parent / "elsewhere.py"
    write(importable.parent, "elsewhere.py")
    (importable / f"{name}.py").symlink_to(elsewhere)

    with pytest.raises(UserInputError, match="outside the repository"):
        files.check_module_in_repo(importable, name)


# --- YAML ---------------------------------------------------------------------------------

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{level}: &{level} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, level in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.robustness(
    area="files",
    case="a YAML alias bomb (billion laughs: 9 levels of 9 aliases, 490 million nodes)",
    behaviour="input error naming the file before anything is built (a few milliseconds)",
)
def test_an_alias_bomb_is_refused_before_it_is_built() -> None:
    started = time.perf_counter()
    with pytest.raises(UserInputError) as caught:
        files.load_yaml(BOMB, "datasets/bomb.yaml")
    seconds = time.perf_counter() - started

    [message] = caught.value.problems
    assert message == (
        "datasets/bomb.yaml: invalid YAML: its aliases expand 28 nodes to 490,329,064 "
        "(expected at most 10 times as many: is this an alias bomb?)"
    )
    print(f"alias bomb refused in {seconds * 1000:.1f} ms")  # for the report, not asserted


def test_anchors_aliases_and_merge_keys_used_sensibly_still_work() -> None:
    text = (
        "base: &base {provider: openai, name: gpt-4o-mini}\n"
        "a: {<<: *base, temperature: 0}\n"
        "b: *base\n"
        "list: [*base, *base, *base]\n"
    )

    data = files.load_yaml(text, "x.yaml")

    assert data["a"] == {"provider": "openai", "name": "gpt-4o-mini", "temperature": 0}
    assert data["b"] == data["list"][2] == {"provider": "openai", "name": "gpt-4o-mini"}


@pytest.mark.robustness(
    area="files",
    case="YAML with a recursive alias (&a [*a]) or nested 10,000 levels deep",
    behaviour="input error naming the file, no RecursionError",
)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("&a [*a]\n", "x.yaml: line 1: invalid YAML: an alias refers to a node that contains it"),
        ("a: &a {b: *a}\n", "x.yaml: line 1: invalid YAML: an alias refers to a node that"),
        ("[" * 10_000, "x.yaml: nested too deeply (expected at most 100 levels)"),
        ("- " * 150 + "x\n", "x.yaml: nested too deeply (expected at most 100 levels)"),
    ],
)
def test_recursion_and_depth_are_input_errors(text: str, expected: str) -> None:
    with pytest.raises(UserInputError) as caught:
        files.load_yaml(text, "x.yaml")

    assert caught.value.problems[0].startswith(expected)


@pytest.mark.robustness(
    area="files",
    case="YAML values JSON cannot hold: a date, !!binary, !!set, a number or boolean as a key",
    behaviour="a date stays text; the others are input errors naming the line (no crash "
    "hashing them later)",
)
def test_only_json_values_are_built() -> None:
    assert files.load_yaml("seed: 2024-01-01\n", "x.yaml") == {"seed": "2024-01-01"}
    for text, expected in [
        ("a: !!binary aGk=\n", "could not determine a constructor for the tag"),
        ("a: !!set {x: null}\n", "could not determine a constructor for the tag"),
        ("a: !!timestamp 2024-01-01\n", "could not determine a constructor for the tag"),
        ("1: x\n", "line 1, column 1: key '1' is a number; expected text (quote it: '1')"),
        ("inputs: {on: x}\n", "key 'on' is a boolean (YAML reads yes, no, on and off as"),
    ]:
        with pytest.raises(UserInputError) as caught:
            files.load_yaml(text, "x.yaml")
        assert expected in caught.value.problems[0], text
        assert caught.value.problems[0].startswith("x.yaml: line 1")
