"""The kuberay provider and Lease leader election against the REAL control
plane (tests/k8s fixture: kube-apiserver, etcd, the KubeRay operator, kwok
with a regular and a simulated ECI virtual-kubelet node).

What acts is tests/k8s/kuberay_driver.c: the C provider (provider_kuberay.c)
and leader election (leader.c) driven the way the control loop calls them.
The Ray side is NOT under test here: instead of Ray demand from the
dashboard, the driver reads a targets file ({"<group>": {"replicas": N,
"terminate": [pods]}}) and calls launch()/terminate() until the provider's
node list matches -- the planner and the dashboard client have their own
tests (tests/unit, tests/golden).  Everything else -- JSON Patch semantics,
409/422 answers, the operator creating and deleting pods, kwok moving them
through Pending/Running/Terminating, RBAC -- is the real thing.

Races and lost answers are made deterministic with a TLS proxy in front of
the real API server (apiproxy.py); the API-server outage test kills and
restarts the real kube-apiserver process.
"""

import copy
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apiproxy import ApiProxy
from k8s_testenv import wait_until
from promtext import metric_value
from raycluster import stop_process


def controller_argv(bin, kubeconfig, c, dashboard_url, args=()):
    """raysense-controller --provider kuberay for Cluster c, its API on a free
    port.  `--agent-auth none` (no agents push here) and `--launch-timeout
    600` (kwok pods never run Ray) unless args set them; args come last."""
    argv = [bin("raysense-controller"), "--provider", "kuberay", "--kubeconfig", str(kubeconfig),
            "--namespace", c.ns, "--raycluster", c.name, "--dashboard", dashboard_url,
            "--listen", "127.0.0.1:0"]
    for flag, default in (("--agent-auth", "none"), ("--launch-timeout", "600")):
        if not any(str(a).split("=", 1)[0] == flag for a in args):
            argv += [flag, default]
    return argv + [str(a) for a in args]


REPO = Path(__file__).resolve().parents[2]
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
GiB = 1 << 30


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def driver_bin(build_dir, tmp_path_factory):
    """Compile the driver against the project's static libraries."""
    libs = [Path(build_dir) / "libraysense_controller_core.a", Path(build_dir) / "libraysense_common.a"]
    for lib in libs:
        if not lib.exists():
            pytest.fail(f"{lib} missing: build the project first (RAYSENSE_BUILD_DIR={build_dir})")
    out = tmp_path_factory.mktemp("driver") / "kuberay_driver"
    pkg = subprocess.run(["pkg-config", "--libs", "libcjson", "libmicrohttpd", "libcurl", "zlib"],
                         capture_output=True, text=True, check=True).stdout.split()
    cmd = ["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
           f"-I{REPO}/include", f"-I{REPO}/userspace", str(REPO / "tests/k8s/kuberay_driver.c"),
           *map(str, libs), *pkg, "-lm", "-lpthread", "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def admin_kubeconfig(k8s, tmp_path_factory):
    """The admin kubeconfig in JSON form (the controller does not read YAML)."""
    path = tmp_path_factory.mktemp("kubeconfig") / "admin.json"
    path.write_text(k8s.kubectl("config", "view", "--raw", "--flatten", "-o", "json").stdout)
    return path


def logged_patches(log_path):
    """Every JSON Patch document the provider sent, from a JSON-lines log
    (the driver's or raysense-controller's)."""
    docs = []
    for line in Path(log_path).read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        msg = rec.get("msg", "")
        if msg.startswith("kuberay: PATCH group "):
            docs.append(json.loads(msg.split(": ", 2)[2]))
    return docs


class Driver:
    def __init__(self, binary, workdir, kubeconfig, ns, cluster, targets, identity,
                 elect=False, lease_args=(), interval=0.2):
        self.identity = identity
        self.status_path = workdir / f"{identity}.status.json"
        self.log_path = workdir / f"{identity}.log"
        cmd = [str(binary), "--kubeconfig", str(kubeconfig), "--namespace", ns,
               "--raycluster", cluster, "--targets", str(targets),
               "--status", str(self.status_path), "--identity", identity,
               "--interval", str(interval)]
        if elect:
            cmd += ["--leader-elect", *lease_args]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def status(self):
        try:
            return json.loads(self.status_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def counters(self):
        st = self.status() or {}
        return st.get("provider", {}).get("counters", {})

    def patches(self):
        return logged_patches(self.log_path)

    def send(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        self.send(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def alive(self):
        return self.proc.poll() is None


@pytest.fixture
def drivers(driver_bin, tmp_path):
    started = []

    def start(*args, **kwargs):
        d = Driver(driver_bin, tmp_path, *args, **kwargs)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.alive():
            d.proc.kill()
            d.proc.wait(10)


# ------------------------------------------------------------ RayClusters

CONTAINER_ECI = {"name": "ray-worker", "image": "rayproject/ray:2.60.0",
                 "resources": {"requests": {"cpu": "1500m", "memory": "4Gi"},
                               "limits": {"cpu": "2", "memory": "4Gi"}}}


def eci_group(name="eci", replicas=0, max_replicas=4, min_replicas=0):
    return {
        "groupName": name, "replicas": replicas, "minReplicas": min_replicas,
        "maxReplicas": max_replicas, "rayStartParams": {},
        "template": {
            "metadata": {"labels": {"alibabacloud.com/eci": "true"}},
            "spec": {
                # On ACK the ECI webhook steers alibabacloud.com/eci pods to the
                # virtual node; no webhook here, so a selector does it.
                "nodeSelector": {"type": "virtual-kubelet"},
                "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Equal",
                                 "value": "alibabacloud", "effect": "NoSchedule"}],
                "containers": [copy.deepcopy(CONTAINER_ECI)],
            },
        },
    }


def regular_group(name="cpu", replicas=1, max_replicas=3):
    return {
        "groupName": name, "replicas": replicas, "minReplicas": 0, "maxReplicas": max_replicas,
        "rayStartParams": {"num-cpus": "4", "resources": '"{\\"custom_x\\": 2}"'},
        "template": {"spec": {
            "nodeSelector": {"type": "kwok"},
            "containers": [{"name": "ray-worker", "image": "rayproject/ray:2.60.0",
                            "resources": {"limits": {"cpu": "8", "memory": "16Gi"}}}]}},
    }


def raycluster(ns, name, groups, spec_extra=None):
    rc = {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {"num-cpus": "0"},
                "template": {"spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0",
                                    "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}]}},
            },
            "workerGroupSpecs": groups,
        },
    }
    rc["spec"].update(spec_extra or {})
    return rc


class Cluster:
    """A namespace with one RayCluster, read through the API."""

    def __init__(self, k8s, ns, name, groups, create_ns=True, spec_extra=None):
        self.k8s, self.ns, self.name = k8s, ns, name
        if create_ns:
            k8s.kubectl("create", "namespace", ns)
        k8s.kubectl("create", "-f", "-",
                    input=json.dumps(raycluster(ns, name, groups, spec_extra)))
        self.path = f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/{name}"

    def get(self):
        status, body = self.k8s.api("GET", self.path)
        assert status == 200, body
        return body

    def group(self, name):
        for g in self.get()["spec"]["workerGroupSpecs"]:
            if g["groupName"] == name:
                return g
        raise AssertionError(f"no group {name}")

    def patch(self, ops):
        return self.k8s.api("PATCH", self.path, ops, "application/json-patch+json")

    def pods(self, group):
        items = self.k8s.get_json("pods", "-n", self.ns, "-l",
                                  f"ray.io/cluster={self.name},ray.io/group={group}")["items"]
        return {p["metadata"]["name"]: p for p in items}

    def running(self, group, n, node):
        pods = self.pods(group)
        ok = len(pods) == n and all(
            p["status"].get("phase") == "Running" and p["spec"].get("nodeName") == node
            and not p["metadata"].get("deletionTimestamp") for p in pods.values())
        return pods if ok else None


def write_targets(path, targets):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(targets))
    os.replace(tmp, path)


def replicas_ops(doc):
    """(base, target, workersToDelete or None) of one of our patches."""
    base = target = wtd = None
    for op in doc:
        if op["path"].endswith("/replicas"):
            if op["op"] == "test":
                base = op["value"]
            else:
                target = op["value"]
        if op["path"].endswith("/scaleStrategy"):
            wtd = op["value"]["workersToDelete"]
    return base, target, wtd


def assert_patch_rules(docs):
    """Every patch is guarded by a test on groupName, and never lowers
    replicas without naming victims in the same document."""
    for doc in docs:
        assert doc[0]["op"] == "test" and doc[0]["path"].endswith("/groupName"), doc
        base, target, wtd = replicas_ops(doc)
        if base is not None and target is not None and target < base:
            assert wtd, f"replicas lowered {base}->{target} without naming victims: {doc}"


# ------------------------------------------------------------------- tests

def test_scale_up_then_named_scale_down_and_clear(k8s, admin_kubeconfig, drivers, tmp_path):
    c = Cluster(k8s, "kr-scale", "rc", [eci_group(replicas=0, max_replicas=4)])
    targets = tmp_path / "targets.json"
    write_targets(targets, {"eci": {"replicas": 3}})
    d = drivers(admin_kubeconfig, c.ns, c.name, targets, "solo")

    # Scale up: the operator creates 3 pods, kwok starts them on the ECI node
    # after its start delay; meanwhile they are in-flight capacity.
    max_in_flight = 0
    deadline = time.monotonic() + 90
    while not c.running("eci", 3, k8s.eci_node):
        st = d.status()
        if st and st.get("provider", {}).get("groups"):
            max_in_flight = max(max_in_flight, st["provider"]["groups"][0]["in_flight"])
        assert time.monotonic() < deadline, "3 ECI workers never ran"
        time.sleep(0.2)
    assert c.group("eci")["replicas"] == 3
    assert max_in_flight >= 1, "pending ECI pods were never counted as in-flight capacity"

    st = wait_until("the driver to see 3 ready pods",
                    lambda: (lambda s: s if s and s["provider"]["groups"][0]["pods_running"] == 3
                             else None)(d.status()), timeout=20)
    groups = st["provider"]["groups"]
    assert [g["name"] for g in groups] == ["eci"], "the head group must never be a target"
    g = groups[0]
    assert g["eci"] is True
    # Ray's rules: no rayStartParams -> limits (cpu 2, not the 1500m request).
    assert g["node_type"] == {"CPU": 2, "memory": 4 * GiB}
    for pod in st["provider"]["pods"]:
        assert pod["eci"] and pod["pod_ip"].startswith("10.244.2."), pod
        assert pod["host_ip"] == "172.16.0.20", pod
        t = pod["startup_s"]
        # kwok's simulated ECI start delay shows between scheduling and ready.
        assert t["scheduled_to_containers_ready"] >= k8s.eci_start_delay_ms / 1000 - 1, t
        assert t["created_to_scheduled"] is not None and t["created_to_scheduled"] >= 0, t

    # Scale down: name two victims.
    pods = c.pods("eci")
    victims = sorted(pods)[:2]
    survivor = sorted(pods)[2]
    survivor_uid = pods[survivor]["metadata"]["uid"]
    write_targets(targets, {"eci": {"replicas": 1, "terminate": victims}})
    saw_named = False
    deadline = time.monotonic() + 60
    while True:
        spec = c.group("eci")
        wtd = spec.get("scaleStrategy", {}).get("workersToDelete") or []
        pods = c.pods("eci")
        assert survivor in pods and pods[survivor]["metadata"]["uid"] == survivor_uid
        assert not pods[survivor]["metadata"].get("deletionTimestamp"), "survivor is being deleted"
        if sorted(wtd) == victims:
            assert spec["replicas"] == 1
            saw_named = True
        if saw_named and not wtd:
            # cleared: only after every named pod is gone
            assert not set(victims) & set(pods), f"workersToDelete cleared early: {sorted(pods)}"
            break
        assert time.monotonic() < deadline, f"no clear within 60s: wtd={wtd} pods={sorted(pods)}"
        time.sleep(0.2)
    for _ in range(10):  # and nothing else happens
        pods = c.pods("eci")
        assert sorted(pods) == [survivor], sorted(pods)
        time.sleep(0.3)

    docs = d.patches()
    assert_patch_rules(docs)
    assert [replicas_ops(x) for x in docs] == [
        (0, 3, None), (3, 1, victims), (1, 1, [])], docs
    events = k8s.get_json("events", "-n", c.ns)["items"]
    deleted = [e.get("message", "") for e in events if e.get("reason") == "DeletedWorkerPod"]
    assert len(deleted) == 2 and all(any(v in m for v in victims) for m in deleted), deleted
    assert d.counters()["clears"] == 1


def test_concurrent_edit_is_a_clean_retry(k8s, admin_kubeconfig, drivers, tmp_path):
    """Another writer edits the RayCluster right before each of our first two
    patches: it reorders the groups (our index now names the other group) and
    then sets our group's replicas.  Both patches must fail on their `test`
    ops (422), and the retry from a fresh read must patch the right group to
    the right total."""
    c = Cluster(k8s, "kr-race", "rc", [regular_group(replicas=1), eci_group(replicas=0)])
    proxy = ApiProxy(k8s, tmp_path)
    try:
        def index_of(name):
            return [g["groupName"] for g in c.get()["spec"]["workerGroupSpecs"]].index(name)

        def reorder():
            st, body = c.patch([{"op": "move", "from": "/spec/workerGroupSpecs/1",
                                 "path": "/spec/workerGroupSpecs/0"}])
            assert st == 200, body

        def bump():
            st, body = c.patch([{"op": "replace",
                                 "path": f"/spec/workerGroupSpecs/{index_of('eci')}/replicas",
                                 "value": 1}])
            assert st == 200, body

        proxy.before_patch = [reorder, bump]
        targets = tmp_path / "targets.json"
        write_targets(targets, {"eci": {"replicas": 2}})
        d = drivers(proxy.kubeconfig(tmp_path / "proxy.json"), c.ns, c.name, targets, "racer")
        wait_until("eci scaled to 2", lambda: c.group("eci")["replicas"] == 2, timeout=60)
        wait_until("2 ECI pods running", lambda: c.running("eci", 2, k8s.eci_node), timeout=90)
        time.sleep(2)
        spec = c.get()["spec"]["workerGroupSpecs"]
        assert [g["groupName"] for g in spec] == ["eci", "cpu"]
        assert spec[0]["replicas"] == 2, "lost or doubled: the other writer's +1 counts"
        assert spec[1]["replicas"] == 1, "the other group must be untouched"
        assert len(c.pods("cpu")) == 1
        statuses = [p["status"] for p in proxy.patches]
        assert statuses == [422, 422, 200], proxy.patches
        # the successful patch addresses eci at its new index, from base 1
        ok = proxy.patches[2]["body"]
        assert ok[0] == {"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": "eci"}
        assert replicas_ops(ok) == (1, 2, None)
        assert d.counters()["conflicts"] == 2
    finally:
        proxy.close()


def test_lost_answer_and_unavailable_server_never_duplicate(k8s, admin_kubeconfig, drivers,
                                                            tmp_path):
    c = Cluster(k8s, "kr-lost", "rc", [eci_group(replicas=0, max_replicas=6)])
    proxy = ApiProxy(k8s, tmp_path)
    try:
        targets = tmp_path / "targets.json"
        # 1. The patch lands but its answer is lost (connection dropped).
        proxy.drop_after_forward = 1
        write_targets(targets, {"eci": {"replicas": 2}})
        d = drivers(proxy.kubeconfig(tmp_path / "proxy.json"), c.ns, c.name, targets, "lossy")
        wait_until("2 ECI pods running", lambda: c.running("eci", 2, k8s.eci_node), timeout=90)
        time.sleep(3)
        assert c.group("eci")["replicas"] == 2
        assert len(c.pods("eci")) == 2
        assert [(p["fault"], p["status"]) for p in proxy.patches] == [("answer-dropped", 200)]
        n = d.counters()
        assert n["unknown_outcome"] == 1 and n["unknown_landed"] == 1, n

        # 2. The server answers 503 without applying anything.
        proxy.fail_without_forward = 1
        write_targets(targets, {"eci": {"replicas": 3}})
        wait_until("3 ECI pods running", lambda: c.running("eci", 3, k8s.eci_node), timeout=90)
        time.sleep(3)
        assert c.group("eci")["replicas"] == 3
        assert len(c.pods("eci")) == 3
        assert [(p["fault"], p["status"]) for p in proxy.patches[1:]] == [
            ("503-not-forwarded", None), (None, 200)], proxy.patches
        assert [replicas_ops(p["body"]) for p in proxy.patches[1:]] == [(2, 3, None)] * 2
        n = d.counters()
        assert n["unknown_outcome"] == 2 and n["unknown_lost"] == 1, n
        assert_patch_rules([p["body"] for p in proxy.patches])
    finally:
        proxy.close()


def _restart_apiserver(k8s, down_s):
    # SIGKILL, a crash: on SIGTERM kube-apiserver drains long-running
    # requests for well over 40 s here. ctl.sh waits until it is gone and
    # relaunches it with up.sh's saved command line and pid file.
    k8s.ctl("kill", "kube-apiserver")
    time.sleep(down_s)
    k8s.ctl("start", "kube-apiserver")
    wait_until("kube-apiserver ready again", k8s.api_reachable, timeout=120)


def test_apiserver_down_during_scale_converges_without_duplicates(k8s, admin_kubeconfig,
                                                                  drivers, tmp_path):
    c = Cluster(k8s, "kr-down", "rc", [eci_group(replicas=1, max_replicas=6)])
    wait_until("1 ECI pod running", lambda: c.running("eci", 1, k8s.eci_node), timeout=90)
    targets = tmp_path / "targets.json"
    write_targets(targets, {"eci": {"replicas": 1}})
    d = drivers(admin_kubeconfig, c.ns, c.name, targets, "steady")
    wait_until("the driver's first read", lambda: d.counters().get("reads", 0) > 0, timeout=20)
    # Ask for 3 while the real kube-apiserver is stopped for 4 s.
    write_targets(targets, {"eci": {"replicas": 3}})
    _restart_apiserver(k8s, down_s=4)
    wait_until("3 ECI pods running", lambda: c.running("eci", 3, k8s.eci_node), timeout=120)
    time.sleep(4)
    assert c.group("eci")["replicas"] == 3
    assert len(c.pods("eci")) == 3
    n = d.counters()
    assert n["read_errors"] > 0, f"the driver never saw the outage: {n}"
    docs = d.patches()
    assert_patch_rules(docs)
    # at most one scale patch from 1 to 3 was accepted
    assert [replicas_ops(x) for x in docs][-1] == (1, 3, None), docs
    assert n["patches_ok"] == 1, n


def lease(k8s, ns, name):
    status, body = k8s.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}")
    return body if status == 200 else None


LEASE = ["--lease-name", "raysense-controller", "--lease-duration", "6",
         "--renew-deadline", "4", "--retry-period", "1"]


def test_leader_election_one_acts_and_handover(k8s, admin_kubeconfig, drivers, tmp_path):
    c = Cluster(k8s, "kr-leader", "rc", [eci_group(replicas=0, max_replicas=6)])
    targets = tmp_path / "targets.json"
    write_targets(targets, {"eci": {"replicas": 2}})
    a = drivers(admin_kubeconfig, c.ns, c.name, targets, "replica-a", elect=True, lease_args=LEASE)
    b = drivers(admin_kubeconfig, c.ns, c.name, targets, "replica-b", elect=True, lease_args=LEASE)

    def leaders():
        sa, sb = a.status(), b.status()
        if not sa or not sb:
            return None
        assert not (sa["leading"] and sb["leading"]), "two leaders at once"
        return [d for d, s in ((a, sa), (b, sb)) if s["leading"]] or None

    leader = wait_until("one leader", leaders, timeout=30)[0]
    follower = b if leader is a else a
    wait_until("2 ECI pods running", lambda: c.running("eci", 2, k8s.eci_node), timeout=90)
    for _ in range(10):
        leaders()
        time.sleep(0.2)
    lz = lease(k8s, c.ns, "raysense-controller")
    spec = lz["spec"]
    assert spec["holderIdentity"] == leader.identity
    assert spec["leaseDurationSeconds"] == 6
    assert MICRO_TIME.match(spec["renewTime"]) and MICRO_TIME.match(spec["acquireTime"]), spec
    transitions = spec.get("leaseTransitions", 0)
    assert "provider" not in follower.status(), "the follower must never act"
    assert [replicas_ops(x) for x in leader.patches()] == [(0, 2, None)]
    assert follower.patches() == []

    # Kill the leader without a chance to release: the follower takes over
    # once the lease expires by its own clock.
    killed_at = time.monotonic()
    leader.stop(signal.SIGKILL)
    wait_until("the follower to lead", lambda: (follower.status() or {}).get("leading"),
               timeout=20, interval=0.1)
    handover = time.monotonic() - killed_at
    print(f"leader killed -> follower leading: {handover:.2f}s (lease 6s, retry 1s)")
    assert handover <= 6 + 2 * 1 + 1.0, handover
    spec = lease(k8s, c.ns, "raysense-controller")["spec"]
    assert spec["holderIdentity"] == follower.identity
    assert spec["leaseTransitions"] == transitions + 1

    # The new leader scales from the real state: +1 is +1, not a replay.
    write_targets(targets, {"eci": {"replicas": 3}})
    wait_until("3 ECI pods running", lambda: c.running("eci", 3, k8s.eci_node), timeout=90)
    time.sleep(3)
    assert c.group("eci")["replicas"] == 3 and len(c.pods("eci")) == 3
    assert [replicas_ops(x) for x in follower.patches()] == [(2, 3, None)]

    # SIGTERM releases the lease (holder "", 1 s); a new replica takes over
    # at its first attempt instead of waiting out the 6 s lease.
    assert follower.stop(signal.SIGTERM) == 0
    spec = lease(k8s, c.ns, "raysense-controller")["spec"]
    assert spec.get("holderIdentity", "") == "" and spec["leaseDurationSeconds"] == 1, spec
    started = time.monotonic()
    c3 = drivers(admin_kubeconfig, c.ns, c.name, targets, "replica-c", elect=True,
                 lease_args=LEASE)
    wait_until("replica-c to lead", lambda: (c3.status() or {}).get("leading"), timeout=10,
               interval=0.1)
    took = time.monotonic() - started
    print(f"released lease -> new replica leading: {took:.2f}s")
    assert took < 3, took
    time.sleep(2)
    assert c3.patches() == [], "nothing to do: the state already matches"
    assert c.group("eci")["replicas"] == 3


def test_rbac_from_deploy_is_enough_and_no_more(k8s, drivers, tmp_path, driver_bin):
    """deploy/base (the deploy helper's manifests): the ServiceAccount
    raysense-system/raysense-controller and its Role in namespace `ray`.
    The rules are used verbatim; only the two namespace names are renamed so
    this test cannot collide with tests/k8s/test_deploy_manifests.py."""
    base = REPO / "deploy" / "base"
    ray_ns, sys_ns = "kr-rbac-ray", "kr-rbac-system"

    def renamed(name):
        text = (base / name).read_text()
        text = re.sub(r"namespace: raysense-system\b", f"namespace: {sys_ns}", text)
        return re.sub(r"namespace: ray\b", f"namespace: {ray_ns}", text)

    k8s.kubectl("create", "namespace", ray_ns)
    k8s.kubectl("create", "namespace", sys_ns)
    rbac = renamed("controller-rbac.yaml")
    assert "resourceNames" in rbac and ray_ns in rbac and sys_ns in rbac
    k8s.kubectl("create", "-f", "-", input=renamed("serviceaccounts.yaml"))
    k8s.kubectl("create", "-f", "-", input=rbac)
    sa = f"system:serviceaccount:{sys_ns}:raysense-controller"

    def can(*args):
        out = k8s.kubectl("auth", "can-i", *args, "--as", sa, check=False).stdout.strip()
        return out == "yes"

    allowed = [
        ("get", "rayclusters.ray.io", "-n", ray_ns), ("patch", "rayclusters.ray.io", "-n", ray_ns),
        ("list", "pods", "-n", ray_ns),
        ("create", "leases.coordination.k8s.io", "-n", ray_ns),
        ("get", "leases.coordination.k8s.io/raysense-controller", "-n", ray_ns),
        ("update", "leases.coordination.k8s.io/raysense-controller", "-n", ray_ns),
        # --agent-auth tokenreview (the default deploy) reviews agent tokens.
        ("create", "tokenreviews.authentication.k8s.io"),
    ]
    denied = [
        ("list", "rayclusters.ray.io", "-n", ray_ns), ("watch", "rayclusters.ray.io", "-n", ray_ns),
        ("get", "pods", "-n", ray_ns), ("watch", "pods", "-n", ray_ns),
        ("create", "rayclusters.ray.io", "-n", ray_ns), ("update", "rayclusters.ray.io", "-n", ray_ns),
        ("delete", "rayclusters.ray.io", "-n", ray_ns), ("patch", "rayclusters.ray.io", "--subresource=status", "-n", ray_ns),
        ("create", "pods", "-n", ray_ns), ("delete", "pods", "-n", ray_ns), ("patch", "pods", "-n", ray_ns),
        ("get", "secrets", "-n", ray_ns), ("list", "configmaps", "-n", ray_ns),
        ("get", "leases.coordination.k8s.io/other", "-n", ray_ns),
        ("delete", "leases.coordination.k8s.io/raysense-controller", "-n", ray_ns),
        ("get", "rayclusters.ray.io", "-n", "default"), ("patch", "rayclusters.ray.io", "-n", "default"),
        ("list", "pods", "-n", sys_ns), ("list", "nodes"), ("list", "pods", "-A"),
    ]
    assert [a for a in allowed if not can(*a)] == []
    assert [d for d in denied if can(*d)] == []

    # And it is enough: the controller, authenticated as that ServiceAccount
    # with a bearer token, elects itself and scales up and down.
    c = Cluster(k8s, ray_ns, "rc", [eci_group(replicas=0)], create_ns=False)
    token = k8s.kubectl("create", "token", "raysense-controller", "-n", sys_ns,
                        "--duration", "1h").stdout.strip()
    kubeconfig = tmp_path / "sa.json"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "k", "cluster": {"server": k8s.server, "certificate-authority": k8s.ca}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "k", "user": "sa", "namespace": ray_ns}}],
    }))
    targets = tmp_path / "targets.json"
    write_targets(targets, {"eci": {"replicas": 2}})
    d = drivers(kubeconfig, ray_ns, c.name, targets, "sa-driver", elect=True, lease_args=LEASE)
    pods = wait_until("2 ECI pods running", lambda: c.running("eci", 2, k8s.eci_node), timeout=90)
    assert lease(k8s, ray_ns, "raysense-controller")["spec"]["holderIdentity"] == "sa-driver"
    victim = sorted(pods)[0]
    write_targets(targets, {"eci": {"replicas": 1, "terminate": [victim]}})
    wait_until("victim gone and workersToDelete cleared",
               lambda: victim not in c.pods("eci") and
               not c.group("eci").get("scaleStrategy", {}).get("workersToDelete"), timeout=60)
    assert len(c.pods("eci")) == 1
    n = d.counters()
    assert n["errors"] == 0 and n["read_errors"] == 0, n
    log = d.log_path.read_text()
    assert "403" not in log and "forbidden" not in log.lower(), log[-2000:]


def start_fake_dashboard(port_file, state_file):
    return subprocess.Popen([os.environ.get("PYTHON", "python3"),
                             str(REPO / "tests/k8s/fake_dashboard.py"), str(port_file),
                             str(state_file)], start_new_session=True)


def test_controller_binary_leader_scales_from_recorded_demand(k8s, admin_kubeconfig, bin,
                                                              tmp_path):
    """raysense-controller itself (--provider kuberay --leader-elect), two
    replicas, fed 4 pending {CPU: 1} tasks by a fake dashboard serving
    recorded Ray 2.60.0 answers (the dashboard is not under test; Ray never
    reports the new pods' nodes, so they stay pending capacity).  One
    replica acts (0 -> 2 replicas of a CPU=2 group); SIGKILL of it hands the
    lease over after the 15 s default lease, and the new leader does not
    scale again."""
    c = Cluster(k8s, "kr-ctl", "rc", [eci_group(replicas=0, max_replicas=5)])
    port_file = tmp_path / "dash.port"
    dash_state = tmp_path / "dash.json"
    dash_state.write_text(json.dumps({"tasks": 4, "shape": {"CPU": 1.0}, "workers": []}))
    dash = start_fake_dashboard(port_file, dash_state)
    procs = {}
    try:
        wait_until("fake dashboard", lambda: port_file.exists() and port_file.read_text(),
                   timeout=10)
        cfg = tmp_path / "controller.json"
        cfg.write_text(json.dumps({"worker_groups": [
            {"name": "eci", "resources": {"CPU": 2, "memory": 4 * GiB},
             "min_workers": 0, "max_workers": 5}]}))

        def start(identity):
            log = open(tmp_path / f"{identity}.log", "w")
            procs[identity] = (subprocess.Popen(
                controller_argv(bin, admin_kubeconfig, c,
                                f"http://127.0.0.1:{port_file.read_text()}",
                                ["--leader-elect", "--identity", identity, "--config", cfg]),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log)

        def patches(identity):
            return logged_patches(tmp_path / f"{identity}.log")

        start("ctl-a")
        wait_until("ctl-a leads", lambda: (lease(k8s, c.ns, "raysense-controller") or {})
                   .get("spec", {}).get("holderIdentity") == "ctl-a", timeout=20)
        start("ctl-b")
        wait_until("2 ECI pods running", lambda: c.running("eci", 2, k8s.eci_node), timeout=90)
        time.sleep(4)
        assert c.group("eci")["replicas"] == 2
        assert len(patches("ctl-a")) == 1 and patches("ctl-b") == []

        killed = time.monotonic()
        procs["ctl-a"][0].kill()
        wait_until("ctl-b leads", lambda: (lease(k8s, c.ns, "raysense-controller") or {})
                   .get("spec", {}).get("holderIdentity") == "ctl-b", timeout=30, interval=0.2)
        handover = time.monotonic() - killed
        print(f"controller SIGKILL -> other replica leading: {handover:.2f}s (lease 15s, retry 2s)")
        assert handover <= 15 + 2 * 2 + 1.5, handover
        time.sleep(5)
        assert c.group("eci")["replicas"] == 2, "the new leader scaled again"
        assert len(c.pods("eci")) == 2
        assert patches("ctl-b") == []
    finally:
        for proc, log in procs.values():
            stop_process(proc, grace_s=15)
            log.close()
        dash.kill()
        dash.wait()
    spec = lease(k8s, c.ns, "raysense-controller")["spec"]
    assert spec.get("holderIdentity", "") == "" and spec["leaseDurationSeconds"] == 1, \
        f"SIGTERM must release the lease: {spec}"


def test_controller_binary_scale_down_names_the_idle_pod(k8s, admin_kubeconfig, bin, tmp_path):
    """raysense-controller end to end through the provider's id mapping: the
    fake dashboard (recorded answers, rewritten) first shows 4 pending
    {CPU: 1} tasks, then no demand and the two new pods as ALIVE Ray nodes
    named by their pod IPs (Ray's default node name in a pod), one busy and
    one idle.  The controller must scale 0 -> 2, then terminate only the idle
    one: one patch 2 -> 1 naming exactly that pod, the operator deletes it,
    the busy one stays, and workersToDelete is cleared."""
    c = Cluster(k8s, "kr-ctl-down", "rc", [eci_group(replicas=0, max_replicas=5)],
                spec_extra={"autoscalerOptions": {"idleTimeoutSeconds": 3}})
    port_file, dash_state = tmp_path / "dash.port", tmp_path / "dash.json"
    dash_state.write_text(json.dumps({"tasks": 4, "shape": {"CPU": 1.0}, "workers": []}))
    dash = start_fake_dashboard(port_file, dash_state)
    log_path = tmp_path / "controller.log"
    log = open(log_path, "w")
    ctl = None
    try:
        wait_until("fake dashboard", lambda: port_file.exists() and port_file.read_text(),
                   timeout=10)
        cfg = tmp_path / "controller.json"
        cfg.write_text(json.dumps({"worker_groups": [
            {"name": "eci", "resources": {"CPU": 2, "memory": 4 * GiB},
             "min_workers": 0, "max_workers": 5}]}))
        ctl = subprocess.Popen(
            controller_argv(bin, admin_kubeconfig, c, f"http://127.0.0.1:{port_file.read_text()}",
                            ["--config", cfg, "--cooldown", "0.01"]),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        pods = wait_until("2 ECI pods running", lambda: c.running("eci", 2, k8s.eci_node),
                          timeout=90)
        idle, busy = sorted(pods)
        busy_uid = pods[busy]["metadata"]["uid"]
        workers = [{"ip": pods[name]["status"]["podIP"], "node_id": f"{i + 1:02d}" * 28,
                    "cpu": 2, "busy": name == busy} for i, name in enumerate((idle, busy))]
        dash_state.write_text(json.dumps({"tasks": 0, "workers": workers}))
        wait_until("the idle pod gone and workersToDelete cleared",
                   lambda: idle not in c.pods("eci") and
                   not c.group("eci").get("scaleStrategy", {}).get("workersToDelete"),
                   timeout=60)
        # Ray would now show that node DEAD; drop it from the fake dashboard.
        dash_state.write_text(json.dumps({"tasks": 0, "workers": workers[1:]}))
        time.sleep(4)
        # The provider's view through the controller's API: ECI mark and the
        # API-side startup timeline up to "Ray node ALIVE".
        port = re.search(r"API on 127\.0\.0\.1:(\d+)", log_path.read_text()).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=5) as r:
            pst = json.loads(r.read())["provider_status"]
        assert pst["groups"][0]["eci"] is True and pst["groups"][0]["workers_to_delete"] == []
        [pod] = pst["pods"]
        assert pod["name"] == busy and pod["eci"], pod
        t = pod["startup_s"]
        assert t["scheduled_to_containers_ready"] >= k8s.eci_start_delay_ms / 1000 - 1, t
        assert t["containers_ready_to_ray_alive"] is not None and \
            t["containers_ready_to_ray_alive"] >= 0, t
        assert t["created_to_ray_alive"] >= t["scheduled_to_containers_ready"], t
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert metric_value(metrics, "raysense_kuberay_patches_total", outcome="ok") == 3, \
            metrics[-3000:]
        for phase in ("scheduled_to_containers_ready", "containers_ready_to_ray_alive"):
            assert metric_value(metrics, "raysense_kuberay_pod_startup_seconds_count",
                                phase=phase, eci="true") == 2, metrics[-3000:]
        pods = c.pods("eci")
        assert sorted(pods) == [busy] and pods[busy]["metadata"]["uid"] == busy_uid
        assert not pods[busy]["metadata"].get("deletionTimestamp")
        assert c.group("eci")["replicas"] == 1
        docs = logged_patches(log_path)
        assert_patch_rules(docs)
        assert [replicas_ops(x) for x in docs] == [(0, 2, None), (2, 1, [idle]), (1, 1, [])], docs
    finally:
        if ctl:
            stop_process(ctl, grace_s=15)
        log.close()
        dash.kill()
        dash.wait()


# ------------------------------------- worker groups from the RayCluster

class Controller:
    """raysense-controller --provider kuberay against Cluster c, fed by a fake
    dashboard (recorded Ray answers; `tasks` pending {CPU: 1} tasks), its
    HTTP API on a free port."""

    def __init__(self, bin, tmp_path, c, kubeconfig, args=(), tasks=4):
        self.c = c
        self.port_file, self.dash_state = tmp_path / "dash.port", tmp_path / "dash.json"
        self.set_dashboard(tasks)
        self.dash = start_fake_dashboard(self.port_file, self.dash_state)
        self.log_path = tmp_path / "controller.log"
        self.log = open(self.log_path, "w")
        wait_until("fake dashboard", lambda: self.port_file.exists() and self.port_file.read_text(),
                   timeout=10)
        self.proc = subprocess.Popen(
            controller_argv(bin, kubeconfig, c, f"http://127.0.0.1:{self.port_file.read_text()}",
                            args),
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.port = wait_until("controller API", lambda: re.search(
            r"API on 127\.0\.0\.1:(\d+)", self.log_path.read_text()), timeout=10).group(1)

    def set_dashboard(self, tasks, workers=()):
        tmp = self.dash_state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tasks": tasks, "shape": {"CPU": 1.0},
                                   "workers": list(workers)}))
        tmp.replace(self.dash_state)

    def decisions(self):
        return json.loads(self.get("/api/v1/decisions")[1])

    def find(self, action, reason=None, type_=None):
        return [d for d in self.decisions() if d.get("action") == action and
                (reason is None or d.get("reason") == reason) and
                (type_ is None or d.get("type") == type_)]

    def get(self, path):
        """(HTTP status, body text)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def status(self):
        return json.loads(self.get("/api/v1/status")[1])

    def node_type(self, name):
        types = {t["name"]: t for t in self.status().get("node_types", [])}
        return types.get(name)

    def close(self):
        stop_process(self.proc, grace_s=15)
        self.log.close()
        self.dash.kill()
        self.dash.wait()


def test_controller_takes_its_groups_from_the_raycluster(k8s, admin_kubeconfig, bin, tmp_path):
    """No controller.json, no --worker-group: the controller reads the worker
    group from the RayCluster as Ray's KubeRay integration does (CPU 2 and
    memory 4Gi from the container limits, max = maxReplicas) and scales it
    for 4 pending {CPU: 1} tasks -- to 1, its maxReplicas.  Raising
    maxReplicas to 3 in the RayCluster changes the plan within a tick
    (1 -> 2 replicas, no restart); a group added in front (no maxReplicas:
    KubeRay's default 2^31-1, clamped to the planner's 100000 and said once)
    shows up as a node type and goes again when removed, and the launch
    counter of the eci group survives those group-set changes."""
    c = Cluster(k8s, "kr-groups", "rc", [eci_group(replicas=0, max_replicas=1)])
    ctl = Controller(bin, tmp_path, c, admin_kubeconfig, ["--interval", "1"])
    try:
        wait_until("1 replica (maxReplicas 1)", lambda: c.group("eci").get("replicas") == 1,
                   timeout=30)
        t = ctl.node_type("eci")
        assert t["resources"] == {"CPU": 2, "memory": 4 * GiB}, t
        assert (t["min_workers"], t["max_workers"], t["idle_timeout_s"]) == (0, 1, 60), t
        time.sleep(3)
        assert c.group("eci")["replicas"] == 1
        assert "at maxReplicas" not in ctl.log_path.read_text(), "planned past maxReplicas"

        status, body = c.patch([{"op": "replace", "path": "/spec/workerGroupSpecs/0/maxReplicas",
                                 "value": 3}])
        assert status == 200, body
        changed = time.monotonic()
        wait_until("max 3 in the plan", lambda: ctl.node_type("eci")["max_workers"] == 3,
                   timeout=10, interval=0.1)
        seen = time.monotonic() - changed
        wait_until("2 replicas", lambda: c.group("eci").get("replicas") == 2, timeout=10,
                   interval=0.1)
        scaled = time.monotonic() - changed
        print(f"maxReplicas 1 -> 3: in the plan after {seen:.2f}s, replicas 2 after "
              f"{scaled:.2f}s (interval 1s)")
        assert seen <= 2.5 and scaled <= 3.5, (seen, scaled)
        docs = logged_patches(ctl.log_path)
        assert_patch_rules(docs)
        assert [replicas_ops(x) for x in docs] == [(0, 1, None), (1, 2, None)], docs

        # In front: eci moves to index 1 and back, its counters follow its name.
        # No maxReplicas: the CRD's default 2^31-1 is clamped, said once.
        cpu = regular_group("cpu", replicas=0)
        del cpu["maxReplicas"]
        status, body = c.patch([{"op": "add", "path": "/spec/workerGroupSpecs/0", "value": cpu}])
        assert status == 200, body
        t = wait_until("group cpu offered", lambda: ctl.node_type("cpu"), timeout=10)
        assert t["resources"] == {"CPU": 4, "custom_x": 2, "memory": 16 * GiB}, t
        assert t["max_workers"] == 100000 and c.group("cpu")["maxReplicas"] == 2**31 - 1, t
        time.sleep(2)
        clamped = [ln for ln in ctl.log_path.read_text().splitlines()
                   if "maxReplicas 2147483647 x numOfHosts 1 = 2147483647 is clamped" in ln]
        assert len(clamped) == 1, clamped
        _, metrics = ctl.get("/metrics")
        assert metric_value(metrics, "raysense_controller_launches_total", type="eci") == 2, \
            metrics[:3000]
        status, body = c.patch([{"op": "test", "path": "/spec/workerGroupSpecs/0/groupName",
                                 "value": "cpu"},
                                {"op": "remove", "path": "/spec/workerGroupSpecs/0"}])
        assert status == 200, body
        wait_until("group cpu gone", lambda: ctl.node_type("cpu") is None, timeout=10)
        _, metrics = ctl.get("/metrics")
        assert metric_value(metrics, "raysense_controller_launches_total", type="eci") == 2, \
            metrics[:3000]
        assert c.group("eci")["replicas"] == 2
    finally:
        ctl.close()


def test_controller_never_fights_the_in_tree_autoscaler(k8s, admin_kubeconfig, bin, tmp_path):
    """enableInTreeAutoscaling: true means Ray's own autoscaler scales the
    RayCluster: the controller (empty controller.json) never patches it,
    and says why -- once in its log, in /readyz (503), /api/v1/status
    (holding, other_autoscaler), raysensectl status and the
    raysense_controller_other_autoscaler metric.  Set to false, it acts."""
    c = Cluster(k8s, "kr-intree", "rc", [eci_group(replicas=0, max_replicas=5)],
                spec_extra={"enableInTreeAutoscaling": True})
    cfg = tmp_path / "controller.json"
    cfg.write_text(json.dumps({"worker_groups": []}))
    ctl = Controller(bin, tmp_path, c, admin_kubeconfig,
                     ["--interval", "0.5", "--config", str(cfg)])
    try:
        wait_until("not ready", lambda: "enableInTreeAutoscaling" in ctl.get("/readyz")[1],
                   timeout=15)
        assert ctl.get("/readyz")[0] == 503
        time.sleep(5)
        st = ctl.status()
        assert "enableInTreeAutoscaling: true" in st["holding"] and st["other_autoscaler"], st
        _, metrics = ctl.get("/metrics")
        assert metric_value(metrics, "raysense_controller_other_autoscaler") == 1
        out = subprocess.run([bin("raysensectl"), "status", "--url",
                              f"http://127.0.0.1:{ctl.port}"], capture_output=True, text=True,
                             timeout=10)
        assert "HOLDING" in out.stdout and "enableInTreeAutoscaling" in out.stdout, out
        assert logged_patches(ctl.log_path) == []
        assert c.group("eci")["replicas"] == 0
        log = ctl.log_path.read_text()
        said = [ln for ln in log.splitlines() if "hold: not acting: RayCluster" in ln]
        assert len(said) == 1, log[-3000:]

        status, body = c.patch([{"op": "replace", "path": "/spec/enableInTreeAutoscaling",
                                 "value": False}])
        assert status == 200, body
        wait_until("2 replicas once handed over", lambda: c.group("eci").get("replicas") == 2,
                   timeout=20)
        wait_until("ready", lambda: ctl.get("/readyz")[0] == 200, timeout=10)
        _, metrics = ctl.get("/metrics")
        assert metric_value(metrics, "raysense_controller_other_autoscaler") == 0
        assert "resume: the provider lets the controller act again" in ctl.log_path.read_text()
    finally:
        ctl.close()


def test_ignore_in_tree_autoscaler_flag_acts_anyway(k8s, admin_kubeconfig, bin, tmp_path):
    """--ignore-in-tree-autoscaler (tests only): the controller scales a
    RayCluster with enableInTreeAutoscaling: true, and does not hold."""
    c = Cluster(k8s, "kr-intree-ignored", "rc", [eci_group(replicas=0, max_replicas=5)],
                spec_extra={"enableInTreeAutoscaling": True})
    ctl = Controller(bin, tmp_path, c, admin_kubeconfig,
                     ["--interval", "0.5", "--ignore-in-tree-autoscaler"])
    try:
        wait_until("2 replicas", lambda: c.group("eci").get("replicas") == 2, timeout=20)
        _, metrics = ctl.get("/metrics")
        assert metric_value(metrics, "raysense_controller_other_autoscaler") == 0
        assert "not acting" not in ctl.log_path.read_text()
    finally:
        ctl.close()
