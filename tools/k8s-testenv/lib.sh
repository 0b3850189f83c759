# lib.sh - shared definitions for the raysense Kubernetes test environment
# scripts (build.sh, up.sh, down.sh). Sourced, not executed.
#
# Each component is built from a wrapper Go module in this directory; its
# version is read from that module's go.mod, so the binary cache key always
# follows what is committed.

K8S_TESTENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K8S_BIN_CACHE=${RAYSENSE_K8S_BIN_CACHE:-/var/cache/raysense/k8s-bin}

# Build order matters on a 2-core machine: the slowest (kube-apiserver) first.
# helm is not part of the control plane: the chart tests and
# tools/render-manifests.sh run it as a client.
K8S_COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kuberay-operator kwok helm"

die() { echo "k8s-testenv: error: $*" >&2; exit 1; }
log() { echo "k8s-testenv: $*" >&2; }

# component_module <component>: wrapper module dir, Go package, pinned module
component_module() {
    case "$1" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl)
        echo "kubernetes k8s.io/kubernetes/cmd/$1 k8s.io/kubernetes" ;;
    etcd)
        echo "kubernetes ./cmd/etcd go.etcd.io/etcd/server/v3" ;;
    kuberay-operator)
        echo "kuberay github.com/ray-project/kuberay/ray-operator github.com/ray-project/kuberay/ray-operator" ;;
    kwok)
        echo "kwok sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok" ;;
    helm)
        echo "helm helm.sh/helm/v4/cmd/helm helm.sh/helm/v4" ;;
    *) return 1 ;;
    esac
}

# component_version <component>: the version pinned in the wrapper go.mod
component_version() {
    local spec dir pkg mod ver
    spec=$(component_module "$1") || die "unknown component '$1'"
    read -r dir pkg mod <<<"$spec"
    ver=$(awk -v m="$mod" '$1 == m && $2 ~ /^v/ { print $2; exit }
                           $1 == "require" && $2 == m { print $3; exit }' \
          "$K8S_TESTENV_DIR/$dir/go.mod")
    [ -n "$ver" ] || die "no version for $mod in $dir/go.mod"
    echo "$ver"
}

# component_bin <component>: absolute path of the cached binary
component_bin() {
    echo "$K8S_BIN_CACHE/$1-$(component_version "$1")/$1"
}

# --- processes of a state dir (used by up.sh, down.sh, ctl.sh) -------------

# proc_is <pid> <component>: the pid is alive and runs our cached binary of
# that component (guards against pid reuse after a crash).
proc_is() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    case "$exe" in
    "$K8S_BIN_CACHE"/*/"$2"|"$K8S_BIN_CACHE"/*/"$2 (deleted)") return 0 ;;
    esac
    return 1
}

# launch <state> <name>: start <name> detached from its saved command line
# (<state>/cmds/<name>, NUL-separated argv), appending to logs/<name>.log.
launch() {
    local state=$1 name=$2 argv=()
    [ -f "$state/cmds/$name" ] || die "no saved command for $name in $state/cmds"
    mapfile -d '' -t argv <"$state/cmds/$name"
    setsid "${argv[@]}" >>"$state/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$state/pids/$name.pid"
    log "started $name (pid $!, log $state/logs/$name.log)"
}

# stop_component <state> <name> [signal]: send <signal> (default TERM),
# SIGKILL after 10 s; wait until gone.
stop_component() {
    local state=$1 name=$2 sig=${3:-TERM} pidfile=$1/pids/$2.pid pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && proc_is "$pid" "$name"; then
        kill -"$sig" "$pid" 2>/dev/null
        for i in $(seq 1 100); do
            proc_is "$pid" "$name" || break
            sleep 0.1
        done
        if proc_is "$pid" "$name"; then
            log "$name (pid $pid) ignored SIGTERM for 10s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            for i in $(seq 1 50); do proc_is "$pid" "$name" || break; sleep 0.1; done
        fi
        proc_is "$pid" "$name" && { log "could not stop $name (pid $pid)"; return 1; }
        log "stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
}
