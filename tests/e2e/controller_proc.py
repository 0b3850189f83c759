"""controller_proc.py -- run a real raysense-controller (local provider)
against a real Ray cluster from tests/raycluster.py, and read its API.

The controller launches real `ray start --block` worker raylets; it is run
with --stop-nodes-on-exit so that stop() leaves no worker behind, and each
node gets its own short Ray temp dir under a per-test root."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raycluster import RAY_BIN, free_port, ray_env  # noqa: E402


class Controller:
    def __init__(self, binary, cluster, groups, dashboard_url=None, extra=(), wait_ready=True):
        self.cluster = cluster
        self.dir = tempfile.mkdtemp(prefix="rs-ctl-", dir="/tmp")
        self.node_tmp = tempfile.mkdtemp(prefix="rsn-", dir="/tmp")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.dir, "controller.log")
        args = [binary,
                "--dashboard", dashboard_url or cluster.dashboard_url,
                "--ray-address", cluster.address,
                "--ray-bin", RAY_BIN,
                "--ray-start-arg=--node-ip-address=127.0.0.1",
                "--state-dir", os.path.join(self.dir, "state"),
                "--node-temp-root", self.node_tmp,
                "--listen", f"127.0.0.1:{self.port}",
                "--stop-nodes-on-exit", "--stop-grace", "10",
                "--log-level", "debug"]
        for g in groups:
            args += ["--worker-group", g]
        args += list(extra)
        if not any(a.split("=", 1)[0] in ("--agent-auth", "--token-file") for a in args):
            args += ["--agent-auth", "none"]    # local test Ray: no Kubernetes to ask
        self.args = args
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=ray_env(),
                                     start_new_session=True)
        log.close()
        if wait_ready:
            try:
                self.wait(lambda: self._ready(), 60, "controller ready")
            except BaseException:
                self.stop()
                raise

    # -- API
    def get(self, path, timeout=5):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return r.status, r.read()

    def get_status_code(self, path):
        try:
            return self.get(path)[0]
        except urllib.error.HTTPError as e:
            return e.code

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("controller exited:\n" + self.log_tail())
        try:
            return self.get_status_code("/readyz") == 200
        except (urllib.error.URLError, OSError):
            return False

    def status(self):
        return json.loads(self.get("/api/v1/status")[1])

    def decisions(self):
        return json.loads(self.get("/api/v1/decisions")[1])

    def actions(self, action):
        return [d for d in self.decisions() if d.get("action") == action]

    # One launch decision per worker group per tick: "count" nodes, the
    # first of whose ids are in "nodes" (none in --dry-run).
    def launched_nodes(self):
        return [n for d in self.actions("launch") for n in d.get("nodes", [])]

    def launch_count(self):
        return sum(d["count"] for d in self.actions("launch"))

    def metrics(self):
        return self.get("/metrics")[1].decode()

    def log_tail(self, n=8000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait(self, pred, timeout, what, poll=0.5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                v = pred()
            except (urllib.error.URLError, ConnectionError) as e:  # API not up yet
                if isinstance(e, urllib.error.HTTPError):
                    raise
                v = None
            if v:
                return v
            time.sleep(poll)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n"
                             f"--- controller log tail ---\n{self.log_tail()}")

    def ray_node_of(self, provider_id):
        for n in self.cluster.nodes():
            if n.get("node_name") == provider_id and n.get("state") == "ALIVE":
                return n
        return None

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # Whatever the controller could not stop: kill by the provider's
        # per-node temp root, which only our nodes use.
        out = subprocess.run(["ps", "-eww", "-o", "pid=,pgid=,args="], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            pid, pgid, cmd = line.split(None, 2)
            if self.node_tmp in cmd and "ps -eo" not in cmd:
                try:
                    os.killpg(int(pgid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.node_tmp, ignore_errors=True)


def background_driver(cluster, code):
    """A driver that keeps running (its pending work stays demand)."""
    env = ray_env()
    env["RAY_ADDRESS"] = cluster.address
    return subprocess.Popen([os.path.join(os.path.dirname(RAY_BIN), "python"), "-c", code],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cluster.tmp, start_new_session=True)


def stop_driver(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.stdout.read(), p.stderr.read()
