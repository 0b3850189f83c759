#!/usr/bin/env bash
# ctl.sh - stop, start or restart one component of a running test control
# plane, for tests that need e.g. the API server briefly down. The component
# is relaunched with the exact command line up.sh saved (cmds/<name>); its
# log is appended to. "start" does not wait for readiness: poll the API.
#
# usage: ctl.sh stop|kill|start|restart <component>
#   kill: SIGKILL, a crash (kube-apiserver drains for well over 40 s on SIGTERM)
#   components: etcd kube-apiserver kube-controller-manager kube-scheduler
#               kuberay-operator kwok
# Environment: RAYSENSE_K8S_STATE (default /tmp/raysense-k8s)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${RAYSENSE_K8S_STATE:-/tmp/raysense-k8s}
[ $# -eq 2 ] || die "usage: ctl.sh stop|kill|start|restart <component>"
action=$1 name=$2
[ -f "$STATE/cmds/$name" ] || die "unknown component '$name' in $STATE (no cmds/$name; is the control plane up?)"

running() { [ -f "$STATE/pids/$name.pid" ] && proc_is "$(cat "$STATE/pids/$name.pid")" "$name"; }

case "$action" in
stop)    stop_component "$STATE" "$name" ;;
kill)    stop_component "$STATE" "$name" KILL ;;
start)   running && die "$name is already running"; launch "$STATE" "$name" ;;
restart) stop_component "$STATE" "$name"; launch "$STATE" "$name" ;;
*)       die "unknown action '$action' (stop|kill|start|restart)" ;;
esac
