"""End to end: a real raysense-agent pushes to a real raysense-controller
(--dry-run, reading a real Ray head's dashboard) with a bearer token; the
controller accepts the snapshots and its /api/v1/status lists the agent's
node and the worker raylet's busy/idle workers. A wrong token is refused and
the agent counts the failures instead of crashing."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from outputs_util import (AgentProc, KILL_PINNED_ACTOR, PINNED_ACTOR, RAY_WORKLOAD, free_port, http_get,
                          parse_prom, series_sum)


class Controller:
    def __init__(self, binary, dashboard_url, token_file, tmp):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(tmp, "controller.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "--dashboard", dashboard_url, "--dry-run", "--listen", f"127.0.0.1:{self.port}",
             "--token-file", token_file, "--worker-group", "cpu:CPU=1,min=0,max=2",
             "--state-dir", os.path.join(tmp, "state")],
            stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def wait_healthy(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "controller exited:\n" + self.text()
            try:
                if http_get(self.base + "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("controller never healthy:\n" + self.text())

    def status(self):
        st, _, body = http_get(self.base + "/api/v1/status")
        assert st == 200, body[:300]
        return json.loads(body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_agent_push_reaches_controller(require_bpf, bin, ray_cluster):
    worker = ray_cluster.add_worker(num_cpus=1)
    tmp = tempfile.mkdtemp(prefix="rs-push-e2e-")
    ctl_token, agent_token = os.path.join(tmp, "ctl.token"), os.path.join(tmp, "agent.token")
    write(ctl_token, "right-token\n")
    write(agent_token, "wrong-token\n")
    controller = Controller(bin("raysense-controller"), ray_cluster.dashboard_url, ctl_token, tmp)
    agent = None
    try:
        controller.wait_healthy()
        agent = AgentProc(bin("raysense-agent"), "--controller-url",
                          f"{controller.base}/api/v1/signals", "--token-file", agent_token,
                          "--push-interval", "0.5")
        agent.wait_ready()
        # Wrong token: refused (401), retried with backoff, counted.
        deadline = time.time() + 30
        while time.time() < deadline:
            fails = series_sum(parse_prom(agent.metrics()), "raysense_agent_push_failures_total")
            if fails >= 2:
                break
            time.sleep(0.5)
        assert fails >= 2, agent.text()[-2000:]
        assert controller.status()["agents"] == []
        # Rotate the agent's token file: it re-reads it and gets through.
        write(agent_token, "right-token\n")
        ray_cluster.run_python(RAY_WORKLOAD % {"rounds": 1, "tasks": 10}, timeout=300)
        deadline = time.time() + 60
        mine = None
        while time.time() < deadline:
            agents = controller.status()["agents"]
            for a in agents:
                for w in a["workers"]:
                    if w["ray_node_id"] == worker.node_id:
                        mine = (a, w)
            if mine:
                break
            time.sleep(0.5)
        assert mine, "controller never listed the worker raylet:\n" + controller.text() + \
                     "\nagent:\n" + agent.text()[-2000:]
        a, w = mine
        assert a["node_name"] and a["seq"] >= 1 and a["age_s"] < 10
        # The pushed worker counts are the agent's own gauges for that node,
        # non-zero: a detached actor keeps a worker alive there once the
        # driver is gone. Retried while the next push catches up.
        ray_cluster.run_python(PINNED_ACTOR % {"node": worker.node_id}, timeout=120)
        try:
            deadline = time.time() + 30
            while True:
                gauges = {l["state"]: v for n, l, v in parse_prom(agent.metrics())
                          if n == "raysense_workers" and l.get("ray_node_id") == worker.node_id}
                w = next(w for a_ in controller.status()["agents"] for w in a_["workers"]
                         if w["ray_node_id"] == worker.node_id)
                pushed = (w["busy_workers"], w["idle_workers"])
                same = pushed == (gauges.get("busy"), gauges.get("idle"))
                if (same and sum(pushed) >= 1) or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert same and sum(pushed) >= 1, (pushed, gauges)
        finally:
            ray_cluster.run_python(KILL_PINNED_ACTOR, timeout=120, check=False)
        sent = series_sum(parse_prom(agent.metrics()), "raysense_agent_push_sent_total")
        assert sent >= 1
    finally:
        if agent:
            agent.stop()
        controller.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_full_push_format(require_bpf, bin, ray_cluster):
    """--push-format full: the agent pushes the whole snapshot (schema_version
    1, for controllers that read only that), valid against
    docs/snapshot-schema.json, and this controller reads it too."""
    import jsonschema
    from outputs_util import SnapshotReceiver
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "docs", "snapshot-schema.json")) as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    ray_cluster.add_worker(num_cpus=1)
    tmp = tempfile.mkdtemp(prefix="rs-push-full-")
    token = os.path.join(tmp, "token")
    write(token, "t0ken\n")
    port = free_port()
    rx = SnapshotReceiver(port, "t0ken")
    controller = Controller(bin("raysense-controller"), ray_cluster.dashboard_url, token, tmp)
    agent = None
    try:
        controller.wait_healthy()
        # One agent at a time (each attaches its own probes): first to a
        # receiver that keeps the documents, then to the controller.
        for url in (f"http://127.0.0.1:{port}/x", f"{controller.base}/api/v1/signals"):
            agent = AgentProc(bin("raysense-agent"), "--controller-url", url,
                              "--token-file", token, "--push-interval", "0.5",
                              "--push-format", "full")
            agent.wait_ready()
            if url.endswith("/x"):
                deadline = time.time() + 60
                while time.time() < deadline and rx.count() < 3:
                    time.sleep(0.5)
                log = agent.text()
                agent.stop()
                agent = None
                assert rx.count() >= 3, log[-2000:]
                for doc in rx.received[:3]:
                    assert doc["schema_version"] == 1
                    validator.validate(doc)
        deadline = time.time() + 60
        while time.time() < deadline and not controller.status()["agents"]:
            time.sleep(0.5)
        listed = controller.status()["agents"]
        assert listed and listed[0]["workers"], controller.text() + agent.text()[-2000:]
        assert "pushing full (schema_version 1)" in agent.text()
    finally:
        if agent:
            agent.stop()
        controller.stop()
        rx.stop()
        shutil.rmtree(tmp, ignore_errors=True)
