"""Rule 6 of signal fusion, the early tick, end to end on the real
controller binary: with a 30 s loop interval, an agent push (the compact
schema, over HTTP with the agents' bearer token) whose lease-latency delta
has leases that waited >= 2^27 ns (the controller's "queueing" slot) starts
the next tick within seconds (the debug log says `tick early`); a push whose
leases were all fast does not.  And the fallback when the agents go quiet:
once the only agent's data is older than --signal-max-age the controller
says once that it decides from the logical demand alone (not once per
tick), and says once that the signals are fresh when a push comes again.
Only the cluster's raylets count: leases queueing on a raylet the dashboard
does not list (another Ray cluster's, on the same host) do not wake the
loop.  The dashboard is tests/k8s/fake_dashboard.py (recorded Ray 2.60.0
answers, plus one worker whose raylet the pushes report): no Ray cluster
is needed to see the loop wake.  No root, no BPF."""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "agent"))
from outputs_util import free_port, http_get  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
INTERVAL_S = 30
NODE_ID = "ab" * 28          # a worker the fake dashboard lists
OTHER_CLUSTER_ID = "cd" * 28 # a raylet no dashboard of ours lists
TOKEN = "early-tick-token"
SLOW_SLOT = 27          # LEASE_SLOW_SLOT in controller/source/lease_report.h


def push_doc(seq, slots, node_id=NODE_ID):
    return {"schema_version": 2, "seq": seq, "taken_unix_ms": int(time.time() * 1000),
            "interval_seconds": 1, "node": {"node_name": "node-a", "hostname": "node-a"},
            "histograms": [{"family": "raysense_raylet_lease_latency_seconds",
                            "labels": {"node_id": node_id},
                            "delta": {"count": sum(slots), "slots": slots}}],
            "values": [], "workers": [], "timelines": []}


def push(base, doc):
    req = urllib.request.Request(base + "/api/v1/signals", data=json.dumps(doc).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status in (200, 202, 204), resp.status


@pytest.fixture
def start_controller(bin):
    procs = []

    def start(*extra):
        gen = run_controller(bin, extra)
        procs.append(gen)
        return next(gen)
    yield start
    for gen in procs:
        next(gen, None)


def run_controller(bin, extra):
    tmp = Path(tempfile.mkdtemp(prefix="rs-early-tick-"))
    state = tmp / "dash.json"
    state.write_text(json.dumps({"tasks": 0, "shape": {"CPU": 1.0},
                                 "workers": [{"ip": "10.244.2.1", "node_id": NODE_ID, "cpu": 1}]}))
    port_file = tmp / "dash.port"
    dash = subprocess.Popen([sys.executable, str(REPO / "tests/k8s/fake_dashboard.py"),
                             str(port_file), str(state)])
    ctl, log = None, None
    try:
        deadline = time.time() + 15
        while not (port_file.exists() and port_file.read_text()):
            assert time.time() < deadline, "fake dashboard did not start"
            time.sleep(0.1)
        (tmp / "token").write_text(TOKEN + "\n")
        port = free_port()
        log = open(tmp / "controller.log", "wb")
        ctl = subprocess.Popen(
            [bin("raysense-controller"), "--dashboard", f"http://127.0.0.1:{port_file.read_text()}",
             "--dry-run", "--listen", f"127.0.0.1:{port}", "--token-file", str(tmp / "token"),
             "--worker-group", "cpu:CPU=1,min=0,max=2", "--state-dir", str(tmp / "state"),
             "--log-level", "debug", *extra],
            stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            assert ctl.poll() is None, "controller exited:\n" + (tmp / "controller.log").read_text()
            try:
                if http_get(base + "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "controller never healthy"
            time.sleep(0.2)
        yield base, tmp / "controller.log"
    finally:
        if ctl is not None and ctl.poll() is None:
            ctl.terminate()
            try:
                ctl.wait(timeout=30)
            except subprocess.TimeoutExpired:
                ctl.kill()
                ctl.wait()
        if log is not None:
            log.close()
        dash.terminate()
        dash.wait(timeout=10)


def lines_with(log_path, text):
    return sum(text in ln for ln in log_path.read_text(errors="replace").splitlines())


def early_ticks(log_path):
    return lines_with(log_path, "tick early")


def test_queued_leases_wake_the_loop_and_fast_ones_do_not(start_controller):
    base, log_path = start_controller("--interval", str(INTERVAL_S))
    time.sleep(2)           # past the first tick; the next is INTERVAL_S away
    fast = [0] * SLOW_SLOT
    fast[20] = 5            # ~1 ms leases: nothing queued
    push(base, push_doc(1, fast))
    time.sleep(3)
    assert early_ticks(log_path) == 0, "a push without queued leases woke the loop"

    queued = [0] * (SLOW_SLOT + 1)
    queued[SLOW_SLOT] = 2   # two leases waited >= 134 ms
    push(base, push_doc(2, queued, OTHER_CLUSTER_ID))
    time.sleep(3)
    assert early_ticks(log_path) == 0, "another cluster's queueing raylet woke the loop"

    sent = time.monotonic()
    push(base, push_doc(3, queued))
    while early_ticks(log_path) == 0:
        assert time.monotonic() - sent < 5, \
            "queued leases did not start a tick early:\n" + log_path.read_text()[-3000:]
        time.sleep(0.05)
    woke = time.monotonic() - sent
    print(f"queued-lease push -> early tick after {woke:.2f} s (interval {INTERVAL_S} s)")
    assert woke < 5


def test_stale_agent_data_is_said_once(start_controller):
    base, log_path = start_controller("--interval", "0.5", "--signal-max-age", "2")
    fast = [0] * SLOW_SLOT
    fast[20] = 5
    push(base, push_doc(1, fast))
    fresh, stale = "agent signals fresh", "agent signals missing or older than"
    deadline = time.monotonic() + 5
    while lines_with(log_path, fresh) == 0:
        assert time.monotonic() < deadline, "fresh signals never said:\n" + log_path.read_text()[-3000:]
        time.sleep(0.1)
    deadline = time.monotonic() + 8
    while lines_with(log_path, stale) == 0:
        assert time.monotonic() < deadline, "stale signals never said:\n" + log_path.read_text()[-3000:]
        time.sleep(0.1)
    time.sleep(3)           # six more ticks on stale data
    assert (lines_with(log_path, fresh), lines_with(log_path, stale)) == (1, 1), \
        log_path.read_text()[-3000:]
    assert "deciding from the logical demand alone" in log_path.read_text()
    push(base, push_doc(2, fast))
    deadline = time.monotonic() + 5
    while lines_with(log_path, fresh) < 2:
        assert time.monotonic() < deadline, "fresh again never said:\n" + log_path.read_text()[-3000:]
        time.sleep(0.1)
