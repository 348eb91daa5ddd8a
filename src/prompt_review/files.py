"""Reading the files a pull request controls: nothing outside the repository, nothing huge.

Every repository read (the config, prompt files, datasets) goes through ``read_text``, and
every folder walk through ``walk``. A path is refused when its real location (symlinks
resolved) is outside the real repository root, when it is not a regular file (a FIFO would
block, a device never ends), or when it is larger than its limit — checked with ``fstat``
before reading, and the read stops at limit + 1 bytes. A symlink inside the repository to
another file inside it is fine. ``check_module_in_repo`` applies the same rule to a
``module:function`` entry point before it is imported, and ``load_yaml`` parses YAML without
letting aliases expand it enormously.
"""

from __future__ import annotations

import importlib.util
import os
import posixpath
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

from prompt_review.errors import UserInputError

MAX_CONFIG_BYTES = 256 * 1024
MAX_PROMPT_BYTES = 1024 * 1024  # MLflow keeps at most 100,000 characters of template
MAX_DATASET_BYTES = 16 * 1024 * 1024  # every example goes to the model, twice

# Aliases may repeat parts of a YAML document, to at most this many times its own nodes
# (plus 10,000): a "billion laughs" of 9 levels of 9 aliases is 28 nodes expanding to 490
# million.
MAX_YAML_EXPANSION = 10
MAX_YAML_DEPTH = 100

# O_NOFOLLOW: the resolved path is opened, never a symlink swapped in since; O_NONBLOCK: a
# FIFO opens at once (and is then refused) instead of waiting for a writer.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_OUTSIDE = "outside the repository"


def stays_inside(relpath: str) -> bool:
    """Whether a path as written (``/``-separated, relative to the root) stays below the root."""
    if relpath.startswith("/"):
        return False
    normal = posixpath.normpath(relpath)
    return normal != ".." and not normal.startswith("../")


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``'s real location (symlinks resolved) is ``root``'s real location or below.

    A relative ``path`` is taken relative to ``root``.
    """
    real_root = Path(os.path.realpath(root))
    return Path(os.path.realpath(root / path)).is_relative_to(real_root)


def read_text(
    root: Path,
    relpath: str,
    *,
    kind: str,
    limit: int,
    encoding: str = "utf-8",
    missing: str | None = None,
) -> str:
    """The text of ``relpath`` (repo-relative), or a ``UserInputError`` naming it.

    ``kind`` names the file in messages ("prompt file"); ``missing`` replaces the message
    for a file that does not exist ("{kind} not found").
    """
    data = read_bytes(root, relpath, kind=kind, limit=limit, missing=missing)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise UserInputError(f"{relpath}: not UTF-8 text") from None


def read_bytes(
    root: Path, relpath: str, *, kind: str, limit: int, missing: str | None = None
) -> bytes:
    real = _locate(root, relpath)
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except FileNotFoundError:
        raise UserInputError(f"{relpath}: {missing or kind + ' not found'}") from None
    except OSError as exc:
        if os.path.islink(real):  # swapped for a symlink since it was resolved
            raise UserInputError(f"{relpath}: is a symlink; expected a file") from None
        raise UserInputError(f"{relpath}: cannot read the {kind} ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserInputError(
                f"{relpath}: is {_describe(info.st_mode)}; expected a regular file"
            )
        if info.st_size > limit:
            raise _too_big(relpath, f"{info.st_size:,} bytes", kind, limit)
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew after the stat, or the stat does not know (procfs)
        raise _too_big(relpath, f"more than {limit:,} bytes", kind, limit)
    return data


def exists(root: Path, relpath: str) -> bool:
    """Whether anything is at ``relpath`` (a dangling symlink or a FIFO counts: it gets read
    and refused, never silently taken for an absent file)."""
    return os.path.lexists(root / relpath)


def walk(root: Path, folder: str) -> tuple[list[str], list[str]]:
    """Every non-folder entry under ``folder``, repo-relative and sorted, and the problems.

    Symlinked folders are not walked (as ``Path.rglob`` on Python 3.11 does not): one that
    points outside the repository is a problem; one inside it is skipped, its files are found
    where they really are. Hidden folders are not walked. Symlinked files, FIFOs and the like
    are listed: reading them gives the error that names them.
    """
    problems: list[str] = []
    base = root / folder
    if not os.path.lexists(base):
        return [], []
    if not inside(root, Path(folder)):
        return [], [f"{folder}: {_escape(root, folder, 'folder')}; expected a folder inside it"]
    found: list[str] = []

    def unreadable(error: OSError) -> None:
        where = Path(str(error.filename or base)).relative_to(root).as_posix()
        problems.append(f"{where}: cannot read the folder ({error.strerror})")

    for current, dirs, names in os.walk(base, onerror=unreadable):
        here = Path(current)
        for name in list(dirs):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if name.startswith(".") or path.is_symlink():
                dirs.remove(name)
                if not name.startswith(".") and not inside(root, path):
                    problems.append(
                        f"{rel}: is a symlink to a folder {_OUTSIDE}; expected a folder inside it"
                    )
        found.extend((here / name).relative_to(root).as_posix() for name in names)
    return sorted(found), sorted(problems)


def check_module_in_repo(root: Path, module_name: str) -> None:
    """Refuse a ``module:function`` entry point whose module is not a file inside ``root``.

    Call it with ``root`` first on ``sys.path`` and before importing: ``find_spec`` of the
    top-level name runs no code, and a dotted name's parent packages are then known to be the
    repository's own. The entry point must live in the repository; what it imports in turn
    (the standard library, installed packages) is its own business. A module that cannot be
    found is left to the import, which reports it.
    """
    top = module_name.partition(".")[0]
    for name in dict.fromkeys((top, module_name)):
        found = _origin(name)
        if found is None:
            return
        origin, namespace = found
        if namespace and name == top:
            continue  # a namespace package runs no code: its submodule is checked next
        if origin is None:
            raise UserInputError(
                f"module {name!r} is built into Python, not a file in the repository; "
                "expected the entry point's module inside the repository"
            )
        if not inside(root, Path(origin)):
            raise UserInputError(
                f"module {name!r} resolves to {origin}, {_OUTSIDE}; "
                "expected the entry point's module inside the repository"
            )


def _origin(name: str) -> tuple[str | None, bool] | None:
    """(file, is a namespace package) of the module ``import`` would give; None: not found."""
    module = sys.modules.get(name)
    if module is not None:  # import returns the cached module, wherever it came from
        origin = getattr(module, "__file__", None)
        return origin, origin is None and hasattr(module, "__path__")
    try:
        spec = importlib.util.find_spec(name)
    except Exception:  # a parent package failed to import: the import reports it
        return None
    if spec is None:
        return None
    origin = spec.origin if spec.has_location else None
    return origin, origin is None and spec.submodule_search_locations is not None


def _locate(root: Path, relpath: str) -> str:
    """The real location of ``relpath``, refused when it is outside the real root."""
    if not stays_inside(relpath):
        raise UserInputError(f"{relpath}: is {_OUTSIDE}; expected a path inside it")
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(real_root / relpath))
    if not real.is_relative_to(real_root):
        raise UserInputError(
            f"{relpath}: {_escape(root, relpath, 'file')}; expected a file inside it"
        )
    return str(real)


def _escape(root: Path, relpath: str, kind: str) -> str:
    """How ``relpath`` leaves the repository: its own symlink, or a symlinked folder on the way."""
    parts = Path(relpath).parts
    for depth in range(1, len(parts) + 1):
        prefix = Path(*parts[:depth])
        if (root / prefix).is_symlink() and not inside(root, prefix):
            if depth == len(parts):
                return f"is a symlink to a {kind} {_OUTSIDE}"
            return f"is reached through {prefix.as_posix()}, a symlink to a folder {_OUTSIDE}"
    return f"is {_OUTSIDE}"


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _too_big(relpath: str, size: str, kind: str, limit: int) -> UserInputError:
    return UserInputError(
        f"{relpath}: is {size}; the limit for a {kind} is {limit:,} bytes ({_human(limit)})"
    )


def _human(size: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


def load_yaml(text: str, display: str) -> Any:
    """``yaml.safe_load`` that refuses alias bombs, recursive aliases and deep nesting, and
    builds only what JSON can hold (the hashes and MLflow take JSON): a date stays text, a
    ``!!binary`` or ``!!set`` is refused, every mapping key must be text.

    The document is composed into nodes (where an alias is a second reference to the same
    node, so a bomb is still small), measured as if every alias were expanded, and only then
    constructed. Any problem is a ``UserInputError`` naming ``display``.
    """
    try:
        loader = _JSONLoader(text)  # checks every character already
        loader.display = display
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expansion(node, display)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise UserInputError(yaml_problem(display, text, exc)) from None
    except RecursionError:
        raise UserInputError(_too_deep(display)) from None


_JSON_ONLY = ("binary", "omap", "pairs", "set", "timestamp")


_KEY_KINDS = {
    "int": "a number",
    "float": "a number",
    "bool": "a boolean (YAML reads yes, no, on and off as booleans)",
    "null": "null",
}


class _JSONLoader(yaml.SafeLoader):
    display = ""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # merge keys (``<<: *defaults``) are not keys
        for key, _ in node.value:
            if key.tag != "tag:yaml.org,2002:str" and isinstance(key, yaml.ScalarNode):
                kind = _KEY_KINDS.get(key.tag.rpartition(":")[2], f"tagged {key.tag}")
                mark = key.start_mark
                raise UserInputError(
                    f"{self.display}: line {mark.line + 1}, column {mark.column + 1}: key "
                    f"{key.value!r} is {kind}; expected text (quote it: '{key.value}')"
                )
        return super().construct_mapping(node, deep)


_JSONLoader.yaml_implicit_resolvers = {
    first: [(tag, rule) for tag, rule in rules if not tag.endswith(":timestamp")]
    for first, rules in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_JSONLoader.yaml_constructors = {
    tag: build
    for tag, build in yaml.SafeLoader.yaml_constructors.items()
    if not (tag or "").endswith(tuple(f":{name}" for name in _JSON_ONLY))
}


def _check_expansion(root: yaml.Node, display: str) -> None:
    sizes: dict[int, int] = {}  # expanded size of every node measured so far, by id
    open_nodes: set[int] = set()  # the nodes on the path from the root (a cycle returns here)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, finished = stack.pop()
        children = _children(node)
        if finished:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            continue
        if id(node) in sizes:
            continue
        if depth > MAX_YAML_DEPTH:
            raise UserInputError(_too_deep(display))
        open_nodes.add(id(node))
        stack.append((node, depth, True))
        for child in children:
            if id(child) in open_nodes:
                raise UserInputError(
                    f"{display}: line {child.start_mark.line + 1}: invalid YAML: an alias "
                    "refers to a node that contains it (expected no recursive aliases)"
                )
            stack.append((child, depth + 1, False))
    expanded, distinct = sizes[id(root)], len(sizes)
    if expanded > MAX_YAML_EXPANSION * distinct + 10_000:
        raise UserInputError(
            f"{display}: invalid YAML: its aliases expand {distinct:,} nodes to {expanded:,} "
            f"(expected at most {MAX_YAML_EXPANSION} times as many: is this an alias bomb?)"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _too_deep(display: str) -> str:
    return f"{display}: nested too deeply (expected at most {MAX_YAML_DEPTH} levels)"


def yaml_problem(display: str, text: str, exc: yaml.YAMLError) -> str:
    """``file: line L, column C: invalid YAML: what`` on one line, whatever PyYAML raised."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
    else:
        line = column = 0
    if isinstance(exc, yaml.reader.ReaderError):
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
    else:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" line {line}, column {column}:" if line else ""
    return f"{display}:{where} invalid YAML: {problem}"
