"""Keep secrets out of everything prompt-review writes.

Whatever the tool writes may be public (a PR comment, a commit status, the job summary,
the log) or shared (the MLflow server). Messages come from many places: MLflow's
exceptions quote the tracking URI with its ``user:password@``, a provider's error may
echo the key it was given. So every writer passes its text through here.

``install(environ)``, once at start, learns this run's secret values: the variables that
hold tokens, keys and passwords, and the passwords inside URIs. After it, ``text(s)``,
``mapping(d)`` and ``data(x)`` take no other argument. They replace those exact values
(also percent-encoded), URI userinfo, secret-looking query parameters and well-known
token shapes (GitHub, OpenAI, AWS, Slack, JWT, Databricks, Hugging Face, Google,
``Bearer``/``Basic`` credentials, PEM private keys) with ``***``.

Redact before cutting text short: a secret cut in half no longer matches.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TextIO, TypeVar
from urllib.parse import quote, unquote

REDACTED = "***"
MIN_SECRET_CHARS = 8  # shorter values ("true", "EMPTY", "dummy") are not worth a mask
# Documented here, and matched by the name rule below as well.
SECRET_VARIABLES = (
    "GITHUB_TOKEN",
    "INPUT_GITHUB_TOKEN",
    "GH_TOKEN",
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
_KEY_PARTS = frozenset({"KEY", "APIKEY", "ACCESSKEY", "PRIVATEKEY"})
# Their values are where a secret lives, not the secret.
_NOT_SECRET_SUFFIXES = frozenset({"PATH", "FILE", "DIR", "URL", "URI", "NAME", "ID"})

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/@?#]+)@")
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:[\w.~-]*[_.-])?"
    r"(?:token|key|apikey|secret|password|passwd|pwd|sig|signature|credential)"
    r"(?:[_.-][\w.~-]*)?=)[^&\s#\"'<>]+"
)
_SHAPES = re.compile(
    "|".join(
        [
            r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub: classic PAT, OAuth, user, server, refresh
            r"\bgithub_pat_[A-Za-z0-9_]{20,}",  # GitHub fine-grained PAT
            r"\bsk-[A-Za-z0-9_-]{16,}",  # OpenAI (sk-proj-...), Anthropic (sk-ant-...)
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
            r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT
            r"\bdapi[0-9a-f]{32}(?:-\d+)?\b",  # Databricks
            r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face
            r"\bAIza[0-9A-Za-z_-]{35}",  # Google API key
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
        ]
    )
)
_CREDENTIAL = re.compile(
    r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]{8,}=*"
    r"|\b(basic\s+)[A-Za-z0-9+/]{16,}={0,2}"
    r"|\b(authorization\s*[:=]\s*[\"']?(?:token\s+)?)[^\s\"',]{8,}"
)


@dataclass
class _Known:
    """What ``install`` learned: one per process, set once at start."""

    secrets: tuple[str, ...] = ()
    exact: re.Pattern[str] | None = None


_known = _Known()

T = TypeVar("T")


def is_secret_name(name: str) -> bool:
    """Does a variable's name say it holds a secret (``*_TOKEN``, ``*_API_KEY``, ...)?"""
    parts = [part for part in name.upper().split("_") if part]
    if not parts or parts[-1] in _NOT_SECRET_SUFFIXES:
        return False
    if any(word in part for part in parts for word in _SECRET_WORDS):
        return True
    return any(part in _KEY_PARTS for part in parts)


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values in ``environ`` that are secrets, longest first."""
    found: set[str] = set()
    for name, raw in environ.items():
        value = raw.strip()
        if (name in SECRET_VARIABLES or is_secret_name(name)) and len(value) >= MIN_SECRET_CHARS:
            found.add(value)
        found.update(_uri_passwords(value))
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


def _uri_passwords(value: str) -> Iterable[str]:
    for match in _USERINFO.finditer(value):
        _, _, password = match.group(2).partition(":")
        for form in (password, unquote(password)):
            if len(form) >= MIN_SECRET_CHARS:
                yield form


def install(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Learn this run's secrets (replacing what an earlier call learned); returns them.

    The caller masks each one in the runner's log (``::add-mask::``).
    """
    values = secret_values(environ)
    forms = {form for value in values for form in (value, quote(value, safe=""))}
    ordered = sorted(forms, key=lambda v: (-len(v), v))
    _known.secrets = values
    _known.exact = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
    return values


def secrets() -> tuple[str, ...]:
    """The secret values ``install`` learned."""
    return _known.secrets


def text(value: str) -> str:
    """``value`` with every known secret, credential and token shape replaced by ``***``."""
    if not value:
        return value
    if _known.exact is not None:
        value = _known.exact.sub(REDACTED, value)
    value = _USERINFO.sub(rf"\1{REDACTED}@", value)
    value = _QUERY_SECRET.sub(rf"\1{REDACTED}", value)
    value = _SHAPES.sub(REDACTED, value)
    return _CREDENTIAL.sub(_keep_scheme, value)


def _keep_scheme(match: re.Match[str]) -> str:
    prefix = next(group for group in match.groups() if group is not None)
    return prefix + REDACTED


def mapping(values: Mapping[str, T]) -> dict[str, T]:
    """A copy of ``values`` (MLflow tags, params) whose string values are redacted."""
    return {key: data(value) for key, value in values.items()}


def data(value: T) -> T:
    """``value`` (JSON-like: dicts, lists, tuples, strings) with every string redacted."""
    if isinstance(value, str):
        return text(value)  # type: ignore[return-value]
    if isinstance(value, Mapping):
        return {key: data(item) for key, item in value.items()}  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        return type(value)(data(item) for item in value)
    return value


class Stream(io.TextIOBase):
    """A text stream that redacts each write: ``sys.stdout``/``sys.stderr`` for a run.

    Redaction works per ``write`` call (``print`` writes each message in one call).
    """

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    def write(self, s: str) -> int:
        self.inner.write(text(s))
        return len(s)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.inner, "encoding", None) or "utf-8")


def unwrapped(stream: TextIO) -> TextIO:
    """The stream below a redacting ``Stream``: for ``::add-mask::``, which must show a secret."""
    while isinstance(stream, Stream):
        stream = stream.inner
    return stream
