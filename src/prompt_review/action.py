"""The GitHub Action entrypoint (being written)."""

from __future__ import annotations

from collections.abc import Mapping


def main(environ: Mapping[str, str]) -> int:
    raise NotImplementedError
