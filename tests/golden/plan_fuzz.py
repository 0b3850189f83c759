"""plan_fuzz.py -- random scenarios for differential tests of the planner
against Ray's own v2 scheduler (bench/ray_plan.py).

The generator only produces states Ray itself could report: a node idle for
s > 0 seconds has all its logical resources free, nodes per type stay within
max_workers (over-max handling deliberately differs, deviation D1), and agent
busy hints are absent (raysense-only input).

With limit=True it also varies what the upscaling limit depends on:
upscaling_speed, max_concurrent_launches, and idle nodes that report fewer
CPUs than their type (demand then launches the type while the same round
stops such a node).
"""
import random


RES_CHOICES = [
    {"CPU": 1}, {"CPU": 2}, {"CPU": 4}, {"CPU": 8}, {"CPU": 16},
    {"CPU": 4, "GPU": 1}, {"CPU": 8, "GPU": 2}, {"CPU": 8, "GPU": 4},
    {"CPU": 4, "custom_a": 2}, {"CPU": 2, "custom_b": 1},
]
SHAPES = [
    {"CPU": 1}, {"CPU": 2}, {"CPU": 0.5}, {"CPU": 3}, {"CPU": 4}, {"GPU": 1},
    {"CPU": 1, "GPU": 1}, {"custom_a": 1}, {"CPU": 1, "custom_b": 1},
    {"CPU": 1, "memory": 2 * 2**30}, {"CPU": 32}, {"TPU": 1}, {"CPU": 2, "GPU": 3},
]
# Fractional amounts, implicit resources: exercises float ties in the scorer.
FRACTIONAL_SHAPES = [
    {"CPU": 0.1}, {"CPU": 0.3}, {"CPU": 0.7}, {"CPU": 1.1, "memory": 3e9},
    {"CPU": 0.2, "GPU": 0.25}, {"GPU": 0.5}, {"custom_a": 0.3}, {"CPU": 0.6, "custom_b": 0.5},
    {"memory": 1.5e9}, {"CPU": 2.5}, {"CPU": 0.1, "node:__internal_implicit_resource_foo": 1},
    {"TPU": 1}, {"CPU": 3.3, "GPU": 1},
]


def gen_scenario(rng, n_types=None, n_nodes=None, n_entries=None, shapes=None, limit=False):
    shapes = shapes or SHAPES
    n_types = n_types or rng.randint(1, 5)
    types = {"head": {"resources": {"CPU": 0, "memory": 8 * 2**30}, "max_workers": 0}}
    for i in range(n_types):
        res = dict(rng.choice(RES_CHOICES))
        res["memory"] = float(res.get("CPU", 1) * 4 * 2**30)
        mx = rng.randint(0, 12)
        t = {"resources": res, "max_workers": mx, "min_workers": rng.choice([0, 0, 0, 1, 2])}
        t["min_workers"] = min(t["min_workers"], mx)
        if rng.random() < 0.3:
            t["idle_timeout_s"] = rng.choice([10, 30, 120])
        types["t%d" % i] = t
    scn = {
        "node_types": types,
        "head_node_type": "head",
        "idle_timeout_s": 60,
        "upscaling_speed": 1000,
    }
    if limit:
        scn["upscaling_speed"] = rng.choice([0, 0.5, 1, 2, 1000])
        if rng.random() < 0.5:
            scn["max_concurrent_launches"] = rng.randint(1, 12)
    use_global_max = rng.random() < 0.5
    nodes = [{"id": "head", "type": "head", "total": dict(types["head"]["resources"]),
              "available": dict(types["head"]["resources"]), "idle_s": 1000}]
    count = {}
    global_max = 10**9
    want_nodes = n_nodes if n_nodes is not None else rng.randint(0, 20)
    for j in range(want_nodes):
        tn = "t%d" % rng.randrange(n_types)
        t = types[tn]
        if count.get(tn, 0) >= t["max_workers"] or sum(count.values()) >= global_max:
            continue
        count[tn] = count.get(tn, 0) + 1
        node = {"id": "n%d" % j, "type": tn}
        if rng.random() < 0.2:
            node["status"] = "pending"
        else:
            total = dict(t["resources"])
            if rng.random() < 0.5:
                if limit and total.get("CPU", 0) >= 2 and rng.random() < 0.7:
                    total["CPU"] /= 2
                avail = dict(total)
                node["idle_s"] = rng.choice([0.5, 5, 20, 59, 61, 100, 1000])
            else:
                avail = {k: (v - rng.choice([0, v / 2, v]) if k != "memory" else v)
                         for k, v in total.items()}
                node["idle_s"] = 0
            node["total"], node["available"] = total, avail
        nodes.append(node)
    scn["nodes"] = nodes
    if use_global_max:
        # Ray assumes min_workers plus the existing workers fit the global
        # max (scheduler.py, _enforce_min_workers_per_type): otherwise it
        # cancels min_workers nodes yet still places demand on them (D4).
        floor = sum(max(t.get("min_workers", 0), count.get(n, 0)) for n, t in types.items())
        scn["max_workers"] = rng.randint(floor, floor + 10)
    demand = {"tasks": [], "placement_groups": []}
    for _ in range(n_entries if n_entries is not None else rng.randint(0, 8)):
        demand["tasks"].append({"shape": dict(rng.choice(shapes)), "count": rng.randint(1, 6)})
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        strat = rng.choice(["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"])
        bundles = [dict(rng.choice(shapes[:9])) for _ in range(rng.randint(1, 4))]
        demand["placement_groups"].append(
            {"strategy": strat, "bundles": bundles, "count": rng.randint(1, 2)})
    if limit and rng.random() < 0.7:
        # Whole nodes of one type: they fit no node shrunk below its type.
        tn = "t%d" % rng.randrange(n_types)
        shape = {k: v for k, v in types[tn]["resources"].items() if k != "memory"}
        demand["tasks"].append({"shape": shape, "count": rng.randint(1, 8)})
    if rng.random() < 0.2:
        demand["request_resources"] = [
            {"shape": dict(rng.choice(shapes[:6])), "count": rng.randint(1, 8)}]
    scn["demand"] = demand
    return scn
