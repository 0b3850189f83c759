"""Dashboard faults: the controller holds (no launch, no termination) while
the Ray dashboard is down, answers 500, sends malformed or truncated JSON,
or hangs past the client timeout; it logs each fault clearly and recovers
once the dashboard is back.  A frozen /api/cluster_status (the monitor's
report stops advancing) is stale data: nothing is scaled down on it.

FAULT INJECTION: the controller talks to a small Python proxy in front of
the real Ray dashboard (a real Ray 2.60.0 head from tests/raycluster.py).
In mode "ok" the proxy forwards every request unchanged; the other modes
replace the answer with the fault.  Everything else is real: Ray, the
controller, the local provider and the raylets it launches."""
import http.server
import socketserver
import threading
import time
import urllib.error
import urllib.request

from controller_proc import Controller, background_driver, stop_driver
from raycluster import free_port

IDLE_S = 10
STALE_S = 6


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FaultProxy:
    """Forwards to the real dashboard, or injects the current fault."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.mode = "ok"
        self.frozen_cs = None
        # Optional (path, body) -> body applied to forwarded answers: lets a
        # test change one endpoint's content (tests/e2e/test_v2_fallback.py).
        self.rewrite = None
        # Optional path prefix -> seconds to wait before forwarding (a slow
        # state-API call, as at 20,000 pending tasks).
        self.delay = {}
        self.port = free_port()
        self.server = None
        self._start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status, body, length=None, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server API
                mode, json_path = proxy.mode, self.path != "/api/gcs_healthz"
                try:
                    if mode == "500":
                        return self._send(500, b'{"result": false, "msg": "injected fault", "data": {}}')
                    if mode == "hang":
                        time.sleep(6)  # past the controller's 1 s timeout
                    for prefix, secs in list(proxy.delay.items()):
                        if self.path.startswith(prefix):
                            time.sleep(secs)
                    if mode == "freeze_cs" and self.path.startswith("/api/cluster_status"):
                        return self._send(200, proxy.frozen_cs)
                    if mode == "malformed" and json_path:
                        return self._send(200, b'{"result": true, "data": {"result": <not json>')
                    try:
                        with urllib.request.urlopen(proxy.upstream + self.path, timeout=10) as r:
                            status, body, ctype = r.status, r.read(), r.headers.get("Content-Type")
                    except urllib.error.HTTPError as e:
                        status, body, ctype = e.code, e.read(), "text/plain"
                    if proxy.rewrite is not None:
                        body = proxy.rewrite(self.path, body)
                    if mode == "truncated" and json_path:
                        body = body[: len(body) // 2]   # valid HTTP, half a JSON document
                    self._send(status, body, ctype=ctype or "application/json")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, mode):
        if mode == "freeze_cs":
            with urllib.request.urlopen(self.upstream + "/api/cluster_status", timeout=10) as r:
                self.frozen_cs = r.read()
        if mode == "down" and self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        elif mode != "down" and self.server is None:
            self._start()
        self.mode = mode

    def close(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def no_new(ctl, action, since):
    return [d for d in ctl.actions(action) if d["time_unix"] >= since]


DRIVER = r"""
import time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work():
    time.sleep(2)
    return ray.get_runtime_context().get_node_id()
print(ray.get(work.remote()), flush=True)
"""

FAULT_LOG = {  # what the controller's log must say for each fault
    "500": "HTTP 500",
    "hang": "Timeout",
    "down": "onnect",
    "malformed": "malformed JSON at byte 36 of 46",
    # A document cut in the middle is reported as malformed at the byte
    # where cJSON gave up (common/json_util adds "(truncated?)" only when
    # that is the very end).
    "truncated": "/api/v0/nodes?limit=10000&detail=true: malformed JSON at byte",
}


def test_controller_holds_on_dashboard_faults_and_recovers(fresh_ray_cluster, bin):
    cluster = fresh_ray_cluster
    proxy = FaultProxy(cluster.dashboard_url)
    ctl = Controller(bin("raysense-controller"), cluster, [f"cpu1:CPU=1,min=0,max=2,idle={IDLE_S}"],
                     dashboard_url=proxy.url,
                     extra=["--dashboard-timeout-ms", "1000", "--cooldown", "2",
                            "--stale-after", str(STALE_S)])
    driver = None
    try:
        # Phase A: demand arrives while the dashboard fails -> no launch.
        t0 = time.time()
        proxy.set("500")
        driver = background_driver(cluster, DRIVER)
        time.sleep(8)
        proxy.set("hang")
        time.sleep(6)
        assert not no_new(ctl, "launch", t0), "launched on data it failed to fetch"
        holds = no_new(ctl, "hold", t0)
        assert holds and holds[0]["source"] == "gcs_healthz" and "500" in holds[0]["error"], holds
        proxy.set("ok")
        ctl.wait(lambda: no_new(ctl, "resume", t0), 20, "resume after the dashboard is back")
        ctl.wait(lambda: no_new(ctl, "launch", t0), 30, "launch after recovery")
        out, err = stop_driver(driver) if driver.wait(timeout=240) is not None else ("", "")
        assert ctl.launch_count() == 1, ctl.actions("launch")

        # Phase B: the node goes idle; faults span past its idle timeout ->
        # no termination until the dashboard is back.
        node = ctl.launched_nodes()[0]

        def idle_s():
            for n in ctl.status().get("nodes", []):
                if n["id"] == node:
                    return n.get("idle_s", 0)
            return 0

        ctl.wait(lambda: idle_s() >= 1, 60, "node seen idle")
        t1 = time.time()
        # Stale: the monitor's report stops advancing for longer than the
        # idle timeout; the controller must notice and keep the node.
        proxy.set("freeze_cs")
        ctl.wait(lambda: ctl.status()["demand"]["usage_fresh"] is False, STALE_S + 8,
                 "frozen report seen as stale")
        time.sleep(IDLE_S + 2)
        assert not no_new(ctl, "terminate", t1), "terminated on a stale usage report"
        for mode, secs in (("down", 4), ("malformed", 4), ("truncated", 4), ("500", 3)):
            proxy.set(mode)
            time.sleep(secs)
        assert not no_new(ctl, "terminate", t1), "terminated on data it failed to fetch"
        assert not no_new(ctl, "launch", t1)
        proxy.set("ok")
        ctl.wait(lambda: no_new(ctl, "terminate", t1), 30, "idle termination after recovery")
        term = no_new(ctl, "terminate", t1)[0]
        assert term["node"] == node and term["reason"] == "idle", term

        log = ctl.log_text()
        for mode, text in FAULT_LOG.items():
            assert text in log, f"no clear log line for fault {mode!r} (want {text!r})"
        metrics = ctl.metrics()
        assert 'raysense_controller_errors_total{source="gcs_healthz"}' in metrics
        print(f"\nfaults: holds={len(ctl.actions('hold'))} resumes={len(ctl.actions('resume'))} "
              f"launches={ctl.launch_count()} terminations={len(ctl.actions('terminate'))}")
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        ctl.stop()
        proxy.close()


def test_slow_task_list_never_blocks_scale_up(fresh_ray_cluster, bin):
    """Every /api/v0/tasks call takes 5 s (past the 1 s per-call timeout of
    the reads each tick makes): the controller still launches for the
    demand the report shows, keeps its tick short, and says the task list
    is what holds scale-down."""
    cluster = fresh_ray_cluster
    proxy = FaultProxy(cluster.dashboard_url)
    proxy.delay["/api/v0/tasks"] = 5
    ctl = Controller(bin("raysense-controller"), cluster, [f"cpu1:CPU=1,min=0,max=2,idle={IDLE_S}"],
                     dashboard_url=proxy.url,
                     extra=["--dashboard-timeout-ms", "1000", "--tasks-timeout-ms", "8000"])
    driver = None
    try:
        t0 = time.time()
        driver = background_driver(cluster, DRIVER)
        ctl.wait(lambda: no_new(ctl, "launch", t0), 40, "launch while the task list is slow")
        assert not no_new(ctl, "hold", t0), no_new(ctl, "hold", t0)
        demand = ctl.status()["demand"]
        assert "pending_list_complete" in demand, demand
        out, err = stop_driver(driver) if driver.wait(timeout=240) is not None else ("", "")
        assert ctl.launch_count() == 1, ctl.actions("launch")
        m = ctl.metrics()
        count = [float(line.split()[-1]) for line in m.splitlines()
                 if line.startswith("raysense_controller_loop_duration_seconds_count")][0]
        slow = [float(line.split()[-1]) for line in m.splitlines()
                if line.startswith('raysense_controller_loop_duration_seconds_bucket{le="1"}')][0]
        assert slow == count, f"{count - slow} of {count} ticks took more than 1 s"
        print(f"\nslow task list: launched {time.time() - t0:.1f} s after submission; "
              f"{int(count)} ticks, all <= 1 s")
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        ctl.stop()
        proxy.close()
