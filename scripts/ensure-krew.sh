#!/usr/bin/env bash
# Prints the path of a krew binary for the plugin test (`kubectl krew install` of the
# packaged archive), built from its Go module and cached by version (go-tool.sh).
# LEASEGUARD_KREW_VERSION picks another version.
set -euo pipefail
VERSION="${LEASEGUARD_KREW_VERSION:-v0.4.3}"
krew=$(bash "$(dirname "$0")/go-tool.sh" krew sigs.k8s.io/krew/cmd/krew "$VERSION")
"$krew" version >/dev/null 2>&1 || { echo "[krew] error: $krew does not run" >&2; exit 1; }
echo "$krew"
