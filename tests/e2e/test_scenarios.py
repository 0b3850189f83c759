"""More scenarios on a real Ray 2.60.0 with the real controller (local
provider launching real raylets):

- min kept, max never exceeded, a node with a running task never terminated,
  and GPU demand without a GPU group reported infeasible with nothing
  launched for it (one cluster, one timeline);
- actors needing a custom resource go to the one group that has it, and a
  STRICT_SPREAD placement group of two bundles yields two nodes.
"""
import subprocess
import threading
import time

from controller_proc import Controller, background_driver, stop_driver
from raycluster import driver_json

LIMITS_DRIVER = r"""
import json, time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_gpus=1)
def gpu():
    return 1
@ray.remote(num_cpus=1)
def work(s):
    time.sleep(s)
    return ray.get_runtime_context().get_node_id()
g = gpu.remote()                       # infeasible: no GPU group; never waited on
t0 = time.time()
longs = work.remote(40)
shorts = [work.remote(2) for _ in range(4)]
short_nodes = ray.get(shorts)
long_node = ray.get(longs)
print(json.dumps({"long_node": long_node, "short_nodes": short_nodes,
                  "long_end": time.time()}), flush=True)
time.sleep(5)
"""


def running_node_processes(node_tmp):
    """`ray start` processes of this controller's nodes (the ground truth of
    what runs; Ray lists a killed raylet ALIVE until its health check fails).
    A process whose parent is one of them is not counted: when `ray start`
    forks a child (subprocess), the child shows the parent's command line
    until it execs, and ps can see both for that moment."""
    out = subprocess.run(["ps", "-eww", "-o", "pid=,ppid=,args="],
                         capture_output=True, text=True).stdout
    procs = {}
    for line in out.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and " start " in fields[2] and node_tmp in fields[2] \
                and "--block" in fields[2]:
            procs[fields[0]] = fields[1]
    return len([pid for pid, ppid in procs.items() if ppid not in procs])


def provider_nodes(status):
    return [n for n in status.get("nodes", []) if n.get("type") == "cpu1"
            or n.get("state") == "stopping"]


def test_min_max_busy_node_and_infeasible_gpu(fresh_ray_cluster, bin):
    cluster = fresh_ray_cluster
    ctl = Controller(bin("raysense-controller"), cluster,
                     ["cpu1:CPU=1,min=1,max=3,idle=6"], extra=["--cooldown", "3"])
    samples, stop = [], threading.Event()

    def sample():  # max: count running + pending + stopping nodes and Ray's ALIVE rs-* nodes
        while not stop.is_set():
            try:
                st = ctl.status()
                alive = [n for n in cluster.alive_nodes() if n["node_name"].startswith("rs-")]
                samples.append((len(provider_nodes(st)), running_node_processes(ctl.node_tmp),
                                len(alive), [(n["id"], n["state"]) for n in provider_nodes(st)]))
            except Exception:  # noqa: BLE001 - keep sampling
                pass
            time.sleep(0.5)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        # min: one node without any demand, launched for min_workers.
        ctl.wait(lambda: ctl.actions("launch"), 60, "min_workers launch")
        first = ctl.actions("launch")[0]
        assert first["demand"][0]["cause"] == "min_workers", first
        assert first["count"] == 1, first
        ctl.wait(lambda: ctl.ray_node_of(first["nodes"][0]), 90, "min node ALIVE")

        out = cluster.run_python(LIMITS_DRIVER, timeout=400)
        res = driver_json(out)
        long_node = res["long_node"]

        # GPU: reported infeasible, and no launch was made for it.
        infeasible = ctl.actions("infeasible")
        assert any(d2.get("shape", {}).get("GPU") for d in infeasible for d2 in d["demand"]), \
            infeasible
        for d in ctl.actions("launch"):
            for dem in d["demand"]:
                assert "GPU" not in dem.get("shape", {}), d
        assert "raysense_controller_infeasible_demand" in ctl.metrics()

        # After the driver is gone: everything idles out down to min=1.
        ctl.wait(lambda: len([n for n in provider_nodes(ctl.status())
                              if n["state"] == "running"]) == 1
                 and not [n for n in provider_nodes(ctl.status()) if n["state"] == "stopping"],
                 120, "scale-in to min")
        time.sleep(10)  # > idle timeout: min must still hold
        left = [n for n in provider_nodes(ctl.status()) if n["state"] == "running"]
        assert len(left) == 1, left

        # The node that ran the 40 s task was never terminated while it ran.
        by_id = {}
        for n in cluster.nodes():
            by_id[n["node_id"]] = n["node_name"]
        long_name = by_id[long_node]
        assert long_name.startswith("rs-cpu1-"), long_name
        for d in ctl.actions("terminate"):
            if d["node"] == long_name:  # only after its 40 s task ended
                assert d["time_unix"] > res["long_end"] - 1, (d, res["long_end"])
        kept = [d for d in ctl.actions("keep")]
        print(f"\nlimits: launches={ctl.launch_count()} "
              f"terminations={len(ctl.actions('terminate'))} keeps={len(kept)} "
              f"samples={len(samples)}")
    finally:
        stop.set()
        t.join(timeout=5)
        ctl.stop()
    assert samples, "no samples"
    worst = max(samples, key=lambda s: s[0])
    assert worst[0] <= 3, f"controller view exceeded max: {worst}"
    assert max(s[1] for s in samples) <= 3, "more than max node processes ran"
    print(f"max: controller view {worst[0]}, processes {max(s[1] for s in samples)}, "
          f"Ray ALIVE rs-* nodes {max(s[2] for s in samples)} (Ray lags process exits)")


CUSTOM_DRIVER = r"""
import json, time, ray
from ray.util.placement_group import placement_group, placement_group_table
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1, resources={"custom_x": 1})
class A:
    def where(self):
        return ray.get_runtime_context().get_node_id()
actors = [A.remote() for _ in range(2)]
actor_nodes = ray.get([a.where.remote() for a in actors])
print(json.dumps({"actor_nodes": actor_nodes}), flush=True)
pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
ray.get(pg.ready(), timeout=240)
table = placement_group_table(pg)
print(json.dumps({"actor_nodes": actor_nodes,
                  "pg_nodes": list(table["bundles_to_node_id"].values())}), flush=True)
"""


def test_custom_resource_actors_and_strict_spread(fresh_ray_cluster, bin):
    cluster = fresh_ray_cluster
    ctl = Controller(bin("raysense-controller"), cluster,
                     ["cpu1:CPU=1,min=0,max=4,idle=30", "custom:CPU=1,custom_x=1,min=0,max=2,idle=30"])
    try:
        out = cluster.run_python(CUSTOM_DRIVER, timeout=400)
        res = driver_json(out)
        names = {n["node_id"]: n["node_name"] for n in cluster.nodes()}
        launches = ctl.actions("launch")
        custom = [d for d in launches if d["type"] == "custom"]
        cpu1 = [d for d in launches if d["type"] == "cpu1"]

        # Actors: only the custom group, and the actors run there.
        custom_nodes = [n for d in custom for n in d["nodes"]]
        assert sum(d["count"] for d in custom) == 2 and len(custom_nodes) == 2, launches
        for d in custom:
            # kind is "actor" when the state API saw it first, "task" when the
            # monitor's report did (it does not tell tasks from actors).
            assert any(dem["shape"].get("custom_x") for dem in d["demand"]), d
        actor_names = {names[n] for n in res["actor_nodes"]}
        assert actor_names == set(custom_nodes), (actor_names, custom)

        # STRICT_SPREAD of two bundles: two new nodes, bundles on distinct nodes.
        pg_launches = [d for d in launches
                       if any(dem["cause"] == "placement_group" for dem in d["demand"])]
        pg_nodes = [n for d in pg_launches for n in d["nodes"]]
        assert len(pg_nodes) == 2, launches
        for d in pg_launches:
            dem = [x for x in d["demand"] if x["cause"] == "placement_group"][0]
            assert dem["strategy"] == "STRICT_SPREAD", dem
        assert len(set(res["pg_nodes"])) == 2, res
        assert {names[n] for n in res["pg_nodes"]} == set(pg_nodes)
        assert sum(d["count"] for d in cpu1) == 2 and ctl.launch_count() == 4, launches
        print(f"\ncustom+pg: launches {[(d['type'], d['nodes']) for d in launches]}")
    finally:
        ctl.stop()
