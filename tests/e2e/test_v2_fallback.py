"""The controller under autoscaler v2 (RAY_enable_autoscaler_v2=1 on a real
Ray 2.60.0 head, num-cpus=0), where /api/cluster_status has clusterStatus null
and the controller reads the v2 status text, the state API's placement groups
and the node summary's per-node usage instead (docs/dashboard-facts.md).

One timeline, local provider launching real raylets:
  (i)   a pending STRICT_SPREAD group of two {CPU: 1} bundles yields exactly
        two 1-CPU workers and the group becomes CREATED on them;
  (ii)  after the group is removed, a task runs on one worker: the other is
        terminated once idle past the timeout while the busy one is kept;
        when the task ends it is terminated too;
  (iii) nothing more than those two nodes is ever launched.
It also checks that the controller says which demand source it uses, that
groups whose strategy is uncertain are held, that unexpected text never
scales anything down, and request_resources() under v2.
"""
import json
import os
import subprocess
import threading
import time

import pytest

from controller_proc import Controller, background_driver, stop_driver
from raycluster import RayCluster, driver_json

V2_ENV = {"RAY_enable_autoscaler_v2": "1"}
IDLE_S = 8
TASK_S = 40

DRIVER = r"""
import json, os, sys, time, ray
from ray.util.placement_group import (placement_group, placement_group_table,
                                      remove_placement_group)
ray.init(logging_level="ERROR")
pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
ray.get(pg.ready(), timeout=240)
t = placement_group_table(pg)
print(json.dumps({"phase": "pg", "state": t["state"], "strategy": t["strategy"],
                  "pg_nodes": list(t["bundles_to_node_id"].values())}), flush=True)
time.sleep(2)
remove_placement_group(pg)
@ray.remote(num_cpus=1)
def busy(path, s):
    node = ray.get_runtime_context().get_node_id()
    with open(path, "w") as f:
        f.write(node)
    time.sleep(s)
    return node
node = ray.get(busy.remote(sys.argv[1], float(sys.argv[2])))
print(json.dumps({"phase": "task_done", "node": node, "t": time.time()}), flush=True)
time.sleep(3600)
"""


@pytest.fixture
def v2_cluster(monkeypatch):
    """A head with autoscaler v2; every process of the test (head, the
    controller's raylets, drivers) runs with RAY_enable_autoscaler_v2=1."""
    for k, v in V2_ENV.items():
        monkeypatch.setenv(k, v)
    c = RayCluster(env=V2_ENV)
    try:
        c.start_head()
        yield c
    finally:
        c.stop()


def ray_names(cluster):
    return {n["node_id"]: n["node_name"] for n in cluster.nodes()}


def assert_two_strict_spread_launches(ctl):
    """Exactly two nodes launched, for a STRICT_SPREAD placement group;
    their ids."""
    launches = ctl.actions("launch")
    assert ctl.launch_count() == 2 and len(ctl.launched_nodes()) == 2, launches
    for d in launches:
        dem = [x for x in d["demand"] if x["cause"] == "placement_group"]
        assert dem and dem[0]["strategy"] == "STRICT_SPREAD", d
    return ctl.launched_nodes()


def driver_with_args(cluster, path, seconds):
    code = DRIVER.replace("sys.argv[1]", repr(path)).replace("float(sys.argv[2])",
                                                               repr(float(seconds)))
    return background_driver(cluster, code)


def follow_json_lines(proc):
    """The driver's JSON stdout lines, appended to the returned list as they
    come by a daemon thread (it ends when stop_driver closes the pipe)."""
    events = []

    def read():
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                events.append(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    return events


def test_v2_strict_spread_launch_and_idle_termination(bin, v2_cluster):
    cluster = v2_cluster
    ctl = drv = None
    try:
        _, body = cluster.http_get("/api/cluster_status")
        assert json.loads(body)["data"]["clusterStatus"] is None, body[:300]

        ctl = Controller(bin("raysense-controller"), cluster,
                         [f"cpu1:CPU=1,min=0,max=4,idle={IDLE_S}"], extra=["--cooldown", "2"])
        ctl.wait(lambda: ctl.status().get("demand", {}).get("source") == "v2_text", 30,
                 "demand source v2_text")
        assert "demand source: v2_text" in ctl.log_text()

        marker = os.path.join(cluster.tmp, "busy_node")
        drv = driver_with_args(cluster, marker, TASK_S)
        events = follow_json_lines(drv)

        # (i) two launches for the group, the group CREATED on them.
        pg = ctl.wait(lambda: next((e for e in events if e["phase"] == "pg"), None), 300,
                      "placement group ready")
        launched = assert_two_strict_spread_launches(ctl)
        assert pg["state"] == "CREATED" and pg["strategy"] == "STRICT_SPREAD", pg
        names = ray_names(cluster)
        assert len(set(pg["pg_nodes"])) == 2, pg
        assert {names[n] for n in pg["pg_nodes"]} == set(launched), (pg, launched)

        # (ii) a task on one worker; the other goes once idle past the timeout.
        busy_id = ctl.wait(lambda: open(marker).read().strip() if os.path.exists(marker)
                           else None, 120, "the task started")
        busy_name = names[busy_id]
        idle_name = (set(launched) - {busy_name}).pop()
        t_task = time.time()
        term = ctl.wait(lambda: [d for d in ctl.actions("terminate") if d["node"] == idle_name],
                        TASK_S - 5, "the idle worker terminated")[0]
        assert term["reason"] == "idle", term
        assert term.get("idle_s", IDLE_S + 1) > IDLE_S, term
        assert not [d for d in ctl.actions("terminate") if d["node"] == busy_name], \
            "the node running a task was terminated"
        assert not [e for e in events if e["phase"] == "task_done"], "task ended too early"
        st = ctl.status()
        busy_entry = [n for n in st["nodes"] if n["id"] == busy_name]
        assert busy_entry and busy_entry[0]["state"] == "running", st["nodes"]
        assert busy_entry[0]["available"].get("CPU", 0) == 0, busy_entry
        print(f"\nv2: idle worker {idle_name} terminated {time.time() - t_task:.1f} s after "
              f"the task started on {busy_name}")

        # ... and the busy one after its task ends and its idle run passes.
        done = ctl.wait(lambda: next((e for e in events if e["phase"] == "task_done"), None),
                        TASK_S + 60, "task done")
        term2 = ctl.wait(lambda: [d for d in ctl.actions("terminate") if d["node"] == busy_name],
                         IDLE_S + 60, "the formerly busy worker terminated")[0]
        assert term2["reason"] == "idle", term2
        assert term2["time_unix"] - done["t"] > IDLE_S - 1, (term2, done)

        # (iii) nothing more was launched.
        assert ctl.launch_count() == 2, ctl.actions("launch")
        assert ctl.status()["demand"]["held_placement_groups"] == []
    finally:
        if drv is not None:
            stop_driver(drv)
        if ctl is not None:
            ctl.stop()


HELD_DRIVER = r"""
import json, os, time, ray
from ray.util.placement_group import (placement_group, placement_group_table,
                                      remove_placement_group)
ray.init(logging_level="ERROR")
ss = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
pack = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="PACK")
print(json.dumps({"phase": "created"}), flush=True)
while not os.path.exists(SIGNAL):
    time.sleep(0.2)
remove_placement_group(pack)
ray.get(ss.ready(), timeout=240)
t = placement_group_table(ss)
print(json.dumps({"phase": "ss_ready", "state": t["state"],
                  "pg_nodes": list(t["bundles_to_node_id"].values())}), flush=True)
time.sleep(3600)
"""


def test_v2_ambiguous_strategies_are_held(bin, v2_cluster):
    """Two pending groups with the same bundles but different strategies: the
    v2 text prints one example per strategy, so neither group's strategy is
    certain.  The controller holds both (no launch), says so in its log and
    /api/v1/status, and launches as soon as the ambiguity is gone."""
    cluster = v2_cluster
    ctl = drv = None
    try:
        ctl = Controller(bin("raysense-controller"), cluster,
                         ["cpu1:CPU=1,min=0,max=4,idle=60"])
        signal_path = os.path.join(cluster.tmp, "remove_pack")
        drv = background_driver(cluster, HELD_DRIVER.replace("SIGNAL", repr(signal_path)))
        events = follow_json_lines(drv)
        ctl.wait(lambda: any(e["phase"] == "created" for e in events), 120, "groups created")

        held = ctl.wait(lambda: ctl.status()["demand"]["held_placement_groups"], 30,
                        "two held groups")
        assert len(held) == 2, held
        for h in held:
            assert h["state"] == "PENDING" and h["bundles"] == [{"CPU": 1}, {"CPU": 1}], h
            assert "strategy not determined" in h["reason"], h
        time.sleep(8)   # several ticks: still nothing launched for them
        assert ctl.actions("launch") == [], ctl.actions("launch")
        assert ctl.status()["demand"]["placement_groups"] == []
        assert ctl.log_text().count("holding placement group") >= 2

        open(signal_path, "w").close()
        ready = ctl.wait(lambda: next((e for e in events if e["phase"] == "ss_ready"), None),
                         300, "STRICT_SPREAD group ready")
        launched = assert_two_strict_spread_launches(ctl)
        assert ready["state"] == "CREATED" and len(set(ready["pg_nodes"])) == 2, ready
        assert {ray_names(cluster)[n] for n in ready["pg_nodes"]} == set(launched)
    finally:
        if drv is not None:
            stop_driver(drv)
        if ctl is not None:
            ctl.stop()


SHORT_TASK = r"""
import time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work():
    time.sleep(2)
    return 1
print(ray.get(work.remote()), flush=True)
"""


def garble_status_text(path, body):
    """A v2 text Ray 2.60.0 would not print: the request section renamed."""
    if path.startswith("/api/cluster_status?format=1"):
        return body.replace(b"From request_resources:", b"From resource requests:")
    return body


def garble_node_usage(path, body):
    """Every node's usage text replaced by something unparseable."""
    if path.startswith("/nodes?view=summary"):
        doc = json.loads(body)
        res = doc["data"]["nodeLogicalResources"]
        for k in res:
            res[k] = "zero of one CPU"
        return json.dumps(doc).encode()
    return body


def test_v2_unexpected_text_never_scales_down(bin, v2_cluster):
    """Under v2, a status text or node-usage text that is not exactly what
    Ray 2.60.0 prints makes that data missing: the idle worker is kept past
    its idle timeout, the reason is logged and shown; once the text is right
    again the worker is terminated."""
    from test_dashboard_faults import FaultProxy

    idle = 5
    cluster = v2_cluster
    ctl = proxy = None
    try:
        proxy = FaultProxy(cluster.dashboard_url)
        ctl = Controller(bin("raysense-controller"), cluster,
                         [f"cpu1:CPU=1,min=0,max=2,idle={idle}"], dashboard_url=proxy.url,
                         extra=["--cooldown", "2"])
        proxy.rewrite = garble_status_text     # from the start: state-API tasks still launch
        ctl.wait(lambda: ctl.status().get("demand", {}).get("source") == "state_api_only", 30,
                 "state_api_only while the text is unexpected")
        cluster.run_python(SHORT_TASK, timeout=300)
        launches = ctl.actions("launch")
        assert ctl.launch_count() == 1, launches
        node = ctl.launched_nodes()[0]
        t0 = time.time()
        time.sleep(idle + 4)
        st = ctl.status()
        assert not ctl.actions("terminate"), "terminated without usage data"
        assert "status text" in st["demand"].get("v2_error", ""), st["demand"]
        assert "autoscaler-v2 data missing or partial: status text" in ctl.log_text()
        entry = [n for n in st["nodes"] if n["id"] == node][0]
        assert "idle_s" not in entry, entry    # no idle run without usage

        proxy.rewrite = garble_node_usage      # text fine, usage unparseable
        ctl.wait(lambda: ctl.status()["demand"]["source"] == "v2_text", 20, "v2_text again")
        time.sleep(idle + 4)
        st = ctl.status()
        assert not ctl.actions("terminate"), "terminated on unparseable usage"
        assert "node usage" in st["demand"].get("v2_error", ""), st["demand"]

        proxy.rewrite = None
        term = ctl.wait(lambda: ctl.actions("terminate"), idle + 30, "idle termination")[0]
        assert term["node"] == node and term["reason"] == "idle", term
        print(f"\nv2 faults: kept {term['time_unix'] - t0:.1f} s through unexpected text, "
              f"terminated after idle {term['idle_s']} s once it was right")
    finally:
        if ctl is not None:
            ctl.stop()
        if proxy is not None:
            proxy.close()


REQUEST = r"""
import ray
from ray.autoscaler.sdk import request_resources
ray.init(logging_level="ERROR")
request_resources(bundles=BUNDLES)
"""


def test_v2_request_resources(bin, v2_cluster):
    """request_resources() under v2 comes from the status text: two {CPU: 1}
    bundles -> exactly two workers, kept past their idle timeout while the
    request stands, terminated once it is cleared; `raysensectl status`
    shows the source and the request."""
    cluster, idle = v2_cluster, 5
    ctl = Controller(bin("raysense-controller"), cluster,
                     [f"cpu1:CPU=1,min=0,max=4,idle={idle}"], extra=["--cooldown", "2"])
    try:
        cluster.run_python(REQUEST.replace("BUNDLES", '[{"CPU": 1}] * 2'), timeout=120)
        ctl.wait(lambda: ctl.launch_count() == 2, 60, "two launches")
        for d in ctl.actions("launch"):
            assert d["demand"][0]["cause"] == "request_resources", d
            assert d["demand"][0]["shape"] == {"CPU": 1}, d
        nodes = ctl.launched_nodes()
        ctl.wait(lambda: all(ctl.ray_node_of(n) for n in nodes), 120, "both ALIVE")
        time.sleep(idle + 5)    # idle past the timeout, but the request needs them
        assert not ctl.actions("terminate"), ctl.actions("terminate")
        assert ctl.launch_count() == 2, ctl.actions("launch")
        out = subprocess.run([bin("raysensectl"), "status", "--url", ctl.url],
                             capture_output=True, text=True, timeout=20).stdout
        assert "Demand (source v2_text)" in out, out
        assert ('{"cause":"request_resources","count":2,"kind":"request_resources",'
                '"shape":{"CPU":1},"index":0}') in out, out

        cluster.run_python(REQUEST.replace("BUNDLES", "[]"), timeout=120)
        ctl.wait(lambda: len(ctl.actions("terminate")) == 2, idle + 40, "both terminated")
        assert {d["node"] for d in ctl.actions("terminate")} == set(nodes)
        assert all(d["reason"] == "idle" for d in ctl.actions("terminate"))
        assert ctl.launch_count() == 2
    finally:
        ctl.stop()


def test_v2_seed_no_double_count(bin, v2_cluster):
    """The seed scenario (tests/e2e/test_seed.py) under v2: two 1-CPU tasks
    -> exactly two launches.  A task whose lease is granted while its worker
    starts stays PENDING_NODE_ASSIGNMENT in the state API but its CPU is used
    in the live usage; counting it twice launched extra nodes under v1 before
    the demand merge; here the cut-off after the usage read prevents it."""
    from seed_scenario import DRIVER as SEED_DRIVER

    cluster = v2_cluster
    ctl = Controller(bin("raysense-controller"), cluster,
                     ["cpu1:CPU=1,min=0,max=4,idle=60"])
    try:
        res = driver_json(cluster.run_python(SEED_DRIVER, timeout=300))
        time.sleep(5)   # a few more ticks with the tasks done and nodes idle
        launches = ctl.actions("launch")
        assert ctl.launch_count() == 2, launches
        names = ray_names(cluster)
        assert {names[n] for n in res["nodes"]} == set(ctl.launched_nodes()), res
        assert ctl.status()["demand"]["source"] == "v2_text"
    finally:
        ctl.stop()
