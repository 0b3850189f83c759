"""One Ray release of tools/ray-versions (see conftest.py), both halves:

- controller: the seed scenario (tests/e2e/seed_scenario.py) on this
  release's real dashboard with the local provider: two one-CPU tasks ->
  two workers, the tasks run there, both scaled in;
- agent: the lease probes on this release's raylets (a head with 0 CPUs that
  spills every lease back, and a 2-CPU worker that grants them). Per raylet,
  the agent's lease RPC count must equal Ray's own RequestWorkerLease count
  (ray_grpc_server_req_process_time_ms_count on the node's metrics port,
  the ground truth of tests/bpf/test_raylet_real_ray.py), and every reply
  has one outcome. The workload is test_raylet_task_era.py's: its
  soft-affinity tasks go to the head whichever raylet the driver attached to
  (both nodes are 127.0.0.1, and releases before 2.60 pick either), so
  both raylets answer leases. Probes the agent could not
  attach are recorded from its raysense_raylet_lease_probe_missing series,
  and its log must name each of them; the count is compared only when the
  request/reply pair attached, and otherwise the agent must say that lease
  latency is off on that raylet."""
import os
import shutil
import time
import uuid

import pytest

from agentutil import Agent, metric_value, ray_lease_metric, raylet_pid_of
from probe_report import OUTCOME, RPC_PAIR, attached_probes, missing_probes
from seed_scenario import run_seed
from test_raylet_real_ray import OUTCOMES, agent_lease, agent_outcomes
from test_raylet_task_era import WORKLOAD

pytestmark = [pytest.mark.timeout(600)]


def test_controller_seed_scenario(ray_cluster, bin, record, matrix_version):
    record("seed", {"ok": False})
    times = run_seed(ray_cluster, bin("raysense-controller"))
    record("seed", {"ok": True, **times})


def settle_counts(nodes, pin_dir, before, timeout=90):
    """Poll until, per raylet, the agent's and Ray's lease counts since
    `before` agree and are not 0 (Ray exports every ~10 s); the last
    reading."""
    deadline, result = time.time() + timeout, {}
    while time.time() < deadline:
        time.sleep(5)
        for k, (pid, port) in nodes.items():
            ray0, ag0 = before[k]
            result[k] = {"ray": ray_lease_metric(port)[0] - ray0, "agent": agent_lease(pin_dir, pid)[0] - ag0}
        if all(r["ray"] == r["agent"] and r["agent"] > 0 for r in result.values()):
            break
    return result


@pytest.mark.usefixtures("require_bpf")
def test_agent_lease_count_matches_ray(ray_cluster, bin, record, matrix_version):
    record("agent", {"ok": False})
    cluster = ray_cluster
    worker = cluster.add_worker(num_cpus=2)
    nodes = {"head": (raylet_pid_of(cluster.head_node_id), cluster.head_ports["--metrics-export-port"]),
             "worker": (raylet_pid_of(worker.node_id), worker.ports["--metrics-export-port"])}
    exe = os.readlink(f"/proc/{nodes['head'][0]}/exe")
    pin_dir = f"/sys/fs/bpf/raysense-test-{uuid.uuid4().hex[:8]}"
    # Only this release's raylets: other Rays on the host are not ours to probe.
    agent = Agent(bin("raysense-agent"), pin_dir, "--raylet-path", os.path.dirname(exe) + "/")
    try:
        probes = {}
        for k, (pid, _) in nodes.items():
            m = agent.wait_tracking(pid, timeout=120)
            attached = attached_probes(agent.text(), pid)
            assert len(attached) == int(m.group(1)), f"{k}: log names {attached}, says {m.group(1)}"
            probes[k] = {"attached": attached, "missing": missing_probes(agent.metrics(), pid)}
            print(f"{matrix_version} {k} raylet pid {pid}: attached {attached}; "
                  f"missing {probes[k]['missing']}")
            for probe in probes[k]["missing"]:   # the log says which, too
                assert probe in agent.text(), f"{k}: the log does not name missing {probe}"
        rpc_on = {k: all(x in p["attached"] for x in RPC_PAIR) for k, p in probes.items()}
        text = agent.metrics()
        for k, (pid, _) in nodes.items():
            assert metric_value(text, "raysense_raylet_lease_probes_attached", raylet_pid=pid) == int(rpc_on[k])
            if not rpc_on[k]:
                assert f"raylet pid {pid}: lease latency disabled" in agent.text(), k
        time.sleep(12)   # Ray exports its metrics every ~10 s: let earlier samples settle
        before = {k: (ray_lease_metric(port)[0], agent_lease(pin_dir, pid)[0]) for k, (pid, port) in nodes.items()}
        outcomes0 = {k: agent_outcomes(pin_dir, pid) for k, (pid, _) in nodes.items()}
        cluster.run_python(WORKLOAD.replace("sys.argv[1]", repr(cluster.head_node_id)), timeout=300)
        counts = settle_counts({k: v for k, v in nodes.items() if rpc_on[k]}, pin_dir, before)
        outcomes = {}
        for k, r in counts.items():
            print(f"{matrix_version} {k}: leases ray={r['ray']:.0f} agent={r['agent']}")
            assert r["agent"] == r["ray"] and r["agent"] > 0, f"{k}: counts differ: {r}"
            now = agent_outcomes(pin_dir, nodes[k][0])
            outcomes[k] = {o: now[o] - outcomes0[k][o] for o in OUTCOMES}
            if OUTCOME in probes[k]["attached"]:
                assert sum(outcomes[k].values()) == r["agent"] and outcomes[k]["other"] == 0, \
                    f"{k}: outcomes {outcomes[k]} do not add up to {r['agent']} replies"
        record("agent", {"ok": True, "probes": probes, "counts": counts, "outcomes": outcomes})
    finally:
        assert agent.stop() == 0
        cluster.remove_worker(worker)
        shutil.rmtree(pin_dir, ignore_errors=True)
