"""test_agent_auth.py -- who may speak for a node (issue 16), on the real
control plane (kube-apiserver of tools/k8s-testenv, kwok nodes).

Two pods of one ServiceAccount run on the two kwok nodes; each stands for the
raysense agent of its node and pushes with a pod-bound token
(`kubectl create token --audience raysense --bound-object-kind Pod`).  A fake
dashboard (recorded Ray answers) reports one Ray node per pod, at the pod's
IP, so the controller can map Ray node -> IP -> pod -> node.  The real
raysense-controller (--agent-auth tokenreview, the admin kubeconfig) must:
accept an agent's report about the raylet on its own node; refuse (403) a
report about the other node's raylet and one naming the other node, leaving
that node's entry as it was; refuse (401) an unbound, wrong-audience, garbage
or missing token.  With --agent-auth none the same cross-node report is
accepted, and the controller says so loudly.

The snapshots follow docs/snapshot-schema.json (schema_version 1) with a
worker row and a lease-latency histogram per raylet, the two places a
snapshot names raylets (bench/agent_load rewrites the same fields); the
cross-node refusals are checked on the compact push (docs/push-schema.json,
schema_version 2, what the agent sends by default) too.
"""

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from k8s_testenv import wait_until

REPO = Path(__file__).resolve().parents[2]
NS = "agent-auth"
SA = "raysense-agent"
ID_A = "a" * 56
ID_B = "b" * 56


def snapshot(node_name, ray_node_id, busy, seq=1):
    now_ms = int(time.time() * 1000)
    hist = {"count": 3, "sum_ns": 3.0e6, "slots": [0] * 20 + [3]}
    return {
        "schema_version": 1, "agent_version": "test", "seq": seq, "taken_unix_ms": now_ms,
        "interval_seconds": 1, "push_dropped_total": 0,
        "node": {"node_name": node_name, "hostname": node_name},
        "histograms": [{"family": "raysense_raylet_lease_latency_seconds",
                        "labels": {"node_id": ray_node_id, "raylet_pid": "4242"},
                        "total": hist, "delta": hist}],
        "values": [],
        "workers": [{"raylet_pid": 4242, "ray_node_id": ray_node_id, "busy_workers": busy,
                     "idle_workers": 0, "seconds_since_busy": 0}],
        "timelines": [],
    }


def compact(doc):
    """The compact push the agent makes of a full snapshot
    (userspace/agent/push_compact.c, docs/push-schema.json)."""
    hists = [{"family": h["family"], "labels": {"node_id": h["labels"]["node_id"]},
              "delta": {"count": h["delta"]["count"], "slots": h["delta"]["slots"]}}
             for h in doc["histograms"]]
    keep = ("seq", "taken_unix_ms", "interval_seconds", "node", "workers", "values", "timelines")
    return dict({k: doc[k] for k in keep}, schema_version=2, histograms=hists)


def push(port, token, doc):
    """(HTTP status, parsed body)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/signals",
                                 data=json.dumps(doc).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read().decode()


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    return None


def agents(port, settle=1.5):
    """The agents in /api/v1/status, after `settle` s (the status is rebuilt
    once per control-loop tick, every second)."""
    time.sleep(settle)
    return {a["node_name"]: a for a in json.loads(get(port, "/api/v1/status"))["agents"]}


@pytest.fixture(scope="module")
def kubeconfig(k8s, tmp_path_factory):
    path = tmp_path_factory.mktemp("kubeconfig") / "admin.json"
    path.write_text(k8s.kubectl("config", "view", "--raw", "--flatten", "-o", "json").stdout)
    return path


def pod_manifest(name, node):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "fake-agent"}},
            "spec": {"serviceAccountName": SA, "nodeName": node,
                     "automountServiceAccountToken": False,
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "c", "image": "fake"}]}}


@pytest.fixture(scope="module")
def world(k8s):
    """The namespace, the ServiceAccount, one pod per kwok node (with IPs)."""
    k8s.kubectl("create", "namespace", NS)
    k8s.kubectl("-n", NS, "create", "serviceaccount", SA)
    pods = {"pod-a": k8s.regular_node, "pod-b": k8s.eci_node}
    for name, node in pods.items():
        k8s.kubectl("apply", "-f", "-", input=json.dumps(pod_manifest(name, node)))

    def ips():
        got = {p["metadata"]["name"]: p["status"].get("podIP")
               for p in k8s.get_json("-n", NS, "pods")["items"]}
        return got if all(got.get(n) for n in pods) else None
    ip = wait_until("pod IPs", ips, timeout=90)
    yield {"ip": ip, "node": pods}
    k8s.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def token(k8s, pod=None, audience="raysense"):
    args = ["-n", NS, "create", "token", SA, "--audience", audience, "--duration", "10m"]
    if pod:
        args += ["--bound-object-kind", "Pod", "--bound-object-name", pod]
    return k8s.kubectl(*args).stdout.strip()


class Ctl:
    def __init__(self, bin, tmp_path, kubeconfig, world, auth_args):
        state = tmp_path / "dash.json"
        state.write_text(json.dumps({"tasks": 0, "workers": [
            {"ip": world["ip"]["pod-a"], "node_id": ID_A, "cpu": 2},
            {"ip": world["ip"]["pod-b"], "node_id": ID_B, "cpu": 2}]}))
        port_file = tmp_path / "dash.port"
        self.dash = subprocess.Popen(["python3", str(REPO / "tests/k8s/fake_dashboard.py"),
                                      str(port_file), str(state)], start_new_session=True)
        wait_until("fake dashboard", lambda: port_file.exists() and port_file.read_text(),
                   timeout=10)
        self.log_path = tmp_path / "controller.log"
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [bin("raysense-controller"), "--dry-run", "--provider", "local",
             "--state-dir", str(tmp_path / "state"), "--worker-group", "cpu:CPU=2,min=0,max=4",
             "--dashboard", f"http://127.0.0.1:{port_file.read_text()}",
             "--listen", "127.0.0.1:0", "--log-level", "debug", *auth_args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.port = wait_until("controller API", lambda: self.api_port(), timeout=20)

    def api_port(self):
        if self.proc.poll() is not None:
            raise AssertionError("controller exited:\n" + self.log())
        m = re.search(r"API on 127\.0\.0\.1:(\d+)", self.log())
        return m and int(m.group(1))

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        for p in (self.proc, self.dash):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def test_pod_bound_token_names_its_node(k8s, world):
    """The fact the binding rests on (Kubernetes >= 1.32, here the real
    kube-apiserver): a TokenReview of a pod-bound token carries the pod's
    node in user.extra; an unbound token carries none."""
    def review(tok):
        st, body = k8s.api("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                           {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                            "spec": {"token": tok, "audiences": ["raysense"]}})
        assert st == 201, body
        return body["status"]
    bound = review(token(k8s, "pod-a"))
    assert bound["authenticated"] and bound["audiences"] == ["raysense"], bound
    assert bound["user"]["extra"]["authentication.kubernetes.io/node-name"] == \
        [world["node"]["pod-a"]], bound
    assert bound["user"]["username"] == f"system:serviceaccount:{NS}:{SA}"
    unbound = review(token(k8s))
    assert unbound["authenticated"]
    assert "authentication.kubernetes.io/node-name" not in unbound["user"].get("extra", {})


def test_agent_cannot_speak_for_another_node(k8s, world, bin, tmp_path, kubeconfig):
    node_a, node_b = world["node"]["pod-a"], world["node"]["pod-b"]
    tok_a, tok_b = token(k8s, "pod-a"), token(k8s, "pod-b")
    ctl = Ctl(bin, tmp_path, kubeconfig, world,
              ["--agent-auth", "tokenreview", "--kubeconfig", str(kubeconfig),
               "--namespace", NS, "--agent-pod-selector", "app=fake-agent"])
    try:
        # Until the controller has listed the pods and read the dashboard, a
        # raylet's node is unknown: accepted reports keep nothing about it.
        def own_report_kept():
            st, body = push(ctl.port, tok_a, snapshot(node_a, ID_A, busy=1))
            assert st == 202, (st, body, ctl.log()[-3000:])
            ws = agents(ctl.port, settle=0).get(node_a, {}).get("workers", [])
            return [w for w in ws if w["ray_node_id"] == ID_A]
        kept = wait_until("agent A's report about its own raylet kept", own_report_kept,
                          timeout=30)
        assert kept[0]["busy_workers"] == 1
        st, _ = push(ctl.port, tok_b, snapshot(node_b, ID_B, busy=0))
        assert st == 202
        before_b = agents(ctl.port)[node_b]["workers"]
        assert before_b[0]["ray_node_id"] == ID_B and before_b[0]["busy_workers"] == 0

        # A speaks about B's raylet under its own name: 403, nothing kept.
        st, body = push(ctl.port, tok_a, snapshot(node_a, ID_B, busy=5, seq=2))
        assert st == 403 and f"runs on node {node_b}" in body["error"], (st, body)
        assert [w["ray_node_id"] for w in agents(ctl.port)[node_a]["workers"]] == [ID_A]
        # A names itself B (to replace B's entry): 403; B's entry unchanged.
        st, body = push(ctl.port, tok_a, snapshot(node_b, ID_B, busy=5, seq=3))
        assert st == 403 and "not this agent's node" in body["error"], (st, body)
        assert agents(ctl.port)[node_b]["workers"] == before_b
        # The same two in the compact push: the same answers.
        st, body = push(ctl.port, tok_a, compact(snapshot(node_a, ID_B, busy=5, seq=4)))
        assert st == 403 and f"runs on node {node_b}" in body["error"], (st, body)
        st, body = push(ctl.port, tok_a, compact(snapshot(node_b, ID_B, busy=5, seq=5)))
        assert st == 403 and "not this agent's node" in body["error"], (st, body)
        assert agents(ctl.port)[node_b]["workers"] == before_b
        st, body = push(ctl.port, tok_a, compact(snapshot(node_a, ID_A, busy=2, seq=6)))
        assert st == 202, (st, body)
        assert [(w["ray_node_id"], w["busy_workers"])
                for w in agents(ctl.port)[node_a]["workers"]] == [(ID_A, 2)]

        # Tokens that do not authenticate an agent on a node: 401.
        bad = {"unbound": token(k8s), "wrong_audience": token(k8s, "pod-a", audience="other"),
               "garbage": "not-a-token", "missing": None}
        for what, tok in bad.items():
            st, body = push(ctl.port, tok, snapshot(node_a, ID_A, busy=1))
            assert st == 401, (what, st, body)

        m = get(ctl.port, "/metrics")
        assert metric(m, "raysense_controller_agent_auth", mode="tokenreview") == 1
        assert metric(m, "raysense_controller_agent_auth", mode="none") == 0
        # kube-apiserver itself answers "not authenticated" for a token of
        # another audience (spec.audiences), so it counts as unauthenticated,
        # with the garbage token; wrong_audience is for an authenticator that
        # ignores spec.audiences and says so in status.audiences.
        refused = {r: metric(m, "raysense_controller_agent_reports_refused_total", reason=r)
                   for r in ("raylet_elsewhere", "node_name", "not_node_bound",
                             "unauthenticated", "missing_token")}
        assert all(v >= 1 for v in refused.values()), refused
        assert refused["unauthenticated"] >= 2, refused
        # One review per token, not per push (the cache).
        assert metric(m, "raysense_controller_token_review_cache_hits_total") >= 3
        log = ctl.log()
        assert "refused an agent report (raylet_elsewhere)" in log
        assert "SECURITY WARNING" not in log
    finally:
        ctl.stop()


def test_agent_auth_none_accepts_anyone_and_says_so(k8s, world, bin, tmp_path, kubeconfig):
    node_a = world["node"]["pod-a"]
    ctl = Ctl(bin, tmp_path, kubeconfig, world, ["--agent-auth", "none"])
    try:
        st, body = push(ctl.port, None, snapshot(node_a, ID_B, busy=5))
        assert st == 202, body
        assert agents(ctl.port)[node_a]["workers"][0]["ray_node_id"] == ID_B
        m = get(ctl.port, "/metrics")
        assert metric(m, "raysense_controller_agent_auth", mode="none") == 1
        assert ctl.log().count("SECURITY WARNING: --agent-auth none") == 1
    finally:
        ctl.stop()
