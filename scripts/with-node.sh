#!/usr/bin/env bash
# Runs a command with the pinned Node.js (.node-version, fetched and cached by
# ensure-node.sh) first on PATH, so `node` and every `#!/usr/bin/env node` tool in it
# (ava, c8, stryker) run on the version the image runs.
set -euo pipefail
node_bin=$(bash "$(dirname "$0")/ensure-node.sh")
PATH="$(dirname "$node_bin"):$PATH" exec "$@"
