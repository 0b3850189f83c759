"""Stuck-group fallback (issue 11) on the REAL control plane: kube-apiserver,
etcd, kube-scheduler, the KubeRay operator and kwok (tests/k8s fixture),
raysense-controller --provider kuberay, and a fake dashboard serving
recorded Ray 2.60.0 answers (tests/k8s/fake_dashboard.py: kwok runs no Ray).

A RayCluster has two worker groups that can each hold the one pending
{CPU: 1} task, equal in Ray's scorer, so the first one (`stuck`) is
preferred.  Its pods ask for a node label no node has: the real
kube-scheduler marks them PodScheduled=False, reason Unschedulable.  The
second group's (`ok`) pods start on the regular kwok node.

What must happen, and what the tests check:
  * the controller launches on `stuck` (1 replica);
  * once the pod has been Unschedulable for the grace (10 s, the default),
    within one tick and a read of the API more, the controller records
    `fallback` with reason `unschedulable` in /api/v1/decisions, and stops
    the stuck pod (replicas 1 -> 0 naming it in workersToDelete, the same
    guarded patch as every scale-down) in the tick it launches on `ok`;
  * the operator deletes the stuck pod, `ok`'s pod runs;
  * at no moment do the two groups' replicas together exceed the one node
    the demand needs (min workers are 0): checked on every patch the
    controller sent (the replicas it set, in order) and by polling the
    RayCluster throughout.
With --signals off the same cluster is left waiting on the stuck pod (the
launch timeout is 600 s here): Unschedulable is no signal then.

The timeout path (a pod that is scheduled but never starts: a kwok node on
which kwok leaves pods Pending) is in the last test.
"""

import json
import threading
import time
import urllib.request

from k8s_testenv import wait_until
from test_kuberay_provider import (Cluster, Controller, admin_kubeconfig,  # noqa: F401
                                   logged_patches, replicas_ops, assert_patch_rules)

GRACE_S = 10            # --unschedulable-grace default
INTERVAL_S = 1          # --interval
NOWHERE = {"raysense.io/test-pool": "nowhere"}     # no node has this label


def group(name, node_selector, tolerations=()):
    """A worker group whose one worker holds {CPU: 1, memory: 2Gi}."""
    return {
        "groupName": name, "replicas": 0, "minReplicas": 0, "maxReplicas": 3,
        "rayStartParams": {},
        "template": {"spec": {
            "nodeSelector": node_selector,
            "tolerations": list(tolerations),
            "containers": [{"name": "ray-worker", "image": "rayproject/ray:2.60.0",
                            "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                          "limits": {"cpu": "1", "memory": "2Gi"}}}]}},
    }


class Run(Controller):
    """The controller (test_kuberay_provider.Controller, --interval 1) on
    Cluster c, its fake dashboard showing one pending {CPU: 1} task, and a
    watcher that polls the RayCluster every 0.1 s and keeps the largest sum
    of replicas it saw."""

    def __init__(self, bin, tmp_path, c, kubeconfig, args=()):
        self.c = c
        self.max_sum, self.samples, self.watch_errors = 0, 0, []
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        try:
            super().__init__(bin, tmp_path, c, kubeconfig, ["--interval", INTERVAL_S, *args],
                             tasks=1)
        except BaseException:
            self._stop.set()
            raise

    def _watch(self):
        while not self._stop.is_set():
            try:
                status, body = self.c.k8s.api("GET", self.c.path)
                if status == 200:
                    total = sum(g.get("replicas", 0) for g in body["spec"]["workerGroupSpecs"])
                    self.max_sum = max(self.max_sum, total)
                    self.samples += 1
            except (OSError, KeyError, ValueError) as e:
                self.watch_errors.append(repr(e))
            time.sleep(0.1)

    def replicas_history(self):
        """The replicas each group had after each patch the controller sent
        (in order; patches are guarded by a test on the replicas they were
        computed from, so each landed on exactly that base)."""
        names = [g["groupName"] for g in self.c.get()["spec"]["workerGroupSpecs"]]
        now = {n: 0 for n in names}
        sums = []
        for doc in logged_patches(self.log_path):
            index = int(doc[0]["path"].split("/")[3])
            _, target, _ = replicas_ops(doc)
            now[names[index]] = target
            sums.append(sum(now.values()))
        return sums

    def close(self):
        self._stop.set()
        self._watcher.join(5)
        super().close()


def pod_condition(pod, ctype):
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def unschedulable(pod):
    cond = pod_condition(pod, "PodScheduled")
    return cond is not None and cond.get("status") == "False" and \
        cond.get("reason") == "Unschedulable"


def live(pods):
    return {n: p for n, p in pods.items() if not p["metadata"].get("deletionTimestamp")}


def test_unschedulable_group_falls_back_with_no_extra_node(k8s, admin_kubeconfig, bin, tmp_path):
    c = Cluster(k8s, "stuck-unsched", "rc",
                [group("stuck", NOWHERE), group("ok", {"type": "kwok"})])
    run = Run(bin, tmp_path, c, admin_kubeconfig)
    try:
        # 1. The preferred group gets the launch; the scheduler cannot place it.
        wait_until("a launch on stuck", lambda: c.group("stuck").get("replicas") == 1, timeout=30)
        launched = time.monotonic()
        assert c.group("ok").get("replicas", 0) == 0
        [stuck_pod] = wait_until(
            "the stuck pod Unschedulable",
            lambda: [p for p in c.pods("stuck").values() if unschedulable(p)], timeout=30)
        name = stuck_pod["metadata"]["name"]
        cond = pod_condition(stuck_pod, "PodScheduled")
        print(f"{name}: {cond.get('message')}")
        assert not stuck_pod["spec"].get("nodeName"), stuck_pod["spec"]

        # 2. Fallback within the bound: the grace, plus one tick, one API read
        # and the scheduler's first attempt (2 s) after the launch was seen.
        bound = GRACE_S + INTERVAL_S + 2 + 2
        [fb] = wait_until("a fallback decision",
                          lambda: run.find("fallback", "unschedulable"), timeout=bound + 10,
                          interval=0.2)
        took = time.monotonic() - launched
        print(f"launch seen -> fallback decision: {took:.1f}s (grace {GRACE_S}s, bound {bound}s); "
              f"{fb['message']}")
        assert took <= bound, (took, bound)
        assert fb["type"] == "stuck" and fb["node"] == name and fb["to"] == "ok", fb
        assert fb["unschedulable_s"] >= GRACE_S and "node affinity/selector" in fb["unschedulable"], fb
        [term] = run.find("terminate", "unschedulable")
        assert term["node"] == name and term["type"] == "stuck", term

        # 3. The demand goes to ok, the stuck pod goes, workersToDelete is cleared.
        ok_pods = wait_until("ok's pod Running", lambda: c.running("ok", 1, k8s.regular_node),
                             timeout=60)
        wait_until("the stuck pod gone, workersToDelete cleared",
                   lambda: not c.pods("stuck") and
                   not c.group("stuck").get("scaleStrategy", {}).get("workersToDelete"),
                   timeout=60)
        assert c.group("stuck")["replicas"] == 0 and c.group("ok")["replicas"] == 1
        launches = run.find("launch")
        assert [d["type"] for d in launches] == ["stuck", "ok"], launches

        # 4. Ray now shows ok's node ALIVE running the task: nothing more happens
        # (stuck is backed off; the demand is met).
        [ok_name] = ok_pods
        run.set_dashboard(tasks=0, workers=[{"ip": ok_pods[ok_name]["status"]["podIP"],
                                             "node_id": "ab" * 28, "cpu": 1, "busy": True}])
        time.sleep(5)
        assert [d["type"] for d in run.find("launch")] == ["stuck", "ok"]
        assert sorted(live(c.pods("ok"))) == [ok_name] and not c.pods("stuck")

        # 5. Never more than the one node the demand needs.
        docs = logged_patches(run.log_path)
        assert_patch_rules(docs)
        history = run.replicas_history()
        print(f"replicas (stuck + ok) after each patch: {history}; polled max {run.max_sum} "
              f"over {run.samples} reads")
        assert history and max(history) <= 1, (history, docs)
        assert run.max_sum <= 1 and run.samples > 50, (run.max_sum, run.samples, run.watch_errors)
        # The scale-down names the stuck pod in the same guarded patch.
        assert any(replicas_ops(d)[2] == [name] and replicas_ops(d)[:2] == (1, 0) for d in docs), docs
        st = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{run.port}/api/v1/status", timeout=5).read())
        fusion = {g["type"]: g for g in st["fusion"]["groups"]}
        assert fusion["stuck"].get("backed_off_s", 0) > 0, fusion
    finally:
        run.close()


def test_signals_off_waits_on_the_unschedulable_pod(k8s, admin_kubeconfig, bin, tmp_path):
    """--signals off: Ray's plan exactly -- the stuck launch is left to the
    launch timeout (600 s here), nothing moves to the other group."""
    c = Cluster(k8s, "stuck-off", "rc", [group("stuck", NOWHERE), group("ok", {"type": "kwok"})])
    run = Run(bin, tmp_path, c, admin_kubeconfig, ["--signals", "off", "--launch-timeout", "600"])
    try:
        wait_until("a launch on stuck", lambda: c.group("stuck").get("replicas") == 1, timeout=30)
        wait_until("the stuck pod Unschedulable",
                   lambda: [p for p in c.pods("stuck").values() if unschedulable(p)], timeout=30)
        time.sleep(GRACE_S + 3 * INTERVAL_S + 2)
        assert not run.find("fallback") and not run.find("terminate"), run.decisions()
        assert c.group("ok").get("replicas", 0) == 0 and c.group("stuck")["replicas"] == 1
        assert [d["type"] for d in run.find("launch")] == ["stuck"]
        assert run.max_sum <= 1
    finally:
        run.close()


def limbo_node(name):
    """A Node no kubelet runs: kwok manages only nodes annotated
    kwok.x-k8s.io/node=fake, so pods the scheduler binds here stay Pending
    with PodScheduled True -- a machine that never starts."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"type": "limbo", "kubernetes.io/hostname": name}},
        "status": {"capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                   "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"}},
    }


def test_scheduled_but_never_started_falls_back_after_the_launch_timeout(
        k8s, admin_kubeconfig, bin, tmp_path):
    """The timeout path: `stall`'s pod is scheduled (onto a node nothing
    runs) but never starts, so Unschedulable never fires; after the launch
    timeout (20 s here; no startup samples yet, so the model's 3 x p95 does
    not apply) the launch is given up -- terminate reason launch_timeout,
    fallback reason timeout -- and the demand goes to `ok`, never two
    replicas for the one task."""
    node = "limbo-node"
    k8s.kubectl("create", "-f", "-", input=json.dumps(limbo_node(node)))
    timeout_s = 20
    c = Cluster(k8s, "stuck-timeout", "rc",
                [group("stall", {"type": "limbo"}, [{"operator": "Exists"}]),
                 group("ok", {"type": "kwok"})])
    run = Run(bin, tmp_path, c, admin_kubeconfig, ["--launch-timeout", str(timeout_s)])
    try:
        wait_until("a launch on stall", lambda: c.group("stall").get("replicas") == 1, timeout=30)
        launched = time.monotonic()
        [pod] = wait_until(
            "the stall pod bound to the limbo node",
            lambda: [p for p in c.pods("stall").values() if p["spec"].get("nodeName") == node],
            timeout=30)
        name = pod["metadata"]["name"]
        time.sleep(2)
        pod = c.pods("stall")[name]
        assert pod["status"].get("phase") == "Pending" and not unschedulable(pod), pod["status"]
        assert (pod_condition(pod, "PodScheduled") or {}).get("status") == "True", pod["status"]

        bound = timeout_s + INTERVAL_S + 2 + 2
        [fb] = wait_until("a fallback decision", lambda: run.find("fallback", "timeout"),
                          timeout=bound + 10, interval=0.2)
        took = time.monotonic() - launched
        print(f"launch seen -> fallback (timeout) decision: {took:.1f}s (launch timeout "
              f"{timeout_s}s, bound {bound}s); {fb['message']}")
        assert timeout_s - 2 <= took <= bound, (took, bound)
        assert fb["type"] == "stall" and fb["node"] == name, fb
        assert not run.find("fallback", "unschedulable")
        [term] = run.find("terminate", "launch_timeout")
        assert term["node"] == name, term

        wait_until("ok's pod Running", lambda: c.running("ok", 1, k8s.regular_node), timeout=60)
        # Nothing runs the limbo node, so the pod stays Terminating (no kubelet
        # confirms it); it is being deleted and no longer counted.
        wait_until("the stall pod being deleted",
                   lambda: c.pods("stall").get(name, {}).get("metadata", {})
                   .get("deletionTimestamp"), timeout=30)
        assert c.group("stall")["replicas"] == 0 and c.group("ok")["replicas"] == 1
        assert c.group("stall").get("scaleStrategy", {}).get("workersToDelete") == [name]
        assert [d["type"] for d in run.find("launch")] == ["stall", "ok"]
        docs = logged_patches(run.log_path)
        assert_patch_rules(docs)
        history = run.replicas_history()
        print(f"replicas (stall + ok) after each patch: {history}; polled max {run.max_sum}")
        assert history and max(history) <= 1, (history, docs)
        assert run.max_sum <= 1, (run.max_sum, run.watch_errors)
    finally:
        run.close()
        k8s.kubectl("delete", "pod", "-n", c.ns, "-l", "ray.io/group=stall", "--force",
                    "--grace-period=0", check=False)
        k8s.kubectl("delete", "node", node, "--wait=false", check=False)
