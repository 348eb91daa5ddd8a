#!/usr/bin/env bash
# The one MLflow pin set (tests/integration/test_pins.py fails when its files disagree).
#
#   bash .ci/mlflow-pins.sh            the pinned version, the newest mlflow on the index and
#                                      the newest one whose full package installs completely
#   bash .ci/mlflow-pins.sh bump X.Y.Z check that mlflow[auth]==X.Y.Z installs completely,
#                                      move every pin to it, regenerate docker/constraints.txt
#
# "Installs completely" is what pip's resolver says in a throwaway venv: 3.18.0, for one,
# does not (it needs mlflow-tracing==3.18.0, which has no distribution), so pip backtracks
# to the newest release whose whole dependency set exists. Resolving can take minutes.
set -euo pipefail
cd "$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"

pinned() { sed -nE 's/^ *"mlflow-skinny==([^"]+)".*/\1/p' pyproject.toml | head -n 1; }

resolve() {  # resolve REQUIREMENT: the mlflow version pip would install for it, or nothing
    local venv report
    venv=$(mktemp -d)
    report=$venv/report.json
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --dry-run --ignore-installed \
        --report "$report" "$1" >/dev/null 2>&1 || true
    [[ -f $report ]] && "$venv/bin/python" -c '
import json, sys
found = [i["metadata"]["version"] for i in json.load(open(sys.argv[1]))["install"]
         if i["metadata"]["name"].lower() == "mlflow"]
print(found[0] if found else "")' "$report"
    rm -rf "$venv"
}

case ${1:-show} in
show)
    echo "pinned:                 $(pinned)"
    newest=$(python3 -m pip index versions mlflow 2>/dev/null | sed -nE 's/^mlflow \(([^)]+)\).*/\1/p')
    echo "newest on the index:    ${newest:-unknown}"
    installable=$(resolve "mlflow[auth]")
    echo "newest that installs:   ${installable:-none found}"
    if [[ -n $installable && $installable != "$(pinned)" ]]; then
        echo "a newer MLflow installs: bash .ci/mlflow-pins.sh bump $installable"
    fi
    ;;
bump)
    version=${2:?usage: bash .ci/mlflow-pins.sh bump X.Y.Z}
    [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "not a version: $version" >&2; exit 2; }
    got=$(resolve "mlflow[auth]==$version")
    if [[ $got != "$version" ]]; then
        echo "mlflow[auth]==$version does not install completely (pip: '${got:-no resolution}')" >&2
        exit 1
    fi
    old=$(pinned)
    sed -i -E "s/\"(mlflow-skinny|mlflow|mlflow\[auth\])==$old\"/\"\1==$version\"/" pyproject.toml
    sed -i -E "s/^(mlflow\[auth\])==$old$/\1==$version/" deploy/requirements.txt
    sed -i -E "s/prompt-review-mlflow:$old/prompt-review-mlflow:$version/" deploy/docker-compose.yml
    bash .ci/check-docker.sh --worktree --update-constraints
    echo "moved every MLflow pin $old -> $version; now reinstall (pip install -e '.[test]'),"
    echo "run the tests, and commit pyproject.toml, deploy/ and docker/constraints.txt"
    ;;
*)
    echo "usage: bash .ci/mlflow-pins.sh [show | bump X.Y.Z]" >&2
    exit 2
    ;;
esac
