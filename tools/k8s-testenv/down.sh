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
[ -d "$STATE/pids" ] || exit 0

rc=0
for name in kwok kuberay-operator kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_component "$STATE" "$name" || rc=1
done
exit $rc
