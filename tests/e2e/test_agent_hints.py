"""Agent hints can only keep a node: a worker that Ray reports idle past its
idle timeout is kept while an agent snapshot (POST /api/v1/signals, gzip,
bearer token) says it has busy workers, and is terminated once the hints
age out.  Real Ray and controller; the snapshots are posted by the test in
the agent's schema_version 1 format (the real agent's push path is covered
by tests/unit/test_push_queue.c and the demo)."""
import gzip
import json
import threading
import time
import urllib.request

from controller_proc import Controller

IDLE_S = 6
HINT_AGE_S = 8


def post_snapshot(ctl, token, ray_node_id, seq, busy):
    doc = {"schema_version": 1, "agent_version": "test", "seq": seq,
           "taken_unix_ms": int(time.time() * 1000), "interval_seconds": 1,
           "push_dropped_total": 0, "node": {"node_name": "test-agent", "hostname": "vm"},
           "histograms": [], "values": [], "timelines": [],
           "workers": [{"raylet_pid": 1, "ray_node_id": ray_node_id, "busy_workers": busy,
                        "idle_workers": 0, "seconds_since_busy": 0.0 if busy else None}]}
    req = urllib.request.Request(ctl.url + "/api/v1/signals", data=gzip.compress(
        json.dumps(doc).encode()), method="POST", headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip",
            "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 202


def test_busy_hint_keeps_an_idle_node(fresh_ray_cluster, bin, tmp_path):
    cluster = fresh_ray_cluster
    token = "hint-token-123"
    (tmp_path / "token").write_text(token)
    ctl = Controller(bin("raysense-controller"), cluster, [f"cpu1:CPU=1,min=0,max=1,idle={IDLE_S}"],
                     extra=["--token-file", str(tmp_path / "token"), "--cooldown", "1",
                            "--signal-max-age", str(HINT_AGE_S)])
    stop = threading.Event()
    try:
        out = cluster.run_python(
            "import ray; ray.init(logging_level='ERROR')\n"
            "print(ray.get(ray.remote(num_cpus=1)(lambda: ray.get_runtime_context()"
            ".get_node_id()).remote()))\n", timeout=300)
        node_id = out.stdout.strip().splitlines()[-1]
        name = ctl.launched_nodes()[0]

        def pusher():
            seq = 0
            while not stop.is_set():
                seq += 1
                post_snapshot(ctl, token, node_id, seq, busy=2)
                time.sleep(1)

        t = threading.Thread(target=pusher, daemon=True)
        t.start()
        time.sleep(IDLE_S + 10)  # idle in Ray well past the timeout
        st = ctl.status()
        node = [n for n in st["nodes"] if n["id"] == name][0]
        assert node.get("agent_busy_workers") == 2, node
        assert node.get("idle_s", 0) > IDLE_S, node
        assert not ctl.actions("terminate"), "an agent-busy node was terminated"
        assert st["agents"] and st["agents"][0]["node_name"] == "test-agent"

        stop.set()
        t.join(timeout=5)
        t_stop = time.time()
        ctl.wait(lambda: ctl.actions("terminate"), HINT_AGE_S + 30, "termination after hints age out")
        term = ctl.actions("terminate")[0]
        assert term["node"] == name and term["time_unix"] > t_stop + HINT_AGE_S - 1, term
    finally:
        stop.set()
        ctl.stop()
