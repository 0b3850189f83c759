"""seed_scenario.py -- the seed scenario, shared by tests/e2e/test_seed.py
(the pinned Ray) and tests/matrix/ (every release in tools/ray-versions).

A real head (--num-cpus=0), the real controller with the local provider, one
1-CPU group (min 0, max 4, idle 10 s). Two num_cpus=1 tasks -> the controller
launches one worker per pending task, the tasks run on those two workers
(distinct node ids, not the head), both are terminated after the idle
timeout, and nothing else is launched.

A worker whose `ray start` gives up before its raylet registers exits on its
own, and the controller rightly replaces it. That happens on a loaded
machine ("The current node timed out during startup", a fixed 30 s in Ray
2.60's node.py). On releases before 2.50 it also happened, with a raylet
that aborted at start-up, in some runs where two workers started at once
on one host: those releases ignore a worker's --temp-dir, so both named
their sockets in the head's session dir as "the first raylet.N that does
not exist yet" (ray/_private/node.py _make_inc_temp, checked but not
created) and one raylet's bind failed. The local provider now starts nodes
one at a time on those releases (docs/ray-versions.md). So the assertion
is on what the controller did with the nodes that did start: exactly two
launches that ran the tasks, and every other launch is one that ran no task
and that the controller itself recorded as a failed launch (a launch_failed
decision, reason exited_before_alive; it then backs the group off 5 s)."""
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


def failed_launch(ctl, node):
    """The controller's own launch_failed decision for `node` (its `ray start`
    ended before Ray listed it ALIVE), or None."""
    for d in ctl.actions("launch_failed"):
        if d.get("node") == node and d.get("reason") == "exited_before_alive":
            return d
    return None


def run_seed(cluster, controller_bin):
    """Run the scenario on `cluster` (a fresh head); assert it; return the
    measured times (seconds from submission) and the launches replaced."""
    ctl = Controller(controller_bin, cluster,
                     [f"cpu1:CPU=1,min=0,max=4,idle={IDLE_S}"], extra=["--cooldown", "5"])
    try:
        out = cluster.run_python(DRIVER, timeout=300)
        res = driver_json(out)
        launches = ctl.actions("launch")
        launched = ctl.launched_nodes()
        assert ctl.launch_count() == len(launched), launches
        assert all(d["type"] == "cpu1" for d in launches)
        for d in launches:  # each launch explains itself by the pending task shape
            assert d["demand"] and d["demand"][0]["shape"] == {"CPU": 1}, d

        task_nodes = res["nodes"]
        assert len(set(task_nodes)) == 2, f"tasks shared a node: {task_nodes}"
        assert cluster.head_node_id not in task_nodes
        by_name = {n["node_name"]: n for n in cluster.nodes()}
        started = [n for n in launched if n in by_name and by_name[n]["node_id"] in task_nodes]
        replaced = [n for n in launched if n not in started]
        assert len(started) == 2, (task_nodes, launched)
        for n in replaced:   # ran no task (not in `started`) and died by itself
            assert failed_launch(ctl, n), \
                f"{n} ran no task and is no failed launch: launched beyond the demand\n{ctl.log_tail()}"
        if replaced:
            print(f"\nseed: {len(replaced)} worker(s) exited before registering and were replaced: {replaced}")

        first_launch = min(d["time_unix"] for d in launches)
        alive_ms = max(by_name[n]["start_time_ms"] for n in started)
        times = {"launch_decision_s": first_launch - res["submitted"],
                 "workers_alive_s": alive_ms / 1000 - res["submitted"],
                 "tasks_done_s": res["done"] - res["submitted"],
                 "replaced_launches": len(replaced)}
        print(f"\nseed: submission -> launch decision {times['launch_decision_s']:.2f} s; "
              f"-> both workers ALIVE {times['workers_alive_s']:.2f} s; "
              f"-> tasks done {times['tasks_done_s']:.2f} s")

        ctl.wait(lambda: len(ctl.actions("terminate")) == 2, IDLE_S + 60, "both scaled in")
        terms = ctl.actions("terminate")
        assert {d["node"] for d in terms} == set(started)
        for d in terms:
            assert d["reason"] == "idle" and d["idle_s"] >= IDLE_S, d  # rounded to 0.1 s
        ctl.wait(lambda: not [n for n in cluster.alive_nodes() if n["node_name"].startswith("rs-")],
                 40, "workers gone from Ray")
        time.sleep(3)
        assert ctl.launch_count() == len(launched), "no extra launch after scale-in"
        assert f'raysense_controller_launches_total{{type="cpu1"}} {len(launched)}' in ctl.metrics()
        assert 'raysense_controller_terminations_total{type="cpu1",reason="idle"} 2' in ctl.metrics()
        return times
    finally:
        ctl.stop()
