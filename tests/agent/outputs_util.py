"""Helpers for the agent-output tests: run raysense-agent on its own pin dir
and port, fetch its endpoints, parse the Prometheus text, read RSS, and a tiny
snapshot-receiving HTTP server that stands in for the controller's intake."""
import gzip
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from promtext import parse_prom  # noqa: F401 - re-exported for the tests
from raycluster import free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def http_get(url, headers=None, timeout=10):
    """(status, headers, raw body) without urllib's automatic decoding."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class AgentProc:
    """raysense-agent with a private pin dir and port; always stopped."""

    def __init__(self, binary, *args):
        self.pin_dir = "/sys/fs/bpf/rs-outputs-%d-%d" % (os.getpid(), free_port())
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="rs-agent-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [binary, "--pin-dir", self.pin_dir, "--listen", f"127.0.0.1:{self.port}", *args],
            stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log.name) as f:
            return f.read()

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            assert self.proc.poll() is None, f"agent exited early:\n{self.text()}"
            try:
                last = http_get(self.base + "/readyz", timeout=2)
                if last[0] == 200:
                    return
            except OSError as e:
                last = e
            time.sleep(0.2)
        raise AssertionError(f"agent never ready ({last}):\n{self.text()[-4000:]}")

    def metrics(self):
        status, _, body = http_get(self.base + "/metrics")
        assert status == 200, body[:500]
        return body.decode()

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.pin_dir, ignore_errors=True)
        os.unlink(self.log.name)


PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    """Debian's real Prometheus on a free loopback port, its own storage
    under tmp, scraping {job: port on 127.0.0.1} every second."""

    def __init__(self, tmp, targets):
        assert os.access(PROMETHEUS, os.X_OK), "Debian's prometheus package is not installed"
        port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        jobs = "".join(f"""
  - job_name: {job}
    static_configs:
      - targets: ["127.0.0.1:{p}"]
""" for job, p in targets.items())
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:" + jobs)
        self.log_path = os.path.join(tmp, "prometheus.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-3000:]

    def _wait_ready(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if http_get(self.base + "/-/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError("prometheus never ready:\n" + self.log())

    def query(self, promql):
        """The result list of an instant query at now."""
        status, _, body = http_get(self.base + "/api/v1/query?" +
                                   urllib.parse.urlencode({"query": promql}))
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", f"{promql}: {body[:500]}"
        return doc["data"]["result"]

    def target_health(self):
        targets = json.loads(http_get(self.base + "/api/v1/targets")[2])["data"]["activeTargets"]
        return sorted(t["health"] for t in targets)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def series_sum(samples, name, **match):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == str(want) for k, want in match.items()))


class SnapshotReceiver:
    """Stand-in for the controller's snapshot intake: checks the bearer token,
    gunzips, parses JSON, and keeps what it got. `delay_s` makes it slow."""

    def __init__(self, port, token, delay_s=0.0):
        self.token = token
        self.delay_s = delay_s
        self.received = []
        self.rejected = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    with outer.lock:
                        outer.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                assert self.headers.get("Content-Encoding") == "gzip"
                doc = json.loads(gzip.decompress(body))
                with outer.lock:
                    outer.received.append(doc)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self):
        with self.lock:
            return len(self.received)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


RAY_WORKLOAD = """
import ray
ray.init()
@ray.remote(num_cpus=0.25)
def f(i):
    return i
for _ in range(%(rounds)d):
    assert sum(ray.get([f.remote(i) for i in range(%(tasks)d)])) == sum(range(%(tasks)d))
print("ok")
"""


# A detached actor pinned to one node: keeps a worker process alive there
# after the driver exits (a job's other workers die with it).
PINNED_ACTOR = """
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(namespace="raysense-test")
@ray.remote(num_cpus=0)
class Stay:
    def ping(self):
        return "pong"
node = NodeAffinitySchedulingStrategy("%(node)s", soft=False)
a = Stay.options(name="stay", lifetime="detached", scheduling_strategy=node).remote()
assert ray.get(a.ping.remote()) == "pong"
"""

KILL_PINNED_ACTOR = """
import ray
ray.init(namespace="raysense-test")
ray.kill(ray.get_actor("stay"))
"""
