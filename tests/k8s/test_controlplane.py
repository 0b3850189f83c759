"""Smoke test of the local control plane against the real KubeRay operator.

A RayCluster with a num-cpus=0 head and an ECI worker group is created; the
operator creates the pods, the scheduler binds them (head to the regular kwok
node, workers to the simulated ECI virtual node) and kwok runs them. Then one
JSON Patch lowers replicas and names the victim in workersToDelete, guarded by
a `test` op on groupName, and we check through the API that the operator
deletes exactly that pod, and that it leaves workersToDelete in place
(reference doc §1.2: the operator never clears the list).

Further tests check other operator facts from the reference doc (scale-down
without names, Terminating pods still counted) and what issue 7 needs from the
control plane (DaemonSet placement away from the virtual node, RBAC denial).
"""

import json
import time

from k8s_testenv import wait_until

CLUSTER = "rc-smoke"
NAMESPACE = "smoke"
GROUP = "eci"


def make_raycluster(name, namespace, replicas):
    """A RayCluster like the production one: num-cpus=0 head, one ECI group."""
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {"num-cpus": "0"},
                "template": {"spec": {"containers": [{
                    "name": "ray-head",
                    "image": "rayproject/ray:2.60.0",
                    "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                  "limits": {"cpu": "1", "memory": "2Gi"}},
                }]}},
            },
            "workerGroupSpecs": [{
                "groupName": GROUP,
                "replicas": replicas,
                "minReplicas": 0,
                "maxReplicas": 10,
                "rayStartParams": {},
                "template": {
                    "metadata": {"labels": {"alibabacloud.com/eci": "true"}},
                    "spec": {
                        # On ACK the ECI webhook steers pods labelled
                        # alibabacloud.com/eci to the virtual node; that webhook
                        # does not exist here, so the selector does it.
                        "nodeSelector": {"type": "virtual-kubelet"},
                        "tolerations": [{"key": "virtual-kubelet.io/provider",
                                         "operator": "Equal", "value": "alibabacloud",
                                         "effect": "NoSchedule"}],
                        "containers": [{
                            "name": "ray-worker",
                            "image": "rayproject/ray:2.60.0",
                            "resources": {"requests": {"cpu": "2", "memory": "4Gi"},
                                          "limits": {"cpu": "2", "memory": "4Gi"}},
                        }],
                    },
                },
            }],
        },
    }


def ray_pods(k8s, node_type, cluster=CLUSTER, namespace=NAMESPACE):
    items = k8s.get_json("pods", "-n", namespace, "-l",
                         f"ray.io/cluster={cluster},ray.io/node-type={node_type}")["items"]
    return {p["metadata"]["name"]: p for p in items}


def running_on(pods, node):
    return all(p["status"].get("phase") == "Running" and p["spec"].get("nodeName") == node
               for p in pods.values())


def raycluster(k8s):
    status, body = k8s.api("GET", f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayclusters/{CLUSTER}")
    assert status == 200, body
    return body


def condition_time(pod, ctype):
    for c in pod["status"].get("conditions", []):
        if c["type"] == ctype:
            return c["lastTransitionTime"]
    raise AssertionError(f"pod {pod['metadata']['name']} has no {ctype} condition")


def rfc3339_seconds(ts):
    return time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


def test_raycluster_scale_down_deletes_exactly_the_named_eci_pod(k8s):
    k8s.kubectl("create", "namespace", NAMESPACE)
    k8s.kubectl("create", "-f", "-", input=json.dumps(make_raycluster(CLUSTER, NAMESPACE, 2)))

    # The operator creates head + 2 workers; kwok runs them on the right nodes.
    heads = wait_until("the head pod Running on the regular node",
                       lambda: (lambda p: p if len(p) == 1 and running_on(p, k8s.regular_node) else None)(
                           ray_pods(k8s, "head")), timeout=120)
    workers = wait_until("2 worker pods Running on the ECI node",
                         lambda: (lambda p: p if len(p) == 2 and running_on(p, k8s.eci_node) else None)(
                             ray_pods(k8s, "worker")), timeout=120)
    assert len(heads) == 1
    # Reference doc §1.3: names, labels and ownership the provider relies on.
    head_name = next(iter(heads))
    assert head_name.startswith(f"{CLUSTER}-head-"), head_name
    assert heads[head_name]["metadata"]["labels"]["ray.io/group"] == "headgroup"
    cluster_uid = raycluster(k8s)["metadata"]["uid"]
    for pod in list(workers.values()) + list(heads.values()):
        owners = [o for o in pod["metadata"].get("ownerReferences", []) if o.get("controller")]
        assert [(o["kind"], o["uid"]) for o in owners] == [("RayCluster", cluster_uid)], owners
        labels = pod["metadata"]["labels"]
        assert labels["ray.io/cluster"] == CLUSTER
        assert labels["ray.io/is-ray-node"] == "yes"
        assert labels["app.kubernetes.io/created-by"] == "kuberay-operator"
    for pod in workers.values():
        labels = pod["metadata"]["labels"]
        assert pod["metadata"]["name"].startswith(f"{CLUSTER}-{GROUP}-worker-"), pod["metadata"]["name"]
        assert labels["alibabacloud.com/eci"] == "true"
        assert labels["ray.io/group"] == GROUP
        assert labels["ray.io/node-type"] == "worker"
        assert labels["ray.io/identifier"] == f"{CLUSTER}-worker"
        assert "ray.io/worker-group-replica-index" in labels, labels
        assert pod["status"].get("hostIP") == k8s.eci_node_ip, pod["status"].get("hostIP")
        assert pod["status"].get("podIP"), f"kwok gave {pod['metadata']['name']} no pod IP"
        # The simulated ECI start delay shows between scheduling and readiness.
        started = rfc3339_seconds(condition_time(pod, "Ready")) - \
            rfc3339_seconds(condition_time(pod, "PodScheduled"))
        assert started >= k8s.eci_start_delay_ms // 1000 - 1, \
            f"ECI pod became Ready {started}s after scheduling, delay is {k8s.eci_start_delay_ms}ms"

    victim, survivor = sorted(workers)
    survivor_uid = workers[survivor]["metadata"]["uid"]
    path = f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayclusters/{CLUSTER}"

    # A `test` op on the wrong groupName must reject the whole patch (422) and
    # change nothing.
    bad = [{"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": "not-" + GROUP},
           {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 0}]
    status, body = k8s.api("PATCH", path, bad, "application/json-patch+json")
    assert status == 422, (status, body)
    assert raycluster(k8s)["spec"]["workerGroupSpecs"][0]["replicas"] == 2

    # One patch: guard, lower replicas, name the victim.
    patch = [{"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": GROUP},
             {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 1},
             {"op": "replace", "path": "/spec/workerGroupSpecs/0/scaleStrategy",
              "value": {"workersToDelete": [victim]}}]
    status, body = k8s.api("PATCH", path, patch, "application/json-patch+json")
    assert status == 200, (status, body)
    generation = body["metadata"]["generation"]

    # The victim goes (Terminating for the ECI delete delay, then gone) ...
    seen_terminating = False
    deadline = time.monotonic() + 60
    while True:
        pods = ray_pods(k8s, "worker")
        assert survivor in pods, f"operator deleted the survivor {survivor}; pods now {sorted(pods)}"
        assert pods[survivor]["metadata"]["uid"] == survivor_uid
        assert pods[survivor]["metadata"].get("deletionTimestamp") is None, \
            f"operator is deleting the survivor {survivor}"
        if victim in pods:
            seen_terminating |= pods[victim]["metadata"].get("deletionTimestamp") is not None
        else:
            break
        assert time.monotonic() < deadline, f"victim {victim} still exists after 60s"
        time.sleep(0.2)
    assert seen_terminating or k8s.eci_delete_delay_ms == 0, \
        "the victim never showed a deletionTimestamp despite the ECI delete delay"

    # ... and nothing else happens: no replacement, no second deletion.
    wait_until("the operator to observe the patched generation",
               lambda: raycluster(k8s).get("status", {}).get("observedGeneration", 0) >= generation,
               timeout=60)
    for _ in range(10):
        pods = ray_pods(k8s, "worker")
        assert sorted(pods) == [survivor], f"worker pods changed to {sorted(pods)}"
        assert pods[survivor]["metadata"]["uid"] == survivor_uid
        time.sleep(0.5)
    assert len(ray_pods(k8s, "head")) == 1

    # Reference doc §1.2: the operator never clears workersToDelete itself.
    group = raycluster(k8s)["spec"]["workerGroupSpecs"][0]
    assert group["replicas"] == 1
    assert group.get("scaleStrategy", {}).get("workersToDelete") == [victim], group

    events = k8s.get_json("events", "-n", NAMESPACE)["items"]
    deleted = [e for e in events if e.get("reason") == "DeletedWorkerPod"]
    assert all(victim in e.get("message", "") for e in deleted), \
        [e.get("message") for e in deleted]


def start_cluster(k8s, name, namespace, replicas):
    """Create a RayCluster and wait until its workers run on the ECI node."""
    k8s.kubectl("create", "namespace", namespace)
    k8s.kubectl("create", "-f", "-", input=json.dumps(make_raycluster(name, namespace, replicas)))
    return wait_until(
        f"{replicas} worker pods of {name} Running on the ECI node",
        lambda: (lambda p: p if len(p) == replicas and running_on(p, k8s.eci_node) else None)(
            ray_pods(k8s, "worker", name, namespace)), timeout=120)


def test_lowering_replicas_without_names_lets_the_operator_pick_the_victim(k8s):
    """Reference doc §1.2 step 9: with in-tree autoscaling off, lowering
    replicas alone makes the operator delete pods of its own choosing. This is
    why raysense must always name the victims."""
    name, namespace = "rc-unnamed", "unnamed"
    before = start_cluster(k8s, name, namespace, 3)
    patch = [{"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": GROUP},
             {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 2}]
    status, body = k8s.api("PATCH", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{name}",
                           patch, "application/json-patch+json")
    assert status == 200, (status, body)
    after = wait_until("the operator to delete one unnamed worker",
                       lambda: (lambda p: p if len(p) == 2 else None)(
                           {n: q for n, q in ray_pods(k8s, "worker", name, namespace).items()
                            if q["metadata"].get("deletionTimestamp") is None}), timeout=60)
    gone = sorted(set(before) - set(after))
    assert len(gone) == 1 and set(after) <= set(before), (sorted(before), sorted(after))
    print(f"operator picked {gone[0]} out of {sorted(before)}")


def test_terminating_worker_still_counts_until_it_is_gone(k8s):
    """Reference doc §1.2 step 9 / §7: a Terminating pod still counts toward
    the group, so the operator creates the replacement only once the old pod
    object is gone (here: after the simulated ECI delete delay)."""
    assert k8s.eci_delete_delay_ms >= 2000, "needs an ECI delete delay to observe Terminating"
    name, namespace = "rc-terminating", "terminating"
    before = start_cluster(k8s, name, namespace, 2)
    victim = sorted(before)[0]
    k8s.kubectl("delete", "pod", "-n", namespace, victim, "--wait=false")

    saw_terminating = False
    deadline = time.monotonic() + 60
    while True:
        pods = ray_pods(k8s, "worker", name, namespace)
        new = set(pods) - set(before)
        if victim in pods:
            saw_terminating |= pods[victim]["metadata"].get("deletionTimestamp") is not None
            assert not new, f"replacement {sorted(new)} created while {victim} still exists"
        elif new:
            break
        assert time.monotonic() < deadline, f"no replacement for {victim} after 60s: {sorted(pods)}"
        time.sleep(0.2)
    assert saw_terminating, f"{victim} was never seen Terminating"
    assert len(new) == 1


def test_daemonset_avoids_the_virtual_node_and_rbac_is_enforced(k8s):
    """The pieces issue 7 relies on: the controller-manager's DaemonSet
    controller plus the scheduler place a DaemonSet with the ACK affinity
    (type NotIn [virtual-kubelet]) only on the regular node, and RBAC denies a
    ServiceAccount that has no binding."""
    namespace = "ds"
    k8s.kubectl("create", "namespace", namespace)
    ds = {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]}]}]}}},
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "agent", "image": "raysense-agent:test"}],
                },
            },
        },
    }
    k8s.kubectl("create", "-f", "-", input=json.dumps(ds))
    pods = wait_until("the DaemonSet pod Running",
                      lambda: [p for p in k8s.get_json("pods", "-n", namespace, "-l", "app=agent")["items"]
                               if p["status"].get("phase") == "Running"], timeout=60)
    assert [p["spec"]["nodeName"] for p in pods] == [k8s.regular_node]
    time.sleep(2)  # no second pod appears for the tainted, excluded ECI node
    pods = k8s.get_json("pods", "-n", namespace, "-l", "app=agent")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == [k8s.regular_node]

    k8s.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    who = f"system:serviceaccount:{namespace}:nobody"
    denied = k8s.kubectl("auth", "can-i", "patch", "rayclusters.ray.io", "-n", namespace,
                         "--as", who, check=False)
    assert denied.returncode != 0 and denied.stdout.strip() == "no", denied
    allowed = k8s.kubectl("auth", "can-i", "patch", "rayclusters.ray.io", "-n", namespace)
    assert allowed.stdout.strip() == "yes", allowed


def test_naming_a_victim_without_lowering_replicas_replaces_it_at_once(k8s):
    """Read from the v1.6.2 code, checked here: a pod named in workersToDelete
    is excluded from the count in the pass that deletes it, so with replicas
    unchanged the operator creates the replacement while the victim is still
    Terminating. A scale-down must lower replicas in the same patch."""
    assert k8s.eci_delete_delay_ms >= 2000, "needs an ECI delete delay to observe Terminating"
    name, namespace = "rc-replace", "replace"
    before = start_cluster(k8s, name, namespace, 2)
    victim = sorted(before)[0]
    patch = [{"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": GROUP},
             {"op": "replace", "path": "/spec/workerGroupSpecs/0/scaleStrategy",
              "value": {"workersToDelete": [victim]}}]
    status, body = k8s.api("PATCH", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{name}",
                           patch, "application/json-patch+json")
    assert status == 200, (status, body)
    pods = wait_until("a replacement worker",
                      lambda: (lambda p: p if set(p) - set(before) else None)(
                          ray_pods(k8s, "worker", name, namespace)), timeout=60)
    assert victim in pods and pods[victim]["metadata"].get("deletionTimestamp"), \
        f"expected {victim} still Terminating when the replacement appeared: {sorted(pods)}"
    assert len(set(pods) - set(before)) == 1


def test_apiserver_restart_keeps_state_and_operator_reconnects(k8s):
    """ctl.sh lets tests take the API server down (issue 6 acceptance: the
    API server briefly down during a scale). State survives in etcd and the
    operator resumes reconciling afterwards."""
    name, namespace = "rc-restart", "restart"
    before = start_cluster(k8s, name, namespace, 1)
    k8s.ctl("stop", "kube-apiserver")
    assert not k8s.api_reachable(), "API server still answers after ctl.sh stop"
    k8s.ctl("start", "kube-apiserver")
    wait_until("the API server to be ready again", k8s.api_reachable, timeout=120)
    assert sorted(ray_pods(k8s, "worker", name, namespace)) == sorted(before)

    patch = [{"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": GROUP},
             {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 2}]
    status, body = k8s.api("PATCH", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{name}",
                           patch, "application/json-patch+json")
    assert status == 200, (status, body)
    wait_until("the operator to scale up after the restart",
               lambda: (lambda p: len(p) == 2 and running_on(p, k8s.eci_node))(
                   ray_pods(k8s, "worker", name, namespace)), timeout=120)
