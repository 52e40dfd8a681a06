#!/usr/bin/env bash
# Prints the path of a promtool binary for the alert rule tests (`promtool test rules`),
# built from the prometheus Go module and cached by version (go-tool.sh).
# The module's v0.X.Y tags are Prometheus v3.X.Y; LEASEGUARD_PROMETHEUS_VERSION picks another.
set -euo pipefail
VERSION="${LEASEGUARD_PROMETHEUS_VERSION:-v0.316.0}"
promtool=$(bash "$(dirname "$0")/go-tool.sh" promtool github.com/prometheus/prometheus/cmd/promtool "$VERSION")
"$promtool" --version >/dev/null
echo "$promtool"
