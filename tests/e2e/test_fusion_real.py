"""Signal fusion on real Ray with the real eBPF agent: a worker that serves
a short task every ~10 s is idle in Ray's eyes past its 6 s idle timeout
between tasks, so Ray's semantics stop it (and the next task has to wait
for a new node); the agent's lease counts show it served a lease within
--keep-after-lease, so raysense keeps it (a `keep` decision with reason
`recent_lease`) and stops it only once the tasks end.  The same workload
with --signals off stops the node between tasks: the decision changed.
With the agent running, the worker's startup is learned from both sources:
the controller's launch -> ALIVE and the agent's pushed timeline (start ->
GCS connected), shown per group with its platform (local) in the status.

Needs root and BTF (the agent); one Ray head, the local provider."""
import os
import shutil
import subprocess
import sys

import pytest

from controller_proc import Controller, background_driver, stop_driver

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bpf"))
from agentutil import Agent  # noqa: E402
from raycluster import free_port  # noqa: E402

IDLE_S = 6
KEEP_S = 20

# One short task every 10 s for 40 s, pinned to the first worker by a
# custom resource only that group declares (the head has none).  The first
# gap is 4 s, under the idle timeout: the agent attaches its probes to a new
# raylet a moment after it starts, and on a loaded machine (a CI run at load
# 13) it missed the first lease, so the node was stopped as idle before the
# second task.
DRIVER = r"""
import time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1, resources={"w": 1})
def tick():
    time.sleep(0.2)
    return ray.get_runtime_context().get_node_id()
nodes = []
for gap in (4, 10, 10, 10, 10):
    nodes.append(ray.get(tick.remote()))
    time.sleep(gap)
print("nodes", len(set(nodes)), flush=True)
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the agent needs root (BPF)")


def run(cluster, bin, tmp_path, signals):
    token = "fusion-token"
    (tmp_path / "token").write_text(token)
    ctl = Controller(bin("raysense-controller"), cluster, [f"w1:CPU=1,w=1,min=0,max=2,idle={IDLE_S}"],
                     extra=["--token-file", str(tmp_path / "token"), "--cooldown", "1",
                            "--signals", signals, "--keep-after-lease", str(KEEP_S),
                            "--signal-max-age", "10"])
    pins = "/sys/fs/bpf/rs-fusion-%d-%d" % (os.getpid(), free_port())
    agent = Agent(bin("raysense-agent"), pins, "--controller-url", ctl.url + "/api/v1/signals",
                  "--token-file", str(tmp_path / "token"), "--push-interval", "1",
                  "--lease-probes", "all")  # every lease seen: the controller does not read the attach fraction yet
    driver = None
    try:
        driver = background_driver(cluster, DRIVER)
        out, err = stop_driver(driver) if driver.wait(timeout=300) is not None else ("", "")
        assert "nodes" in out, (out, err)
        return ctl.actions("launch"), ctl.actions("terminate"), ctl.actions("keep"), ctl
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        agent.stop()
        shutil.rmtree(pins, ignore_errors=True)


def startup_learned(ctl):
    """The w1 group's startup model once it has both sources, else None."""
    st = ctl.status()
    groups = (st.get("fusion") or {}).get("groups") or []
    g = next((g for g in groups if g.get("type") == "w1"), None)
    if not g:
        return None
    src = g.get("startup_sources") or {}
    if src.get("controller", {}).get("samples", 0) >= 1 and src.get("agent", {}).get("samples", 0) >= 1:
        return st, g
    return None


def check_startup_sources(ctl, bin):
    st, g = ctl.wait(lambda: startup_learned(ctl), 30, "startup samples from the agent and the controller")
    types = {t["name"]: t for t in st["node_types"]}
    assert types["w1"]["platform"] == "local" and g["platform"] == "local", (types, g)
    ctl_src, agent_src = g["startup_sources"]["controller"], g["startup_sources"]["agent"]
    # One worker launched and started once: one sample each, never the
    # same timeline twice however many pushes repeat it.
    assert ctl_src["samples"] == 1 and agent_src["samples"] == 1, g
    # The model is the controller's; the agent's timeline starts at the
    # worker's `ray start` exec (after the launch) and ends at its GCS
    # connection (before Ray lists it ALIVE, which the controller sees at
    # its next 1 s fetch), so it is the shorter.
    assert g["startup_source"] == "controller" and g["startup_p50_s"] == ctl_src["p50_s"], g
    assert 0 < agent_src["p50_s"] <= ctl_src["p50_s"] + 0.5, g
    m = ctl.metrics()
    for src in ("controller", "agent"):
        line = f'raysense_controller_startup_seconds_count{{type="w1",platform="local",source="{src}"}} 1\n'
        assert line in m, (line, [l for l in m.splitlines() if "startup_seconds_count" in l])
    # raysensectl status shows the platform and the samples per source.
    out = subprocess.run([bin("raysensectl"), "status", "--url", ctl.url], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    row = next((i for i, l in enumerate(lines) if l.split()[:3] == ["w1", "local", "startup"]), None)
    assert row is not None and "(1 samples, controller)" in lines[row], out.stdout
    assert lines[row + 1].split()[:3] == ["controller", "1", "samples:"], out.stdout
    assert lines[row + 2].split()[:3] == ["agent", "1", "samples:"], out.stdout
    print(f"\nstartup w1 (local): controller {ctl_src['p50_s']} s, agent {agent_src['p50_s']} s")


def test_recent_lease_keeps_a_node_that_ray_would_stop(fresh_ray_cluster, bin, tmp_path):
    launches, terms, keeps, ctl = run(fresh_ray_cluster, bin, tmp_path, "on")
    try:
        lease_keeps = [k for k in keeps if k.get("reason") == "recent_lease"]
        assert lease_keeps, f"no keep for a recent lease; keeps={keeps} terms={terms}"
        check_startup_sources(ctl, bin)
        assert sum(d["count"] for d in launches) == 1, \
            f"the one worker should have served every task: {launches}"
        assert not terms, f"stopped while it still served leases: {terms}"
        ctl.wait(lambda: ctl.actions("terminate"), KEEP_S + IDLE_S + 30,
                 "stop once the leases are older than --keep-after-lease")
        print(f"\nfusion on: 1 launch, {len(lease_keeps)} keep decision(s) (recent_lease), "
              f"stopped after the tasks ended")
    finally:
        ctl.stop()


def test_signals_off_stops_it_between_tasks(fresh_ray_cluster, bin, tmp_path):
    launches, terms, keeps, ctl = run(fresh_ray_cluster, bin, tmp_path, "off")
    try:
        assert not [k for k in keeps if k.get("reason") == "recent_lease"], keeps
        assert terms and sum(d["count"] for d in launches) >= 2, \
            f"Ray semantics stop the idle node between tasks: launches={launches} terms={terms}"
        print(f"\nfusion off: {sum(d['count'] for d in launches)} launches, {len(terms)} terminations for the same tasks")
    finally:
        ctl.stop()
