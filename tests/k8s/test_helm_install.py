"""`helm install` of deploy/helm/raysense on the real control plane
(tests/k8s/conftest.py: kube-apiserver with RBAC, controller-manager,
scheduler, the KubeRay operator, kwok with a regular and an ECI node), with
the example of two RayClusters in two namespaces (examples/two-rayclusters.yaml):

- the release installs; every object of `helm get manifest` exists, and they
  are the objects `helm template` renders for the same values;
- the agent DaemonSet's only pod is on the regular node (the ECI node has
  ACK's label and taint), both controllers run two replicas;
- each controller's ServiceAccount may do exactly what it needs in its
  RayCluster's namespace (kubectl auth can-i ... --as=system:serviceaccount:
  <ns>:<sa>) and nothing in the other team's namespace, nothing cluster-wide
  but `create tokenreviews` (agentAuth.mode=tokenreview, issue 16), no
  Secrets anywhere; the agent's may do nothing;
- the Grafana dashboard ConfigMap carries the sidecar's label;
- `helm uninstall` removes everything, the cluster-scoped PriorityClass too.

The release lives in its own namespace and names its PriorityClass
raysense-agent-helm, so it never meets test_deploy_manifests.py's install.
"""
import pytest
import yaml

from helmchart import CHART, EXAMPLES, template
from k8s_testenv import wait_until
from test_deploy_manifests import can_i, ref

NS = "raysense-helm"
TEAMS = {"raysense-team-a": "team-a", "raysense-team-b": "team-b"}
PRIORITY_CLASS = "raysense-agent-helm"
VALUES = ["-f", str(EXAMPLES / "two-rayclusters.yaml"), "--set", f"agent.priorityClass.name={PRIORITY_CLASS}"]


def sa(name, ns=NS):
    return f"system:serviceaccount:{ns}:{name}"


@pytest.fixture(scope="module")
def release(k8s):
    assert k8s.helm_bin, "the control plane's env file names no helm (K8S_HELM)"
    # docs/install-ack.md's steps: the RayClusters' namespaces exist (the
    # Roles go there), the release namespace with the Pod Security label,
    # the push token and team-b's dashboard token as Secrets.
    for ns in (NS, *TEAMS.values()):
        k8s.kubectl("create", "namespace", ns)
    k8s.kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=privileged")
    k8s.kubectl("create", "secret", "generic", "raysense-push-token", "-n", NS,
                "--from-literal=token=test-push-token-0123456789")
    k8s.kubectl("create", "secret", "generic", "team-b-ray-dashboard", "-n", NS,
                "--from-literal=token=test-dashboard-token")
    try:
        k8s.helm("install", "raysense", str(CHART), "-n", NS, *VALUES)
        docs = [d for d in yaml.safe_load_all(k8s.helm("get", "manifest", "raysense", "-n", NS).stdout) if d]
        yield docs
    finally:
        k8s.helm("uninstall", "raysense", "-n", NS, "--ignore-not-found", check=False)
        for ns in (NS, *TEAMS.values()):
            k8s.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def get(k8s, doc):
    ns = doc["metadata"].get("namespace")
    return k8s.kubectl("get", ref(doc), *(["-n", ns] if ns else []), "-o", "name", check=False)


def test_install_creates_every_object(k8s, release):
    status = k8s.helm("status", "raysense", "-n", NS, "-o", "json").stdout
    assert '"status":"deployed"' in status.replace(" ", ""), status[:500]
    # What was installed is what `helm template` renders for these values.
    rendered = template(k8s.helm_bin, EXAMPLES / "two-rayclusters.yaml",
                        sets=[f"agent.priorityClass.name={PRIORITY_CLASS}"], namespace=NS)
    key = lambda d: (ref(d), d["metadata"].get("namespace"))  # noqa: E731
    assert sorted(map(key, release)) == sorted(map(key, rendered))
    missing = [key(d) for d in release if get(k8s, d).returncode != 0]
    assert not missing, missing
    kinds = sorted(d["kind"] for d in release)
    assert kinds.count("Deployment") == 2 and kinds.count("Role") == 2 and "DaemonSet" in kinds
    assert "Namespace" not in kinds
    # tokenreview (the default): one ClusterRole per controller, `create
    # tokenreviews` only (test_controller_service_accounts_can_do_exactly_...)
    assert sorted(d["metadata"]["name"] for d in release if d["kind"] == "ClusterRole") == \
        sorted(f"{name}-tokenreview" for name in TEAMS)
    roles = {d["metadata"]["name"]: d["metadata"]["namespace"] for d in release if d["kind"] == "Role"}
    assert roles == TEAMS


def test_agent_only_on_the_regular_node(k8s, release):
    ds = wait_until("the agent DaemonSet with one ready pod", lambda: (
        lambda s: s if s.get("numberReady") == 1 else None)(
            k8s.get_json("daemonset/raysense-agent", "-n", NS)["status"]), timeout=90)
    assert ds["desiredNumberScheduled"] == 1, ds
    pods = k8s.get_json("pods", "-n", NS, "-l", "app.kubernetes.io/name=raysense-agent")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == [k8s.regular_node]
    assert pods[0]["spec"]["priorityClassName"] == PRIORITY_CLASS
    assert pods[0]["spec"]["priority"] == 1000000


def test_each_controller_runs_two_replicas(k8s, release):
    for name in TEAMS:
        wait_until(f"2 ready {name} replicas", lambda: k8s.get_json(
            f"deployment/{name}", "-n", NS)["status"].get("readyReplicas") == 2, timeout=90)
        pods = k8s.get_json("pods", "-n", NS, "-l", f"app.kubernetes.io/name={name}")["items"]
        assert len(pods) == 2 and all(p["spec"]["serviceAccountName"] == name for p in pods)
    b = k8s.get_json("deployment/raysense-team-b", "-n", NS)["spec"]["template"]["spec"]
    assert any(v.get("secret", {}).get("secretName") == "team-b-ray-dashboard" for v in b["volumes"])


def needed(lease):
    """What the controller's code calls (provider_kuberay.c: GET and PATCH of
    its RayCluster, LIST of the worker pods; leader.c: POST, GET, PUT of its
    Lease)."""
    return [("get", "rayclusters.ray.io"), ("patch", "rayclusters.ray.io"),
            ("list", "pods"),
            ("create", "leases.coordination.k8s.io"),
            ("get", f"leases.coordination.k8s.io/{lease}"),
            ("update", f"leases.coordination.k8s.io/{lease}")]


def test_controller_service_accounts_can_do_exactly_what_they_need(k8s, release):
    for name, ns in TEAMS.items():
        other_name, other_ns = next((n, o) for n, o in TEAMS.items() if n != name)
        user = sa(name)
        lacking = [(v, r) for v, r in needed(name) if not can_i(k8s, user, v, r, ns)]
        assert not lacking, f"{name} lacks in {ns}: {lacking}"
        # --agent-auth tokenreview: reviewing the agents' tokens (cluster-scoped).
        assert can_i(k8s, user, "create", "tokenreviews.authentication.k8s.io")
        refused = [
            # Its own namespace: no writes beyond the RayCluster patch, no
            # Secrets, not the other controller's Lease, no Lease deletion.
            ("delete", "pods", ns), ("patch", "pods", ns), ("create", "pods", ns),
            # Verbs the code never uses on the objects it does use.
            ("list", "rayclusters.ray.io", ns), ("watch", "rayclusters.ray.io", ns),
            ("get", "pods", ns), ("watch", "pods", ns),
            ("list", "leases.coordination.k8s.io", ns),
            ("update", "rayclusters.ray.io", ns), ("delete", "rayclusters.ray.io", ns),
            ("create", "rayclusters.ray.io", ns),
            ("get", "secrets", ns), ("list", "secrets", ns),
            ("update", f"leases.coordination.k8s.io/{other_name}", ns),
            ("delete", f"leases.coordination.k8s.io/{name}", ns),
            # The other team's namespace: nothing.
            *[(v, r, other_ns) for v, r in needed(other_name)],
            # Its own (release) namespace: nothing, not even the Secrets it
            # mounts (the kubelet reads those, not the controller).
            ("get", "secrets", NS), ("list", "secrets", NS), ("get", "pods", NS),
            ("get", "configmaps", NS),
            # Cluster-scoped.
            ("patch", "nodes", None), ("list", "nodes", None),
            ("create", "subjectaccessreviews.authorization.k8s.io", None),
            ("create", "serviceaccounts/token", ns),
        ]
        allowed = [(v, r, n) for v, r, n in refused if can_i(k8s, user, v, r, n)]
        assert not allowed, f"{name} may: {allowed}"
        for verb in ("list", "patch", "watch"):
            assert not can_i(k8s, user, verb, "rayclusters.ray.io", all_namespaces=True), verb
        assert not can_i(k8s, user, "get", "secrets", all_namespaces=True)


def test_agent_service_account_can_do_nothing(k8s, release):
    user = sa("raysense-agent")
    for verb, res, ns in [("get", "pods", NS), ("list", "pods", "team-a"),
                          ("get", "rayclusters.ray.io", "team-b"), ("get", "nodes", None),
                          ("get", "secrets", NS), ("create", "leases.coordination.k8s.io", NS),
                          ("create", "tokenreviews.authentication.k8s.io", None)]:
        assert not can_i(k8s, user, verb, res, ns), (verb, res, ns)


def test_grafana_dashboard_configmap_for_the_sidecar(k8s, release):
    cms = k8s.get_json("configmaps", "-n", NS, "-l", "grafana_dashboard=1")["items"]
    assert [c["metadata"]["name"] for c in cms] == ["raysense-grafana-dashboard"]
    assert '"uid": "raysense-main"' in cms[0]["data"]["raysense-dashboard.json"]


def test_uninstall_removes_everything(k8s, release):
    k8s.helm("uninstall", "raysense", "-n", NS, "--wait")

    def left():
        found = [d for d in release if get(k8s, d).stdout.strip()]
        return None if found else True

    wait_until("every object of the release deleted", left, timeout=120)
    assert k8s.kubectl("get", f"priorityclass/{PRIORITY_CLASS}", check=False).returncode != 0
    for name in TEAMS:
        assert k8s.kubectl("get", f"clusterrole/{name}-tokenreview", check=False).returncode != 0
    for ns in TEAMS.values():
        assert not k8s.get_json("roles,rolebindings", "-n", ns)["items"]
