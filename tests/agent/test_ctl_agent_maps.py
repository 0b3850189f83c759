"""raysensectl agent / maps: bad usage (exit 2), an unreachable or lying
agent (exit 1 with a clear message, nothing half-printed), a well-formed
answer summarized, --families, and (as root) `maps` decoding a live agent's
pins into rows that validate against docs/metrics-json.schema.json."""
import http.server
import json
import os
import subprocess
import threading

import jsonschema
import pytest

from outputs_util import REPO, RAY_WORKLOAD, AgentProc, free_port

ROW = {"time": "2026-11-27T07:34:07.969Z", "time_ms": 1795764847969, "node": "n1",
       "type": "histogram", "metric": "raysense_raylet_lease_latency_seconds",
       "labels": {"raylet_pid": "42"}, "count": 3, "sum_seconds": 0.003,
       "mean_seconds": 0.001, "p50_seconds": 0.0009, "p90_seconds": 0.0015, "p99_seconds": 0.002,
       "buckets": [], "sum_ns": 3000000, "slots": [0] * 40}


class FakeAgent:
    """Serves canned /readyz and /metrics.json answers."""

    def __init__(self, metrics_status, metrics_body, ready_status=200):
        outer = self
        self.metrics = (metrics_status, metrics_body)
        self.ready = ready_status

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/readyz":
                    status, body = outer.ready, b'{"status":"x"}'
                elif self.path == "/metrics.json":
                    status, body = outer.metrics
                else:
                    status, body = 404, b"{}"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def ctl(bin, *args):
    return subprocess.run([bin("raysensectl"), *args], capture_output=True, text=True, timeout=30)


def test_usage_errors(bin):
    for args in (["agent", "--url", "ftp://x"], ["agent", "--timeout", "0"], ["agent", "extra"],
                 ["maps", "--dir", ""], ["maps", "--bogus"]):
        p = ctl(bin, *args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert p.stderr.strip(), args


def test_agent_unreachable(bin):
    p = ctl(bin, "agent", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2000")
    assert p.returncode == 1 and "GET http://127.0.0.1:" in p.stderr and p.stdout == ""


@pytest.mark.parametrize("status,body,expect", [
    (200, b"not json", "not valid JSON"),
    (200, b'{"rows": []}', "unexpected shape"),
    (200, b'[{"type": 1, "metric": "x"}]', "unexpected shape"),
    (200, b"[1, 2]", "unexpected shape"),
    (200, json.dumps([ROW])[:-5].encode(), "not valid JSON"),
    (503, b'{"error": "no raysense maps pinned"}', "HTTP 503"),
])
def test_agent_bad_answers(bin, status, body, expect):
    fake = FakeAgent(status, body)
    try:
        p = ctl(bin, "agent", "--url", fake.url)
    finally:
        fake.close()
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert expect in p.stderr, p.stderr
    assert "Latency histograms" not in p.stdout


def test_agent_summary_and_json(bin):
    rows = [ROW, {**ROW, "type": "workers", "metric": "raysense_workers", "raylet_pid": 42,
                  "ray_node_id": "abc", "busy_workers": 2, "idle_workers": 1,
                  "seconds_since_busy": None}]
    fake = FakeAgent(200, json.dumps(rows).encode(), ready_status=503)
    try:
        p = ctl(bin, "agent", "--url", fake.url + "/")
        j = ctl(bin, "-j", "agent", "--url", fake.url)
    finally:
        fake.close()
    assert p.returncode == 0, p.stderr
    assert "NOT ready" in p.stdout
    assert "raysense_raylet_lease_latency_seconds{raylet_pid=42}" in p.stdout
    assert "900.0 us" in p.stdout and "2.00 ms" in p.stdout
    assert "raylet 42 node abc: 2 busy, 1 idle, never seen busy" in p.stdout
    doc = json.loads(j.stdout)
    assert doc["ready"] is False and doc["rows"] == rows


def test_maps_without_pins(bin, tmp_path):
    p = ctl(bin, "maps", "--dir", str(tmp_path / "nothing"))
    assert p.returncode == 1 and "no raysense maps pinned" in p.stderr


def test_maps_families(bin):
    p = ctl(bin, "maps", "--families")
    names = [line.split()[0] for line in p.stdout.splitlines()]
    assert p.returncode == 0 and len(names) == len(set(names))
    assert "raysense_raylet_lease_latency_seconds" in names
    assert "raysense_agent_push_dropped_total" in names
    j = json.loads(ctl(bin, "-j", "maps", "--families").stdout)
    assert {f["type"] for f in j} <= {"histogram", "counter", "gauge"}


def test_maps_decodes_live_pins(require_bpf, bin, ray_cluster):
    worker = ray_cluster.add_worker(num_cpus=1)
    agent = AgentProc(bin("raysense-agent"), "--lease-probes", "all")  # every lease seen, not sampled
    try:
        agent.wait_ready()
        ray_cluster.run_python(RAY_WORKLOAD % {"rounds": 1, "tasks": 20}, timeout=300)
        agent.proc.terminate()
        agent.proc.wait(timeout=30)
        # The agent is gone; its pins remain and raysensectl decodes them.
        p = ctl(bin, "-j", "maps", "--dir", agent.pin_dir)
        assert p.returncode == 0, p.stderr
        rows = json.loads(p.stdout)
        with open(os.path.join(REPO, "docs", "metrics-json.schema.json")) as f:
            jsonschema.Draft202012Validator(json.load(f)).validate(rows)
        mine = [r for r in rows if r["metric"] == "raysense_raylet_lease_latency_seconds"
                and r["labels"].get("node_id") == worker.node_id]
        assert mine and mine[0]["count"] > 0
        text = ctl(bin, "maps", "--dir", agent.pin_dir)
        assert text.returncode == 0 and worker.node_id in text.stdout
    finally:
        agent.stop()


@pytest.mark.parametrize("args,expect", [
    (["--listen", "nope"], "bad --listen"),
    (["--listen", "1.2.3.4:99999"], "bad --listen"),
    (["--listen", "localhost:9640"], "numeric"),
    (["--controller-url", "ftp://x"], "bad --controller-url"),
    (["--push-interval", "0"], "bad --push-interval"),
    (["--push-interval", "1e9"], "bad --push-interval"),
    (["--token-file", ""], "--token-file"),
])
def test_agent_output_flags_rejected(bin, args, expect):
    p = subprocess.run([bin("raysense-agent"), *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and expect in p.stderr, (p.returncode, p.stderr)


def test_agent_help_lists_output_flags(bin):
    out = subprocess.run([bin("raysense-agent"), "--help"], capture_output=True, text=True).stdout
    for flag in ("--listen", "--controller-url", "--token-file", "--push-interval", "9640"):
        assert flag in out
