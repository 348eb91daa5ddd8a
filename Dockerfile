# Image of the prompt-review GitHub Action (action.yml: runs.using docker, image Dockerfile).
#
# Runs as root, on purpose (no USER instruction). GitHub's "Dockerfile support for GitHub
# Actions", section USER, says Docker actions must run as the default Docker user (root),
# or they cannot access GITHUB_WORKSPACE:
#   https://docs.github.com/en/actions/reference/workflows-and-actions/dockerfile-support#user
# The runner bind-mounts the workspace, /github/home, /github/workflow and
# /github/file_commands (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY) from the host, owned by the
# runner's uid (1001 on GitHub-hosted runners, anything on self-hosted ones), so no uid
# fixed in this image could write the outputs, the summary or the embedded MLflow store in
# the workspace. A non-root user would not be a real boundary either: the runner also
# mounts /var/run/docker.sock into every Docker action (actions/runner,
# src/Runner.Worker/Handlers/ContainerActionHandler.cs). The isolation is the job's
# runner; the image keeps its surface small instead: a digest-pinned slim base, git as the
# only extra package, no compilers, no secrets, no pip cache.

# python:3.11.15-slim-trixie, pinned by digest: the tag documents, the digest decides.
FROM python:3.11.15-slim-trixie@sha256:db3ff2e1800a8581e2c48a27c3995339d47bdf046da21c7627accd3d51053a93 AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Build stage: the same install .ci/check-docker.sh replays (docker/install.sh).
# .dockerignore lets only pyproject.toml, README.md, src/ and docker/ into the context.
FROM base AS build
COPY . /src
RUN sh /src/docker/install.sh /src /opt/prompt-review

FROM base
LABEL org.opencontainers.image.title="prompt-review" \
      org.opencontainers.image.description="Review prompt changes with MLflow on pull requests" \
      org.opencontainers.image.licenses="Apache-2.0"

# git reads the mounted checkout (diffs, history). The checkout belongs to the runner's
# uid, not root, so git would refuse it as "dubious ownership" without safe.directory.
# Debian's git is not version-pinned: the base digest fixes the Debian release, and a pin
# would break the build as soon as a security update replaces that version in the archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'

COPY --from=build /opt/prompt-review /opt/prompt-review
ENV PATH=/opt/prompt-review/bin:$PATH \
    MLFLOW_SQLALCHEMYSTORE_POOLCLASS=NullPool

ENTRYPOINT ["prompt-review", "action"]
