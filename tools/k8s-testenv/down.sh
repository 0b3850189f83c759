#!/usr/bin/env bash
# down.sh - stop every process that up.sh started for a state dir (newest
# first: kwok, operator, scheduler, controller-manager, apiserver, etcd) and
# wait until they are gone. A pid is only signalled if it still runs the
# binary from our cache, so a stale pid file from a crashed run never hits an
# unrelated process. Safe to run when nothing is running. The state dir
# (logs, certs) is kept for inspection; up.sh wipes it on the next start.
#
# Environment: RAYSENSE_K8S_STATE (default /tmp/raysense-k8s)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${RAYSENSE_K8S_STATE:-/tmp/raysense-k8s}
PIDS=$STATE/pids
[ -d "$PIDS" ] || exit 0

# ours <pid> <name>: the pid is alive and runs <cache>/<component>-*/<component>
ours() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    case "$exe" in
    "$K8S_BIN_CACHE"/*/"$2"|"$K8S_BIN_CACHE"/*/"$2 (deleted)") return 0 ;;
    esac
    return 1
}

stop_one() {
    local name=$1 pidfile=$PIDS/$1.pid pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && ours "$pid" "$name"; then
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 100); do
            ours "$pid" "$name" || break
            sleep 0.1
        done
        if ours "$pid" "$name"; then
            log "$name (pid $pid) ignored SIGTERM for 10s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            for i in $(seq 1 50); do ours "$pid" "$name" || break; sleep 0.1; done
        fi
        ours "$pid" "$name" && { log "could not stop $name (pid $pid)"; return 1; }
        log "stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
}

rc=0
for name in kwok kuberay-operator kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_one "$name" || rc=1
done
exit $rc
