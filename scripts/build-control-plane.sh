#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules for the integration tests,
# caching the binaries in the user cache directory keyed by version. With --node it also
# builds what a one-node cluster adds (kubelet, kube-controller-manager, kube-scheduler,
# kube-proxy) from the same k8s.io/kubernetes version.
# Prints the directory holding the binaries as its last line of stdout.
#
# Why a wrapper module: k8s.io/kubernetes replaces its k8s.io/* staging modules with
# local paths, and a dependency's replaces are ignored, so `go install ...@version`
# refuses it. The wrapper requires it and replaces each staging module with v0.X.Y.
set -euo pipefail

K8S_VERSION="${LEASEGUARD_K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${LEASEGUARD_ETCD_VERSION:-v3.6.16}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/leaseguard/control-plane"
OUT="$CACHE_ROOT/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

NODE_COMPONENTS=()
for arg in "$@"; do
  case "$arg" in
    --node) NODE_COMPONENTS=(kubelet kube-controller-manager kube-scheduler kube-proxy) ;;
    *) printf 'usage: build-control-plane.sh [--node]\n' >&2; exit 2 ;;
  esac
done

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() { printf '[control-plane] error: %s\n' "$*" >&2; exit 1; }

# kubectl comes from the machine when it has one; otherwise it is built from the same
# k8s.io/kubernetes module (Debian's is too old for this API server).
need_kubectl() {
  [ "${LEASEGUARD_BUILD_KUBECTL:-}" = 1 ] || ! command -v kubectl >/dev/null 2>&1
}

have() {
  local b
  for b in kube-apiserver etcd "${NODE_COMPONENTS[@]}"; do [ -x "$OUT/$b" ] || return 1; done
  ! need_kubectl || [ -x "$OUT/kubectl" ]
}

if have; then
  log "using cached binaries in $OUT"
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "Go is not installed; install Go >= 1.24 (it builds kube-apiserver and etcd for the tests)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
[ "${go_minor:-0}" -ge 24 ] || die "Go $(go env GOVERSION) is too old; kube-apiserver $K8S_VERSION needs Go >= 1.24"

staging_version="v0.${K8S_VERSION#v1.}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$OUT.partial"
mkdir -p "$OUT.partial"
# Binaries already built for this version are kept (a kubectl-only build reuses them).
for b in kube-apiserver etcd kubectl kubelet kube-controller-manager kube-scheduler kube-proxy; do
  if [ -x "$OUT/$b" ]; then cp "$OUT/$b" "$OUT.partial/$b"; fi
done

start=$(date +%s)
progress() { log "$1 ($(( $(date +%s) - start ))s elapsed)"; }

# ---- kube-apiserver -------------------------------------------------------
progress "fetching k8s.io/kubernetes@$K8S_VERSION module metadata"
gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p') \
  || die "could not fetch k8s.io/kubernetes@$K8S_VERSION from the Go module proxy ($(go env GOPROXY)); check network access to it"
[ -f "$gomod" ] || die "go mod download gave no go.mod for k8s.io/kubernetes@$K8S_VERSION"

mkdir -p "$work/apiserver"
{
  echo "module leaseguard.local/controlplane"
  echo
  echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  # Every "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.X.Y".
  grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" \
    | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
} > "$work/apiserver/go.mod"
cat > "$work/apiserver/tools.go" <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
log "wrapper module replaces $(grep -c '^replace' "$work/apiserver/go.mod") staging modules with $staging_version"

progress "resolving kube-apiserver dependencies"
(cd "$work/apiserver" && go mod tidy -e >/dev/null 2>"$work/tidy.log") || { cat "$work/tidy.log" >&2; die "go mod tidy failed"; }

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build_k8s() {
  local cmd=$1
  progress "compiling $cmd $K8S_VERSION (the first build takes several minutes)"
  (
    cd "$work/apiserver"
    go build -trimpath -ldflags "$ldflags" -o "$OUT.partial/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  ) &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && progress "still compiling $cmd"
  done
  wait "$pid" || die "$cmd build failed (see the Go errors above)"
  progress "$cmd built"
}

[ -x "$OUT.partial/kube-apiserver" ] || build_k8s kube-apiserver
extra=()
if need_kubectl && [ ! -x "$OUT.partial/kubectl" ]; then extra+=(kubectl); fi
for b in "${NODE_COMPONENTS[@]}"; do [ -x "$OUT.partial/$b" ] || extra+=("$b"); done
if [ ${#extra[@]} -gt 0 ]; then
  for b in "${extra[@]}"; do printf 'import _ "k8s.io/kubernetes/cmd/%s"\n' "$b" >> "$work/apiserver/tools.go"; done
  (cd "$work/apiserver" && go mod tidy -e >/dev/null 2>"$work/tidy.log") || { cat "$work/tidy.log" >&2; die "go mod tidy for ${extra[*]} failed"; }
  for b in "${extra[@]}"; do build_k8s "$b"; done
fi

# ---- etcd ----------------------------------------------------------------
mkdir -p "$work/etcd"
cat > "$work/etcd/go.mod" <<GOMOD
module leaseguard.local/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
cat > "$work/etcd/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
if [ -x "$OUT.partial/etcd" ]; then :; else
progress "resolving etcd $ETCD_VERSION dependencies"
(cd "$work/etcd" && go mod tidy -e >/dev/null 2>"$work/tidy-etcd.log") || { cat "$work/tidy-etcd.log" >&2; die "go mod tidy for etcd failed"; }
progress "compiling etcd $ETCD_VERSION"
(cd "$work/etcd" && go build -trimpath -ldflags "-s -w" -o "$OUT.partial/etcd" go.etcd.io/etcd/server/v3) \
  || die "etcd build failed (see the Go errors above)"
fi

"$OUT.partial/kube-apiserver" --version >&2
"$OUT.partial/etcd" --version | head -1 >&2
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
progress "done; binaries in $OUT ($(du -sh "$OUT" | cut -f1))"
echo "$OUT"
