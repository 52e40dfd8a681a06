#!/usr/bin/env bash
# Prints a directory holding cert-manager's CRDs (Certificate, Issuer, ClusterIssuer, ...)
# for the chart test, from the cert-manager module's deploy/crds (crds-from-module.sh).
# LEASEGUARD_CERT_MANAGER_VERSION picks another version.
set -euo pipefail
exec bash "$(dirname "$0")/crds-from-module.sh" cert-manager github.com/cert-manager/cert-manager "${LEASEGUARD_CERT_MANAGER_VERSION:-v1.21.2}" deploy/crds
