#!/usr/bin/env bash
# Point action.yml at a prebuilt image instead of the Dockerfile (the release workflow runs
# this on the release tag's commit, so users of @vX.Y.Z pull the image, never build it).
#
# Usage: bash .ci/pin-action-image.sh docker://ghcr.io/OWNER/prompt-review@sha256:DIGEST [ACTION_YML]
# Only a digest reference is accepted: a tag can be moved after the release, a digest cannot.
set -euo pipefail

image=${1:-}
action=${2:-action.yml}
if [[ ! $image =~ ^docker://[a-z0-9][a-z0-9._/-]*(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$ ]]; then
    echo "pin-action-image: expected docker://REGISTRY/OWNER/NAME@sha256:<64 hex>, got '$image'" >&2
    exit 2
fi
count=$(grep -c '^  image: Dockerfile$' "$action" || true)
if [[ $count != 1 ]]; then
    echo "pin-action-image: $action must have exactly one '  image: Dockerfile' line (found $count)" >&2
    exit 1
fi
sed -i "s|^  image: Dockerfile\$|  image: $image|" "$action"
echo "pin-action-image: $action now runs $image"
