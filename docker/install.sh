#!/bin/sh
# Install prompt-review from a source tree into a new virtual environment.
#
# The Dockerfile runs this file, and .ci/check-docker.sh runs the very same file outside
# Docker (no engine needed), so the install the image gets is the install CI checks.
#
# Usage: install.sh SOURCE_DIR VENV_DIR
#   PYTHON  interpreter that creates the venv (default: python3)
# docker/constraints.txt, when present in SOURCE_DIR, pins every runtime dependency.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: install.sh SOURCE_DIR VENV_DIR" >&2
    exit 2
fi
src=$1
venv=$2

"${PYTHON:-python3}" -m venv "$venv"

set -- --no-cache-dir --disable-pip-version-check --no-input
if [ -f "$src/docker/constraints.txt" ]; then
    set -- "$@" --constraint "$src/docker/constraints.txt"
fi
"$venv/bin/python" -m pip install "$@" "$src"
