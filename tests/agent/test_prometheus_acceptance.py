"""Acceptance: Debian's real Prometheus scrapes a running agent on loopback;
after a real Ray workload, PromQL through Prometheus' HTTP API returns a
non-zero lease-latency histogram count for the worker's raylet, and
histogram_quantile over the agent's log2 buckets gives a finite latency."""
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from outputs_util import RAY_WORKLOAD, AgentProc, free_port, http_get

PROMETHEUS = "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def agent(bin):
    if os.geteuid() != 0:
        pytest.skip("BPF unavailable: not root")
    a = AgentProc(bin("raysense-agent"))
    try:
        a.wait_ready()
        yield a
    finally:
        a.stop()


@pytest.fixture(scope="module")
def prometheus(agent):
    assert os.access(PROMETHEUS, os.X_OK), "Debian's prometheus package is not installed"
    tmp = tempfile.mkdtemp(prefix="rs-prom-")
    port = free_port()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: raysense-agent
    static_configs:
      - targets: ["127.0.0.1:{agent.port}"]
""")
    log = open(os.path.join(tmp, "prometheus.log"), "wb")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            assert proc.poll() is None, open(log.name).read()[-3000:]
            try:
                if http_get(base + "/-/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("prometheus never ready:\n" + open(log.name).read()[-3000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def query(base, promql):
    status, _, body = http_get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    doc = json.loads(body)
    assert status == 200 and doc["status"] == "success", body[:500]
    return doc["data"]["result"]


def test_prometheus_sees_lease_histogram_after_ray_workload(require_bpf, agent, prometheus,
                                                            ray_cluster):
    worker = ray_cluster.add_worker(num_cpus=2)
    out = ray_cluster.run_python(RAY_WORKLOAD % {"rounds": 3, "tasks": 40}, timeout=300)
    assert "ok" in out.stdout
    sel = f'{{node_id="{worker.node_id}"}}'
    deadline = time.time() + 60
    count = 0.0
    while time.time() < deadline:
        res = query(prometheus, f"sum(raysense_raylet_lease_latency_seconds_count{sel})")
        count = float(res[0]["value"][1]) if res else 0.0
        if count > 0:
            break
        time.sleep(1)
    assert count > 0, "Prometheus never saw a lease for the worker raylet"

    targets = json.loads(http_get(prometheus + "/api/v1/targets")[2])["data"]["activeTargets"]
    assert [t["health"] for t in targets] == ["up"], targets

    # Buckets are cumulative and consistent: a quantile over them is finite
    # and within the log2 range; +Inf equals _count.
    q = query(prometheus, "histogram_quantile(0.5, sum(raysense_raylet_lease_latency_seconds_bucket"
                          f"{sel}) by (le))")
    p50 = float(q[0]["value"][1])
    assert math.isfinite(p50) and 0 < p50 < 2 ** 40 / 1e9, p50
    diff = query(prometheus, 'sum(raysense_raylet_lease_latency_seconds_bucket'
                             f'{{node_id="{worker.node_id}",le="+Inf"}}) - '
                             f'sum(raysense_raylet_lease_latency_seconds_count{sel})')
    assert float(diff[0]["value"][1]) == 0
    # The agent's own series made it too.
    assert query(prometheus, "raysense_agent_ready")[0]["value"][1] == "1"
