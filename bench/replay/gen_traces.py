#!/usr/bin/env python3
"""gen_traces.py -- write the replay bench's four demand traces (JSON lines,
docs/replay.md) next to this file: burst, diurnal, flapping, slow_eci.

The traces are committed; rerun this only to change them.  Everything is
deterministic (no randomness here; the simulator's startup draws come from
each trace's seed).
"""
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = {"max_concurrent_launches": 10, "upscaling_speed": 1, "idle_timeout_s": 60,
           "launch_timeout_s": 600}


def write(name, header, events):
    with open(os.path.join(HERE, name + ".jsonl"), "w") as f:
        f.write(json.dumps(header) + "\n")
        for e in events:
            f.write(json.dumps(e) + "\n")


def cpu_tasks(t, count, duration):
    return {"t": t, "submit": [{"shape": {"CPU": 1}, "count": count, "duration_s": duration}]}


def burst():
    """2,000 one-CPU tasks at once on 8-CPU nodes that take ~45 s to start."""
    header = {"replay": 1, "seed": 11, "drain_s": 600, "cluster": CLUSTER,
              "_about": "burst: 2000 one-CPU tasks of 120 s at t=0",
              "groups": [{"name": "cpu8", "resources": {"CPU": 8}, "max": 300,
                          "startup_s": {"dist": "lognormal", "median_s": 45, "sigma": 0.3}}]}
    write("burst", header, [cpu_tasks(0, 2000, 120)])


def diurnal():
    """An hour of demand following a sine: 20 to 200 one-CPU tasks running."""
    header = {"replay": 1, "seed": 22, "drain_s": 600, "cluster": CLUSTER,
              "_about": "diurnal: concurrency 20..200 over an hour (1 - cos), 60 s tasks",
              "groups": [{"name": "cpu4", "resources": {"CPU": 4}, "max": 100,
                          "startup_s": {"dist": "lognormal", "median_s": 60, "sigma": 0.25}}]}
    # Arrivals every second: submissions on 5 s boundaries would line up with
    # Ray's 5 s loop and hide its cadence.
    events, owed = [], 0.0
    for t in range(0, 3600):
        running = 20 + 180 * (1 - math.cos(2 * math.pi * t / 3600)) / 2
        owed += running / 60  # arrivals that keep `running` tasks of 60 s busy
        n = int(owed)
        owed -= n
        if n:
            events.append(cpu_tasks(t, n, 60))
    write("diurnal", header, events)


def flapping():
    """Bursts every 130 s (about 2x the 60 s idle timeout) for 40 minutes."""
    header = {"replay": 1, "seed": 33, "drain_s": 600, "cluster": CLUSTER,
              "_about": "flapping: 40 one-CPU tasks of 20 s every 130 s; idle timeout 60 s",
              "groups": [{"name": "cpu8", "resources": {"CPU": 8}, "max": 50,
                          "startup_s": {"dist": "lognormal", "median_s": 50, "sigma": 0.2}}]}
    write("flapping", header, [cpu_tasks(t, 40, 20) for t in range(0, 2400, 130)])


def slow_eci():
    """Two groups of the same shape: ECI first in type order (cheaper) but 30 %
    of its nodes never start; ECS starts slower but always.  A batch of 32
    tasks every 5 minutes, so that nodes are launched again and again."""
    header = {"replay": 1, "seed": 44, "drain_s": 900, "cluster": CLUSTER,
              "_about": "slow-ECI: 32 tasks of 90 s every 300 s; eci first, 30% of its nodes "
                        "never ALIVE; ecs always",
              "groups": [
                  {"name": "eci", "resources": {"CPU": 4}, "max": 60, "started_after_s": 5,
                   "startup_s": {"dist": "lognormal", "median_s": 40, "sigma": 0.3,
                                 "never_p": 0.3}},
                  {"name": "ecs", "resources": {"CPU": 4}, "max": 60,
                   "startup_s": {"dist": "lognormal", "median_s": 90, "sigma": 0.2}}]}
    write("slow_eci", header, [cpu_tasks(t, 32, 90) for t in range(0, 2700, 300)])


if __name__ == "__main__":
    burst()
    diurnal()
    flapping()
    slow_eci()
