"""gen_planner_scenario.py -- the planner benchmark's scenario: 10,000 demand
entries over 8 node types and 500 existing nodes (issue 5's benchmark).

Deterministic (seeded).  The cluster is a realistic busy one: most existing
nodes are fully used, some have room, some are idle; demand mixes 1-3 copy
task and actor shapes (40 distinct shapes), placement groups of every
strategy, and one request_resources call.  Global max_workers leaves room for
a couple of hundred new nodes, so part of the demand ends up at max.

Usage: gen_planner_scenario.py OUT.json [--entries N] [--nodes N] [--seed S]
"""
import argparse
import json
import random

TYPES = {
    "cpu2": {"CPU": 2, "memory": 8 * 2**30},
    "cpu4": {"CPU": 4, "memory": 16 * 2**30},
    "cpu8": {"CPU": 8, "memory": 32 * 2**30},
    "cpu16": {"CPU": 16, "memory": 64 * 2**30},
    "cpu32": {"CPU": 32, "memory": 128 * 2**30},
    "highmem": {"CPU": 8, "memory": 256 * 2**30, "highmem": 1},
    "gpu1": {"CPU": 8, "GPU": 1, "memory": 64 * 2**30},
    "gpu4": {"CPU": 32, "GPU": 4, "memory": 256 * 2**30},
}


def shapes(rng):
    out = []
    for cpu in (0.5, 1, 2, 3, 4, 6, 8, 12, 16):
        out.append({"CPU": cpu})
        out.append({"CPU": cpu, "memory": float(cpu * 2 * 2**30)})
    for g in (1, 2, 4):
        out.append({"CPU": 1, "GPU": g})
        out.append({"CPU": 4, "GPU": g, "memory": 16.0 * 2**30})
    out += [{"highmem": 1, "CPU": 2}, {"memory": 100.0 * 2**30},
            {"CPU": 1, "accel": 1}, {"GPU": 8}, {"CPU": 64}]  # last three: infeasible
    while len(out) < 40:
        out.append({"CPU": rng.choice([1, 2]), "memory": float(rng.randint(1, 8) * 2**30)})
    return out[:40]


def generate(entries, n_nodes, seed):
    rng = random.Random(seed)
    head = {"CPU": 0, "memory": 16 * 2**30}
    node_types = {"head": {"resources": head, "max_workers": 0}}
    for name, res in TYPES.items():
        node_types[name] = {"resources": res, "min_workers": 0, "max_workers": 200}
    nodes = [{"id": "head", "type": "head", "total": head, "available": head, "idle_s": 3600}]
    names = list(TYPES)
    for i in range(n_nodes):
        t = rng.choice(names)
        total = dict(TYPES[t])
        r = rng.random()
        if r < 0.80:  # fully used (logical CPU/GPU all taken)
            avail = {k: (0.0 if k in ("CPU", "GPU", "highmem") else v / 2) for k, v in total.items()}
            idle = 0
        elif r < 0.92:  # partly used
            avail = {k: (v / 2 if k in ("CPU", "GPU") else v) for k, v in total.items()}
            idle = 0
        else:  # idle
            avail = dict(total)
            idle = rng.choice([5, 30, 120, 900])
        nodes.append({"id": "n%04d" % i, "type": t, "total": total, "available": avail, "idle_s": idle})
    pool = shapes(rng)
    tasks, actors, pgs = [], [], []
    strategies = ["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"]
    for i in range(entries):
        r = rng.random()
        if r < 0.01:
            bundles = [dict(rng.choice(pool[:18])) for _ in range(rng.randint(2, 4))]
            pgs.append({"strategy": rng.choice(strategies), "bundles": bundles, "count": 1})
        elif r < 0.25:
            actors.append({"shape": dict(rng.choice(pool)), "count": rng.randint(1, 2)})
        else:
            tasks.append({"shape": dict(rng.choice(pool)), "count": rng.randint(1, 3)})
    return {
        "node_types": node_types,
        "head_node_type": "head",
        "max_workers": n_nodes + 200,
        "upscaling_speed": 1.0,
        "idle_timeout_s": 60,
        "nodes": nodes,
        "demand": {"tasks": tasks, "actors": actors, "placement_groups": pgs,
                   "request_resources": [{"shape": {"CPU": 4}, "count": 8}]},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    with open(a.out, "w") as f:
        json.dump(generate(a.entries, a.nodes, a.seed), f)


if __name__ == "__main__":
    main()
