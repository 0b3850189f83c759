"""probes.py -- the one-off checks behind docs/demand-at-scale.md sections 1.3 and 2.6.

  probes.py gcs N        GCS aggregate (GetAllResourceUsage, GetClusterResourceState)
                         with N pending tasks, and what Ray's v1 monitor keeps of it
                         (its own parse_resource_demands run on that aggregate).
  probes.py rule         the v1 report at N = 2000, 3000, 5000 (truncation rule).
  probes.py discover N   every pending function/shape through the state API past
                         its 10,000 cap, excluding seen names with name!= filters.
Each starts its own head (tests/raycluster.py) and stops it; bounded in time.
"""
import json
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as R  # noqa: E402
from raycluster import RayCluster, kill_process_group  # noqa: E402

GCS_CODE = r'''
import collections, time
from ray._raylet import GcsClient
from ray.autoscaler._private.monitor import parse_resource_demands
from ray.autoscaler.v2.sdk import get_cluster_resource_state
g = GcsClient(address="%s")
t = time.perf_counter(); r = g.get_all_resource_usage(timeout=30); dt = time.perf_counter() - t
print("GetAllResourceUsage %%.4f s, %%d bytes" %% (dt, r.ByteSize()))
for d in r.resource_usage_data.resource_load_by_shape.resource_demands:
    print("  shape", dict(d.shape), "ready", d.num_ready_requests_queued,
          "infeasible", d.num_infeasible_requests_queued, "backlog", d.backlog_size)
w, inf = parse_resource_demands(r.resource_usage_data.resource_load_by_shape)
cnt = collections.Counter(tuple(sorted(x.items())) for x in w + inf)
print("parse_resource_demands ->", len(w), "waiting", len(inf), "infeasible:", dict(cnt))
t = time.perf_counter(); s = get_cluster_resource_state(g); dt = time.perf_counter() - t
print("GetClusterResourceState %%.4f s, %%d bytes" %% (dt, s.ByteSize()))
for p in s.pending_resource_requests:
    print("  pending", dict(p.request.resources_bundle), p.count)
'''


def with_head(n, fn, wait):
    c = RayCluster()
    d = None
    try:
        c.start_head()
        d = R.start_driver(c, n, "blocks", {})
        R.wait_submitted(d, 120)
        time.sleep(wait)
        fn(c)
    finally:
        if d:
            kill_process_group(d, 5)
        c.stop()


def gcs(c):
    p = c.run_python(GCS_CODE % c.address, timeout=120, check=False)
    print(p.stdout, p.stderr[-1500:] if p.returncode else "")
    _, b = R.get(c.dashboard_url + "/api/cluster_status?format=1", 10)
    txt = json.loads(b)["data"]["clusterStatus"]
    print("status text:", [x for x in txt.splitlines() if "pending tasks" in x])


def discover(c):
    excluded = []
    for rnd in range(12):
        keys = ["state"] + ["name"] * len(excluded)
        preds = ["="] + ["!="] * len(excluded)
        vals = ["PENDING_NODE_ASSIGNMENT"] + excluded
        q = "&".join(f"filter_keys={k}&filter_predicates={urllib.parse.quote(p)}&filter_values={v}"
                     for k, p, v in zip(keys, preds, vals))
        r, b = R.get(c.dashboard_url + "/api/v0/tasks?limit=10000&detail=true&" + q, 120)
        if not b:
            print("round", rnd, "failed", r)
            return
        res = json.loads(b)["data"]["result"]
        seen = {}
        for t in res["result"]:
            key = (t["name"], R.shape_name(t.get("required_resources") or {}))
            seen[key] = seen.get(key, 0) + 1
        print(f"round {rnd}: {r['secs']:.2f} s {r['bytes']} B total={res['total']} "
              f"returned={res['num_after_truncation']} -> {seen}")
        new = sorted({k[0] for k in seen} - set(excluded))
        if not new or res["num_after_truncation"] < 10000:
            return
        excluded += new


def main():
    what = sys.argv[1]
    if what == "gcs":
        with_head(int(sys.argv[2]), gcs, 20)
    elif what == "rule":
        for n in (2000, 3000, 5000):
            with_head(n, lambda c, n=n: print(n, "v1 report:", R.parse_v1(
                R.get(c.dashboard_url + "/api/cluster_status", 10)[1])), 14)
    elif what == "discover":
        with_head(int(sys.argv[2]), discover, 10)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
