#!/usr/bin/env bash
# Prints the path of the Node.js binary the tests and the image use (the version in
# .node-version), fetching it on first use from the npm registry's node-linux-<arch>
# package and caching it under the user cache directory, keyed by version, as the control
# plane is. The machine's own Node.js (20 or newer) only needs to run npm and tsc.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(tr -d '[:space:]' < .node-version)
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "[node] no Node.js package for $(uname -m); install Node.js $version and put it first on PATH" >&2; exit 1 ;;
esac
dir="${XDG_CACHE_HOME:-$HOME/.cache}/leaseguard/node/v${version}-linux-${arch}"
if [ ! -x "$dir/bin/node" ]; then
  echo "[node] fetching Node.js $version (npm package node-linux-${arch}@${version}) into $dir" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  want=$(awk -v p="node-linux-${arch}@${version}" '$1 == p {print $2}' scripts/node-checksums.txt)
  [ -n "$want" ] || { echo "[node] error: scripts/node-checksums.txt has no checksum for node-linux-${arch}@${version}; record it (npm view node-linux-${arch}@${version} dist.integrity) when changing .node-version" >&2; exit 1; }
  (cd "$tmp" && npm pack --silent "node-linux-${arch}@${version}" >/dev/null)
  tgz=$(ls "$tmp"/node-linux-"${arch}"-*.tgz)
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [ "$got" = "$want" ] || { echo "[node] error: node-linux-${arch}@${version} does not match its recorded checksum (got $got, want $want); not using it" >&2; exit 1; }
  tar -xzf "$tgz" -C "$tmp"
  "$tmp/package/bin/node" --version >/dev/null
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir.partial" && mv "$tmp/package" "$dir.partial" && mv "$dir.partial" "$dir"
fi
echo "$dir/bin/node"
