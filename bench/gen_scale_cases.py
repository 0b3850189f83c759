"""gen_scale_cases.py -- the planner's scale cases (issue 16): inputs the
scenario validators accept that used to take seconds to minutes or run out
of memory, plus 1M tasks x 1,000 shapes, 100k nodes and 100 groups, and
both of the last two at once.

Deterministic (seeded).  Writes one scenario per case into OUT_DIR and
prints the case names, one a line.

Usage: gen_scale_cases.py OUT_DIR [CASE...]
"""
import json
import os
import random
import sys

BIG = 1000000  # the scenario's max_workers limit


def worker_types(n, min_workers=0, max_workers=BIG):
    types = {"head": {"resources": {"CPU": 0}, "max_workers": 0}}
    for i in range(n):
        cpu = 2 ** (i % 6 + 1)
        types["w%03d" % i] = {"resources": {"CPU": cpu, "mem": cpu * 4},
                              "min_workers": min_workers, "max_workers": max_workers}
    return types


def base(types, **extra):
    scn = {"node_types": types, "head_node_type": "head", "upscaling_speed": 1.0,
           "nodes": [{"id": "head", "type": "head", "total": {"CPU": 0},
                      "available": {"CPU": 0}, "idle_s": 0}],
           "demand": {}}
    scn.update(extra)
    return scn


def min_workers_case(ntypes):
    return base(worker_types(ntypes, min_workers=BIG))


RES128 = ["r%03d" % i for i in range(128)]


def wide_shapes_case(nshapes, rng):
    types = {"head": {"resources": {"CPU": 0}, "max_workers": 0}}
    for i in range(4):
        types["wide%d" % i] = {"resources": {r: 64.0 * (i + 1) for r in RES128},
                               "max_workers": BIG}
    tasks = [{"shape": {r: float(rng.randint(1, 8)) for r in RES128}, "count": 10**8}
             for _ in range(nshapes)]
    scn = base(types)
    scn["demand"] = {"tasks": tasks}
    return scn


def big_pg_case(rng):
    strategies = ["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"]
    pgs = [{"strategy": strategies[i % 4],
            "bundles": [{"CPU": float(rng.choice([1, 2, 4]))} for _ in range(10000)]}
           for i in range(10)]
    scn = base(worker_types(8))
    scn["demand"] = {"placement_groups": pgs}
    return scn


def shape_pool(n, rng):
    pool = []
    seen = set()
    while len(pool) < n:
        # Short names and integers: 1M entries must stay under the
        # scenario's 32 MiB limit.
        s = {"CPU": rng.randint(1, 16), "mem": rng.randint(1, 64)}
        if rng.random() < 0.1:
            s["GPU"] = rng.randint(1, 4)
        key = json.dumps(s, sort_keys=True)
        if key not in seen:
            seen.add(key)
            pool.append(s)
    return pool


def gpu_types():
    types = worker_types(8)
    types["gpu4"] = {"resources": {"CPU": 32, "GPU": 4, "mem": 256},
                     "max_workers": BIG}
    return types


def tasks_case(entries, nshapes, rng):
    pool = shape_pool(nshapes, rng)
    tasks = [{"shape": rng.choice(pool)} for _ in range(entries)]
    scn = base(gpu_types())
    scn["demand"] = {"tasks": tasks}
    return scn


def nodes_case(n, rng):
    scn = base(gpu_types(), idle_timeout_s=60)
    names = [t for t in scn["node_types"] if t != "head"]
    for i in range(n):
        t = rng.choice(names)
        total = scn["node_types"][t]["resources"]
        state = rng.random()
        if state < 0.7:  # busy: CPU and GPU all taken
            avail = {k: (0.0 if k in ("CPU", "GPU") else v) for k, v in total.items()}
        elif state < 0.9:  # half used
            avail = {k: v / 2 for k, v in total.items()}
        else:  # idle
            avail = dict(total)
        scn["nodes"].append({"id": "n%06d" % i, "type": t, "total": total,
                             "available": avail, "idle_s": rng.choice([0, 30, 120])})
    pool = shape_pool(50, rng)
    scn["demand"] = {"tasks": [{"shape": rng.choice(pool), "count": rng.randint(1, 100)}
                               for _ in range(10000)]}
    return scn


def groups_case(n, rng):
    strategies = ["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"]
    pgs = [{"strategy": strategies[i % 4],
            "bundles": [{"CPU": float(rng.choice([1, 2, 4]))}
                        for _ in range(rng.randint(1, 1000))],
            "count": rng.randint(1, 100)} for i in range(n)]
    scn = base(worker_types(8))
    scn["demand"] = {"placement_groups": pgs}
    return scn


def nodes_groups_case(rng):
    """100k existing nodes (70% used up: exhausted for every group) under
    the 100 groups: each group copy's call sees the whole context."""
    scn = nodes_case(99999, rng)
    scn["demand"] = {"placement_groups": groups_case(100, rng)["demand"]["placement_groups"]}
    return scn


CASES = {
    "min_workers_8x1e6": lambda rng: min_workers_case(8),
    "min_workers_32x1e6": lambda rng: min_workers_case(32),
    "min_workers_128x1e6": lambda rng: min_workers_case(128),
    "shapes_25x128res_1e8": lambda rng: wide_shapes_case(25, rng),
    "shapes_50x128res_1e8": lambda rng: wide_shapes_case(50, rng),
    "shapes_100x128res_1e8": lambda rng: wide_shapes_case(100, rng),
    "pg_10x10000": big_pg_case,
    "tasks_300k": lambda rng: tasks_case(300000, 40, rng),
    "tasks_1M_x1000": lambda rng: tasks_case(1000000, 1000, rng),
    "nodes_100k": lambda rng: nodes_case(99999, rng),
    "groups_100": lambda rng: groups_case(100, rng),
    "nodes_100k_groups_100": nodes_groups_case,
}


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or list(CASES)
    os.makedirs(out, exist_ok=True)
    for name in names:
        scn = CASES[name](random.Random(16))
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(scn, f, separators=(",", ":"))
        print(name)


if __name__ == "__main__":
    main()
