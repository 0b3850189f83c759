"""test_http_hostile.py -- the real raysense-controller's and raysense-agent's
HTTP servers under hostile or many clients (issue 16), on loopback only.

- controller: --dry-run against a dashboard URL nobody listens on (no Ray
  needed), API on 127.0.0.1:P, so its probe listener on P+1; default limits
  (32 connections per address, 5 s per request).
- agent: the real binary on the real kernel (root and BTF, else a loud
  skip), --listen 127.0.0.1:P --probe-listen 127.0.0.1:Q and
  --http-request-deadline-ms 3000 (the flag, and a shorter run).

While each bounded attack runs on the main port (300 slowloris connections
sending headers one byte a second, 2,000 silent connections, a chunked body
trickled every 0.5 s, oversized and garbled requests), /healthz on the probe
listener must answer 200 within 1 s every time. The per-request deadline must
close every slowloris connection and cut the trickle with a 408. On the
controller, the bearer token of POST /api/v1/signals is checked on the
headers, before any body byte is read. The test process raises its own
RLIMIT_NOFILE soft limit (to 8192 at most) for the 2,000-connection flood.
The /healthz latency figures are printed at the end of each server's run.

    RAYSENSE_BUILD_DIR=build .venv/bin/python -m pytest tests/e2e/test_http_hostile.py -q -s
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import http_attack as atk  # noqa: E402
from conftest import bpf_unavailable_reason  # noqa: E402
from raycluster import free_port, free_port_range  # noqa: E402

HOST = "127.0.0.1"
TOKEN = "hostile-test-token"


def wait_probe(proc, port, log_path):
    end = time.monotonic() + 60
    while atk.http_get(HOST, port, "/healthz", timeout=1)[0] != 200:
        assert proc.poll() is None, open(log_path).read()[-3000:]
        assert time.monotonic() < end, "no probe listener:\n" + open(log_path).read()[-3000:]
        time.sleep(0.1)


def run_server(args, tmp):
    log_path = os.path.join(tmp, "server.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, log_path


def stop_server(srv):
    srv["proc"].terminate()
    try:
        srv["proc"].wait(timeout=30)
    except subprocess.TimeoutExpired:
        srv["proc"].kill()
        srv["proc"].wait()
    print(f"\n{srv['name']}: /healthz on the probe listener under attack:")
    for k, v in srv["figures"].items():
        print(f"  {k:20s} {v}")


def start_controller(bin, tmp):
    port = free_port_range(2)
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write(TOKEN + "\n")
    proc, log_path = run_server(
        [bin("raysense-controller"), "--dry-run",
         "--dashboard", f"http://{HOST}:{free_port()}",  # nobody listens there
         "--worker-group", "cpu:CPU=1,min=0,max=2",
         "--state-dir", os.path.join(tmp, "state"),
         "--listen", f"{HOST}:{port}", "--token-file", token], tmp)
    return {"name": "controller", "proc": proc, "log": log_path, "port": port, "probe": port + 1,
            "deadline": 5.0, "figures": {},
            # a body-taking route, with what it needs to get past the token check
            "trickle": ("POST", "/api/v1/signals", f"Authorization: Bearer {TOKEN}\r\n")}


def start_agent(bin, tmp):
    reason = bpf_unavailable_reason()
    if reason:
        sys.stderr.write(f"\n*** SKIPPING BPF TEST: {reason} ***\n")
        pytest.skip(f"BPF unavailable: {reason}")
    port, probe = free_port(), free_port()
    pin_dir = f"/sys/fs/bpf/rs-http-hostile-{os.getpid()}-{port}"
    proc, log_path = run_server(
        [bin("raysense-agent"), "--pin-dir", pin_dir, "--listen", f"{HOST}:{port}",
         "--probe-listen", f"{HOST}:{probe}", "--http-request-deadline-ms", "3000"], tmp)
    return {"name": "agent", "proc": proc, "log": log_path, "port": port, "probe": probe,
            "deadline": 3.0, "figures": {}, "pin_dir": pin_dir,
            # every agent route is a GET; a chunked GET body is read (and capped)
            "trickle": ("GET", "/metrics", "")}


@pytest.fixture(scope="module", params=["controller", "agent"])
def server(request, bin):
    atk.raise_fd_limit()
    tmp = tempfile.mkdtemp(prefix="rs-http-hostile-")
    srv = (start_controller if request.param == "controller" else start_agent)(bin, tmp)
    try:
        wait_probe(srv["proc"], srv["probe"], srv["log"])
        yield srv
    finally:
        stop_server(srv)
        if "pin_dir" in srv:
            subprocess.run(["rm", "-rf", srv["pin_dir"]], check=False)


def alive(srv):
    assert srv["proc"].poll() is None, open(srv["log"]).read()[-3000:]
    status, _ = atk.http_get(HOST, srv["port"], "/healthz", timeout=3)
    assert status == 200, "the main port does not recover after the attack"


def attacked(srv, name, attack):
    """Run attack() while probing; assert every probe answered within 1 s."""
    with atk.Prober(HOST, srv["probe"]) as p:
        out = attack()
    srv["figures"][name] = p.summary()
    p.assert_healthy(f"{srv['name']}: {name}")
    alive(srv)
    return out


def test_probe_listener_serves_only_probes(server):
    assert atk.http_get(HOST, server["probe"], "/readyz")[0] in (200, 503)
    assert atk.http_get(HOST, server["probe"], "/metrics")[0] == 404
    assert atk.http_get(HOST, server["port"], "/healthz")[0] == 200


def test_slowloris_300(server):
    # Longer than the deadline: every connection must be closed by then.
    closed = attacked(server, "slowloris-300", lambda: atk.slowloris(
        HOST, server["port"], n=300, seconds=server["deadline"] + 1.5))
    assert closed == 300, f"only {closed} of 300 slowloris connections were closed by the server"


def test_flood_2000(server):
    opened = attacked(server, "flood-2000", lambda: atk.flood(HOST, server["port"], n=2000,
                                                                seconds=5))
    assert opened >= 1900, f"the flood opened only {opened} connections"


def test_chunked_trickle_is_cut_at_the_deadline(server):
    method, path, headers = server["trickle"]
    deadline = server["deadline"]
    took, got = attacked(server, "chunked-trickle", lambda: atk.chunked_trickle(
        HOST, server["port"], path, seconds=deadline + 5, every=0.5, headers=headers,
        method=method))
    assert took is not None, "the trickled body was never cut off"
    assert deadline - 0.5 <= took <= deadline + 1.0, f"cut after {took:.2f}s"
    assert got.startswith(b"HTTP/1.1 408"), got[:200]


def test_stalled_headers_are_closed_at_the_deadline(server):
    t0 = time.monotonic()
    with socket.create_connection((HOST, server["port"]), timeout=server["deadline"] + 5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        assert s.recv(100) == b""
    took = time.monotonic() - t0
    assert server["deadline"] - 0.5 <= took <= server["deadline"] + 1.0, f"closed after {took:.2f}s"


def test_oversized_and_garbled(server):
    t0 = time.monotonic()
    method, path, _ = server["trickle"]
    answers = attacked(server, "oversized+garbled", lambda: atk.oversized_and_garbled(
        HOST, server["port"], seconds=2, body_target=f"{method} {path}"))
    took = time.monotonic() - t0
    assert took < 10, f"{len(answers)} bad requests took {took:.1f}s"
    codes = {a.split(b" ")[1] for a in answers if a.startswith(b"HTTP/1.")}
    assert codes <= {b"400", b"404", b"413", b"414", b"431", b"505"}, answers
    # The declared 100 MB body is refused on its headers.
    assert b"413" in codes, answers


def test_signals_token_is_checked_before_the_body(server):
    """Controller: a wrong or missing token with a (declared) 1 MB gzip body
    gets 401 at once, the server neither waiting for, reading nor inflating a
    body byte. The agent has no body-taking route: POST is 405 on the headers."""
    status = b"401" if server["name"] == "controller" else b"405"
    for auth in ("", "Authorization: Bearer wrong\r\n"):
        t0 = time.monotonic()
        with socket.create_connection((HOST, server["port"]), timeout=5) as s:
            s.sendall((f"POST {server['trickle'][1]} HTTP/1.1\r\nHost: x\r\n{auth}"
                       "Content-Encoding: gzip\r\nContent-Length: 1000000\r\n\r\n").encode())
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
        assert time.monotonic() - t0 < 1.0
    if server["name"] != "controller":
        return
    # The right token still reads the body: a corrupt one is refused after.
    with socket.create_connection((HOST, server["port"]), timeout=5) as s:
        s.sendall((f"POST /api/v1/signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                   "Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope").encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 400")
