"""The real-Ray fixture itself: a head with num-cpus=0 and a worker raylet run
tasks on the worker, and tearing down leaves no process of that cluster."""
import os

from raycluster import RayCluster


def cluster_pids(tmp):
    """PIDs whose command line mentions this cluster's temp dir."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if tmp in cmdline:
            pids.append(int(entry))
    return pids


def test_head_worker_task_and_clean_teardown():
    c = RayCluster()
    try:
        c.start_head()
        head = [n for n in c.alive_nodes() if n["is_head_node"]][0]
        assert head["resources_total"].get("CPU", 0) == 0  # --num-cpus=0
        w = c.add_worker(num_cpus=1, resources={"rs_test": 1})
        out = c.run_python(
            "import ray; ray.init()\n"
            "f = ray.remote(num_cpus=1, resources={'rs_test': 1})("
            "lambda: ray.get_runtime_context().get_node_id())\n"
            "print(ray.get(f.remote()))\n")
        assert out.stdout.strip().splitlines()[-1] == w.node_id
        assert cluster_pids(c.tmp), "cluster processes should be visible while running"
    finally:
        tmp = c.tmp
        c.stop()
    assert cluster_pids(tmp) == [], "teardown left processes behind"
    assert not os.path.exists(tmp)


def test_two_clusters_do_not_interfere():
    a, b = RayCluster(), RayCluster()
    try:
        a.start_head()
        b.start_head()
        assert a.head_node_id != b.head_node_id
        a.stop()
        # b survives a's teardown
        assert any(n["is_head_node"] for n in b.alive_nodes())
    finally:
        a.stop()
        b.stop()
