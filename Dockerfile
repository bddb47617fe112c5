# mem-sync's CI image: the merge bot for the GitHub Action, GitLab CI and Bitbucket Pipelines.
#
# Base image pinned by digest so a rebuild months later gets the same Python and Debian;
# refresh the digest deliberately (docs/ci.md says how), never by accident through a tag.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# ---- builder: fetch every locked dependency, build mem-sync's own wheel -----------------
FROM ${PYTHON_IMAGE} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# Every byte installed comes from a lock with hashes (scripts/lock.sh refreshes both), so a
# rebuild months later installs the same files or fails; pip checks each download's sha256.
# The build backend first, from its own lock; the build then runs without isolation so pip
# never fetches an unpinned setuptools.
COPY requirements-build.lock ./
RUN pip install --require-hashes --requirement requirements-build.lock
COPY requirements.lock ./
# Every dependency ships wheels for linux/amd64 and linux/arm64, so no compiler is needed even
# here; if a new dependency ever needs one, it belongs in this stage only.
RUN pip wheel --require-hashes --wheel-dir /wheels --requirement requirements.lock \
    && cp requirements.lock /wheels/requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels/self .

# ---- runtime: git + the installed wheels, nothing else ------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1
# Debian removes superseded package versions from its mirrors, so pinning git's exact
# version would break rebuilds; the pinned base digest fixes the distribution release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# CI runners mount a workspace checked out by another user; git would refuse it as
# "dubious ownership". The container only ever works on the repository it was given.
RUN git config --system --add safe.directory '*'
# Installed from the builder's wheels with no index: the lock's hashes are checked a second
# time, a dependency missing from the lock fails the build (hash mode refuses to resolve one),
# and mem-sync itself is the one wheel built from this source tree.
# pip compiles bytecode at install time, so a non-root user still starts fast.
# (RUN --mount needs BuildKit, Docker's default builder since Engine 23.)
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels --require-hashes \
        --requirement /wheels/requirements.lock \
    && pip install --no-index --no-deps /wheels/self/mem_sync-*.whl \
    && pip check \
    && mem-sync --version
ENTRYPOINT ["mem-sync"]
CMD ["--help"]

# ---- ci: the image GitLab CI and Bitbucket Pipelines run (non-root) -----------------------
FROM runtime AS ci
RUN useradd --create-home --uid 10001 --user-group memsync
USER 10001:10001
WORKDIR /home/memsync

# ---- action (default, last stage): what `runs.image: Dockerfile` builds ----------------------
# GitHub runs Docker actions as root with the workspace mounted from the host runner; a
# non-root USER could not write to it (GitHub's documentation forbids USER for this reason).
FROM runtime AS action
ENTRYPOINT ["mem-sync", "action"]
CMD []
