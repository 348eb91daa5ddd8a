"""The `python` provider: a function in the user's repository produces the output."""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prompt_review.config import ModelConfig
from prompt_review.errors import PromptReviewError, UserInputError
from prompt_review.files import check_module_in_repo
from prompt_review.providers.base import Completion, Message, ProviderError

EntryPoint = Callable[..., object]

_EXPECTED = "expected 'package.module:function' where function(messages, **params) returns a str"
_sys_path_lock = threading.Lock()


class PythonProvider:
    """Calls ``model.name`` (``"module.path:function"``) as ``function(messages, **model.params)``.

    ``search_path`` (the repository root) is put on ``sys.path`` so the user's modules import
    the way they would from the repository; it stays there, so the entry point may import its
    siblings lazily. The entry point's module must be a file in that repository (checked
    before it is imported): ``os:system`` or an installed package's function is refused.
    """

    def __init__(self, *, search_path: str | None = None) -> None:
        self._search_path = search_path
        self._lock = threading.Lock()
        self._functions: dict[str, EntryPoint] = {}

    def complete(self, messages: Sequence[Message], model: ModelConfig) -> Completion:
        entry_point = model.name
        function = self.resolve(entry_point)
        arguments = [dict(message) for message in messages]
        _check_signature(entry_point, function, arguments, model.params)
        try:
            output = function(arguments, **model.params)
        except PromptReviewError:
            raise
        except Exception as err:
            raise ProviderError(
                f"python provider: entry point {entry_point!r} raised {type(err).__name__}: {err}"
            ) from err
        if not isinstance(output, str):
            raise UserInputError(
                f"python provider: entry point {entry_point!r} returned "
                f"{type(output).__name__}; expected str"
            )
        return Completion(text=output)

    def resolve(self, entry_point: str) -> EntryPoint:
        """Import the entry point once; raise UserInputError naming it when that fails."""
        with self._lock:
            function = self._functions.get(entry_point)
            if function is None:
                function = self._import(entry_point)
                self._functions[entry_point] = function
            return function

    def _import(self, entry_point: str) -> EntryPoint:
        module_name, colon, attribute_path = entry_point.partition(":")
        if not colon or not module_name or not attribute_path or ":" in attribute_path:
            raise UserInputError(f"python provider: bad entry point {entry_point!r}; {_EXPECTED}")
        self._add_search_path()
        importlib.invalidate_caches()  # the file may be newer than a cached directory listing
        if self._search_path is not None:
            try:
                check_module_in_repo(Path(self._search_path), module_name)
            except UserInputError as err:
                raise UserInputError(
                    f"python provider: entry point {entry_point!r}: {err}; {_EXPECTED}"
                ) from None
        try:
            target: Any = importlib.import_module(module_name)
        except Exception as err:
            raise UserInputError(
                f"python provider: cannot import module {module_name!r} of entry point "
                f"{entry_point!r} ({type(err).__name__}: {err}); {_EXPECTED}"
                + (f", importable from {self._search_path}" if self._search_path else "")
            ) from err
        for attribute in attribute_path.split("."):
            if not hasattr(target, attribute):
                raise UserInputError(
                    f"python provider: {attribute!r} not found for entry point {entry_point!r}; "
                    f"{_EXPECTED}"
                )
            target = getattr(target, attribute)
        if not callable(target):
            raise UserInputError(
                f"python provider: entry point {entry_point!r} is a {type(target).__name__}, "
                f"not a function; {_EXPECTED}"
            )
        function: EntryPoint = target
        return function

    def _add_search_path(self) -> None:
        if self._search_path is None:
            return
        with _sys_path_lock:
            if self._search_path not in sys.path:
                sys.path.insert(0, self._search_path)

    def __repr__(self) -> str:
        return f"PythonProvider(search_path={self._search_path!r})"


def _check_signature(
    entry_point: str, function: EntryPoint, messages: list[Message], params: dict[str, Any]
) -> None:
    """Tell a wrong signature apart from an error raised inside the user's function."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some builtins have no introspectable signature
        return
    try:
        signature.bind(messages, **params)
    except TypeError as err:
        shown = ", ".join(["messages", *(f"{key}=..." for key in params)])
        raise UserInputError(
            f"python provider: entry point {entry_point!r} cannot be called as "
            f"function({shown}): {err}; {_EXPECTED}"
        ) from None
