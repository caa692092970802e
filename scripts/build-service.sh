#!/usr/bin/env bash
# Compiles one service into a single CommonJS bundle: services/<svc>/dist/main.js
# (+ source map), and each of its operator commands in src/bin/ into its own.
# The service's Dockerfile runs exactly this script, so a local run proves the
# image's build step; `services/users/test/build.test.ts` runs it and starts
# the bundle against real dependencies.
#
#   scripts/build-service.sh users            # → services/users/dist/main.js
#   scripts/build-service.sh users /tmp/out   # → /tmp/out/main.js
#
# Why a bundle: the kit and services are TypeScript workspaces linked by npm;
# bundling resolves them (and every npm dependency) at build time, so the
# runtime image needs neither tsx, TypeScript, nor a node_modules tree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SVC="${1:?usage: build-service.sh <service> [outdir]}"
OUT="${2:-$ROOT/services/$SVC/dist}"
ENTRY="$ROOT/services/$SVC/src/main.ts"
[ -f "$ENTRY" ] || { echo "build-service.sh: $ENTRY not found" >&2; exit 64; }

ESBUILD="$ROOT/node_modules/.bin/esbuild"
[ -x "$ESBUILD" ] || { echo "build-service.sh: esbuild missing; run npm ci first" >&2; exit 2; }

# pg-native is an optional native driver that pg only loads on request.
bundle() {
  "$ESBUILD" "$1" \
    --bundle \
    --platform=node \
    --target=node24 \
    --format=cjs \
    --sourcemap \
    --legal-comments=linked \
    --external:pg-native \
    --log-level=warning \
    --outfile="$2"
  echo "built $2"
}
bundle "$ENTRY" "$OUT/main.js"
# Operator commands (src/bin/<name>.ts → <name>.js), run inside the service's
# pod with its environment: e.g. the worker's replay-dead-letters.
for cli in "$ROOT/services/$SVC/src/bin/"*.ts; do
  [ -e "$cli" ] || continue
  bundle "$cli" "$OUT/$(basename "$cli" .ts).js"
done
