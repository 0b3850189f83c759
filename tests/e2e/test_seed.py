"""Seed scenario on a real Ray 2.60.0 with the real controller and the local
provider: head with --num-cpus=0, one 1-CPU group (min 0, max 4, idle 10 s).
Two num_cpus=1 tasks -> exactly two launches, the tasks run on those two
workers (distinct node ids, not the head), both are terminated after the idle
timeout, and nothing else is launched.  Prints submission -> launch decision
and submission -> worker ALIVE."""
import time

from controller_proc import Controller
from raycluster import driver_json

IDLE_S = 10

DRIVER = r"""
import json, time, ray
ray.init(logging_level="ERROR")
# The two tasks meet at a barrier before returning, so they hold their CPUs
# at the same time and must run on two workers (a plain sleep let a slow
# second worker lose its task to the first). The barrier is files in a shared
# directory (all nodes are on this machine): waiting in ray.get would release
# the task's CPU and let the other task in on the same node.
import os, tempfile
rendezvous = tempfile.mkdtemp(prefix="rs-seed-")
@ray.remote(num_cpus=1)
def work(rendezvous):
    open(os.path.join(rendezvous, str(os.getpid())), "w").close()
    deadline = time.time() + 180
    while len(os.listdir(rendezvous)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    return ray.get_runtime_context().get_node_id()
t0 = time.time()
refs = [work.remote(rendezvous), work.remote(rendezvous)]
print(json.dumps({"submitted": t0, "nodes": ray.get(refs), "done": time.time()}))
"""


def test_seed_two_tasks_two_workers_then_scale_in(fresh_ray_cluster, bin):
    cluster = fresh_ray_cluster
    ctl = Controller(bin("raysense-controller"), cluster,
                     [f"cpu1:CPU=1,min=0,max=4,idle={IDLE_S}"], extra=["--cooldown", "5"])
    try:
        out = cluster.run_python(DRIVER, timeout=300)
        res = driver_json(out)
        launches = ctl.actions("launch")
        launched = ctl.launched_nodes()
        assert ctl.launch_count() == 2 and len(launched) == 2, launches
        assert all(d["type"] == "cpu1" for d in launches)
        for d in launches:  # each launch explains itself by the pending task shape
            assert d["demand"] and d["demand"][0]["shape"] == {"CPU": 1}, d

        task_nodes = res["nodes"]
        assert len(set(task_nodes)) == 2, f"tasks shared a node: {task_nodes}"
        assert cluster.head_node_id not in task_nodes
        by_name = {n["node_name"]: n for n in cluster.nodes()}
        launched_ids = {by_name[n]["node_id"] for n in launched}
        assert set(task_nodes) == launched_ids, (task_nodes, launched_ids)

        first_launch = min(d["time_unix"] for d in launches)
        alive_ms = max(by_name[n]["start_time_ms"] for n in launched)
        print(f"\nseed: submission -> launch decision {first_launch - res['submitted']:.2f} s; "
              f"-> both workers ALIVE {alive_ms / 1000 - res['submitted']:.2f} s; "
              f"-> tasks done {res['done'] - res['submitted']:.2f} s")

        ctl.wait(lambda: len(ctl.actions("terminate")) == 2, IDLE_S + 60, "both scaled in")
        terms = ctl.actions("terminate")
        assert {d["node"] for d in terms} == set(launched)
        for d in terms:
            assert d["reason"] == "idle" and d["idle_s"] >= IDLE_S, d  # rounded to 0.1 s
        ctl.wait(lambda: not [n for n in cluster.alive_nodes() if n["node_name"].startswith("rs-")],
                 40, "workers gone from Ray")
        time.sleep(3)
        assert ctl.launch_count() == 2, "no extra launch after scale-in"
        assert 'raysense_controller_launches_total{type="cpu1"} 2' in ctl.metrics()
        assert 'raysense_controller_terminations_total{type="cpu1",reason="idle"} 2' in ctl.metrics()
    finally:
        ctl.stop()
