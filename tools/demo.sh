#!/usr/bin/env bash
# demo.sh -- the README's first command: set up, build, then run raysense on a
# real Ray on this machine.
#
#  1. starts a Ray head with --num-cpus=0 (it can run no task itself);
#  2. starts raysense-controller with the local provider (one group of 1-CPU
#     workers, min 0, max 4, idle timeout 15 s) and, when root, the
#     raysense-agent pushing its snapshots to the controller;
#  3. runs the seed workload: two tasks declaring num_cpus=1 that sleep 5 s;
#     the controller launches two workers for them;
#  4. waits until the workers have been idle for 15 s and are scaled in;
#  5. prints what happened, with timestamps (the controller's decision log),
#     and stops everything it started (also on Ctrl-C or error).
#
# Environment: RAYSENSE_BUILD_DIR (default build/), RAYSENSE_SKIP_SETUP=1 to
# skip tools/setup.sh, RAYSENSE_DEMO_IDLE_S (default 15).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${RAYSENSE_BUILD_DIR:-$REPO/build}"
IDLE_S="${RAYSENSE_DEMO_IDLE_S:-15}"
VENV="$REPO/.venv"
RAY="$VENV/bin/ray"
PY="$VENV/bin/python"

say() { printf '\033[1m[demo %s]\033[0m %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ "${RAYSENSE_SKIP_SETUP:-0}" != 1 ]; then
  # Only what the demo runs: no Task-era Ray, no Kubernetes test environment
  # (tools/test.sh sets those up with --tests).
  say "setting up (tools/setup.sh)"
  "$REPO/tools/setup.sh"
fi
say "building ($BUILD)"
RAYSENSE_BUILD_DIR="$BUILD" "$REPO/tools/build.sh" >/dev/null

WORK="$(mktemp -d /tmp/rsdemo.XXXXXX)"
NODE_TMP="$(mktemp -d /tmp/rsdn.XXXXXX)"   # short: raylet Unix socket paths
read -r GCS_PORT DASH_PORT CTL_PORT AGENT_PORT < <("$PY" - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
DASH="http://127.0.0.1:$DASH_PORT"
CTL="http://127.0.0.1:$CTL_PORT"
HEAD_PID=""; CTL_PID=""; AGENT_PID=""
PIN_DIR="/sys/fs/bpf/raysense-demo-$$"
export RAY_USAGE_STATS_ENABLED=0 PATH="$VENV/bin:$PATH"

cleanup() {
  set +e
  say "stopping everything"
  [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  # The controller stops the workers it launched (--stop-nodes-on-exit).
  [ -n "$CTL_PID" ] && kill -TERM "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
  if [ -n "$HEAD_PID" ]; then
    kill -TERM -- "-$HEAD_PID" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 -- "-$HEAD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$HEAD_PID" 2>/dev/null
  fi
  [ -d "$PIN_DIR" ] && rm -rf "$PIN_DIR"
  rm -rf "$NODE_TMP"
  say "logs kept in $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting a Ray head with --num-cpus=0 (dashboard $DASH)"
setsid "$RAY" start --head --block --disable-usage-stats --num-cpus=0 --num-gpus=0 \
  --node-ip-address=127.0.0.1 --port="$GCS_PORT" --dashboard-host=127.0.0.1 \
  --dashboard-port="$DASH_PORT" --temp-dir="$WORK/ray" >"$WORK/head.log" 2>&1 &
HEAD_PID=$!
disown "$HEAD_PID"   # stopped by process group in cleanup; no job-control noise
for i in $(seq 1 180); do
  curl -fsS -m 2 "$DASH/api/gcs_healthz" >/dev/null 2>&1 && break
  kill -0 "$HEAD_PID" 2>/dev/null || { tail -20 "$WORK/head.log"; exit 1; }
  [ "$i" = 180 ] && { say "the head did not come up"; exit 1; }
  sleep 1
done

head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$WORK/token"
say "starting raysense-controller (local provider, group cpu1: CPU=1 min 0 max 4 idle ${IDLE_S}s)"
"$BUILD/raysense-controller" --dashboard "$DASH" --ray-address "127.0.0.1:$GCS_PORT" \
  --ray-bin "$RAY" --ray-start-arg=--node-ip-address=127.0.0.1 \
  --state-dir "$WORK/state" --node-temp-root "$NODE_TMP" \
  --worker-group "cpu1:CPU=1,min=0,max=4,idle=$IDLE_S" --cooldown 5 \
  --listen "127.0.0.1:$CTL_PORT" --agent-auth token-file --token-file "$WORK/token" \
  --stop-nodes-on-exit \
  >"$WORK/controller.log" 2>&1 &
CTL_PID=$!
for i in $(seq 1 60); do
  curl -fsS -m 2 "$CTL/readyz" >/dev/null 2>&1 && break
  kill -0 "$CTL_PID" 2>/dev/null || { tail -20 "$WORK/controller.log"; exit 1; }
  [ "$i" = 60 ] && { say "the controller never became ready"; tail -20 "$WORK/controller.log"; exit 1; }
  sleep 0.5
done

if [ "$(id -u)" = 0 ] && [ -x "$BUILD/raysense-agent" ]; then
  say "starting raysense-agent (eBPF), pushing snapshots to the controller"
  "$BUILD/raysense-agent" --pin-dir "$PIN_DIR" --listen "127.0.0.1:$AGENT_PORT" \
    --controller-url "$CTL/api/v1/signals" --token-file "$WORK/token" --push-interval 2 \
    >"$WORK/agent.log" 2>&1 &
  AGENT_PID=$!
else
  say "not root (or no agent built): skipping raysense-agent, it needs CAP_BPF"
fi

say "seed workload: two tasks declaring num_cpus=1 that sleep 5 s"
RAY_ADDRESS="127.0.0.1:$GCS_PORT" RAY_SCHEDULER_EVENTS=0 RS_SUBMIT_FILE="$WORK/submitted" "$PY" - <<'PY'
import os, time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work():
    time.sleep(5)
    return ray.get_runtime_context().get_node_id()
t0 = time.time()
refs = [work.remote(), work.remote()]
open(os.environ["RS_SUBMIT_FILE"], "w").write(repr(t0))
nodes = ray.get(refs)
print(f"  tasks done in {time.time() - t0:.1f} s on nodes {nodes[0][:12]}… and {nodes[1][:12]}…")
PY

say "waiting for the idle workers to be scaled in (idle timeout ${IDLE_S}s)"
scaled_in=0
for _ in $(seq 1 $((IDLE_S + 120))); do
  n=$(curl -fsS -m 2 "$CTL/api/v1/decisions" | "$PY" -c \
      'import json,sys; print(sum(d.get("action")=="terminate" for d in json.load(sys.stdin)))')
  [ "$n" -ge 2 ] && { scaled_in=1; break; }
  sleep 1
done
[ "$scaled_in" = 1 ] || { say "the workers were not scaled in within $((IDLE_S + 120)) s"; tail -20 "$WORK/controller.log"; exit 1; }
sleep 2

say "what happened (controller decisions; t = seconds since the tasks were submitted)"
"$PY" - "$CTL" "$(cat "$WORK/submitted")" "$DASH" "${AGENT_PID:+agent}" <<'PY'
import json, sys, urllib.request
ctl, t0, dash = sys.argv[1], float(sys.argv[2]), sys.argv[3]
agent = len(sys.argv) > 4 and sys.argv[4]
get = lambda p, base=ctl: urllib.request.urlopen(base + p, timeout=10).read()
for d in json.loads(get("/api/v1/decisions")):
    print(f"  {d['time']}  t={d['time_unix'] - t0:+6.1f}s  {d['message']}")
print("workers as Ray saw them:")
for n in json.loads(get("/api/v0/nodes?limit=1000&detail=true", dash))["data"]["result"]["result"]:
    if n.get("node_name", "").startswith("rs-"):
        end = n.get("end_time_ms") or 0
        print(f"  {n['node_name']}: ALIVE at t={n['start_time_ms'] / 1000 - t0:+6.1f}s"
              + (f", gone at t={end / 1000 - t0:+6.1f}s" if end else f", {n['state']}"))
if agent:
    print("agents seen by the controller:")
    for a in json.loads(get("/api/v1/status")).get("agents", []):
        print(f"  {a['node_name']}: snapshot #{int(a['seq'])}, {len(a['workers'])} raylet(s), "
              f"{a['age_s']:.1f} s old")
print("controller metrics:")
for line in get("/metrics").decode().splitlines():
    if line.startswith(("raysense_controller_launches_total", "raysense_controller_terminations_total")) \
            and not line.endswith(" 0"):
        print("  " + line)
PY
