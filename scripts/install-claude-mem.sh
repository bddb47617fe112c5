#!/usr/bin/env bash
# Install the pinned claude-mem npm package and a pinned Bun next to it, once.
#
# Tests and benchmarks create claude-mem databases with claude-mem's own code (never a
# hand-written imitation of its schema); that code needs Bun (it requires "bun:sqlite").
# --legacy-peer-deps is essential: without it npm 11 spends many minutes resolving
# better-auth's peer dependencies and installs nothing.
#
# Prints the install directory on stdout (the last line); everything else goes to stderr.
set -euo pipefail

CLAUDE_MEM_VERSION="13.25.3"
BUN_VERSION="1.4.5"
BUN_PACKAGE="${MEM_SYNC_BUN_PACKAGE:-@oven/bun-linux-x64}"

cache_root="${MEM_SYNC_CACHE_DIR:-$HOME/.cache/mem-sync}"
target="$cache_root/claude-mem-$CLAUDE_MEM_VERSION"
marker="$target/.installed"
bun_bin="$target/node_modules/$BUN_PACKAGE/bin/bun"

if [[ -f "$marker" && -x "$bun_bin" && -f "$target/node_modules/claude-mem/plugin/scripts/worker-service.cjs" ]]; then
    echo "claude-mem $CLAUDE_MEM_VERSION already installed in $target" >&2
    echo "$target"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "install-claude-mem: npm is not on PATH; install Node.js 20+ and retry" >&2
    exit 1
fi

mkdir -p "$cache_root"
# Parallel test workers may all start here; one installs, the others wait and reuse it.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache_root/.install-claude-mem.lock"
    flock 9
    if [[ -f "$marker" && -x "$bun_bin" ]]; then
        echo "$target"
        exit 0
    fi
fi

# Build in a sibling temp dir and rename it into place, so an interrupted install never
# leaves a half-filled cache that looks complete.
staging="$(mktemp -d "$cache_root/.claude-mem-$CLAUDE_MEM_VERSION.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

echo '{"private":true}' > "$staging/package.json"
echo "install-claude-mem: installing claude-mem@$CLAUDE_MEM_VERSION and $BUN_PACKAGE@$BUN_VERSION ..." >&2
(
    cd "$staging"
    npm install --no-save --no-audit --no-fund --legacy-peer-deps \
        "claude-mem@$CLAUDE_MEM_VERSION" "$BUN_PACKAGE@$BUN_VERSION" >&2
)
if [[ ! -x "$staging/node_modules/$BUN_PACKAGE/bin/bun" ]]; then
    echo "install-claude-mem: $BUN_PACKAGE installed no bun binary (a CPU without AVX2 needs" \
         "MEM_SYNC_BUN_PACKAGE=@oven/bun-linux-x64-baseline)" >&2
    exit 1
fi
touch "$staging/.installed"

rm -rf "$target"
mv "$staging" "$target"
trap - EXIT
echo "claude-mem $CLAUDE_MEM_VERSION installed in $target" >&2
echo "$target"
