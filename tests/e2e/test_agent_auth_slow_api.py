"""test_agent_auth_slow_api.py -- --agent-auth tokenreview against an API
server that does not answer (issue 16): a TokenReview call must not hold the
controller's HTTP threads for long, and pushes must not pile up behind it.

A stand-in API server (HTTPS on loopback, self-signed, reached through a JSON
kubeconfig with insecure-skip-tls-verify) accepts connections and never
answers POST /apis/authentication.k8s.io/v1/tokenreviews.  The real
raysense-controller (--token-review-timeout-ms 1000) gets 8 concurrent
pushes with 8 different tokens: at most 2 reviews run at once (each given up
after ~1 s: 503, review_failed), the others are answered 503 at once
(review_busy) or, queued behind a busy HTTP thread, after one timeout at
most; nothing is cached; /healthz on the probe listener keeps answering.  No
Ray and no Kubernetes needed.
"""
import json
import re
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from raycluster import free_port


class Silent(BaseHTTPRequestHandler):
    hold = threading.Event()
    starts = []     # time.monotonic() of each TokenReview POST

    def do_GET(self):  # the pod list: an empty PodList
        body = b'{"kind":"PodList","items":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # a TokenReview: never answered
        Silent.starts.append(time.monotonic())
        Silent.hold.wait(30)

    def log_message(self, *args):
        pass


@pytest.fixture
def silent_api(tmp_path):
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    kc = tmp_path / "kubeconfig.json"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{srv.server_port}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "controller-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u",
                                               "namespace": "ray"}}]}))
    yield kc
    Silent.hold.set()
    srv.shutdown()
    Silent.hold.clear()


def push(port, token, out, i):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/signals", data=b"{}",
                                 method="POST")
    req.add_header("Authorization", f"Bearer {token}")
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            out[i] = (r.status, {}, time.monotonic() - t0)
    except urllib.error.HTTPError as e:
        out[i] = (e.code, json.loads(e.read() or b"{}"), time.monotonic() - t0)


def test_slow_api_server_bounds_reviews(bin, tmp_path, silent_api):
    port = free_port()
    log_path = tmp_path / "controller.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [bin("raysense-controller"), "--dry-run", "--worker-group", "cpu:CPU=1,max=1",
             "--dashboard", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "state"),
             "--listen", f"127.0.0.1:{port}", "--agent-auth", "tokenreview",
             "--kubeconfig", str(silent_api), "--token-review-timeout-ms", "1000"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and "controller up" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.1)
        probe = int(re.search(r"probes on (\d+)", log_path.read_text()).group(1))
        out = [None] * 8
        threads = [threading.Thread(target=push, args=(port, f"token-{i}", out, i))
                   for i in range(8)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{probe}/healthz", timeout=2) as r:
            assert r.status == 200
        for t in threads:
            t.join(30)
        took = time.monotonic() - t0
        assert all(o and o[0] == 503 for o in out), out
        failed = [o for o in out if "cannot review" in o[1]["error"]]
        busy = [o for o in out if "busy" in o[1]["error"]]
        assert len(failed) + len(busy) == 8, out
        # At most 2 reviews at once: none can end before its 1 s timeout, so
        # every review that began within the first 0.9 s ran concurrently.
        assert 1 <= len([t for t in Silent.starts if t - t0 < 0.9]) <= 2, Silent.starts
        # The requests libmicrohttpd hands to the two free HTTP threads are
        # told "busy" at once (how many depends on which thread accepts which).
        assert len(busy) >= 2 and sum(o[2] < 0.5 for o in busy) >= 2, out
        # No push waits long.  Each libmicrohttpd pool thread accepts on its
        # own, so one thread may hold three of the eight pushes; each that
        # finds a review slot free waits out its 1 s timeout in turn.  Only
        # four reviews can fail (two slots, freed at 1 s and 2 s), so three
        # in a row on one thread is the worst case: about 3 s.
        assert all(o[2] < 3.5 for o in out), out
        assert took < 6.0, (took, out)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            m = r.read().decode()
        assert re.search(r'refused_total\{reason="review_busy"\} [1-9]', m), m
        assert re.search(r'token_reviews_total\{result="error"\} [1-4]\n', m), m
        # Nothing was cached: an API server that did not answer is no verdict.
        assert "raysense_controller_token_review_cache_entries 0" in m
    finally:
        proc.terminate()
        proc.wait(timeout=15)
