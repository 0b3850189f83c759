"""Acceptance: Debian's real Prometheus scrapes a running agent on loopback;
after a real Ray workload, PromQL through Prometheus' HTTP API returns a
non-zero lease-latency histogram count for the worker's raylet, and
histogram_quantile over the agent's log2 buckets gives a finite latency."""
import math
import os
import shutil
import tempfile
import time

import pytest

from outputs_util import RAY_WORKLOAD, AgentProc, Prometheus


@pytest.fixture(scope="module")
def agent(bin):
    if os.geteuid() != 0:
        pytest.skip("BPF unavailable: not root")
    # Every lease seen (pinned, whatever the default): the check is on one short workload.
    a = AgentProc(bin("raysense-agent"), "--lease-probes", "all")
    try:
        a.wait_ready()
        yield a
    finally:
        a.stop()


@pytest.fixture(scope="module")
def prometheus(agent):
    tmp = tempfile.mkdtemp(prefix="rs-prom-")
    prom = None
    try:
        prom = Prometheus(tmp, {"raysense-agent": agent.port})
        yield prom
    finally:
        if prom is not None:
            prom.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_prometheus_sees_lease_histogram_after_ray_workload(require_bpf, agent, prometheus,
                                                            ray_cluster):
    worker = ray_cluster.add_worker(num_cpus=2)
    out = ray_cluster.run_python(RAY_WORKLOAD % {"rounds": 3, "tasks": 40}, timeout=300)
    assert "ok" in out.stdout
    sel = f'{{node_id="{worker.node_id}"}}'
    deadline = time.time() + 60
    count = 0.0
    while time.time() < deadline:
        res = prometheus.query(f"sum(raysense_raylet_lease_latency_seconds_count{sel})")
        count = float(res[0]["value"][1]) if res else 0.0
        if count > 0:
            break
        time.sleep(1)
    assert count > 0, "Prometheus never saw a lease for the worker raylet"

    assert prometheus.target_health() == ["up"]

    # Buckets are cumulative and consistent: a quantile over them is finite
    # and within the log2 range; +Inf equals _count.
    q = prometheus.query("histogram_quantile(0.5, sum(raysense_raylet_lease_latency_seconds_bucket"
                          f"{sel}) by (le))")
    p50 = float(q[0]["value"][1])
    assert math.isfinite(p50) and 0 < p50 < 2 ** 40 / 1e9, p50
    diff = prometheus.query('sum(raysense_raylet_lease_latency_seconds_bucket'
                             f'{{node_id="{worker.node_id}",le="+Inf"}}) - '
                             f'sum(raysense_raylet_lease_latency_seconds_count{sel})')
    assert float(diff[0]["value"][1]) == 0
    # The agent's own series made it too.
    assert prometheus.query("raysense_agent_ready")[0]["value"][1] == "1"
