#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests, built from its Go module and cached
# by version (go-tool.sh). LEASEGUARD_HELM_VERSION picks another version.
set -euo pipefail
HELM_VERSION="${LEASEGUARD_HELM_VERSION:-v4.3.2}"
helm=$(bash "$(dirname "$0")/go-tool.sh" helm "helm.sh/helm/${HELM_VERSION%%.*}/cmd/helm" "$HELM_VERSION")
"$helm" version --short >/dev/null
echo "$helm"
