#!/usr/bin/env bash
# `npm run test:e2e`: the end-to-end tier. Brings up a one-node cluster on this machine
# (scripts/cluster.sh), builds the image from the Dockerfile and imports it into the node
# (scripts/build-image.sh), runs test/e2e/ against it with the chart, and always takes the
# node down again, failing if anything is left. Arguments are passed to ava.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[e2e] %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "error: the end-to-end tier runs a node (containerd, a kubelet, a bridge) and needs root"; exit 1; }

start=$(date +%s)
work=$(mktemp -d /tmp/leaseguard-e2e.XXXXXX)
rc=0
cleanup() {
  local down_rc=0
  log "taking the node down"
  bash scripts/cluster.sh down || down_rc=$?
  rm -rf "$work"
  if [ "$down_rc" -ne 0 ]; then log "error: the node's teardown left something behind (above)"; [ "$rc" -ne 0 ] || rc=$down_rc; fi
  log "finished in $(( $(date +%s) - start ))s"
  exit "$rc"
}
trap 'rc=$?; cleanup' EXIT
trap 'rc=130; exit 130' INT TERM

helm=$(bash scripts/ensure-helm.sh)
cli() { bash scripts/with-node.sh node dist/src/cli.js "$@"; }
# The API server presents a client certificate to webhooks, as docs/install.md has
# users set it up: `leaseguard certs` and `leaseguard apiserver-config`.
cli certs --dir "$work/certs" >/dev/null
cli apiserver-config --certs "$work/certs" --user '*' --kubeconfig-path "$work/admission-kubeconfig.yaml" --out "$work" >/dev/null

log "bringing up the node"
kubeconfig=$(LEASEGUARD_CLUSTER_ADMISSION_CONFIG="$work/admission-config.yaml" bash scripts/cluster.sh up | tail -n 1)
containerd_address=$(bash scripts/cluster.sh env | sed -n 's/.*CONTAINERD_ADDRESS=\([^ ]*\).*/\1/p')
log "building the image from the Dockerfile and importing it into the node"
bash scripts/build-image.sh --containerd-address "$containerd_address" >/dev/null

cat > "$work/e2e.json" <<JSON
{"kubeconfig": "$kubeconfig", "containerdAddress": "$containerd_address", "helm": "$helm",
 "chart": "$PWD/charts/leaseguard", "clientCerts": "$work/certs", "crds": "$PWD/test/fixtures/crds"}
JSON
log "running the end-to-end tests ($(( $(date +%s) - start ))s so far)"
LEASEGUARD_E2E="$work/e2e.json" bash scripts/with-node.sh node node_modules/ava/entrypoints/cli.mjs --config ava.e2e.config.js "$@" || rc=$?
# The EXIT trap takes the script's status as the result: make it the tests'.
exit "$rc"
