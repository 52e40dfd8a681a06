#!/usr/bin/env bash
# Builds leaseguard's container image from the Dockerfile, unchanged, for a node that
# cannot pull images: the two bases the Dockerfile names are built here as stand-ins
# under their own names, from Debian's packages and the pinned Node.js (.node-version),
# and the result is written as a docker-archive tarball (docs/image.md says what the
# stand-ins prove and what they do not).
#
#   bash scripts/build-image.sh [--containerd-address SOCK]         the leaseguard image
#   bash scripts/build-image.sh pause [--containerd-address SOCK]   the pod sandbox image
#   bash scripts/build-image.sh bases                               the two stand-ins only
#   bash scripts/build-image.sh print-config                        names and versions, no build
#
# The last line of stdout is the archive's path (for `bases`, the last two lines); progress
# goes to stderr. With --containerd-address the archive is also imported into that
# containerd's k8s.io namespace, under the name a Pod spec resolves to
# (leaseguard:0.1.0 is docker.io/library/leaseguard:0.1.0).
#
# Everything is cached under ${XDG_CACHE_HOME:-~/.cache}/leaseguard/images, keyed by the
# Node.js version and a hash of the recipe (the stand-ins) or of the build inputs (the
# image), so an unchanged tree reuses its archive in seconds. Builds run as root in a
# private mount and PID namespace with buildah's own storage (overlay, or vfs where the
# kernel cannot) in a temporary directory: when the build ends, however it ends, every
# process and mount it made ends with the namespace, and the directory is removed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$ROOT/scripts/build-image.sh"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/leaseguard/images"
# The stand-ins are Debian 12: node:<version>-bookworm-slim and distroless's cc-debian12.
DEBIAN_SUITE=bookworm
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# What gcr.io/distroless/cc-debian12 is made of: static (base-files, netbase, tzdata, the CA
# bundle), base (libc6, libssl3), cc (libgcc, libgomp, libstdc++).
DISTROLESS_PACKAGES=(base-files netbase tzdata ca-certificates libc6 libssl3 gcc-12-base libgcc-s1 libgomp1 libstdc++6)
NONROOT_UID=65532
PAUSE_VERSION=3.10
PAUSE_REF="localhost/leaseguard/pause:$PAUSE_VERSION"
CTR_NAMESPACE=k8s.io

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '8,11p' "$SELF" | sed 's/^# \{0,1\}//' >&2
  cat >&2 <<'EOF'
options:
  --containerd-address SOCK  also import the archive into the containerd at SOCK (namespace k8s.io)
  --snapshotter NAME         the snapshotter to unpack into on import (containerd's default otherwise)
  --rebuild                  build again what the command makes (the image; the stand-ins for
                             `bases`; pause), ignoring its cached archive
EOF
}

# ---------------------------------------------------------------------------------------
# Names and versions: all derived from the tree, none written twice.

# A reference as containerd and the kubelet resolve it: docker.io/library/ for a bare
# name, docker.io/ for an unqualified path, :latest when there is no tag.
normalize_ref() {
  local ref=$1 first
  case "$ref" in */*) first=${ref%%/*} ;; *) first= ;; esac
  if [ -z "$first" ]; then
    ref="docker.io/library/$ref"
  elif [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; then
    ref="docker.io/$ref"
  fi
  case "${ref##*/}" in *:* | *@*) ;; *) ref="$ref:latest" ;; esac
  printf '%s\n' "$ref"
}

# The images the Dockerfile starts FROM that are not its own stages.
dockerfile_bases() {
  awk '
    toupper($1) == "FROM" {
      i = 2; while ($i ~ /^--/) i++
      img = $i; if (toupper($(i + 1)) == "AS") stage[tolower($(i + 2))] = 1
      if (!(tolower(img) in stage) && !(img in seen)) { seen[img] = 1; print img }
    }' "$ROOT/Dockerfile"
}

load_config() {
  NODE_VERSION=$(tr -d '[:space:]' < "$ROOT/.node-version")
  [[ "$NODE_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die ".node-version holds '$NODE_VERSION', not a Node.js version"
  NODE_BASE_REF='' DISTROLESS_REF=''
  local base
  while read -r base; do
    case "$base" in
      "node:$NODE_VERSION-$DEBIAN_SUITE-slim") NODE_BASE_REF=$(normalize_ref "$base") ;;
      "gcr.io/distroless/cc-debian12:nonroot") DISTROLESS_REF=$base ;;
      *) die "the Dockerfile starts FROM $base; this script builds stand-ins only for node:$NODE_VERSION-$DEBIAN_SUITE-slim and gcr.io/distroless/cc-debian12:nonroot (Node.js $NODE_VERSION from .node-version): teach it the new base" ;;
    esac
  done < <(dockerfile_bases)
  [ -n "$NODE_BASE_REF" ] && [ -n "$DISTROLESS_REF" ] ||
    die "the Dockerfile no longer starts FROM node:$NODE_VERSION-$DEBIAN_SUITE-slim and gcr.io/distroless/cc-debian12:nonroot; update this script's stand-ins"
  # The image's name is the chart's: its repository, with the version package.json and
  # Chart.yaml's appVersion share as the tag.
  IMAGE_VERSION=$(sed -n 's/^  "version": "\([^"]*\)",\{0,1\}$/\1/p' "$ROOT/package.json" | head -n 1)
  [ -n "$IMAGE_VERSION" ] || die "no version in package.json"
  local app_version repository tag values="$ROOT/charts/leaseguard/values.yaml"
  app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$ROOT/charts/leaseguard/Chart.yaml")
  [ "$app_version" = "$IMAGE_VERSION" ] ||
    die "package.json's version ($IMAGE_VERSION) and Chart.yaml's appVersion ($app_version) differ: the image's tag is both, bump them together"
  repository=$(awk '/^image:/ { in_image = 1; next } /^[^ #]/ { in_image = 0 } in_image && $1 == "repository:" { print $2; exit }' "$values")
  tag=$(awk '/^image:/ { in_image = 1; next } /^[^ #]/ { in_image = 0 } in_image && $1 == "tag:" { print $2; exit }' "$values")
  repository=${repository//\"/} tag=${tag//\"/}
  [ -n "$repository" ] || die "no image.repository in $values"
  [ "$tag" = "$IMAGE_VERSION" ] ||
    log "warning: the chart's image.tag ($tag) is not the version ($IMAGE_VERSION): Pods of the chart's defaults will not find this image"
  IMAGE_REF=$(normalize_ref "$repository:$IMAGE_VERSION")
}

# The pinned Node.js (fetched by ensure-node.sh) and the npm release that Node.js ships
# with (the newest "upgrade npm to" in its changelog), as node:<major>-* images carry it.
load_node() {
  local node_bin
  node_bin=$(bash "$ROOT/scripts/ensure-node.sh") || die "could not fetch Node.js $NODE_VERSION (scripts/ensure-node.sh): check that the npm registry is reachable"
  NODE_DIR=$(dirname "$(dirname "$node_bin")")
  NPM_VERSION=${LEASEGUARD_NPM_VERSION:-$(grep -m 1 -oE 'upgrade npm to [0-9]+\.[0-9]+\.[0-9]+' "$NODE_DIR/CHANGELOG.md" 2>/dev/null | awk '{ print $4 }' || true)}
  [ -n "$NPM_VERSION" ] || die "cannot tell which npm Node.js $NODE_VERSION ships (no 'upgrade npm to' in $NODE_DIR/CHANGELOG.md): set LEASEGUARD_NPM_VERSION"
}

hash_text() { sha256sum | cut -c1-16; }

# Cache keys: the recipe's own text (the functions below, as bash prints them) and what it
# is fed. A change to a recipe rebuilds what it makes; a change elsewhere does not.
node_base_archive() {
  local h
  h=$( { declare -f recipe_node_base; declare -p DEBIAN_SUITE; echo "$NODE_BASE_REF $NODE_VERSION $NPM_VERSION"; } | hash_text)
  echo "$CACHE_DIR/node-$NODE_VERSION-$DEBIAN_SUITE-slim_npm$NPM_VERSION-$h.tar"
}
distroless_archive() {
  local h
  h=$( { declare -f recipe_distroless; declare -p DEBIAN_SUITE DISTROLESS_PACKAGES NONROOT_UID; echo "$DISTROLESS_REF"; } | hash_text)
  echo "$CACHE_DIR/distroless-cc-debian12-nonroot_$h.tar"
}
# The image: what its COPY lines read, the bases it is built on and the build recipe.
image_archive() {
  local h
  h=$( {
    declare -f recipe_image prepare_npm_cache
    echo "$IMAGE_REF $(basename "$(node_base_archive)") $(basename "$(distroless_archive)")"
    cd "$ROOT" && find Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json src webhook \
      -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | hash_text)
  echo "$CACHE_DIR/leaseguard-${IMAGE_VERSION}_$h.tar"
}
pause_archive() {
  local h
  h=$( { declare -f recipe_pause; echo "$PAUSE_REF"; cat "$ROOT/scripts/pause/go.mod" "$ROOT/scripts/pause/main.go"; } | hash_text)
  echo "$CACHE_DIR/pause-${PAUSE_VERSION}_$h.tar"
}

# ---------------------------------------------------------------------------------------
# Tools. CI runs on a fresh machine as root: what is missing is installed from Debian.

APT_UPDATED=
apt_install() {
  [ "$(id -u)" = 0 ] || die "$* missing, and only root can install it: apt-get install -y $*"
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed: check the machine's apt sources"
    APT_UPDATED=1
  fi
  log "installing $* (apt-get install -y)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 ||
    die "apt-get install $* failed"
}

GO=${GO:-}
ensure_tools() {
  local want=() cmd pkg
  for cmd in buildah:buildah mmdebstrap:mmdebstrap dpkg-deb:dpkg unshare:util-linux; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || want+=("${cmd#*:}")
  done
  [ -f "$DEBIAN_KEYRING" ] || want+=(debian-archive-keyring)
  if [ "$1" = pause ]; then
    GO=$(command -v go 2>/dev/null || true)
    [ -n "$GO" ] || [ ! -x /usr/local/go/bin/go ] || GO=/usr/local/go/bin/go
    [ -n "$GO" ] || want+=(golang-go)
  fi
  [ -z "$CONTAINERD_ADDRESS" ] || command -v ctr >/dev/null 2>&1 || want+=(containerd)
  if [ "${#want[@]}" -gt 0 ]; then apt_install "${want[@]}"; fi
  for pkg in "${want[@]}"; do [ "$pkg" != golang-go ] || GO=$(command -v go); done
  command -v npm >/dev/null 2>&1 || die "npm is not installed: the image's npm and the build's npm cache come through it (install Node.js 20 or newer)"
}

# ---------------------------------------------------------------------------------------
# The sandbox: a private mount and PID namespace around every build step, a work
# directory under the cache (same filesystem as the archives, so they are moved in whole).

WORK='' SANDBOX_PID=''
remove_work() {
  if [ -n "$SANDBOX_PID" ] && kill -0 "$SANDBOX_PID" 2>/dev/null; then
    log "stopping the build"
    # The sandbox's init (unshare's child) is killed; the kernel ends every process
    # left in its PID namespace before unshare's wait for it returns.
    local init
    init=$(cat "/proc/$SANDBOX_PID/task/$SANDBOX_PID/children" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one pid per word
    [ -z "$init" ] || kill -KILL $init 2>/dev/null || true
    wait "$SANDBOX_PID" 2>/dev/null || true
  fi
  SANDBOX_PID=
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then rm -rf --one-file-system "$WORK"; fi
  WORK=
}

# Work directories of runs that were killed outright (SIGKILL leaves no trap to run).
sweep_stale_work() {
  local dir pid alive
  for dir in "$CACHE_DIR"/tmp/run.*; do
    [ -d "$dir" ] || continue
    # A run writes its owner file right after making its directory: give it that moment.
    [ -f "$dir/owner" ] || [ -n "$(find "$dir" -maxdepth 0 -mmin +1)" ] || continue
    alive=
    for pid in $(cat "$dir/owner" 2>/dev/null || true); do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    if [ -z "$alive" ]; then
      log "removing $dir, left by a build that was killed"
      rm -rf --one-file-system "$dir"
    fi
  done
}

in_sandbox() {
  [ "$(id -u)" = 0 ] || die "building images needs root (buildah's storage, mmdebstrap, namespaces): run it as root, as CI does"
  mkdir -p "$CACHE_DIR/tmp"
  sweep_stale_work
  WORK=$(mktemp -d "$CACHE_DIR/tmp/run.XXXXXX")
  echo $$ > "$WORK/owner"
  trap remove_work EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  # The sandbox writes its progress to stderr; only this script's last line is stdout.
  # If this script dies, even by SIGKILL, unshare is killed (--pdeathsig); if unshare
  # dies, its child, the sandbox's init, is killed (--kill-child), and with it every
  # process of the namespace.
  setpriv --pdeathsig KILL unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
    env LEASEGUARD_IMAGE_WORK="$WORK" NODE_DIR="$NODE_DIR" NPM_VERSION="$NPM_VERSION" GO="$GO" \
    bash "$SELF" __sandbox "$@" \
    2> >(grep --line-buffered -v '^unshare: sigprocmask unblock failed' >&2) >&2 &
  SANDBOX_PID=$!
  echo "$$ $SANDBOX_PID" > "$WORK/owner"
  local rc=0
  wait "$SANDBOX_PID" || rc=$?
  SANDBOX_PID=
  remove_work
  trap - EXIT INT TERM HUP
  return "$rc"
}

# ---------------------------------------------------------------------------------------
# Inside the sandbox: buildah with its own storage and configuration.

# overlay when the kernel mounts it on the work directory's filesystem (its mounts live
# and die in the sandbox's mount namespace), vfs (whole copies, no mounts) otherwise.
storage_driver() {
  local d="$WORK/overlay-probe"
  if [ -n "${LEASEGUARD_IMAGE_STORAGE_DRIVER:-}" ]; then echo "$LEASEGUARD_IMAGE_STORAGE_DRIVER"; return; fi
  mkdir -p "$d/lower" "$d/upper" "$d/work" "$d/merged"
  if mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/merged" 2>/dev/null; then
    umount "$d/merged"
    echo overlay
  else
    echo vfs
  fi
  rm -rf "$d"
}

setup_buildah() {
  STORE="$WORK/storage"
  DRIVER=$(storage_driver)
  mkdir -p "$STORE/root" "$STORE/run" "$WORK/tmp"
  printf '[storage]\ndriver = "%s"\ngraphroot = "%s"\nrunroot = "%s"\n' "$DRIVER" "$STORE/root" "$STORE/run" > "$WORK/storage.conf"
  printf 'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n' > "$WORK/registries.conf"
  printf '{"default": [{"type": "insecureAcceptAnything"}]}\n' > "$WORK/policy.json"
  export CONTAINERS_STORAGE_CONF="$WORK/storage.conf" CONTAINERS_REGISTRIES_CONF="$WORK/registries.conf"
  export BUILDAH_ISOLATION=chroot TMPDIR="$WORK/tmp"
  log "buildah storage: $STORE (driver $DRIVER)"
  trap 'bh rm --all >/dev/null 2>&1 || true' EXIT
}
bh() { buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver "$DRIVER" "$@"; }

# The Debian mirror this machine's apt uses (its sources), for the suite the stand-ins are.
write_debian_sources() {
  local uris main='' security='' uri
  uris=$( { sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
            sed -nE 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } | tr ' ' '\n')
  for uri in $uris; do
    case "$uri" in
      */debian-security | */debian-security/) [ -n "$security" ] || security=${uri%/} ;;
      */debian | */debian/) [ -n "$main" ] || main=${uri%/} ;;
    esac
  done
  main=${LEASEGUARD_DEBIAN_MIRROR:-${main:-http://deb.debian.org/debian}}
  security=${LEASEGUARD_DEBIAN_SECURITY_MIRROR:-${security:-http://deb.debian.org/debian-security}}
  {
    echo "deb [signed-by=$DEBIAN_KEYRING] $main $DEBIAN_SUITE main"
    echo "deb [signed-by=$DEBIAN_KEYRING] $main $DEBIAN_SUITE-updates main"
    echo "deb [signed-by=$DEBIAN_KEYRING] $security $DEBIAN_SUITE-security main"
  } > "$1"
}

# Pushes IMAGE to a docker-archive at DEST under its name, whole or not at all.
save_archive() {
  local image=$1 dest=$2
  mkdir -p "$(dirname "$dest")"
  bh push --quiet --signature-policy "$WORK/policy.json" "$image" "docker-archive:$WORK/out.tar:$image"
  mv -f "$WORK/out.tar" "$dest"
  # Older archives of the same kind (the name up to its last _) go; the three newest stay
  # (other trees share the cache).
  local family=${dest%_*}
  [ "$family" != "$dest" ] || die "archive name $dest has no _ between its kind and its version"
  ls -t "$family"_*.tar 2>/dev/null | tail -n +4 | xargs -r rm -f
  log "wrote $dest ($(du -m "$dest" | cut -f1) MiB)"
}

# Loads a cached archive into this run's storage under NAME.
load_archive() {
  local archive=$1 name=$2 id
  bh inspect --type image "$name" >/dev/null 2>&1 && return 0
  log "loading $name from $(basename "$archive")"
  id=$(bh pull --quiet --signature-policy "$WORK/policy.json" "docker-archive:$archive" | tail -n 1)
  bh tag "$id" "$name"
}

# The checks of a built image run in one throwaway container of it (with vfs, a whole
# copy of the image), as the image's user.
CHECK_CTR=
begin_checks() { CHECK_CTR=$(bh from --pull=never --quiet "$1"); }
check_in() { bh run --isolation chroot "$CHECK_CTR" -- "$@" 2>&1; }
end_checks() { bh rm "$CHECK_CTR" >/dev/null; CHECK_CTR=; }

expect_output() {
  local what=$1 expected=$2 got=$3
  [ "$got" = "$expected" ] || die "$what: expected '$expected', got '$got'"
  log "checked: $what is $expected"
}

# node:<major>-bookworm-slim: Debian bookworm (minbase, documentation left out as the
# slim images do) with the pinned node in /usr/local/bin and the npm it ships with, a user
# node (1000), as the official image is made.
recipe_node_base() {
  local ctr mnt
  ctr=$(bh from --quiet scratch)
  mnt=$(bh mount "$ctr")
  write_debian_sources "$WORK/debian.list"
  mmdebstrap --quiet --variant=minbase --mode=root --format=directory --skip=output/dev \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/groff/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='chroot "$1" groupadd --gid 1000 node' \
    --customize-hook='chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
    "$DEBIAN_SUITE" "$mnt" "$WORK/debian.list" ||
    die "mmdebstrap could not make Debian $DEBIAN_SUITE from $(cut -d' ' -f3 "$WORK/debian.list" | head -n 1): check the mirror (apt-get update on this machine)"
  # Nothing of mmdebstrap's may still be mounted in the tree that becomes the layer.
  ! grep -qF " $mnt/" /proc/self/mountinfo || die "mmdebstrap left mounts under $mnt"
  find "$mnt/dev" -xdev -mindepth 1 -delete
  install -m 0755 "$NODE_DIR/bin/node" "$mnt/usr/local/bin/node"
  cp -R --no-preserve=ownership "$NODE_DIR/include" "$NODE_DIR/share" "$mnt/usr/local/"
  mkdir -p "$mnt/usr/local/lib/node_modules/npm"
  tar -xzf "$WORK/npm.tgz" --strip-components=1 --no-same-owner -C "$mnt/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  bh umount "$ctr" >/dev/null
  bh config --env NODE_VERSION="$NODE_VERSION" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["node"]' \
    --label io.leaseguard.stand-in="$NODE_BASE_REF: built by scripts/build-image.sh" "$ctr"
  bh commit --quiet --rm "$ctr" "$NODE_BASE_REF" >/dev/null
}

# gcr.io/distroless/cc-debian12:nonroot: Debian 12's packages extracted (no maintainer
# scripts, no shell, no package manager), the CA bundle, users root, nobody and nonroot
# (65532). No Node.js: the Dockerfile copies in the one its build stage ran.
recipe_distroless() {
  local apt="$WORK/apt" ctr mnt deb pkg
  mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$WORK/debs" "$WORK/ca"
  write_debian_sources "$apt/sources.list"
  : > "$apt/status"
  local apt_opts=(-q -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts="$apt/parts"
    -o Dir::Etc::PreferencesParts="$apt/parts" -o Dir::State="$apt/state" -o Dir::State::status="$apt/status"
    -o Dir::Cache="$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o Acquire::Languages=none)
  apt-get "${apt_opts[@]}" update >/dev/null ||
    die "apt-get update from $(cut -d' ' -f3 "$apt/sources.list" | head -n 1) failed: check the mirror"
  (cd "$WORK/debs" && apt-get "${apt_opts[@]}" download "${DISTROLESS_PACKAGES[@]}" >/dev/null) ||
    die "apt-get download ${DISTROLESS_PACKAGES[*]} failed"
  ctr=$(bh from --quiet scratch)
  mnt=$(bh mount "$ctr")
  mkdir -p "$mnt/var/lib/dpkg/status.d"
  for deb in "$WORK"/debs/*.deb; do
    pkg=$(dpkg-deb --field "$deb" Package)
    dpkg-deb --field "$deb" > "$mnt/var/lib/dpkg/status.d/$pkg"
    if [ "$pkg" = ca-certificates ]; then
      # Only the bundle, as update-ca-certificates would write it (it needs a shell).
      dpkg-deb -x "$deb" "$WORK/ca"
      mkdir -p "$mnt/etc/ssl/certs" "$mnt/usr/share/doc/ca-certificates"
      cat "$WORK"/ca/usr/share/ca-certificates/mozilla/*.crt > "$mnt/etc/ssl/certs/ca-certificates.crt"
      cp "$WORK/ca/usr/share/doc/ca-certificates/copyright" "$mnt/usr/share/doc/ca-certificates/"
    else
      dpkg-deb -x "$deb" "$mnt"
    fi
  done
  rm -rf "$mnt/usr/share/man" "$mnt/usr/share/info" "$mnt/usr/share/lintian" "$mnt/usr/share/gdb" "$mnt/usr/share/gcc"
  find "$mnt/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  find "$mnt/usr/share/doc" -mindepth 1 -type d -empty -delete
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    "nonroot:x:$NONROOT_UID:$NONROOT_UID:nonroot:/home/nonroot:/sbin/nologin" > "$mnt/etc/passwd"
  printf '%s\n' 'root:x:0:' 'tty:x:5:' 'staff:x:50:' 'nobody:x:65534:' "nonroot:x:$NONROOT_UID:" > "$mnt/etc/group"
  printf 'hosts: files dns\n' > "$mnt/etc/nsswitch.conf"
  install -d -m 0700 "$mnt/root"
  install -d -m 0700 -o "$NONROOT_UID" -g "$NONROOT_UID" "$mnt/home/nonroot"
  install -d -m 1777 "$mnt/tmp"
  local found
  found=$(find "$mnt" ! -type d \( -name sh -o -name bash -o -name dash -o -name busybox -o -name dpkg -o -name apt -o -name apt-get \) -print)
  [ -z "$found" ] || die "the distroless stand-in has a shell or package manager: $found"
  bh umount "$ctr" >/dev/null
  bh config --user "$NONROOT_UID" --workingdir /home/nonroot --entrypoint '[]' --cmd '' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --label io.leaseguard.stand-in="$DISTROLESS_REF: built by scripts/build-image.sh" "$ctr"
  bh commit --quiet --rm "$ctr" "$DISTROLESS_REF" >/dev/null
}

# The build's npm cache: a copy of this machine's (which `npm ci` in the tree filled), so
# that the Dockerfile's `npm ci` steps run offline. With ENSURE, it is first completed from
# the registry by the machine's npm, for a tree whose lock the machine has not installed.
prepare_npm_cache() {
  local cache="$WORK/npm-cache" host_cache
  if [ ! -d "$cache" ]; then
    mkdir -p "$cache"
    host_cache=$(npm config get cache 2>/dev/null || true)
    if [ -n "$host_cache" ] && [ -d "$host_cache/_cacache" ]; then cp -a "$host_cache/_cacache" "$cache/"; fi
  fi
  if [ "${1:-}" = ensure ]; then
    log "filling the build's npm cache from the registry (npm ci on this machine, scripts ignored)"
    rm -rf "$WORK/prime" && mkdir -p "$WORK/prime"
    cp "$ROOT/package.json" "$ROOT/package-lock.json" "$WORK/prime/"
    (cd "$WORK/prime" && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --cache "$cache" >&2) ||
      die "npm ci could not fetch package-lock.json's packages: check that the npm registry is reachable"
    rm -rf "$WORK/prime"
  fi
  # Read by the build's npm as its global npmrc (prefix /usr/local).
  printf 'offline=true\ncache=/root/.npm\nregistry=%s\nupdate-notifier=false\nfund=false\naudit=false\n' \
    "$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)" > "$WORK/npmrc"
}

# The Dockerfile as it is, with no network: its `npm ci` steps read the prepared cache.
recipe_image() {
  local attempt
  for attempt in 1 2; do
    # Its own network namespace, with nothing in it, is the build's network: chroot
    # isolation has no --network none of its own.
    if unshare --net buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver "$DRIVER" \
      bud --pull=never --signature-policy "$WORK/policy.json" --isolation chroot --force-rm --layers=false \
      --volume "$WORK/npm-cache:/root/.npm" --volume "$WORK/npmrc:/usr/local/etc/npmrc:ro" \
      --file "$ROOT/Dockerfile" --tag "$IMAGE_REF" "$ROOT" 2>&1 | tee "$WORK/bud.log" >&2; then
      return 0
    fi
    if [ "$attempt" = 1 ] && grep -q ENOTCACHED "$WORK/bud.log"; then
      log "the build's npm cache lacks packages of package-lock.json"
      prepare_npm_cache ensure
    else
      die "buildah bud of the Dockerfile failed (log above)"
    fi
  done
}

# A static pause in an image of its own (FROM scratch), as registry.k8s.io/pause is made.
recipe_pause() {
  local ctr
  mkdir -p "$WORK/pause"
  (cd "$ROOT/scripts/pause" && env GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS= "$GO" build -trimpath -ldflags='-s -w' -o "$WORK/pause/pause" .) ||
    die "go build of scripts/pause failed"
  ctr=$(bh from --quiet scratch)
  bh copy --quiet --chmod 0755 "$ctr" "$WORK/pause/pause" /pause
  bh config --entrypoint '["/pause"]' --cmd '' --user 65535:65535 "$ctr"
  bh commit --quiet --rm "$ctr" "$PAUSE_REF" >/dev/null
}

sandbox_main() {
  WORK=${LEASEGUARD_IMAGE_WORK:?}
  [ "$$" = 1 ] || die "__sandbox runs only as the init of its own PID namespace"
  # The init of a PID namespace gets only the signals it handles.
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  local cmd=$1 rebuild=$2 node_archive distroless image started
  setup_buildah
  case "$cmd" in
    pause)
      started=$SECONDS
      log "building $PAUSE_REF (static Go, FROM scratch)"
      recipe_pause
      begin_checks "$PAUSE_REF"
      expect_output "$PAUSE_REF's /pause -v" "pause.go $PAUSE_VERSION (leaseguard)" "$(check_in /pause -v)"
      end_checks
      save_archive "$PAUSE_REF" "$(pause_archive)"
      log "pause image built in $((SECONDS - started)) s"
      return 0
      ;;
  esac
  node_archive=$(node_base_archive)
  distroless=$(distroless_archive)
  # --rebuild rebuilds what the command makes: the stand-ins for `bases`, the image for `image`.
  local rebuild_bases=0
  [ "$cmd" != bases ] || rebuild_bases=$rebuild
  if [ "$rebuild_bases" = 1 ] || [ ! -f "$node_archive" ]; then
    started=$SECONDS
    log "building the stand-in $NODE_BASE_REF (Debian $DEBIAN_SUITE minbase, Node.js $NODE_VERSION, npm $NPM_VERSION)"
    (cd "$WORK" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && mv npm-*.tgz npm.tgz) ||
      die "npm pack npm@$NPM_VERSION failed: check that the npm registry is reachable"
    recipe_node_base
    begin_checks "$NODE_BASE_REF"
    expect_output "$NODE_BASE_REF's node --version" "v$NODE_VERSION" "$(check_in node --version)"
    expect_output "$NODE_BASE_REF's npm --version" "$NPM_VERSION" "$(check_in npm --version)"
    end_checks
    save_archive "$NODE_BASE_REF" "$node_archive"
    log "$NODE_BASE_REF built in $((SECONDS - started)) s"
  fi
  if [ "$rebuild_bases" = 1 ] || [ ! -f "$distroless" ]; then
    started=$SECONDS
    log "building the stand-in $DISTROLESS_REF (Debian 12 packages extracted; nothing in it runs alone: the image's checks below run its node)"
    recipe_distroless
    expect_output "$DISTROLESS_REF's user" "$NONROOT_UID" "$(bh inspect --type image --format '{{.OCIv1.Config.User}}' "$DISTROLESS_REF")"
    save_archive "$DISTROLESS_REF" "$distroless"
    log "$DISTROLESS_REF built in $((SECONDS - started)) s"
  fi
  [ "$cmd" = image ] || return 0
  started=$SECONDS
  load_archive "$node_archive" "$NODE_BASE_REF"
  load_archive "$distroless" "$DISTROLESS_REF"
  prepare_npm_cache
  log "building $IMAGE_REF from the Dockerfile (buildah bud --pull=never, no network)"
  recipe_image
  expect_output "$IMAGE_REF's user" "$NONROOT_UID:$NONROOT_UID" "$(bh inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE_REF")"
  begin_checks "$IMAGE_REF"
  expect_output "$IMAGE_REF's Node.js" "v$NODE_VERSION" "$(check_in /nodejs/bin/node --version)"
  expect_output "$IMAGE_REF's uid" "$NONROOT_UID" "$(check_in /nodejs/bin/node -p 'process.getuid()')"
  check_in /nodejs/bin/node /app/dist/src/cli.js --help >/dev/null ||
    die "$IMAGE_REF: /nodejs/bin/node /app/dist/src/cli.js --help failed: $(check_in /nodejs/bin/node /app/dist/src/cli.js --help | tail -n 5)"
  log "checked: $IMAGE_REF's entrypoint runs (cli.js --help)"
  end_checks
  save_archive "$IMAGE_REF" "$(image_archive)"
  log "$IMAGE_REF built in $((SECONDS - started)) s"
}

# ---------------------------------------------------------------------------------------

import_archive() {
  local archive=$1 name=$2 args=()
  [ -n "$CONTAINERD_ADDRESS" ] || return 0
  [ -S "$CONTAINERD_ADDRESS" ] || die "--containerd-address $CONTAINERD_ADDRESS is not a socket: start containerd first"
  [ -z "$SNAPSHOTTER" ] || args+=(--snapshotter "$SNAPSHOTTER")
  log "importing $name into containerd at $CONTAINERD_ADDRESS (namespace $CTR_NAMESPACE)"
  ctr --address "$CONTAINERD_ADDRESS" --namespace "$CTR_NAMESPACE" images import "${args[@]}" "$archive" >&2 ||
    die "ctr images import of $archive into $CONTAINERD_ADDRESS failed"
  # Listed first, then searched: `grep -q` would stop reading early, and under pipefail
  # ctr's SIGPIPE would fail the check.
  local listed
  listed=$(ctr --address "$CONTAINERD_ADDRESS" --namespace "$CTR_NAMESPACE" images ls --quiet)
  grep -qxF "$name" <<<"$listed" || die "after the import, containerd at $CONTAINERD_ADDRESS has no image $name"
}

main() {
  local cmd=image rebuild=0
  CONTAINERD_ADDRESS='' SNAPSHOTTER=''
  if [ "${1:-}" = __sandbox ]; then
    shift
    load_config
    sandbox_main "$@"
    return
  fi
  while [ $# -gt 0 ]; do
    case "$1" in
      image | pause | bases | print-config) cmd=$1 ;;
      --containerd-address) [ $# -ge 2 ] || die "--containerd-address needs a socket path"; CONTAINERD_ADDRESS=$2; shift ;;
      --containerd-address=*) CONTAINERD_ADDRESS=${1#*=} ;;
      --snapshotter) [ $# -ge 2 ] || die "--snapshotter needs a name"; SNAPSHOTTER=$2; shift ;;
      --snapshotter=*) SNAPSHOTTER=${1#*=} ;;
      --rebuild) rebuild=1 ;;
      -h | --help) usage; return 0 ;;
      *) usage; die "unknown argument: $1" ;;
    esac
    shift
  done
  load_config
  if [ "$cmd" = print-config ]; then
    printf 'node_version=%s\nnode_base=%s\ndistroless_base=%s\nimage=%s\npause=%s\ncache=%s\n' \
      "$NODE_VERSION" "$NODE_BASE_REF" "$DISTROLESS_REF" "$IMAGE_REF" "$PAUSE_REF" "$CACHE_DIR"
    return 0
  fi
  ensure_tools "$cmd"
  local archives=() names=()
  case "$cmd" in
    pause)
      archives=("$(pause_archive)") names=("$PAUSE_REF")
      NODE_DIR='' NPM_VERSION=''
      ;;
    *)
      load_node
      if [ "$cmd" = bases ]; then
        archives=("$(node_base_archive)" "$(distroless_archive)") names=("$NODE_BASE_REF" "$DISTROLESS_REF")
      else
        archives=("$(image_archive)") names=("$IMAGE_REF")
      fi
      ;;
  esac
  local missing=$rebuild a
  for a in "${archives[@]}"; do [ -f "$a" ] || missing=1; done
  if [ "$missing" = 1 ]; then
    in_sandbox "$cmd" "$rebuild" || die "the build failed (see above); the partial work was removed"
  else
    log "using cached ${archives[*]}"
  fi
  local i
  for i in "${!archives[@]}"; do
    [ -f "${archives[$i]}" ] || die "the build ended without writing ${archives[$i]}"
    import_archive "${archives[$i]}" "${names[$i]}"
  done
  printf '%s\n' "${archives[@]}"
}

main "$@"
