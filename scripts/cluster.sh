#!/usr/bin/env bash
# usage: cluster.sh up | down | status | env
#
# A real one-node Kubernetes cluster on this machine, for the end-to-end tests and for
# people: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy
# (nftables) and a kubelet on containerd + runc (Debian's packages), with a bridge CNI.
# The Kubernetes binaries come from scripts/build-control-plane.sh --node (cached, keyed
# by version). Everything lives in one state directory; `down` removes all of it and
# then checks that nothing is left (processes, shims, mounts, the bridge, nft tables,
# kubepods cgroups) and fails, naming what is, if anything is.
#
# Its traffic stays on this machine: the node's address is on its own bridge, pods get
# addresses on that bridge, and an nft table drops anything from the bridge or to the
# cluster's ranges that would leave through another interface.
#
# Environment:
#   LEASEGUARD_CLUSTER_DIR               state directory (default /var/lib/leaseguard-cluster)
#   LEASEGUARD_CLUSTER_ADMISSION_CONFIG  an AdmissionConfiguration for kube-apiserver's
#                                        --admission-control-config-file (e.g. from
#                                        `leaseguard apiserver-config`), so it presents a
#                                        client certificate to webhooks
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# The system's tools, never a same-named one from node_modules/.bin (npm run puts it
# first on PATH, and @vercel/nft installs an `nft`).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

DIR="${LEASEGUARD_CLUSTER_DIR:-/var/lib/leaseguard-cluster}"
RUN_DIR=/run/leaseguard-cluster
BRIDGE=lgbr0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
NODE_NAME=leaseguard-node
API_PORT=6443
ETCD_PORT=12379
ETCD_PEER_PORT=12380
NFT_TABLE=leaseguard_cluster
PAUSE_IMAGE=localhost/leaseguard/pause:3.10
COMPONENTS=(kubelet kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd containerd)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

# ---- helpers -----------------------------------------------------------------------

pid_of() { [ -f "$DIR/run/$1.pid" ] && cat "$DIR/run/$1.pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start_daemon() { # name binary args...
  local name=$1; shift
  # setsid: the daemon outlives the shell that started it; its own process group lets
  # `down` stop it whoever runs `down`.
  setsid "$@" >>"$DIR/log/$name.log" 2>&1 < /dev/null &
  echo $! > "$DIR/run/$name.pid"
  log "started $name (pid $!, log $DIR/log/$name.log)"
}

wait_until() { # what seconds command...
  local what=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$what not ready after ${secs}s; see $DIR/log/"
    sleep 1
  done
}

kctl() { kubectl --kubeconfig "$DIR/pki/admin.kubeconfig" "$@"; }

ensure_packages() {
  local missing=() cmd pkg
  for pair in containerd:containerd runc:runc ctr:containerd nft:nftables iptables:iptables conntrack:conntrack; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed; install them by hand and retry"
  fi
}

# ---- certificates (openssl) ----------------------------------------------------------

issue() { # name subject extensions-file-contents
  local name=$1 subj=$2 ext=$3 pki="$DIR/pki"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" > "$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

kubeconfig() { # name cert-base
  cat > "$DIR/pki/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: leaseguard-node
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $DIR/pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $DIR/pki/$2.crt
    client-key: $DIR/pki/$2.key
contexts:
- name: leaseguard-node
  context: {cluster: leaseguard-node, user: $1}
current-context: leaseguard-node
EOF
  chmod 600 "$DIR/pki/$1.kubeconfig"
}

make_pki() {
  local pki="$DIR/pki" client='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'
  mkdir -p "$pki"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -subj "/CN=leaseguard-node-ca" \
    -days 30 -sha256 -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -out "$pki/ca.crt" 2>/dev/null
  issue apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  issue admin "/O=system:masters/CN=leaseguard-node-admin" "$client"
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  issue kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
  issue controller-manager "/CN=system:kube-controller-manager" "$client"
  issue scheduler "/CN=system:kube-scheduler" "$client"
  issue kube-proxy "/CN=system:kube-proxy" "$client"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki"/*.key
  kubeconfig admin admin
  kubeconfig kubelet kubelet
  kubeconfig controller-manager controller-manager
  kubeconfig scheduler scheduler
  kubeconfig kube-proxy kube-proxy
}

# ---- network -------------------------------------------------------------------------

make_network() {
  cat /proc/sys/net/ipv4/ip_forward > "$DIR/run/ip_forward.orig"
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Nothing from the pod bridge, or to the cluster's ranges, leaves through any other
  # interface: the bridge plugin turns on ip_forward, and a ClusterIP without a
  # kube-proxy rule yet would otherwise follow the default route.
  nft -f - <<EOF
table inet $NFT_TABLE {
  chain forward {
    type filter hook forward priority -10; policy accept;
    iifname "$BRIDGE" oifname != "$BRIDGE" drop
    oifname "$BRIDGE" iifname != "$BRIDGE" drop
  }
  chain output {
    type filter hook output priority 10; policy accept;
    ip daddr { $SERVICE_CIDR, $POD_CIDR } oifname != { "$BRIDGE", "lo" } drop
  }
}
EOF
  nft list table inet "$NFT_TABLE" >/dev/null 2>&1 || die "could not install the nft table that keeps the node's traffic on this machine"
  mkdir -p "$DIR/cni/net.d" "$DIR/cni/ipam"
  cat > "$DIR/cni/net.d/10-leaseguard.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "leaseguard",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "rangeStart": "10.244.0.10", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

# ---- up --------------------------------------------------------------------------------

up() {
  [ "$(id -u)" = 0 ] || die "a node needs root (containerd, the kubelet, a bridge)"
  if [ -d "$DIR" ]; then
    if alive kube-apiserver; then log "already up"; status; return 0; fi
    log "a stale state directory $DIR exists: cleaning it first"
    down
  fi
  ensure_packages
  local bin
  bin=$(bash "$ROOT/scripts/build-control-plane.sh" --node | tail -n 1)
  [ -x "$bin/kubelet" ] || die "no kubelet in $bin"
  local t0; t0=$(date +%s)
  mkdir -p "$DIR"/{run,log,etcd,kubelet,pods-logs} "$RUN_DIR"
  echo "$bin" > "$DIR/run/bin"
  nft list tables 2>/dev/null | sort > "$DIR/run/nft-tables.before"
  make_pki
  make_network

  # containerd, with its own root, state and socket.
  cat > "$DIR/containerd.toml" <<EOF
version = 2
root = "$DIR/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$RUN_DIR/containerd.sock"
[ttrpc]
  address = "$RUN_DIR/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine drops CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below 0.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
EOF
  start_daemon containerd containerd --config "$DIR/containerd.toml"
  wait_until containerd 30 ctr -a "$RUN_DIR/containerd.sock" version
  log "importing the pause image"
  local pause_tar
  pause_tar=$(bash "$ROOT/scripts/build-image.sh" pause | tail -n 1)
  ctr -a "$RUN_DIR/containerd.sock" -n k8s.io images import "$pause_tar" >/dev/null

  start_daemon etcd "$bin/etcd" --data-dir="$DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level=warn
  wait_until etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  local admission=()
  if [ -n "${LEASEGUARD_CLUSTER_ADMISSION_CONFIG:-}" ]; then
    admission=("--admission-control-config-file=$LEASEGUARD_CLUSTER_ADMISSION_CONFIG")
  fi
  local pki="$DIR/pki"
  start_daemon kube-apiserver "$bin/kube-apiserver" \
    --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port="$API_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" --cert-dir="$pki" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer="https://kubernetes.default.svc" --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" --service-cluster-ip-range="$SERVICE_CIDR" \
    --allow-privileged=true --enable-aggregator-routing=true --profiling=false "${admission[@]}" --v=1
  wait_until kube-apiserver 120 kctl get --raw /readyz

  start_daemon kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$pki/controller-manager.kubeconfig" --service-account-private-key-file="$pki/sa.key" \
    --root-ca-file="$pki/ca.crt" --use-service-account-credentials=true --leader-elect=false \
    --bind-address=127.0.0.1 --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" --v=1
  start_daemon kube-scheduler "$bin/kube-scheduler" --kubeconfig="$pki/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --v=1

  cat > "$DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clientConnection:
  kubeconfig: $pki/kube-proxy.kubeconfig
conntrack:
  maxPerCore: 0
  min: 0
EOF
  start_daemon kube-proxy "$bin/kube-proxy" --config="$DIR/kube-proxy.yaml" --v=1
  # kube-proxy reads its RBAC from the API server's bootstrap roles.
  kctl create clusterrolebinding leaseguard-node-proxier --clusterrole=system:node-proxier --user=system:kube-proxy >/dev/null

  cat > "$DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
# This machine's cgroups are hybrid v1.
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$RUN_DIR/containerd.sock
podLogsDir: $DIR/pods-logs
# Images are imported, not pulled: garbage collection must never remove one.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
maxPods: 60
registerNode: true
EOF
  start_daemon kubelet "$bin/kubelet" --config="$DIR/kubelet.yaml" --kubeconfig="$pki/kubelet.kubeconfig" \
    --root-dir="$DIR/kubelet" --node-ip="$NODE_IP" --hostname-override="$NODE_NAME" --v=1
  wait_until "the node" 120 kctl wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
  wait_until "the default service account" 60 kctl get serviceaccount default -n default
  log "up in $(( $(date +%s) - t0 ))s: export KUBECONFIG=$pki/admin.kubeconfig"
  echo "$pki/admin.kubeconfig"
}

# ---- down ------------------------------------------------------------------------------

stop_daemon() { # name signal-wait-seconds
  local name=$1 wait=${2:-10} p
  p=$(pid_of "$name")
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq "$wait"); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$DIR/run/$name.pid"
}

drain_pods() {
  alive kube-apiserver && alive kubelet || return 0
  log "deleting every workload and Pod, and waiting for none"
  # Controllers first: a Deployment's ReplicaSet would replace each Pod deleted under it.
  kctl delete deployments,replicasets,statefulsets,daemonsets,jobs --all --all-namespaces --wait=false >/dev/null 2>&1 || true
  kctl delete pods --all --all-namespaces --wait=false --grace-period=5 >/dev/null 2>&1 || true
  local deadline=$(( $(date +%s) + 60 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    [ -z "$(kctl get pods -A -o name 2>/dev/null)" ] && return 0
    sleep 1
  done
  log "Pods still listed after 60s; removing their containers directly"
}

remove_containers() {
  local sock="$RUN_DIR/containerd.sock" id
  alive containerd || return 0
  for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
    ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 1
  for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do ctr -a "$sock" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true; done
}

unmount_under() { # every mount under a path, deepest first
  local path=$1 m
  for m in $(awk -v p="$path" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

remove_kubepods_cgroups() {
  local c
  for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

down() {
  [ "$(id -u)" = 0 ] || die "a node needs root"
  [ -d "$DIR" ] || [ -d "$RUN_DIR" ] || { check_clean; return; }
  drain_pods
  for c in kubelet kube-proxy kube-scheduler kube-controller-manager; do stop_daemon "$c"; done
  remove_containers
  stop_daemon kube-apiserver
  stop_daemon etcd
  stop_daemon containerd
  # Shims outlive containerd by design; theirs are ours to end.
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $RUN_DIR/containerd.sock" 2>/dev/null || true
  sleep 1
  unmount_under "$RUN_DIR/"
  unmount_under "$DIR/"
  # Pod network namespaces that containerd made (its 1.6 keeps them in /run/netns).
  local ns
  for ns in /run/netns/cni-*; do
    [ -e "$ns" ] || continue
    umount "$ns" 2>/dev/null || true
    rm -f "$ns"
  done
  remove_kubepods_cgroups
  # The tables kubelet and kube-proxy made, and ours (only tables that were not there before).
  local before="$DIR/run/nft-tables.before" t
  nft list tables 2>/dev/null | sort | while read -r t; do
    [ -n "$t" ] || continue
    if [ ! -f "$before" ] || ! grep -qxF "$t" "$before"; then nft delete $t 2>/dev/null || true; fi
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  [ -f "$DIR/run/ip_forward.orig" ] && cat "$DIR/run/ip_forward.orig" > /proc/sys/net/ipv4/ip_forward
  rm -rf "$DIR" "$RUN_DIR"
  check_clean
}

check_clean() {
  local left=()
  local p
  p=$(pgrep -f "containerd-shim-runc-v2 .*-address $RUN_DIR/containerd.sock" || true)
  [ -z "$p" ] || left+=("containerd-shim processes: $p")
  p=$(pgrep -f -- "--(config|root-dir|kubeconfig|data-dir)[= ]$DIR" || true)
  [ -z "$p" ] || left+=("processes using $DIR: $p")
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || left+=("bridge $BRIDGE")
  ! nft list table inet "$NFT_TABLE" >/dev/null 2>&1 || left+=("nft table $NFT_TABLE")
  ! nft list table ip kube-proxy >/dev/null 2>&1 || left+=("nft table ip kube-proxy")
  ! grep -qE " ($DIR|$RUN_DIR)/" /proc/self/mounts || left+=("mounts under $DIR or $RUN_DIR")
  ! ls /run/netns/cni-* >/dev/null 2>&1 || left+=("network namespaces /run/netns/cni-*")
  ! ls -d /sys/fs/cgroup/*/kubepods >/dev/null 2>&1 || left+=("kubepods cgroups")
  [ ! -e "$DIR" ] || left+=("$DIR")
  if [ ${#left[@]} -gt 0 ]; then
    printf '[cluster] error: left after down: %s\n' "${left[@]}" >&2
    return 1
  fi
  log "down: nothing left (processes, shims, mounts, bridge, nft tables, cgroups)"
}

status() {
  local c
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then printf '%-24s running (pid %s)\n' "$c" "$(pid_of "$c")"; else printf '%-24s stopped\n' "$c"; fi
  done
  if alive kube-apiserver; then kctl get nodes -o wide 2>/dev/null || true; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$DIR/pki/admin.kubeconfig CONTAINERD_ADDRESS=$RUN_DIR/containerd.sock" ;;
  *) echo "usage: cluster.sh up | down | status | env" >&2; exit 2 ;;
esac
