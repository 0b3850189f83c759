"""The agent on a raylet that lacks one of its probes' symbols: what it says,
and that the rest keeps working. Runs on the oldest supported release only
(conftest.py collects it there).

No release from 2.5.1 to 2.60.0 lacks a lease probe's symbol (checked with nm:
docs/ray-versions.md), so this release's real Ray install is used with one
symbol dropped from its raylet's symbol table (objcopy --strip-symbol): gRPC's
serializer of RequestWorkerLeaseReply, the outcome probes' function, which a
build with another gRPC or more inlining may not have as a symbol. The raylet
runs unchanged; only the agent's symbol lookup differs. The copy of the
install is hard links (the original venv is not touched) with the raylet
replaced, put first on PYTHONPATH for the head, its worker and the driver.

Checked: the log names the missing probes; /metrics has
raysense_raylet_lease_probe_missing{probe=...,reason="symbol_not_found"} for
both raylets and raysense_agent_probe_family_attached 1 for every family;
/readyz is 200 and lists the missing probes; `raysensectl agent` prints them.
And what still works: the lease RPC count equals Ray's RequestWorkerLease
count on both raylets, the run-queue latency of the raylets has samples, and
the lifecycle family counted the workers the worker raylet started."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest

from agentutil import Agent, metric_value, ray_lease_metric, raylet_pid_of
from probe_report import OUTCOME, RPC_PAIR, attached_probes, missing_probes
from raycluster import VENV, RayCluster
from test_raylet_real_ray import agent_lease
from test_raylet_task_era import WORKLOAD

pytestmark = [pytest.mark.usefixtures("require_bpf"), pytest.mark.timeout(600)]

REPLY_SERIALIZE = "_ZN4grpc16GenericSerializeINS_17ProtoBufferWriterEN3ray3rpc23RequestWorkerLeaseReplyEEE"
DROPPED = (OUTCOME, OUTCOME + " (return)")


def ray_package_dir():
    out = subprocess.run([os.path.join(VENV, "bin", "python"), "-c",
                          "import os, ray; print(os.path.dirname(ray.__file__))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def stripped_ray():
    """A hard-linked copy of this release's `ray` package whose raylet lacks
    the reply serializer's symbol; yields the PYTHONPATH entry."""
    src = ray_package_dir()
    root = tempfile.mkdtemp(prefix="rs-stripped-ray-", dir="/tmp")
    try:
        subprocess.run(["cp", "-al", src, os.path.join(root, "ray")], check=True)
        raylet = os.path.join(root, "ray", "core", "src", "ray", "raylet", "raylet")
        names = subprocess.run(["nm", raylet], capture_output=True, text=True, check=True).stdout
        syms = [ln.split()[-1] for ln in names.splitlines() if ln.split()[-1].startswith(REPLY_SERIALIZE)]
        assert syms, "this raylet has no reply serializer symbol to drop"
        out = raylet + ".new"
        subprocess.run(["objcopy", *[f"--strip-symbol={s}" for s in syms], raylet, out], check=True)
        os.chmod(out, 0o755)
        os.replace(out, raylet)   # a new file: the hard-linked original is untouched
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_missing_outcome_symbol_is_reported_and_the_rest_works(stripped_ray, bin, matrix_version):
    cluster = RayCluster(env={"PYTHONPATH": stripped_ray})
    pin_dir = f"/sys/fs/bpf/raysense-test-{uuid.uuid4().hex[:8]}"
    agent = None
    try:
        cluster.start_head()
        worker = cluster.add_worker(num_cpus=2)
        nodes = {"head": (raylet_pid_of(cluster.head_node_id), cluster.head_ports["--metrics-export-port"]),
                 "worker": (raylet_pid_of(worker.node_id), worker.ports["--metrics-export-port"])}
        exe = os.readlink(f"/proc/{nodes['head'][0]}/exe")
        assert exe.startswith(stripped_ray + "/"), f"the head runs {exe}, not the stripped raylet"
        agent = Agent(bin("raysense-agent"), pin_dir, "--raylet-path", os.path.dirname(exe) + "/")
        for k, (pid, _) in nodes.items():
            agent.wait_tracking(pid, timeout=120)
            log = agent.text()
            assert f"raylet pid {pid}: optional lease probe(s) not found: " + ", ".join(DROPPED) in log, log
            assert set(RPC_PAIR) <= set(attached_probes(log, pid)), log
        agent.wait_log("agent running")
        text = agent.metrics()
        for k, (pid, _) in nodes.items():
            assert missing_probes(text, pid) == {p: "symbol_not_found" for p in DROPPED}, (k, text)
            assert metric_value(text, "raysense_raylet_lease_probes_attached", raylet_pid=pid) == 1
            # no outcome series where the outcome probes are off: absent, never a zero
            assert metric_value(text, "raysense_raylet_leases_total", raylet_pid=pid) is None
        for family in ("raylet", "lifecycle"):
            assert metric_value(text, "raysense_agent_probe_family_attached", family=family) == 1, family

        with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/readyz", timeout=10) as r:
            assert r.status == 200
            ready = json.loads(r.read())
        assert {f["family"] for f in ready["families"] if f["attached"]} == {"raylet", "lifecycle"}, ready
        listed = {(m["raylet_pid"], m["probe"], m["reason"]) for m in ready["missing_probes"]}
        for pid, _ in nodes.values():
            for p in DROPPED:
                assert (str(pid), p, "symbol_not_found") in listed, ready
        ctl = subprocess.run([bin("raysensectl"), "agent", "--url", f"http://127.0.0.1:{agent.port}"],
                             capture_output=True, text=True, timeout=60)
        assert ctl.returncode == 0, ctl.stderr
        for pid, _ in nodes.values():
            assert f"raylet pid {pid} (node " in ctl.stdout and \
                f"lease probe {OUTCOME} off: symbol_not_found" in ctl.stdout, ctl.stdout
        print(ctl.stdout)

        # What still works: lease counts, run-queue latency, worker starts.
        time.sleep(12)   # Ray exports its metrics every ~10 s
        before = {k: (ray_lease_metric(port)[0], agent_lease(pin_dir, pid)[0]) for k, (pid, port) in nodes.items()}
        cluster.run_python(WORKLOAD.replace("sys.argv[1]", repr(cluster.head_node_id)), timeout=300)
        deadline = time.time() + 90
        while time.time() < deadline:
            time.sleep(5)
            counts = {k: (ray_lease_metric(port)[0] - before[k][0], agent_lease(pin_dir, pid)[0] - before[k][1])
                      for k, (pid, port) in nodes.items()}
            if all(r == a and a > 0 for r, a in counts.values()):
                break
        print(f"{matrix_version} without the outcome symbol: leases (ray, agent) {counts}")
        for k, (ray_n, ag_n) in counts.items():
            assert ag_n == ray_n and ag_n > 0, f"{k}: counts differ: {counts}"
        text = agent.metrics()
        for k, (pid, _) in nodes.items():
            assert metric_value(text, "raysense_raylet_runq_latency_seconds_count", raylet_pid=pid) > 0, k
        assert metric_value(text, "raysense_worker_processes_started_total",
                            raylet_pid=nodes["worker"][0]) > 0
    finally:
        if agent:
            assert agent.stop() == 0
        cluster.stop()
        shutil.rmtree(pin_dir, ignore_errors=True)
