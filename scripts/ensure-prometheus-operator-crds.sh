#!/usr/bin/env bash
# Prints a directory holding the Prometheus Operator's CRDs (PodMonitor, PrometheusRule,
# ...) for the chart test, from the prometheus-operator module's example/prometheus-operator-crd
# (crds-from-module.sh). LEASEGUARD_PROMETHEUS_OPERATOR_VERSION picks another version.
set -euo pipefail
exec bash "$(dirname "$0")/crds-from-module.sh" prometheus-operator github.com/prometheus-operator/prometheus-operator "${LEASEGUARD_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}" example/prometheus-operator-crd
