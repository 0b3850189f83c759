"""deploy/ on a real control plane (tests/k8s/conftest.py: kube-apiserver with
RBAC and PodSecurity admission, controller-manager, scheduler, the KubeRay
operator and its CRDs, kwok running a regular node and an ECI virtual node).

- Both kustomizations render with the real kubectl (`kubectl kustomize`).
- The ack-eci overlay (the chart rendered with its ACK example values) passes a server-side dry
  run and a real `kubectl apply -k`; every rendered object is accepted and
  then exists.
- The agent DaemonSet gets exactly one pod, on the regular node: it tolerates
  every NoSchedule taint, so only its node affinity keeps it off the virtual
  node (which kwok simulates with ACK's label and taint).
- The controller's ServiceAccount may do exactly what it needs (kubectl auth
  can-i --as=system:serviceaccount:raysense-system:raysense-controller) and
  is refused a list of things it must not do; the agent's may do nothing.
- The example RayCluster is accepted with the KubeRay CRD, and the operator
  builds a head pod without the autoscaler sidecar.
- The controller's real API calls succeed with its ServiceAccount token, and
  calls outside its Role get 403.
- Two real controller processes with the Deployment's arguments and the
  ServiceAccount's token, as uid 65532 with no capabilities and a read-only
  root, elect one leader through the Lease; SIGTERM hands over.
- `kubectl delete -k` (the README's uninstall) removes everything.
- The README's migration from the in-tree autoscaler, on the real operator.
"""

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from k8s_testenv import wait_until
from manifests import container, controller_env, expand, workload
from raycluster import free_port, stop_process

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "base"
OVERLAY = REPO / "deploy" / "overlays" / "ack-eci"
EXAMPLE = REPO / "deploy" / "examples" / "raycluster-eci.yaml"
SA_CONTROLLER = "system:serviceaccount:raysense-system:raysense-controller"
SA_AGENT = "system:serviceaccount:raysense-system:raysense-agent"
RAY_NS = "ray"
SYSTEM_NS = "raysense-system"


def render(k8s, path):
    docs = [d for d in yaml.safe_load_all(k8s.kubectl("kustomize", str(path)).stdout) if d]
    assert docs, f"kubectl kustomize {path} rendered nothing"
    return docs


def ref(doc):
    """kubectl's `-o name` form: kind[.group]/name, lower-case kind."""
    api = doc["apiVersion"]
    group = api.split("/")[0] if "/" in api else ""
    kind = doc["kind"].lower()
    return f"{kind}.{group}/{doc['metadata']['name']}" if group else f"{kind}/{doc['metadata']['name']}"


def can_i(k8s, user, verb, resource, namespace=None, all_namespaces=False):
    args = ["auth", "can-i", verb, resource, f"--as={user}"]
    if all_namespaces:
        args.append("--all-namespaces")
    elif namespace:
        args += ["-n", namespace]
    proc = k8s.kubectl(*args, check=False)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl {' '.join(args)}: {proc.stderr}{proc.stdout}"
    return answer == "yes"


@pytest.fixture(scope="module")
def installed(k8s):
    """Install the ack-eci overlay and the example RayCluster; uninstall after."""
    docs = render(k8s, OVERLAY)
    example = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]
    # NamespaceLifecycle admission refuses even a dry-run create in a namespace
    # that does not exist, so the two namespaces are created first, for real.
    namespaces = [d for d in docs + example if d["kind"] == "Namespace"]
    assert {d["metadata"]["name"] for d in namespaces} == {SYSTEM_NS, RAY_NS}
    k8s.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(namespaces))
    yield docs
    k8s.kubectl("delete", "-k", str(OVERLAY), "--ignore-not-found", "--wait=false", check=False)
    k8s.kubectl("delete", "-f", str(EXAMPLE), "--ignore-not-found", "--wait=false", check=False)


def test_base_and_overlay_render(k8s):
    base = render(k8s, BASE)
    overlay = render(k8s, OVERLAY)
    kinds = sorted(d["kind"] for d in base)
    assert kinds == sorted([
        "Namespace", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding", "PriorityClass",
        "ConfigMap", "DaemonSet", "Deployment", "Service", "Service",
        "NetworkPolicy", "NetworkPolicy", "ClusterRole", "ClusterRoleBinding"]), kinds
    assert sorted(map(ref, base)) == sorted(map(ref, overlay))
    ds = next(d for d in overlay if d["kind"] == "DaemonSet")
    exprs = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]} in exprs
    assert {"key": "k8s.aliyun.com/vnode", "operator": "DoesNotExist"} in exprs
    images = {c["image"] for d in overlay if d["kind"] in ("DaemonSet", "Deployment")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry-vpc.cn-hangzhou.aliyuncs.com/raysense/raysense:0.1.0"}, images


def test_server_dry_run_then_apply_accepts_every_object(k8s, installed):
    expected = sorted(map(ref, installed))
    # The base on its own (outside ACK) ...
    dry = k8s.kubectl("apply", "-k", str(BASE), "--server-side", "--dry-run=server", "-o", "name")
    assert sorted(dry.stdout.split()) == sorted(map(ref, render(k8s, BASE))), dry.stdout
    # ... and the ACK overlay, which the rest of this module installs.
    dry = k8s.kubectl("apply", "-k", str(OVERLAY), "--server-side", "--dry-run=server", "-o", "name")
    assert sorted(dry.stdout.split()) == expected, dry.stdout
    # A dry run creates nothing.
    assert k8s.kubectl("get", "daemonset/raysense-agent", "-n", SYSTEM_NS,
                       check=False).returncode != 0

    real = k8s.kubectl("apply", "-k", str(OVERLAY), "--server-side", "-o", "name")
    assert sorted(real.stdout.split()) == expected, real.stdout
    for doc in installed:
        ns = doc["metadata"].get("namespace")
        got = k8s.get_json(ref(doc), *(["-n", ns] if ns else []))
        assert got["metadata"]["name"] == doc["metadata"]["name"]

    # The install guide's secret step; the pods mount it.
    k8s.kubectl("create", "secret", "generic", "raysense-push-token", "-n", SYSTEM_NS,
                "--from-literal=token=test-token-0123456789abcdef")


def test_agent_pods_only_on_the_regular_node(k8s, installed):
    def agent_pods():
        pods = k8s.get_json("pods", "-n", SYSTEM_NS, "-l", "app.kubernetes.io/name=raysense-agent")
        running = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
        return pods["items"] if running else None

    wait_until("a Running raysense-agent pod", agent_pods, timeout=90)
    # Give the DaemonSet controller time to (wrongly) add a pod for the
    # virtual node too, then look at its own accounting.
    ds = wait_until("DaemonSet status with one ready pod", lambda: (
        lambda s: s if s.get("numberReady") == 1 else None)(
            k8s.get_json("daemonset/raysense-agent", "-n", SYSTEM_NS)["status"]), timeout=60)
    assert ds["desiredNumberScheduled"] == 1, ds
    assert ds["currentNumberScheduled"] == 1, ds
    pods = k8s.get_json("pods", "-n", SYSTEM_NS, "-l", "app.kubernetes.io/name=raysense-agent")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == [k8s.regular_node]
    pod = pods[0]
    # What the API server stored is what the manifest asked for.
    spec = pod["spec"]
    assert spec["hostPID"] is True
    assert spec.get("automountServiceAccountToken") is False
    # Its one projected token is for the controller (audience raysense,
    # --agent-auth tokenreview), not for the API server.
    projected = [s for v in spec["volumes"] if v.get("projected") for s in v["projected"]["sources"]]
    assert projected == [{"serviceAccountToken": {"audience": "raysense", "expirationSeconds": 600,
                                                  "path": "token"}}], projected
    sc = spec["containers"][0]["securityContext"]
    assert sc["privileged"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert spec["priorityClassName"] == "raysense-agent" and spec["priority"] == 1000000
    # The agent tolerates the ECI node's taint (operator: Exists), so it is
    # the node affinity that kept it off: check the node really is "virtual".
    eci = k8s.get_json(f"node/{k8s.eci_node}")
    assert eci["metadata"]["labels"]["type"] == "virtual-kubelet"
    assert any(t["key"] == "virtual-kubelet.io/provider" for t in eci["spec"]["taints"])
    on_eci = k8s.get_json("pods", "-A", "--field-selector", f"spec.nodeName={k8s.eci_node}")
    assert not [p for p in on_eci["items"]
                if p["metadata"]["labels"].get("app.kubernetes.io/name") == "raysense-agent"]


def test_controller_replicas_run_on_regular_nodes(k8s, installed):
    def ready():
        d = k8s.get_json("deployment/raysense-controller", "-n", SYSTEM_NS)
        return d if d["status"].get("readyReplicas") == 2 else None

    wait_until("2 ready controller replicas", ready, timeout=90)
    pods = k8s.get_json("pods", "-n", SYSTEM_NS, "-l", "app.kubernetes.io/name=raysense-controller")
    assert len(pods["items"]) == 2
    for p in pods["items"]:
        assert p["spec"]["nodeName"] == k8s.regular_node
        assert p["spec"]["securityContext"]["runAsNonRoot"] is True
        assert p["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
        args = p["spec"]["containers"][0]["args"]
        assert "--leader-elect" in args
        # $(VAR) references are left to the kubelet; they must name env vars
        # the pod defines (from the ConfigMap or the downward API).
        env = {e["name"] for e in p["spec"]["containers"][0]["env"]}
        cm = k8s.get_json("configmap/raysense-controller", "-n", SYSTEM_NS)["data"]
        for a in args:
            if "$(" in a:
                var = a.split("$(")[1].split(")")[0]
                assert var in env or var in cm, f"{a}: ${var} is not defined"


# What the controller's code calls (provider_kuberay.c: GET and PATCH of its
# RayCluster, LIST of the worker pods by label; leader.c: POST, GET and PUT of
# its Lease), and nothing more.
NEEDED = [
    ("get", "rayclusters.ray.io"), ("patch", "rayclusters.ray.io"),
    ("list", "pods"),
    ("create", "leases.coordination.k8s.io"),
    ("get", "leases.coordination.k8s.io/raysense-controller"),
    ("update", "leases.coordination.k8s.io/raysense-controller"),
]

REFUSED = [
    # (verb, resource, namespace or None for cluster-wide)
    # Verbs on its own objects that the code never uses.
    ("list", "rayclusters.ray.io", RAY_NS),
    ("watch", "rayclusters.ray.io", RAY_NS),
    ("get", "pods", RAY_NS),
    ("watch", "pods", RAY_NS),
    ("list", "leases.coordination.k8s.io", RAY_NS),
    ("delete", "pods", RAY_NS),
    ("patch", "pods", RAY_NS),
    ("create", "pods", RAY_NS),
    ("patch", "nodes", None),
    ("update", "rayclusters.ray.io", RAY_NS),
    ("delete", "rayclusters.ray.io", RAY_NS),
    ("create", "rayclusters.ray.io", RAY_NS),
    ("get", "secrets", RAY_NS),
    ("get", "rayclusters.ray.io", "default"),
    ("patch", "rayclusters.ray.io", SYSTEM_NS),
    ("update", "leases.coordination.k8s.io/kube-scheduler", RAY_NS),
    ("delete", "leases.coordination.k8s.io/raysense-controller", RAY_NS),
    ("create", "subjectaccessreviews.authorization.k8s.io", None),
    ("create", "serviceaccounts/token", RAY_NS),
]


def test_controller_rbac_allows_what_it_needs(k8s, installed):
    denied = [(v, r) for v, r in NEEDED if not can_i(k8s, SA_CONTROLLER, v, r, RAY_NS)]
    assert not denied, f"controller lacks: {denied}"
    # --agent-auth tokenreview (issue 16): the one cluster-scoped grant.
    assert can_i(k8s, SA_CONTROLLER, "create", "tokenreviews.authentication.k8s.io")


def test_controller_rbac_refuses_the_rest(k8s, installed):
    allowed = [(v, r, ns) for v, r, ns in REFUSED if can_i(k8s, SA_CONTROLLER, v, r, ns)]
    assert not allowed, f"controller may: {allowed}"
    # Cluster-wide RayClusters: the Role is namespaced.
    assert not can_i(k8s, SA_CONTROLLER, "list", "rayclusters.ray.io", all_namespaces=True)
    assert not can_i(k8s, SA_CONTROLLER, "patch", "rayclusters.ray.io", all_namespaces=True)


def test_agent_has_no_api_access(k8s, installed):
    for verb, res, ns in [("get", "pods", SYSTEM_NS), ("list", "pods", RAY_NS),
                          ("get", "rayclusters.ray.io", RAY_NS), ("get", "nodes", None),
                          ("create", "leases.coordination.k8s.io", SYSTEM_NS),
                          ("create", "tokenreviews.authentication.k8s.io", None)]:
        assert not can_i(k8s, SA_AGENT, verb, res, ns), (verb, res, ns)


def test_example_raycluster_accepted_and_head_has_no_autoscaler(k8s, installed):
    dry = k8s.kubectl("apply", "--server-side", "--dry-run=server", "-f", str(EXAMPLE), "-o", "name")
    assert "raycluster.ray.io/raycluster-eci" in dry.stdout.split()
    k8s.kubectl("apply", "--server-side", "-f", str(EXAMPLE))
    rc = k8s.get_json("raycluster/raycluster-eci", "-n", RAY_NS)
    assert rc["spec"]["enableInTreeAutoscaling"] is False
    assert rc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    eci = next(g for g in rc["spec"]["workerGroupSpecs"] if g["groupName"] == "eci-cpu")
    assert eci["template"]["metadata"]["labels"]["alibabacloud.com/eci"] == "true"
    assert {"key": "virtual-kubelet.io/provider", "operator": "Equal", "value": "alibabacloud",
            "effect": "NoSchedule"} in eci["template"]["spec"]["tolerations"]

    def head():
        pods = k8s.get_json("pods", "-n", RAY_NS, "-l",
                            "ray.io/cluster=raycluster-eci,ray.io/node-type=head")["items"]
        return pods[0] if pods and pods[0]["spec"].get("nodeName") else None

    pod = wait_until("the operator's head pod, scheduled", head, timeout=90)
    # enableInTreeAutoscaling: false -> no Ray autoscaler sidecar next to ray-head.
    assert [c["name"] for c in pod["spec"]["containers"]] == ["ray-head"]
    assert pod["spec"]["nodeName"] == k8s.regular_node


def test_example_eci_worker_tolerates_the_virtual_node(k8s, installed):
    """One eci-cpu worker, sent to the virtual node the way ACK's ECI webhook
    does for pods labelled alibabacloud.com/eci (no webhook here, so the test
    adds the equivalent nodeSelector to the live RayCluster): the example's
    toleration lets it schedule there, and kwok runs it after the simulated
    ECI start delay."""
    rc = k8s.get_json("raycluster/raycluster-eci", "-n", RAY_NS)
    i = [g["groupName"] for g in rc["spec"]["workerGroupSpecs"]].index("eci-cpu")
    k8s.kubectl("patch", "raycluster/raycluster-eci", "-n", RAY_NS, "--type=json", "-p", json.dumps([
        {"op": "test", "path": f"/spec/workerGroupSpecs/{i}/groupName", "value": "eci-cpu"},
        {"op": "add", "path": f"/spec/workerGroupSpecs/{i}/template/spec/nodeSelector",
         "value": {"type": "virtual-kubelet"}},
        {"op": "replace", "path": f"/spec/workerGroupSpecs/{i}/replicas", "value": 1}]))

    def eci_worker():
        pods = k8s.get_json("pods", "-n", RAY_NS, "-l",
                            "ray.io/cluster=raycluster-eci,ray.io/group=eci-cpu")["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return running[0] if running else None

    pod = wait_until("a Running eci-cpu worker", eci_worker, timeout=90)
    assert pod["spec"]["nodeName"] == k8s.eci_node
    assert pod["metadata"]["labels"]["alibabacloud.com/eci"] == "true"
    assert pod["metadata"]["annotations"]["k8s.aliyun.com/eci-use-specs"]


def sa_request(k8s, token, method, path, body=None, content_type="application/json"):
    """One API request authenticated as a ServiceAccount; (status, body)."""
    return k8s.api(method, path, body, content_type, token=token)


def test_controller_token_makes_the_real_calls(k8s, installed):
    """The controller's own API calls (userspace/controller/provider/provider_kuberay.c
    and leader.c), made with a token of its ServiceAccount: GET the
    RayCluster, LIST its pods by label, a guarded JSON Patch of a group's
    replicas, and the Lease create/get/update; then calls it must not make."""
    token = k8s.kubectl("create", "token", "raysense-controller", "-n", SYSTEM_NS).stdout.strip()
    rc_path = f"/apis/ray.io/v1/namespaces/{RAY_NS}/rayclusters/raycluster-eci"
    status, rc = sa_request(k8s, token, "GET", rc_path)
    assert status == 200, rc
    groups = [g["groupName"] for g in rc["spec"]["workerGroupSpecs"]]
    i = groups.index("ecs-cpu")
    status, pods = sa_request(k8s, token, "GET", f"/api/v1/namespaces/{RAY_NS}/pods"
                              "?labelSelector=ray.io%2Fcluster%3Draycluster-eci")
    assert status == 200 and pods["items"], pods
    patch = [{"op": "test", "path": f"/spec/workerGroupSpecs/{i}/groupName", "value": "ecs-cpu"},
             {"op": "replace", "path": f"/spec/workerGroupSpecs/{i}/replicas", "value": 1}]
    status, out = sa_request(k8s, token, "PATCH", rc_path, patch, "application/json-patch+json")
    assert status == 200 and out["spec"]["workerGroupSpecs"][i]["replicas"] == 1, out

    lease_dir = f"/apis/coordination.k8s.io/v1/namespaces/{RAY_NS}/leases"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "raysense-controller", "namespace": RAY_NS},
             "spec": {"holderIdentity": "raw-call-a", "leaseDurationSeconds": 15}}
    status, out = sa_request(k8s, token, "POST", lease_dir, lease)
    assert status == 201, out
    status, got = sa_request(k8s, token, "GET", f"{lease_dir}/raysense-controller")
    assert status == 200
    got["spec"]["holderIdentity"] = "raw-call-b"
    status, out = sa_request(k8s, token, "PUT", f"{lease_dir}/raysense-controller", got)
    assert status == 200 and out["spec"]["holderIdentity"] == "raw-call-b", out
    # Not in the Role: the controller never deletes its Lease (it releases it
    # by emptying holderIdentity). The admin removes it for the next test.
    status, out = sa_request(k8s, token, "DELETE", f"{lease_dir}/raysense-controller")
    assert status == 403, out
    k8s.kubectl("delete", "lease/raysense-controller", "-n", RAY_NS)

    # Refused: another Lease, deleting a pod, the RayCluster in another
    # namespace, RayClusters cluster-wide.
    refused = [
        ("GET", f"{lease_dir}/kube-scheduler", None),
        ("DELETE", f"/api/v1/namespaces/{RAY_NS}/pods/{pods['items'][0]['metadata']['name']}", None),
        # Calls the code does not make: one pod by name, the RayCluster list,
        # watches.
        ("GET", f"/api/v1/namespaces/{RAY_NS}/pods/{pods['items'][0]['metadata']['name']}", None),
        ("GET", f"/apis/ray.io/v1/namespaces/{RAY_NS}/rayclusters", None),
        ("GET", f"/apis/ray.io/v1/namespaces/{RAY_NS}/rayclusters?watch=1&timeoutSeconds=1", None),
        ("GET", "/apis/ray.io/v1/namespaces/default/rayclusters", None),
        ("GET", "/apis/ray.io/v1/rayclusters", None),
        ("GET", f"/api/v1/namespaces/{RAY_NS}/secrets", None),
    ]
    for method, path, body in refused:
        status, out = sa_request(k8s, token, method, path, body)
        assert status == 403, f"{method} {path}: {status} {out}"


def controller_args_from_manifest(tmp_path, kubeconfig, identity, port):
    """The Deployment's controller args, $(VAR)s expanded from the ConfigMap
    (as the kubelet does), with the in-pod paths and addresses replaced by
    local ones; --kubeconfig stands in for the in-cluster token."""
    c = container("controller-deployment.yaml")
    env = controller_env(pod_name=identity)
    (tmp_path / "controller.json").write_text(env["controller.json"])
    (tmp_path / "token").write_text("push-token-for-test\n")
    local = {"--config": str(tmp_path / "controller.json"), "--token-file": str(tmp_path / "token"),
             "--listen": f"127.0.0.1:{port}",
             # The pod's fixed probe port would collide between two local
             # replicas: any free one.
             "--probe-listen": str(free_port()),
             # No Ray here: the dashboard is a closed port (fetches fail, the
             # controller holds), which is all leader election needs.
             "--dashboard": "http://127.0.0.1:9"}
    args = []
    for a in expand(c["args"], env):
        flag, eq, _ = a.partition("=")
        args.append(f"{flag}={local[flag]}" if eq and flag in local else a)
    return args + [f"--kubeconfig={kubeconfig}"]


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None



# The controller container's credentials (controller-deployment.yaml): uid
# and gid 65532, every capability dropped, no_new_privs, read-only root.
CONTROLLER_SANDBOX = [
    "unshare", "-m", "--propagation", "private", "sh", "-ec",
    'mount --bind / / && mount -o remount,bind,ro / && exec "$@"', "sh",
    "setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", "--bounding-set=-all",
    "--inh-caps=-all", "--no-new-privs", "--"]


@pytest.fixture
def two_controllers(k8s, installed, bin):
    """Two real raysense-controller processes with the manifest's arguments,
    authenticated as the controller ServiceAccount (a TokenRequest token),
    each in the controller container's sandbox (CONTROLLER_SANDBOX)."""
    dep = workload("controller-deployment.yaml")
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532
    token = k8s.kubectl("create", "token", "raysense-controller", "-n", SYSTEM_NS,
                        "--duration=1h").stdout.strip()
    # Files uid 65532 can read (pytest's tmp dirs are root-only).
    files = Path(tempfile.mkdtemp(prefix="raysense-ctl-"))
    files.chmod(0o755)
    kubeconfig = files / "sa.kubeconfig.json"
    # The CA as a file, like the in-cluster service-account ca.crt. (Inline
    # certificate-authority-data makes the controller write a temp file,
    # which a read-only root refuses.)
    ca = files / "ca.crt"
    shutil.copyfile(k8s.ca, ca)
    ca.chmod(0o644)
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "test", "cluster": {"server": k8s.server,
                                                  "certificate-authority": str(ca)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": "sa",
                                                "namespace": SYSTEM_NS}}],
    }))
    # A fresh election: no Lease left by an earlier test.
    k8s.kubectl("delete", "lease/raysense-controller", "-n", RAY_NS, "--ignore-not-found")
    procs = {}
    try:
        for ident in ("replica-a", "replica-b"):
            port = free_port()
            d = files / ident
            d.mkdir()
            d.chmod(0o755)
            log = open(d / "log", "w+")
            args = controller_args_from_manifest(d, kubeconfig, ident, port)
            for f in d.iterdir():
                f.chmod(0o644)
            kubeconfig.chmod(0o644)
            procs[ident] = (subprocess.Popen(CONTROLLER_SANDBOX + [bin("raysense-controller"), *args],
                                             stdout=log, stderr=subprocess.STDOUT), port, d / "log")
        yield procs
    finally:
        for p, _, _ in procs.values():
            stop_process(p)
        k8s.kubectl("delete", "lease/raysense-controller", "-n", RAY_NS, "--ignore-not-found")
        shutil.rmtree(files, ignore_errors=True)


def lease_holder(k8s):
    out = k8s.kubectl("get", "lease/raysense-controller", "-n", RAY_NS, "-o", "json", check=False)
    return json.loads(out.stdout)["spec"].get("holderIdentity") if out.returncode == 0 else None


def controller_logs(procs):
    return "\n".join(f"--- {i} (rc {p.poll()}):\n{Path(log).read_text()[-3000:]}"
                     for i, (p, _, log) in procs.items())


def elected(k8s, procs):
    def holder():
        h = lease_holder(k8s)
        if h in procs:
            return h
        assert any(p.poll() is None for p, _, _ in procs.values()), controller_logs(procs)
        return None
    try:
        return wait_until("a Lease holder", holder, timeout=60)
    except BaseException:
        print(controller_logs(procs))
        raise


def test_two_real_controllers_elect_one_leader_with_the_manifest_rbac(k8s, two_controllers):
    """The manifest's command line, the Role's Lease rules and the real
    controller agree: one replica takes the Lease in the RayCluster's
    namespace and serves; SIGTERM releases it and the other takes over."""
    leader = elected(k8s, two_controllers)
    proc, port, log = two_controllers[leader]
    wait_until("the leader's /healthz", lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200,
               timeout=30)
    # It really runs as the container would: uid 65532, no capabilities,
    # read-only root.
    status = Path(f"/proc/{proc.pid}/status").read_text()
    assert re.search(r"^Uid:\s+65532\s+65532", status, re.M), status
    assert re.search(r"^CapEff:\s+0+$", status, re.M), status
    mountinfo = Path(f"/proc/{proc.pid}/mountinfo").read_text()
    assert re.search(r"^\S+ \S+ \S+ \S+ / ro[, ]", mountinfo, re.M), "root not read-only"
    standby = next(i for i in two_controllers if i != leader)
    assert two_controllers[standby][0].poll() is None, Path(two_controllers[standby][2]).read_text()

    proc.terminate()
    assert proc.wait(timeout=30) == 0, Path(log).read_text()
    # Released on SIGTERM, so the standby need not wait out the 15 s lease.
    t0 = time.monotonic()
    wait_until("the standby taking the Lease", lambda: lease_holder(k8s) == standby, timeout=30)
    took = time.monotonic() - t0
    sport = two_controllers[standby][1]
    wait_until("the new leader's /healthz",
               lambda: http_status(f"http://127.0.0.1:{sport}/healthz") == 200, timeout=30)
    print(f"\nfailover {leader} -> {standby}: Lease taken {took:.1f} s after SIGTERM")
    assert took < 15, "the leader did not release the Lease on SIGTERM"


def test_standby_controller_answers_liveness(k8s, two_controllers):
    """The replica waiting for the Lease serves HTTP: /healthz 200, so the
    liveness probe does not restart it, and /readyz 503, so it is no Service
    endpoint and agents push to the leader (deploy/README.md)."""
    leader = elected(k8s, two_controllers)
    _, lport, _ = two_controllers[leader]
    wait_until("the leader's /healthz", lambda: http_status(f"http://127.0.0.1:{lport}/healthz") == 200,
               timeout=30)
    standby = next(i for i in two_controllers if i != leader)
    _, port, _ = two_controllers[standby]
    time.sleep(3)
    assert http_status(f"http://127.0.0.1:{port}/healthz") == 200
    assert http_status(f"http://127.0.0.1:{port}/readyz") == 503


def test_uninstall_removes_everything(k8s, installed):
    k8s.kubectl("delete", "-f", str(EXAMPLE), "--wait=false")
    k8s.kubectl("delete", "-k", str(OVERLAY), "--wait=false")
    k8s.kubectl("delete", "secret", "raysense-push-token", "-n", SYSTEM_NS,
                "--ignore-not-found", check=False)

    def gone():
        left = []
        for doc in installed:
            ns = doc["metadata"].get("namespace")
            args = ["get", ref(doc), "--ignore-not-found", "-o", "name"] + (["-n", ns] if ns else [])
            out = k8s.kubectl(*args, check=False).stdout.strip()
            if out:
                left.append(out)
        return not left or None

    wait_until("every raysense object deleted", gone, timeout=120)
    # Nothing cluster-scoped is left behind.
    assert k8s.kubectl("get", "priorityclass/raysense-agent", check=False).returncode != 0
    assert k8s.kubectl("get", "clusterrole/raysense-controller-tokenreview",
                       check=False).returncode != 0


def test_migration_from_in_tree_autoscaler(k8s):
    """deploy/README.md's migration steps on the real operator: turning
    enableInTreeAutoscaling off does not touch the running head pod (its
    autoscaler sidecar keeps running), so the guide has the head pod deleted;
    the operator's replacement has no sidecar."""
    ns = "migrate"
    k8s.kubectl("create", "namespace", ns)
    rc = {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": "rc-migrate", "namespace": ns},
        "spec": {
            "enableInTreeAutoscaling": True,
            "headGroupSpec": {"rayStartParams": {"num-cpus": "0"}, "template": {"spec": {
                "containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}},
            "workerGroupSpecs": [{"groupName": "w", "replicas": 0, "minReplicas": 0,
                                  "maxReplicas": 4, "rayStartParams": {},
                                  "template": {"spec": {"containers": [
                                      {"name": "ray-worker", "image": "rayproject/ray:2.60.0"}]}}}],
        },
    }
    k8s.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(rc))

    def head():
        pods = k8s.get_json("pods", "-n", ns, "-l", "ray.io/cluster=rc-migrate,ray.io/node-type=head")
        live = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]
        return live[0] if live else None

    try:
        before = wait_until("head pod with in-tree autoscaling", head, timeout=60)
        names = [c["name"] for c in before["spec"]["containers"]]
        assert names[0] == "ray-head" and len(names) == 2, names   # + the autoscaler sidecar
        k8s.kubectl("patch", "raycluster/rc-migrate", "-n", ns, "--type=json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/enableInTreeAutoscaling", "value": False}]))
        time.sleep(5)   # several operator reconciles
        same = head()
        assert same["metadata"]["uid"] == before["metadata"]["uid"]
        assert len(same["spec"]["containers"]) == 2, "operator changed the running head pod"
        # README step: delete the head pod; the operator recreates it from the
        # new spec.
        k8s.kubectl("delete", "pod", before["metadata"]["name"], "-n", ns, "--wait=false")
        after = wait_until("a replacement head pod", lambda: (
            lambda p: p if p and p["metadata"]["uid"] != before["metadata"]["uid"] else None)(head()),
            timeout=60)
        assert [c["name"] for c in after["spec"]["containers"]] == ["ray-head"]
    finally:
        k8s.kubectl("delete", "namespace", ns, "--wait=false", check=False)
