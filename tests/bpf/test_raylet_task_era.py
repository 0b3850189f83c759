"""The agent on a real Task-era raylet: Ray 2.49.2, from before the raylet's
Task->Lease rename (ray#56191), whose lease managers are LocalTaskManager /
ClusterTaskManager with Dispatch and TaskSpecification where the pinned 2.60.0
has LocalLeaseManager / ClusterLeaseManager, Grant and LeaseSpecification.

The older Ray lives in its own venv (.venv-ray-taskera, from
tools/requirements-taskera.txt, made by tools/setup.sh). A real head
(num-cpus=0) and a worker raylet (1 CPU) run from it; the agent watches only
that venv's raylets (--raylet-path), with --lease-phases. Checked:
- the probes attach to both Task-era raylets, on the Task-era symbols;
- per raylet, the agent's lease RPC count equals Ray's own
  ray_grpc_server_req_process_time_ms_count{Method="NodeManagerService.
  grpc_server.RequestWorkerLease"} (2.49.2 exports it too). Ray 2.49.2's
  exported _sum is exact (OpenCensus path, unlike 2.60's bucket-midpoint
  replay, see test_raylet_real_ray.py), so the sums are compared too;
- the phase probes find their internal::Work on this version
  (phase_unmatched == 0, every Dispatch timed), i.e. the layout assumption
  &work->task == &task.task_spec_ == Work* holds on 2.49.2 as on 2.60.0;
- the series carry raylet_port (the raylet's --node_manager_port)."""
import os
import shutil
import subprocess
import time
import uuid

import pytest

from agentutil import Agent, lease_counts, lease_hist, metric_value, ray_lease_metric, raylet_pid_of
from raycluster import REPO, RayCluster

pytestmark = [pytest.mark.usefixtures("require_bpf"), pytest.mark.timeout(600)]

TASKERA_VENV = os.environ.get("RAYSENSE_TASKERA_VENV", os.path.join(REPO, ".venv-ray-taskera"))
TASKERA_VERSION = "2.49.2"   # tools/requirements-taskera.txt
PH_QUEUED, PH_WORKER_WAIT, PH_TO_GRANT = 1, 2, 3   # enum rs_lease_phase

# Task-era symbol (mangled, as the agent logs it) for each probe of the run.
TASK_ERA_SYMBOLS = {
    "ServerCallImpl<RequestWorkerLease>::HandleRequest":
        "_ZN3ray3rpc14ServerCallImplINS0_25NodeManagerServiceHandlerENS0_25RequestWorkerLeaseRequest",
    "ClusterLeaseManager::ScheduleOnNode": "_ZN3ray6raylet18ClusterTaskManager14ScheduleOnNodeE",
    "LocalLeaseManager::QueueAndScheduleLease": "_ZN3ray6raylet16LocalTaskManager20QueueAndScheduleTaskE",
    "WorkerPool::PopWorker(spec, callback)": "_ZN3ray6raylet10WorkerPool9PopWorkerERKNS_17TaskSpecification",
    "LocalLeaseManager::PoppedWorkerHandler": "_ZN3ray6raylet16LocalTaskManager19PoppedWorkerHandlerE",
    "LocalLeaseManager::Grant": "_ZN3ray6raylet16LocalTaskManager8DispatchE",
}

WORKLOAD = """
import sys, time
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init()
head = sys.argv[1]

@ray.remote(num_cpus=1)
def task(i):
    time.sleep(0.01)
    return i

@ray.remote(num_cpus=1)
class Pinger:
    def ping(self):
        return "pong"

for wave in range(3):
    assert sum(ray.get([task.remote(i) for i in range(10)])) == 45
# Sent to the head raylet (0 CPUs), which spills them back to the worker.
soft_head = NodeAffinitySchedulingStrategy(node_id=head, soft=True)
assert sum(ray.get([task.options(scheduling_strategy=soft_head).remote(i) for i in range(6)])) == 15
for k in range(3):   # one dedicated worker (a PopWorker that starts a process) each
    p = Pinger.remote()
    assert ray.get(p.ping.remote()) == "pong"
    ray.kill(p)
print("ok")
"""


@pytest.fixture(scope="module")
def taskera_cluster():
    ray_bin = os.path.join(TASKERA_VENV, "bin", "ray")
    if not os.access(ray_bin, os.X_OK):
        pytest.fail(f"no Task-era Ray at {TASKERA_VENV}: run tools/setup.sh")
    out = subprocess.run([ray_bin, "--version"], capture_output=True, text=True, check=True).stdout
    assert TASKERA_VERSION in out, f"{ray_bin} is not Ray {TASKERA_VERSION}: {out!r}"
    c = RayCluster(venv=TASKERA_VENV)
    try:
        c.start_head()
        yield c
    finally:
        c.stop()


def agent_rpc(pin_dir, pid):
    h = lease_hist(pin_dir, pid)
    return (0, 0.0) if h is None else (h["count"], h["sum_ns"] / 1e6)


def phase_count(pin_dir, pid, phase):
    h = lease_hist(pin_dir, pid, phase)
    return 0 if h is None else h["count"]


def test_task_era_raylet_leases_match_ray_and_phases_find_work(taskera_cluster, bin):
    cluster = taskera_cluster
    worker = cluster.add_worker(num_cpus=1)
    nodes = {
        "head": (raylet_pid_of(cluster.head_node_id), cluster.head_node_id, cluster.head_ports),
        "worker": (raylet_pid_of(worker.node_id), worker.node_id, worker.ports),
    }
    exe = os.readlink(f"/proc/{nodes['head'][0]}/exe")
    assert exe.startswith(os.path.realpath(TASKERA_VENV) + "/"), exe
    pin_dir = f"/sys/fs/bpf/raysense-test-{uuid.uuid4().hex[:8]}"
    # Only this venv's raylets: other Rays on the host are not ours to probe.
    agent = Agent(bin("raysense-agent"), pin_dir, "--lease-probes", "all", "--lease-phases",
                  "--raylet-path", os.path.dirname(exe) + "/")
    try:
        for name, (pid, _, _) in nodes.items():
            m = agent.wait_tracking(pid, timeout=60)
            log = agent.text()
            assert f"raylet pid {pid}: lease latency disabled" not in log, log
            assert f"raylet pid {pid}: optional lease probe(s) not found" not in log, log
            assert f"raylet pid {pid}: cannot attach" not in log, log
            for probe, sym in TASK_ERA_SYMBOLS.items():
                lines = [ln for ln in log.splitlines() if f"raylet pid {pid}: uprobe {probe} at " in ln]
                assert len(lines) == 1 and f" on {sym}" in lines[0], \
                    f"{name}: {probe} not attached on {sym}:\n{log}"
            print(f"{name} raylet pid {pid}: {m.group(1)} lease probes attached")
        # Ray exports its metrics every ~10 s: let earlier samples settle.
        time.sleep(12)
        before = {k: (ray_lease_metric(ports["--metrics-export-port"]), agent_rpc(pin_dir, pid))
                  for k, (pid, _, ports) in nodes.items()}
        t0 = time.time()
        cluster.run_python(WORKLOAD.replace("sys.argv[1]", repr(cluster.head_node_id)), timeout=300)
        print(f"workload {time.time() - t0:.1f} s")

        deadline, result = time.time() + 90, {}
        while time.time() < deadline:
            time.sleep(5)
            result = {}
            for k, (pid, _, ports) in nodes.items():
                (rc0, rs0, _), (ac0, as0) = before[k]
                rc1, rs1, _ = ray_lease_metric(ports["--metrics-export-port"])
                ac1, as1 = agent_rpc(pin_dir, pid)
                result[k] = dict(ray_n=rc1 - rc0, ray_ms=rs1 - rs0, ag_n=ac1 - ac0, ag_ms=as1 - as0)
            if all(r["ray_n"] == r["ag_n"] and r["ag_n"] > 0 for r in result.values()):
                break
        for k, r in result.items():
            print(f"{k}: leases ray={r['ray_n']:.0f} agent={r['ag_n']}; "
                  f"sum ms ray={r['ray_ms']:.3f} agent={r['ag_ms']:.3f}")
        for k, r in result.items():
            assert r["ag_n"] == r["ray_n"] and r["ag_n"] > 0, f"{k}: counts differ: {r}"
            # Same two code points, a few instructions apart; slack for a
            # preemption between our uprobe and Ray's clock read.
            slack = 0.02 * r["ray_ms"] + 1.0 * r["ray_n"]
            assert abs(r["ag_ms"] - r["ray_ms"]) <= slack, f"{k}: sums differ: {r}"

        head_pid, worker_pid = nodes["head"][0], nodes["worker"][0]
        head_c, worker_c = lease_counts(pin_dir, head_pid), lease_counts(pin_dir, worker_pid)
        print(f"head counts {head_c}\nworker counts {worker_c}")
        for k, c in (("head", head_c), ("worker", worker_c)):
            assert c["phase_miss"] == 0, f"{k}: phase probes missed their Work: {c}"
            assert c["unmatched"] == 0 and c["dropped"] == 0, f"{k}: {c}"
        # The head has no CPUs: ClusterTaskManager::ScheduleOnNode placed
        # every lease it got elsewhere (at least the 6 soft-affinity tasks).
        assert head_c["scheduled"] >= 6 and head_c["sched_local"] == 0, head_c
        assert head_c["grants"] == 0 and head_c["granted"] == 0, head_c
        # Outcomes from the reply bytes: one per reply, the head never grants.
        for k, c in (("head", head_c), ("worker", worker_c)):
            outcomes = sum(c[o] for o in ("granted", "spilled", "rejected", "cancelled", "other"))
            assert outcomes == c["replied"] + c["failed"] and c["other"] == 0, f"{k}: {c}"
        assert head_c["spilled"] >= 6, head_c
        # The worker granted leases (waves + spilled-back tasks + 3 actors):
        # every Dispatch, PopWorker and PoppedWorkerHandler found its Work,
        # and each Dispatch call is one reply that says "granted".
        granted = worker_c["grants"]
        assert worker_c["granted"] == granted, worker_c
        print("worker phase samples: " + ", ".join(
            f"{n}={phase_count(pin_dir, worker_pid, ph)}"
            for n, ph in (("queued", PH_QUEUED), ("worker_wait", PH_WORKER_WAIT), ("to_grant", PH_TO_GRANT))))
        assert granted >= 3 and worker_c["popped"] >= 3, worker_c
        assert phase_count(pin_dir, worker_pid, PH_TO_GRANT) == granted, "to_grant samples != Dispatch calls"
        assert phase_count(pin_dir, worker_pid, PH_WORKER_WAIT) == worker_c["popped"], "worker_wait != popped"
        assert phase_count(pin_dir, worker_pid, PH_QUEUED) >= worker_c["popped"], "queued < popped"

        text = agent.metrics()
        for k, (pid, node_id, ports) in nodes.items():
            assert metric_value(text, "raysense_raylet_up", raylet_pid=pid, node_id=node_id,
                                raylet_port=ports["--node-manager-port"]) == 1, f"{k}: labels"
            assert metric_value(text, "raysense_raylet_lease_replies_total", raylet_pid=pid,
                                result="sent") >= result[k]["ag_n"]
            assert metric_value(text, "raysense_raylet_lease_probe_events_total", raylet_pid=pid,
                                event="phase_unmatched") == 0
    finally:
        assert agent.stop() == 0
        shutil.rmtree(pin_dir, ignore_errors=True)
