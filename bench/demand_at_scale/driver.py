"""driver.py -- submit N tasks in four shapes to a running Ray and keep them pending.

Usage: python driver.py N [blocks|interleave]
Shapes (one remote function per shape, N/4 each):
  cpu1 {CPU:1}, cpu2 {CPU:2}, cpu4 {CPU:4}, mem {CPU:1, memory:1 GiB}.
Prints one JSON line when submission is done, then sleeps (the tasks stay
pending as long as the driver lives); the bench kills it.
"""
import json
import os
import sys
import time

import ray

GIB = 1 << 30


@ray.remote(num_cpus=1)
def cpu1():
    time.sleep(3600)


@ray.remote(num_cpus=2)
def cpu2():
    time.sleep(3600)


@ray.remote(num_cpus=4)
def cpu4():
    time.sleep(3600)


@ray.remote(num_cpus=1, memory=GIB)
def mem():
    time.sleep(3600)


SHAPES = [cpu1, cpu2, cpu4, mem]


def main():
    n = int(sys.argv[1])
    order = sys.argv[2] if len(sys.argv) > 2 else "blocks"
    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), log_to_driver=False)
    per = n // len(SHAPES)
    refs = []
    t0 = time.time()
    firsts = {}
    if order == "blocks":
        for f in SHAPES:
            firsts[f._function_name.split(".")[-1]] = time.time()
            for _ in range(per):
                refs.append(f.remote())
    else:
        for i in range(per):
            for f in SHAPES:
                if i == 0:
                    firsts[f._function_name.split(".")[-1]] = time.time()
                refs.append(f.remote())
    t1 = time.time()
    print(json.dumps({"event": "submitted", "n": len(refs), "t_start": t0, "t_end": t1,
                      "first_submit": firsts}), flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main()
