"""The chart's controller, with nothing but the chart's ServiceAccount token,
scales the example RayCluster through the real KubeRay operator.

On the real control plane (tests/k8s/conftest.py: kube-apiserver with RBAC,
the KubeRay operator v1.6.2, kwok running the pods):

- `helm install` of deploy/helm/raysense with its default values, except the
  RayCluster's namespace (so this test never meets test_deploy_manifests.py's
  `ray`) and no agent (the PriorityClass is another test's);
- deploy/examples/raycluster-eci.yaml, the RayCluster the chart's defaults
  and docs/install-ack.md name, applied into that namespace;
- a token of the chart's controller ServiceAccount (TokenRequest, `kubectl
  create token`) written with the API server's CA and the namespace into a
  directory laid out like a pod's /var/run/secrets/kubernetes.io/serviceaccount;
- the real raysense-controller run with the installed Deployment's arguments
  (only the in-pod paths and addresses made local, the Ray dashboard replaced
  by tests/k8s/fake_dashboard.py: kwok runs no Ray) plus
  --service-account-dir: its only credential is that token, read the way a
  pod reads it (KUBERNETES_SERVICE_HOST/PORT and the three files);
- 4 pending {CPU: 1} tasks on the fake dashboard make it lead (the chart's
  --leader-elect), patch the RayCluster once (0 -> 1 worker of CPU 4), and
  the KubeRay operator creates that worker pod, which kwok runs. Its log has
  no refused call.
"""
import json
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import pytest
import yaml

from helmchart import CHART
from k8s_testenv import wait_until
from raycluster import free_port, stop_process
from test_kuberay_provider import logged_patches, start_fake_dashboard

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "examples" / "raycluster-eci.yaml"
NS = "raysense-helm-eci"        # the release
RAY_NS = "helm-eci-ray"         # the RayCluster
CONTROLLER = "raysense-controller"


def example_raycluster():
    docs = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]
    (rc,) = [d for d in docs if d["kind"] == "RayCluster"]
    assert not rc["spec"].get("enableInTreeAutoscaling"), "the example must leave scaling to raysense"
    rc["metadata"]["namespace"] = RAY_NS
    return rc


@pytest.fixture(scope="module")
def release(k8s, tmp_path_factory):
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    (rc_values,) = defaults["rayClusters"]
    rc = example_raycluster()
    # The chart's default RayCluster is the example's.
    assert rc_values["name"] == rc["metadata"]["name"]
    values = tmp_path_factory.mktemp("helm-eci") / "values.yaml"
    values.write_text(yaml.safe_dump({"rayClusters": [dict(rc_values, namespace=RAY_NS)],
                                      "agent": {"enabled": False}}))
    for ns in (NS, RAY_NS):
        k8s.kubectl("create", "namespace", ns)
    k8s.kubectl("create", "secret", "generic", "raysense-push-token", "-n", NS,
                "--from-literal=token=test-push-token-0123456789")
    try:
        k8s.helm("install", "raysense-eci", str(CHART), "-n", NS, "-f", str(values))
        k8s.kubectl("apply", "-f", "-", input=json.dumps(rc))
        yield rc
    finally:
        k8s.helm("uninstall", "raysense-eci", "-n", NS, "--ignore-not-found", check=False)
        for ns in (NS, RAY_NS):
            k8s.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def service_account_dir(k8s, token, namespace):
    """A directory like a pod's service-account mount: token, ca.crt,
    namespace."""
    d = Path(tempfile.mkdtemp(prefix="raysense-sa-"))
    (d / "token").write_text(token)
    shutil.copyfile(k8s.ca, d / "ca.crt")
    (d / "namespace").write_text(namespace)
    return d


def local_args(dep, configmap, files, dashboard_url):
    """The installed Deployment's controller args, $(POD_NAME) expanded, the
    in-pod files and addresses replaced by local ones."""
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    (files / "controller.json").write_text(configmap["data"]["controller.json"])
    (files / "push-token").write_text("test-push-token-0123456789\n")
    local = {"--config": str(files / "controller.json"), "--token-file": str(files / "push-token"),
             "--listen": f"127.0.0.1:{free_port()}", "--probe-listen": str(free_port()),
             "--dashboard": dashboard_url}
    args = []
    for a in c["args"]:
        a = a.replace("$(POD_NAME)", "helm-eci-0")
        flag, eq, _ = a.partition("=")
        args.append(f"{flag}={local[flag]}" if eq and flag in local else a)
    assert not any(a.startswith("--kubeconfig") for a in args)
    return args


def worker_pods(k8s, cluster):
    items = k8s.get_json("pods", "-n", RAY_NS, "-l",
                         f"ray.io/cluster={cluster},ray.io/node-type=worker")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def test_chart_controller_scales_the_example_with_its_service_account_token(k8s, release, bin,
                                                                           tmp_path):
    cluster = release["metadata"]["name"]
    rc_path = f"/apis/ray.io/v1/namespaces/{RAY_NS}/rayclusters/{cluster}"
    dep = k8s.get_json(f"deployment/{CONTROLLER}", "-n", NS)
    cm = k8s.get_json(f"configmap/{CONTROLLER}", "-n", NS)
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == CONTROLLER
    status, rc = k8s.api("GET", rc_path)
    assert status == 200, rc
    assert all(g["replicas"] == 0 for g in rc["spec"]["workerGroupSpecs"]), rc["spec"]
    assert not worker_pods(k8s, cluster)

    token = k8s.kubectl("create", "token", CONTROLLER, "-n", NS, "--duration=1h").stdout.strip()
    sa_dir = service_account_dir(k8s, token, NS)
    server = urllib.parse.urlsplit(k8s.server)
    env = {"PATH": "/usr/bin:/bin", "KUBERNETES_SERVICE_HOST": server.hostname,
           "KUBERNETES_SERVICE_PORT": str(server.port)}

    port_file, dash_state = tmp_path / "dash.port", tmp_path / "dash.json"
    dash_state.write_text(json.dumps({"tasks": 4, "shape": {"CPU": 1.0}, "workers": []}))
    dash = start_fake_dashboard(port_file, dash_state)
    log_path = tmp_path / "controller.log"
    log = open(log_path, "w")
    ctl = None
    try:
        wait_until("fake dashboard", lambda: port_file.exists() and port_file.read_text(),
                   timeout=10)
        args = local_args(dep, cm, tmp_path, f"http://127.0.0.1:{port_file.read_text()}")
        assert f"--namespace={RAY_NS}" in args and f"--raycluster={cluster}" in args, args
        assert "--leader-elect" in args and f"--lease-name={CONTROLLER}" in args, args
        ctl = subprocess.Popen([bin("raysense-controller"), *args,
                                f"--service-account-dir={sa_dir}"],
                               env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)

        lease = wait_until("the controller holds the chart's Lease", lambda: (
            lambda s, b: b if s == 200 and b["spec"].get("holderIdentity") == "helm-eci-0"
            else None)(*k8s.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/{RAY_NS}"
                                f"/leases/{CONTROLLER}")), timeout=30)
        assert lease["spec"]["leaseDurationSeconds"] == 15, lease["spec"]

        def scaled():
            _, body = k8s.api("GET", rc_path)
            groups = {g["groupName"]: g.get("replicas", 0) for g in body["spec"]["workerGroupSpecs"]}
            return groups if sum(groups.values()) else None

        groups = wait_until("the controller patches the RayCluster", scaled, timeout=60)
        (group,) = [g for g, n in groups.items() if n]
        # 4 x {CPU: 1} fit one worker of CPU 4 (either group of the example).
        assert groups[group] == 1, groups

        def running():
            pods = worker_pods(k8s, cluster)
            return pods if pods and all(p["status"].get("phase") == "Running" for p in pods) else None

        pods = wait_until("the KubeRay operator's worker pod, running", running, timeout=90)
        assert [p["metadata"]["labels"]["ray.io/group"] for p in pods] == [group], pods
        owner = pods[0]["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("RayCluster", cluster), owner
        assert ctl.poll() is None, log_path.read_text()[-3000:]

        docs = logged_patches(log_path)
        assert len(docs) == 1, docs
        text = log_path.read_text()
        assert "403" not in text and "forbidden" not in text.lower(), text[-3000:]
        print(f"\nchart controller (ServiceAccount token only) scaled {group} 0 -> 1; "
              f"operator pod {pods[0]['metadata']['name']} on {pods[0]['spec']['nodeName']}")
    finally:
        if ctl:
            stop_process(ctl, grace_s=15)
        log.close()
        dash.kill()
        dash.wait()
        shutil.rmtree(sa_dir, ignore_errors=True)
    # SIGTERM releases the Lease (the handover the chart's comments promise).
    _, lease = k8s.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/{RAY_NS}/leases/{CONTROLLER}")
    assert lease["spec"].get("holderIdentity", "") == "", lease["spec"]


def test_service_account_dir_errors_are_clear(bin, tmp_path):
    """--service-account-dir: a missing token is named, and the flag cannot
    be combined with --kubeconfig."""
    common = [bin("raysense-controller"), "--provider", "kuberay", "--raycluster", "rc",
              "--dashboard", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--probe-listen", "off", "--agent-auth", "none"]
    env = {"PATH": "/usr/bin:/bin", "KUBERNETES_SERVICE_HOST": "127.0.0.1",
           "KUBERNETES_SERVICE_PORT": "6443"}
    proc = subprocess.run([*common, f"--service-account-dir={tmp_path}"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert f"cannot read {tmp_path}/token or {tmp_path}/ca.crt" in proc.stdout + proc.stderr, \
        proc.stdout + proc.stderr
    proc = subprocess.run([*common, f"--service-account-dir={tmp_path}", "--kubeconfig", "/k.json"],
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "--service-account-dir and --kubeconfig exclude each other" in proc.stderr, proc.stderr
