#!/usr/bin/env bash
# up.sh - start a real, local Kubernetes control plane for raysense's tests:
# etcd, kube-apiserver (TLS, Node+RBAC authorization, service-account keys),
# kube-controller-manager, kube-scheduler, the KubeRay operator and kwok
# managing two fake nodes (a regular node and an Alibaba Cloud ECI
# virtual-kubelet node, which cannot exist here, simulated by kwok).
#
# Everything binds to 127.0.0.1 on free ports. All state, certificates, pid
# files and logs live in the state dir. Running up.sh again (or after a crash)
# first stops whatever the previous run in that state dir left behind.
#
# Environment:
#   RAYSENSE_K8S_STATE              state dir (default /tmp/raysense-k8s)
#   RAYSENSE_K8S_BIN_CACHE          binary cache (see build.sh)
#   RAYSENSE_K8S_ECI_START_DELAY_MS pod start delay on the ECI node (default 2000)
#   RAYSENSE_K8S_ECI_DELETE_DELAY_MS delay before a terminating ECI pod is gone (default 0)
#   RAYSENSE_K8S_TIMEOUT_S          readiness timeout per component (default 120)
#   RAYSENSE_K8S_CRD_DIR            dir holding ray.io_rayclusters.yaml (default:
#                                   <repo>/../shared/k8s, then /work/shared/k8s)
# On success prints the state dir's env file (KUBECONFIG=..., K8S_SERVER=...).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${RAYSENSE_K8S_STATE:-/tmp/raysense-k8s}
ECI_START_DELAY_MS=${RAYSENSE_K8S_ECI_START_DELAY_MS:-2000}
ECI_DELETE_DELAY_MS=${RAYSENSE_K8S_ECI_DELETE_DELAY_MS:-0}
TIMEOUT=${RAYSENSE_K8S_TIMEOUT_S:-120}
REGULAR_NODE=kwok-node-0
# ACK names virtual nodes virtual-kubelet-<zone>; the name itself is not relied on.
ECI_NODE=virtual-kubelet-cn-hangzhou-k
REGULAR_NODE_IP=172.16.0.10     # fake addresses: nothing listens on them
ECI_NODE_IP=172.16.0.20

[[ $ECI_START_DELAY_MS =~ ^[0-9]+$ ]] || die "RAYSENSE_K8S_ECI_START_DELAY_MS must be a number of ms"
[[ $ECI_DELETE_DELAY_MS =~ ^[0-9]+$ ]] || die "RAYSENSE_K8S_ECI_DELETE_DELAY_MS must be a number of ms"
for tool in openssl curl ss setsid; do
    command -v "$tool" >/dev/null || die "$tool is required (apt-get install openssl curl iproute2 util-linux)"
done
for c in $K8S_COMPONENTS; do
    [ -x "$(component_bin "$c")" ] || die "$(component_bin "$c") missing: run $K8S_TESTENV_DIR/build.sh first"
done

find_crd_dir() {
    local repo
    if [ -n "${RAYSENSE_K8S_CRD_DIR:-}" ]; then echo "$RAYSENSE_K8S_CRD_DIR"; return; fi
    repo=$(cd "$K8S_TESTENV_DIR/../.." && pwd)
    for d in "$repo/../shared/k8s" /work/shared/k8s; do
        [ -f "$d/ray.io_rayclusters.yaml" ] && { echo "$d"; return; }
    done
    die "ray.io_rayclusters.yaml not found in $repo/../shared/k8s or /work/shared/k8s (set RAYSENSE_K8S_CRD_DIR)"
}
CRD_DIR=$(find_crd_dir)
[ -f "$CRD_DIR/ray.io_rayclusters.yaml" ] || die "$CRD_DIR/ray.io_rayclusters.yaml not found"

# --- clean start -----------------------------------------------------------
"$K8S_TESTENV_DIR/down.sh" >/dev/null 2>&1 || true
# Only ever wipe a dir that up.sh created (marker file or pids/) or an empty one.
if [ -d "$STATE" ] && [ ! -f "$STATE/.raysense-k8s-state" ] && [ ! -d "$STATE/pids" ] &&
   [ -n "$(ls -A "$STATE")" ]; then
    die "$STATE exists, is not empty and was not created by up.sh: refusing to wipe it"
fi
rm -rf "$STATE"
mkdir -p "$STATE"/{pki,logs,pids,cmds,etcd-data} || die "cannot create state dir $STATE"
touch "$STATE/.raysense-k8s-state"
STATE=$(cd "$STATE" && pwd)
export RAYSENSE_K8S_STATE=$STATE
PKI=$STATE/pki

# --- free ports ------------------------------------------------------------
declare -A USED=()
while read -r p; do USED[$p]=1; done < <(ss -Htan | awk '{n=split($4,a,":"); print a[n]}')
# pick_port <var>: a port in 20000-49999 not in use and not handed out yet
# (assigns the variable directly: a $(...) subshell would lose USED).
pick_port() {
    local p tries=0
    while :; do
        p=$((20000 + RANDOM % 30000))
        if [ -z "${USED[$p]:-}" ]; then USED[$p]=1; printf -v "$1" '%s' "$p"; return; fi
        tries=$((tries + 1)); [ $tries -lt 1000 ] || die "no free port found"
    done
}
for v in ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT \
         KUBERAY_METRICS_PORT KUBERAY_PROBE_PORT; do
    pick_port "$v"
done
SERVER=https://127.0.0.1:$API_PORT

# --- certificates ----------------------------------------------------------
ssl() { openssl "$@" >>"$STATE/logs/openssl.log" 2>&1 || die "openssl $1 failed (see $STATE/logs/openssl.log)"; }

# issue <name> <subject> <extensions>: key + cert signed by the test CA
issue() {
    local name=$1 subj=$2 ext=$3
    ssl req -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj"
    printf '%b\n' "$ext" >"$PKI/$name.ext"
    ssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
        -days 30 -out "$PKI/$name.crt" -extfile "$PKI/$name.ext"
}
make_pki() {
    ssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 30 \
        -subj "/CN=raysense-test-ca" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
    issue apiserver "/CN=kube-apiserver" \
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment"
    local client="extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment"
    issue admin "/O=system:masters/CN=raysense-admin" "$client"
    issue controller-manager "/CN=system:kube-controller-manager" "$client"
    issue scheduler "/CN=system:kube-scheduler" "$client"
    ssl genrsa -out "$PKI/sa.key" 2048
    ssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
}

# write_kubeconfig <file> <cert-name>
write_kubeconfig() {
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: raysense-test
  cluster:
    server: $SERVER
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: raysense-test
  context:
    cluster: raysense-test
    user: $2
    namespace: default
current-context: raysense-test
EOF
}

# --- process handling ------------------------------------------------------
# start <name> <component> args...: run detached, log to logs/<name>.log
# The command line is saved in cmds/<name> so ctl.sh can restart it.
start() {
    local name=$1 comp=$2; shift 2
    printf '%s\0' "$(component_bin "$comp")" "$@" >"$STATE/cmds/$name"
    launch "$STATE" "$name"
}

# wait_for <name> <what> <command...>: poll until the command succeeds, the
# process dies, or TIMEOUT passes; on failure show the log tail and stop all.
wait_for() {
    local name=$1 what=$2 deadline=$((SECONDS + TIMEOUT)) pid; shift 2
    pid=$(cat "$STATE/pids/$name.pid")
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            fail "$name exited before $what" "$name"
        fi
        if [ $SECONDS -ge $deadline ]; then
            fail "$name: timed out after ${TIMEOUT}s waiting for $what" "$name"
        fi
        sleep 0.5
    done
    log "$name: $what"
}
fail() {
    echo "k8s-testenv: error: $1" >&2
    if [ -n "${2:-}" ] && [ -f "$STATE/logs/$2.log" ]; then
        echo "---- last lines of $STATE/logs/$2.log ----" >&2
        tail -n 25 "$STATE/logs/$2.log" >&2
    fi
    "$K8S_TESTENV_DIR/down.sh" >&2 || true
    exit 1
}

KUBECTL_BIN=$(component_bin kubectl)
ADMIN_KUBECONFIG=$STATE/admin.kubeconfig
kc() { "$KUBECTL_BIN" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
# run_kc <what> args...: kubectl that stops everything on failure
run_kc() {
    local what=$1; shift
    kc "$@" >>"$STATE/logs/kubectl.log" 2>&1 || {
        tail -n 10 "$STATE/logs/kubectl.log" >&2
        fail "$what failed (kubectl $*)"
    }
}

http_ok() { curl -fsS --max-time 2 "$@"; }
api_ready() { http_ok --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$SERVER/readyz"; }

# --- start -------------------------------------------------------------------
make_pki
write_kubeconfig "$ADMIN_KUBECONFIG" admin
write_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
write_kubeconfig "$STATE/scheduler.kubeconfig" scheduler

start etcd etcd --name raysense --data-dir "$STATE/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "raysense=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn
wait_for etcd "healthy" http_ok "http://127.0.0.1:$ETCD_PORT/health"

start kube-apiserver kube-apiserver \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --requestheader-client-ca-file "$PKI/ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --authorization-mode Node,RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --allow-privileged=true --profiling=false
wait_for kube-apiserver "ready (/readyz)" api_ready

start kube-controller-manager kube-controller-manager \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --leader-elect=false \
    --profiling=false
start kube-scheduler kube-scheduler \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false \
    --profiling=false
wait_for kube-controller-manager "healthy (/healthz)" http_ok -k "https://127.0.0.1:$KCM_PORT/healthz"
wait_for kube-scheduler "healthy (/healthz)" http_ok -k "https://127.0.0.1:$SCHED_PORT/healthz"
# The ServiceAccount admission plugin rejects pods until the serviceaccount
# controller has created the namespace's "default" ServiceAccount.
wait_for kube-controller-manager "created serviceaccount default/default" kc get serviceaccount default

# --- KubeRay CRDs and operator ----------------------------------------------
# The RayCluster CRD is too large for client-side apply (annotation limit).
run_kc "creating the RayCluster CRD from $CRD_DIR" create -f "$CRD_DIR/ray.io_rayclusters.yaml"
# The operator also runs the RayJob and RayService controllers, which need
# their CRDs; build.sh copies them from the operator's own module.
KUBERAY_CRDS=$(dirname "$(component_bin kuberay-operator)")/crd
for f in ray.io_rayjobs.yaml ray.io_rayservices.yaml; do
    [ -f "$KUBERAY_CRDS/$f" ] || fail "$KUBERAY_CRDS/$f missing (re-run build.sh kuberay-operator)"
    run_kc "creating CRD $f" create -f "$KUBERAY_CRDS/$f"
done
run_kc "waiting for the KubeRay CRDs to be established" wait --for condition=Established \
    --timeout "${TIMEOUT}s" crd/rayclusters.ray.io crd/rayjobs.ray.io crd/rayservices.ray.io

# For tests the operator uses the admin kubeconfig instead of a ServiceAccount.
start kuberay-operator kuberay-operator --kubeconfig "$ADMIN_KUBECONFIG" \
    --metrics-addr "127.0.0.1:$KUBERAY_METRICS_PORT" \
    --health-probe-bind-address "127.0.0.1:$KUBERAY_PROBE_PORT" \
    --enable-leader-election=false --log-stdout-encoder console
wait_for kuberay-operator "ready (/readyz)" http_ok "http://127.0.0.1:$KUBERAY_PROBE_PORT/readyz"
kuberay_workers_started() { grep -q 'controllers.RayCluster.*Starting workers' "$STATE/logs/kuberay-operator.log"; }
wait_for kuberay-operator "RayCluster controller workers started" kuberay_workers_started

# --- kwok and the two fake nodes --------------------------------------------
sed -e "s/@ECI_NODE@/$ECI_NODE/g" -e "s/@ECI_START_DELAY_MS@/$ECI_START_DELAY_MS/g" \
    -e "s/@ECI_DELETE_DELAY_MS@/$ECI_DELETE_DELAY_MS/g" \
    "$K8S_TESTENV_DIR/kwok-stages.yaml.in" >"$STATE/kwok.yaml"
start kwok kwok --config "$STATE/kwok.yaml" --kubeconfig "$ADMIN_KUBECONFIG" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --server-address "127.0.0.1:$KWOK_PORT" --node-lease-duration-seconds 40 \
    --cidr 10.244.0.0/16
wait_for kwok "healthy (/healthz)" http_ok "http://127.0.0.1:$KWOK_PORT/healthz"

# node_yaml <name> <type-label> <taints-yaml> <InternalIP> <podCIDR>: kwok keeps
# the given address and allocates pod IPs from the node's podCIDR, so every
# pod gets a distinct pod IP and a host IP naming its node.
node_yaml() {
    cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $1
    type: $2
spec:
  podCIDR: $5
  podCIDRs: [$5]
  taints: $3
status:
  addresses:
  - {type: InternalIP, address: $4}
  - {type: Hostname, address: $1}
  allocatable: {cpu: "64", memory: 256Gi, pods: "110"}
  capacity: {cpu: "64", memory: 256Gi, pods: "110"}
EOF
}
node_yaml "$REGULAR_NODE" kwok "[]" "$REGULAR_NODE_IP" 10.244.1.0/24 >"$STATE/node-regular.yaml"
node_yaml "$ECI_NODE" virtual-kubelet \
    "[{key: virtual-kubelet.io/provider, value: alibabacloud, effect: NoSchedule}]" \
    "$ECI_NODE_IP" 10.244.2.0/24 >"$STATE/node-eci.yaml"
run_kc "creating node $REGULAR_NODE" create -f "$STATE/node-regular.yaml"
run_kc "creating node $ECI_NODE" create -f "$STATE/node-eci.yaml"
run_kc "waiting for the kwok nodes to be Ready" wait --for condition=Ready \
    --timeout "${TIMEOUT}s" "node/$REGULAR_NODE" "node/$ECI_NODE"

cat >"$STATE/env" <<EOF
KUBECONFIG=$ADMIN_KUBECONFIG
K8S_SERVER=$SERVER
K8S_CA=$PKI/ca.crt
K8S_STATE=$STATE
K8S_KUBECTL=$KUBECTL_BIN
K8S_HELM=$(component_bin helm)
K8S_REGULAR_NODE=$REGULAR_NODE
K8S_ECI_NODE=$ECI_NODE
K8S_REGULAR_NODE_IP=$REGULAR_NODE_IP
K8S_ECI_NODE_IP=$ECI_NODE_IP
K8S_ECI_START_DELAY_MS=$ECI_START_DELAY_MS
K8S_ECI_DELETE_DELAY_MS=$ECI_DELETE_DELAY_MS
K8S_ETCD_URL=http://127.0.0.1:$ETCD_PORT
EOF
log "control plane up: $SERVER (env: $STATE/env)"
cat "$STATE/env"
