#!/usr/bin/env bash
# Refresh the lock files, then check them against pyproject.toml. One command:
#
#   scripts/lock.sh                          keep every pin that still fits pyproject.toml
#   scripts/lock.sh --upgrade                newest versions of everything
#   scripts/lock.sh --upgrade-package NAME   newest NAME only (repeatable)
#
# requirements.lock        runtime + the `providers` and `distill` extras (what the image installs)
# requirements-build.lock  the build backend and front end (what builds mem-sync's own wheel)
#
# uv resolves once for every platform (--universal): the same file serves linux/amd64,
# linux/arm64, macOS and Windows, with markers where they differ, and lists the hashes of
# every file PyPI has for each pinned version. Plain pip installs it (--require-hashes).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
  echo "scripts/lock.sh needs uv: pip install uv (or pipx install uv)" >&2
  exit 2
fi

# The commands below are written into each file's header exactly as run; Renovate re-runs
# them from there when it proposes an update, so keep them free of local paths, and give
# every option's value after `=` (Renovate's pip-compile manager refuses `--extra NAME`).
uv pip compile --quiet "$@" pyproject.toml --universal --generate-hashes --python-version=3.11 \
  --extra=providers --extra=distill --output-file=requirements.lock
uv pip compile --quiet "$@" requirements-build.in --universal --generate-hashes \
  --python-version=3.11 --output-file=requirements-build.lock
python scripts/lockcheck.py
