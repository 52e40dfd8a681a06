#!/usr/bin/env bash
# Installs the locked dependencies when they are missing or older than package-lock.json,
# so `npm start` and `npm test` work on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[deps] installing locked dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
