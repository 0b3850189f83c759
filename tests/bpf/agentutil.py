"""Helpers for the BPF tests: run raysense-agent and fake raylets, read the
agent's pinned maps with bpftool (BTF-formatted JSON) and its /metrics."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import sys
import urllib.request

# Importable from bench/ too, not only under pytest's conftest.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from promtext import metric_value, parse_prom  # noqa: E402,F401 - metric_value re-exported for the tests
from raycluster import free_port  # noqa: E402,F401 - used by the tests importing us


def prog_ids_of(pid):
    """IDs of the BPF programs a process holds, from its fds' fdinfo
    (bpftool's pid column needs a BPF iterator this kernel lacks)."""
    ids = set()
    fd_dir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids



def raylet_pid_of(node_id):
    """Pid of the raylet started with --node_id=<node_id>."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() != "raylet":
                    continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if f"--node_id={node_id}".encode() in f.read().split(b"\0"):
                    return int(d)
        except OSError:
            continue
    raise AssertionError(f"no raylet process for node {node_id}")


LEASE_METHOD = "NodeManagerService.grpc_server.RequestWorkerLease"


def ray_lease_metric(port):
    """(count, sum_ms, {le_ms: cumulative}) of Ray's own lease RPC histogram
    ray_grpc_server_req_process_time_ms{Method=LEASE_METHOD} on a node's
    metrics export port."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    count, total, buckets = 0.0, 0.0, {}
    for n, labels, v in parse_prom(body):
        if labels.get("Method") != LEASE_METHOD:
            continue
        if n == "ray_grpc_server_req_process_time_ms_count":
            count = v
        elif n == "ray_grpc_server_req_process_time_ms_sum":
            total = v
        elif n == "ray_grpc_server_req_process_time_ms_bucket":
            buckets[float(labels["le"])] = v
    return count, total, buckets


def bpftool_json(*args):
    out = subprocess.run(["bpftool", "-j", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout or "null")


def dump_map(pin_dir, name):
    """Pinned map -> list of (key, value) from bpftool's BTF 'formatted' view."""
    path = os.path.join(pin_dir, name)
    if not os.path.exists(path):
        return []
    return [(e["formatted"]["key"], e["formatted"]["value"]) for e in bpftool_json("map", "dump", "pinned", path)]


def lease_counts(pin_dir, pid):
    for k, v in dump_map(pin_dir, "rs_lease_cnt"):
        if k == pid:
            return v
    return None


def lease_hist(pin_dir, pid, phase=0):
    for k, v in dump_map(pin_dir, "rs_lease_hist"):
        if k["tgid"] == pid and k["phase"] == phase:
            return v
    return None


def runq_hist(pin_dir, pid):
    for k, v in dump_map(pin_dir, "rs_runq_hist"):
        if k == pid:
            return v
    return None


def hist_quantile_s(slots, q):
    """Quantile of a log2 histogram (slot i = [2^i, 2^(i+1)) ns), linear
    inside the slot like Prometheus' histogram_quantile; in seconds."""
    total = sum(slots)
    if total == 0:
        return None
    rank, acc = q * total, 0
    for i, c in enumerate(slots):
        if c and acc + c >= rank:
            lo, hi = (0 if i == 0 else 2 ** i), 2 ** (i + 1)
            return (lo + (hi - lo) * (rank - acc) / c) / 1e9
        acc += c
    return None


class FakeRaylet:
    """tests/bpf/targets/fake_raylet.c: prints 'ready PID', waits for 'go'."""

    def __init__(self, path, *args):
        self.proc = subprocess.Popen([path, "--node_id=" + "ab" * 28, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready "), f"fake raylet said {line!r}"
        self.pid = int(line.split()[1])

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.startswith("done "), f"fake raylet said {line!r}"
        self.lease_loop_ns = int(line.split()[1])
        # --for-ms also says how many leases ran.
        self.leases_done = int(line.split()[2]) if len(line.split()) > 2 else None
        return self.lease_loop_ns

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Agent:
    """raysense-agent with its own pin dir and HTTP port; output to a file.
    debug_labels: --debug-labels (the tests follow raylets by raylet_pid)."""

    def __init__(self, binary, pin_dir, *args, debug_labels=True):
        self.pin_dir = pin_dir
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile("w+", prefix="rs-test-agent-", suffix=".log", delete=False)
        extra = ["--debug-labels"] if debug_labels else []
        self.proc = subprocess.Popen([binary, "--pin-dir", pin_dir, "--listen", f"127.0.0.1:{self.port}",
                                      "--log-level", "debug", *extra, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log.name) as f:
            return f.read()

    def wait_log(self, pattern, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            assert self.proc.poll() is None, f"agent exited early:\n{self.text()}"
            time.sleep(0.1)
        raise AssertionError(f"agent log never matched {pattern!r}:\n{self.text()}")

    def wait_tracking(self, pid, timeout=30):
        """The log line that says the agent tracks raylet `pid`, once /metrics
        shows that raylet too (a rendering cached just before the line
        would not)."""
        deadline = time.time() + timeout
        m = self.wait_log(rf"tracking raylet pid {pid} .*?(\d+) lease probe\(s\) attached", timeout)
        series = re.compile(rf'^raysense_raylet_up{{[^}}]*raylet_pid="{pid}"', re.M)
        while True:
            try:
                if series.search(self.metrics()):
                    return m
            except OSError:   # the HTTP server is not listening yet
                pass
            assert time.time() < deadline, f"/metrics never showed raylet pid {pid}:\n{self.text()}"
            time.sleep(0.1)

    def metrics(self):
        """/metrics as of now: the agent serves one rendering for 250 ms
        (RS_AGENT_HTTP_CACHE_MS), so a scrape sooner after this object's
        last one waits out the rest of that window first."""
        wait = getattr(self, "_scraped_at", 0) + 0.26 - time.time()
        if wait > 0:
            time.sleep(wait)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
                return r.read().decode()
        finally:
            self._scraped_at = time.time()

    def prog_ids(self):
        return prog_ids_of(self.proc.pid)

    def stop(self):
        """SIGTERM; returns the exit code. The log is kept only on failure."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # Start-up can take tens of seconds on a loaded VM (the BPF
                # verifier on the lifecycle family's programs); SIGTERM lands
                # after the current family finished loading.
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"agent did not exit within 120 s of SIGTERM; log {self.log.name}")
        if self.proc.returncode == 0 and os.path.exists(self.log.name):
            os.unlink(self.log.name)
        return self.proc.returncode


def metric_hist(text, name, **labels):
    """{le: cumulative count} of a Prometheus histogram series."""
    return {float(got["le"]): v for n, got, v in parse_prom(text)
            if n == name + "_bucket" and all(got.get(k) == str(val) for k, val in labels.items())}
