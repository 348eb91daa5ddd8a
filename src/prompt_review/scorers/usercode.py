"""``{type: python, function: "module.path:function"}``: the user's own MLflow ``@scorer``.

The module must be a file of the repository (after resolving symlinks), imported with the
repository root on ``sys.path``; every way that can fail is an input error that names the
scorer, the module file and what was expected, raised before any registry write.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
import threading
from pathlib import Path
from typing import Any

from prompt_review.errors import UserInputError
from prompt_review.scorer_config import ScorerSpec

PARAMETERS = ("inputs", "outputs", "expectations")
_EXPECTED = "expected an MLflow @scorer (or a function) whose parameters are among " + ", ".join(
    PARAMETERS
)
_lock = threading.Lock()


def inside_repository(path: Path, root: Path) -> bool:
    """``path`` is a file under ``root`` once every symlink is resolved.

    A small check of its own; ``files.py`` (another branch) brings the project-wide one.
    """
    try:
        return path.resolve(strict=True).is_relative_to(root.resolve(strict=True))
    except OSError:
        return False


def module_file(spec: ScorerSpec, root: Path) -> Path:
    """The repository file that ``spec.function``'s module is, or UserInputError."""
    module = _module_name(spec)
    parts = module.split(".")
    candidates = [root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")]
    for candidate in candidates:
        if candidate.is_file() or candidate.is_symlink():
            if not inside_repository(candidate, root):
                raise UserInputError(
                    f"{_where(spec)}: {_relative(candidate, root)} does not resolve to a file "
                    "inside the repository (a symlink out of it?); a scorer must be a file of "
                    "the repository"
                )
            return candidate
    shown = " or ".join(_relative(c, root) for c in candidates)
    raise UserInputError(
        f"{_where(spec)}: module {module!r} not found in the repository (expected {shown} "
        "under the repository root)"
    )


def digest(spec: ScorerSpec, root: Path) -> str | None:
    """SHA-256 of the module file: edited scorer code must not reuse old scores."""
    try:
        return hashlib.sha256(module_file(spec, root).read_bytes()).hexdigest()
    except (UserInputError, OSError):
        return None  # load() reports why


def load(spec: ScorerSpec, root: Path) -> Any:
    """Import ``spec.function`` from the repository as an MLflow ``Scorer``."""
    from mlflow.genai.scorers import Scorer, scorer

    path = module_file(spec, root)
    module_name, attribute = _module_name(spec), spec.options["function"].partition(":")[2]
    shown = _relative(path, root)
    module = _import(spec, module_name, shown, root)
    imported = getattr(module, "__file__", None)
    if imported is None or Path(imported).resolve() != path.resolve():
        raise UserInputError(
            f"{_where(spec)}: importing {module_name!r} loads {imported or 'a built-in module'}, "
            f"not {shown}: another module of that name is installed or already imported; "
            "rename the repository's module"
        )
    if not hasattr(module, attribute):
        defined = sorted(n for n, v in vars(module).items() if isinstance(v, Scorer))
        also = f" (its scorers: {', '.join(defined)})" if defined else ""
        raise UserInputError(f"{_where(spec)}: {shown} has no {attribute!r}{also}; {_EXPECTED}")
    target = getattr(module, attribute)
    if not callable(target):
        raise UserInputError(
            f"{_where(spec)}: {module_name}:{attribute} is a {type(target).__name__}, not a "
            f"function; {_EXPECTED}"
        )
    _check_parameters(spec, target, f"{module_name}:{attribute}")
    if isinstance(target, Scorer):
        return target
    return scorer(target, name=spec.name)


def _import(spec: ScorerSpec, module_name: str, shown: str, root: Path) -> Any:
    with _lock:
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        importlib.invalidate_caches()  # the file may be newer than a cached directory listing
        try:
            return importlib.import_module(module_name)
        except (Exception, SystemExit) as err:
            raise UserInputError(
                f"{_where(spec)}: importing {module_name!r} ({shown}) raised "
                f"{type(err).__name__}: {err}"
            ) from None


def _check_parameters(spec: ScorerSpec, target: Any, shown: str) -> None:
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # some callables have no introspectable signature
        return
    for parameter in signature.parameters.values():
        required = parameter.default is inspect.Parameter.empty
        if parameter.name in PARAMETERS or parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            problem = f"*{parameter.name} is not supported (MLflow passes keyword arguments)"
        elif parameter.name == "session" or (parameter.name == "trace" and required):
            problem = (
                f"parameter {parameter.name!r} is not supported: prompt-review scores one "
                "output at a time, without a trace or a session"
            )
        elif required:
            problem = f"unknown parameter {parameter.name!r}"
        else:
            continue  # never passed: its default applies
        raise UserInputError(f"{_where(spec)}: {shown}: {problem}; {_EXPECTED}")


def _module_name(spec: ScorerSpec) -> str:
    return str(spec.options["function"]).partition(":")[0]


def _where(spec: ScorerSpec) -> str:
    return f"scorer {spec.name!r} (function {spec.options['function']!r})"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
