"""The Helm chart deploy/helm/raysense, without a cluster (tests/k8s/
test_helm_install.py installs it on the real control plane):

- `helm lint` passes for the defaults and for each example value set;
- the plain manifests in deploy/ are exactly the chart's rendering
  (tools/render-manifests.sh --check), so they cannot drift;
- the defaults and the three examples render what they document: ECI + ECS
  groups on ACK, two RayClusters in two namespaces (RBAC per namespace, a
  dashboard token wired into one controller), an older kernel without
  CAP_SYS_ADMIN;
- the controller command line of every example is accepted by the real
  raysense-controller binary (its option parser), and each controller.json by
  its config loader;
- values the chart must refuse are refused.
"""
import json
import subprocess
import time

import pytest
import yaml
from helmchart import (CHART, EXAMPLES, RELEASE_NS, find, flags, helm_path, one, pod_container,
                       run_helm, template)
from manifests import REPO
from raycluster import free_port, stop_process

EXAMPLE_FILES = ["eci-ecs.yaml", "two-rayclusters.yaml", "older-kernel.yaml"]
CLUSTER_SCOPED_RBAC = {"ClusterRole", "ClusterRoleBinding"}


@pytest.fixture(scope="module")
def helm():
    return helm_path()


def test_helm_version_is_the_pinned_v4(helm):
    out = run_helm(helm, "version", "--short").stdout.strip()
    gomod = (REPO / "tools" / "k8s-testenv" / "helm" / "go.mod").read_text()
    pinned = next(line.split()[1] for line in gomod.splitlines()
                  if line.strip().startswith("helm.sh/helm/v4 "))
    assert out.startswith(pinned), (out, pinned)
    assert pinned.startswith("v4."), pinned


@pytest.mark.parametrize("values", [None, *EXAMPLE_FILES])
def test_helm_lint(helm, values):
    args = ["lint", "--strict", str(CHART), "--namespace", RELEASE_NS]
    if values:
        args += ["-f", str(EXAMPLES / values)]
    proc = run_helm(helm, *args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


def test_plain_manifests_are_the_charts_rendering(helm):
    """deploy/base, deploy/base/optional and deploy/overlays/ack-eci are what
    tools/render-manifests.sh writes; a hand edit (or a chart change without
    re-rendering) fails here."""
    proc = subprocess.run([str(REPO / "tools" / "render-manifests.sh"), "--check"],
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "RAYSENSE_HELM": helm})
    assert proc.returncode == 0, proc.stderr[-6000:]


def test_render_check_catches_drift(helm, tmp_path):
    """The control: the same check on a copy of the repo's deploy/ with one
    edited line fails."""
    work = tmp_path / "repo"
    work.mkdir()
    for sub in ("deploy", "tools"):
        subprocess.run(["cp", "-a", str(REPO / sub), str(work / sub)], check=True)
    f = work / "deploy" / "base" / "controller-rbac.yaml"
    f.write_text(f.read_text().replace('verbs: ["get", "patch"]',
                                       'verbs: ["get", "patch", "delete"]'))
    proc = subprocess.run([str(work / "tools" / "render-manifests.sh"), "--check"],
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "RAYSENSE_HELM": helm})
    assert proc.returncode == 1, proc.stderr
    assert "controller-rbac.yaml differs" in proc.stderr, proc.stderr


def assert_only_tokenreview_is_cluster_wide(docs, controllers):
    """agentAuth.mode=tokenreview: the one cluster-scoped grant is `create
    tokenreviews`, one ClusterRole per controller, bound to its account."""
    roles = find(docs, "ClusterRole")
    assert sorted(r["metadata"]["name"] for r in roles) == sorted(f"{c}-tokenreview"
                                                                  for c in controllers)
    for r in roles:
        assert r["rules"] == [{"apiGroups": ["authentication.k8s.io"],
                               "resources": ["tokenreviews"], "verbs": ["create"]}]
    for c in controllers:
        b = one(docs, "ClusterRoleBinding", f"{c}-tokenreview")
        assert b["roleRef"]["name"] == f"{c}-tokenreview"
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": c, "namespace": RELEASE_NS}]


def agent_token_volume(ds):
    spec = ds["spec"]["template"]["spec"]
    return next((v for v in spec["volumes"] if v["name"] == "push-token"), None)


def test_agent_auth_modes(helm):
    """tokenreview (default): the agent presents its own projected, pod-bound
    ServiceAccount token (audience raysense, 600 s), the controller checks it
    (--agent-auth=tokenreview, same audience) and mounts no shared token.
    token-file: the shared Secret on both sides, no ClusterRole. none: no
    token anywhere, no ClusterRole."""
    docs = template(helm)
    ds = one(docs, "DaemonSet", "raysense-agent", RELEASE_NS)
    agent = flags(pod_container(ds))
    vol = agent_token_volume(ds)
    src = vol["projected"]["sources"][0]["serviceAccountToken"]
    assert src == {"audience": "raysense", "expirationSeconds": 600, "path": "token"}
    mount = next(m for m in pod_container(ds)["volumeMounts"] if m["name"] == "push-token")
    assert agent["--token-file"] == mount["mountPath"] + "/token"
    assert ds["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    dep = one(docs, "Deployment", "raysense-controller", RELEASE_NS)
    ctl = flags(pod_container(dep))
    assert ctl["--agent-auth"] == "tokenreview" and ctl["--agent-token-audience"] == "raysense"
    assert "--token-file" not in ctl
    assert not [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "push-token"]

    docs = template(helm, sets=["agentAuth.mode=token-file"])
    assert not CLUSTER_SCOPED_RBAC & {d["kind"] for d in docs}
    ds = one(docs, "DaemonSet", "raysense-agent", RELEASE_NS)
    assert agent_token_volume(ds)["secret"]["secretName"] == "raysense-push-token"
    ctl = flags(pod_container(one(docs, "Deployment", "raysense-controller", RELEASE_NS)))
    assert ctl["--agent-auth"] == "token-file" and ctl["--token-file"].endswith("/token")

    docs = template(helm, sets=["agentAuth.mode=none"])
    assert not CLUSTER_SCOPED_RBAC & {d["kind"] for d in docs}
    ds = one(docs, "DaemonSet", "raysense-agent", RELEASE_NS)
    assert agent_token_volume(ds) is None and "--token-file" not in flags(pod_container(ds))
    ctl = flags(pod_container(one(docs, "Deployment", "raysense-controller", RELEASE_NS)))
    assert ctl["--agent-auth"] == "none" and "--token-file" not in ctl


def test_defaults(helm):
    docs = template(helm)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted([
        "ServiceAccount", "ServiceAccount", "Role", "RoleBinding", "PriorityClass",
        "ConfigMap", "ConfigMap", "DaemonSet", "Deployment", "Service", "Service",
        "NetworkPolicy", "NetworkPolicy", "ClusterRole", "ClusterRoleBinding"]), kinds
    assert not find(docs, "Namespace"), "helm install needs the namespace first (--create-namespace)"
    assert not find(docs, "ServiceMonitor")
    assert_only_tokenreview_is_cluster_wide(docs, ["raysense-controller"])

    dep = one(docs, "Deployment", "raysense-controller", RELEASE_NS)
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["strategy"]["type"] == "Recreate"
    args = flags(pod_container(dep))
    assert args["--namespace"] == "ray" and args["--raycluster"] == "raycluster-eci"
    # KubeRay's head Service: <cluster>-head-svc, dashboard port 8265.
    assert args["--dashboard"] == "http://raycluster-eci-head-svc.ray.svc:8265"
    assert args["--leader-elect"] is True and args["--lease-name"] == "raysense-controller"
    assert "--dashboard-token-file" not in args and "--dry-run" not in args

    role = one(docs, "Role", "raysense-controller", "ray")
    # Exactly the calls the controller makes (provider_kuberay.c, leader.c).
    assert sorted((tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"]),
                   tuple(r.get("resourceNames", ()))) for r in role["rules"]) == sorted([
        (("ray.io",), ("rayclusters",), ("get", "patch"), ()),
        (("",), ("pods",), ("list",), ()),
        (("coordination.k8s.io",), ("leases",), ("create",), ()),
        (("coordination.k8s.io",), ("leases",), ("get", "update"), ("raysense-controller",))])

    ds = one(docs, "DaemonSet", "raysense-agent", RELEASE_NS)
    spec = ds["spec"]["template"]["spec"]
    exprs = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]} in exprs
    sc = pod_container(ds)["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"} and sc["privileged"] is False
    assert flags(pod_container(ds))["--controller-url"] == \
        "http://raysense-controller.raysense-system.svc:9650/api/v1/signals"

    dash = one(docs, "ConfigMap", "raysense-grafana-dashboard", RELEASE_NS)
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dash["data"]["raysense-dashboard.json"]) == \
        json.loads((REPO / "deploy" / "grafana" / "raysense-dashboard.json").read_text())


def probe_setup(workload, main_flag, probe_flag):
    """(main port, probe port) from a workload's args, after checking that its
    container ports and both probes agree with them."""
    c = pod_container(workload)
    args = flags(c)
    main = int(args[main_flag].rsplit(":", 1)[1])
    probe = int(str(args[probe_flag]).rsplit(":", 1)[-1])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["probes"] == probe and probe != main, (ports, args)
    assert c["ports"][0]["containerPort"] == main   # the scrape port stays first
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    return main, probe


def probe_rules(policy, port):
    """The ingress rules that admit `port`, as their `from` lists (None: any
    source)."""
    return [r.get("from") for r in policy["spec"]["ingress"]
            if any(p["port"] == port for p in r.get("ports", []))]


@pytest.mark.parametrize("sets", [(), ("agent.port=19000", "agent.probePort=19500",
                                      "controller.port=19100", "controller.probePort=19600",
                                      "networkPolicy.probeFrom[0].ipBlock.cidr=10.0.0.0/16")])
def test_probes_use_the_probe_listeners(helm, sets):
    """The kubelet probes /healthz and /readyz on the probe listener (its own
    connection slots), not on the metrics/API port that clients can fill.
    The ports are passed explicitly (--probe-listen); the defaults are the
    binaries' own (listen port + 1: agent outputs.c, controller api.c).
    NetworkPolicy always admits traffic from the pod's own node (where the
    kubelet probes from), so by default no rule names the probe port, and
    none opens any port to every source; networkPolicy.probeFrom adds a rule
    for the probe port only."""
    docs = template(helm, sets=list(sets))
    ds = one(docs, "DaemonSet", "raysense-agent")
    dep = one(docs, "Deployment", "raysense-controller")
    a_main, a_probe = probe_setup(ds, "--listen", "--probe-listen")
    c_main, c_probe = probe_setup(dep, "--listen", "--probe-listen")
    assert flags(pod_container(ds))["--probe-listen"] == f"0.0.0.0:{a_probe}"
    agent_pol = one(docs, "NetworkPolicy", "raysense-agent")
    ctl_pol = one(docs, "NetworkPolicy", "raysense-controller")
    for pol in (agent_pol, ctl_pol):
        assert all(r.get("from") for r in pol["spec"]["ingress"]), pol
    if not sets:
        assert (a_main, a_probe, c_main, c_probe) == (9640, 9641, 9650, 9651)
        assert probe_rules(agent_pol, a_probe) == [] and probe_rules(ctl_pol, c_probe) == []
    else:
        assert (a_main, a_probe, c_main, c_probe) == (19000, 19500, 19100, 19600)
        nodes = [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
        assert probe_rules(agent_pol, a_probe) == [nodes]
        assert probe_rules(ctl_pol, c_probe) == [nodes]
        # ... and for the probe port only.
        assert nodes not in probe_rules(agent_pol, a_main) + probe_rules(ctl_pol, c_main)


def test_grafana_kustomization_makes_the_charts_configmap(helm):
    """deploy/grafana/kustomization.yaml (for kubectl users) generates the
    chart's dashboard ConfigMap: same name, namespace, labels, file."""
    chart_cm = one(template(helm), "ConfigMap", "raysense-grafana-dashboard")
    kust = yaml.safe_load((REPO / "deploy" / "grafana" / "kustomization.yaml").read_text())
    (gen,) = kust["configMapGenerator"]
    assert gen["name"] == chart_cm["metadata"]["name"]
    assert kust["namespace"] == chart_cm["metadata"]["namespace"]
    assert gen["files"] == list(chart_cm["data"])
    labels = gen["options"]["labels"]
    assert all(chart_cm["metadata"]["labels"].get(k) == v for k, v in labels.items())
    assert labels["grafana_dashboard"] == "1"


def test_service_monitor_optional(helm):
    docs = template(helm, sets=["serviceMonitor.enabled=true", "serviceMonitor.labels.release=kps"])
    monitors = find(docs, "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"raysense-agent", "raysense-controller"}
    assert all(m["metadata"]["labels"]["release"] == "kps" for m in monitors)


def test_example_eci_ecs(helm):
    docs = template(helm, "eci-ecs.yaml")
    ds = one(docs, "DaemonSet", "raysense-agent")
    exprs = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]} in exprs
    assert {"key": "k8s.aliyun.com/vnode", "operator": "DoesNotExist"} in exprs
    dep = one(docs, "Deployment", "raysense-controller")
    ctl_exprs = dep["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]} in ctl_exprs
    images = {pod_container(d)["image"] for d in docs if d["kind"] in ("DaemonSet", "Deployment")}
    assert images == {"registry-vpc.cn-hangzhou.aliyuncs.com/raysense/raysense:0.1.0"}
    cfg = json.loads(one(docs, "ConfigMap", "raysense-controller")["data"]["controller.json"])
    assert [g["name"] for g in cfg["worker_groups"]] == ["ecs-cpu", "eci-cpu"]
    # The groups are the example RayCluster's.
    rc = next(d for d in yaml.safe_load_all(
        (REPO / "deploy" / "examples" / "raycluster-eci.yaml").read_text()) if d and d["kind"] == "RayCluster")
    assert {g["groupName"] for g in rc["spec"]["workerGroupSpecs"]} == {"ecs-cpu", "eci-cpu"}
    for pol in find(docs, "NetworkPolicy"):
        prom = [f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                for rule in pol["spec"]["ingress"] for f in rule.get("from", [])
                if "namespaceSelector" in f]
        assert prom == ["arms-prom"], pol["metadata"]["name"]


def test_example_two_rayclusters(helm):
    docs = template(helm, "two-rayclusters.yaml")
    assert_only_tokenreview_is_cluster_wide(docs, ["raysense-team-a", "raysense-team-b"])
    deps = {d["metadata"]["name"]: d for d in find(docs, "Deployment")}
    assert set(deps) == {"raysense-team-a", "raysense-team-b"}
    for name, ns, rc in [("raysense-team-a", "team-a", "rc-a"), ("raysense-team-b", "team-b", "rc-b")]:
        dep = deps[name]
        spec = dep["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == name
        assert dep["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        args = flags(pod_container(dep))
        assert (args["--namespace"], args["--raycluster"], args["--lease-name"]) == (ns, rc, name)
        # RBAC in the RayCluster's namespace only, for this controller only.
        role = one(docs, "Role", name)
        assert role["metadata"]["namespace"] == ns
        assert next(r for r in role["rules"] if r.get("resourceNames"))["resourceNames"] == [name]
        binding = one(docs, "RoleBinding", name)
        assert binding["metadata"]["namespace"] == ns
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": RELEASE_NS}]
        assert all("secrets" not in r["resources"] for r in role["rules"])
        one(docs, "ServiceAccount", name, RELEASE_NS)
        one(docs, "Service", name, RELEASE_NS)
        one(docs, "NetworkPolicy", name, RELEASE_NS)
        one(docs, "ConfigMap", name, RELEASE_NS)

    a = flags(pod_container(deps["raysense-team-a"]))
    assert a["--dashboard"] == "http://rc-a-head-svc.team-a.svc:8265"
    assert "--dashboard-token-file" not in a and "--dry-run" not in a
    b_spec = deps["raysense-team-b"]["spec"]["template"]["spec"]
    b = flags(pod_container(deps["raysense-team-b"]))
    assert b["--dashboard"] == "http://rc-b-dashboard.team-b.svc:8265"
    assert b["--dry-run"] is True
    # The dashboard token: a mounted Secret, read from a file.
    vol = next(v for v in b_spec["volumes"] if v["name"] == "dashboard-token")
    assert vol["secret"]["secretName"] == "team-b-ray-dashboard"
    mount = next(m for m in pod_container(deps["raysense-team-b"])["volumeMounts"]
                 if m["name"] == "dashboard-token")
    assert b["--dashboard-token-file"] == mount["mountPath"] + "/" + vol["secret"]["items"][0]["path"]
    assert mount["readOnly"] is True
    # Agents push to team-a's controller.
    ds = one(docs, "DaemonSet", "raysense-agent")
    assert flags(pod_container(ds))["--controller-url"] == \
        "http://raysense-team-a.raysense-system.svc:9650/api/v1/signals"


def test_example_older_kernel(helm):
    docs = template(helm, "older-kernel.yaml")
    sc = pod_container(one(docs, "DaemonSet", "raysense-agent"))["securityContext"]
    assert sc["capabilities"]["add"] == ["BPF", "PERFMON", "SYS_PTRACE"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"] == {"type": "Unconfined"}
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    # Only the agent changes.
    default = template(helm)
    assert one(docs, "Deployment", "raysense-controller") == one(default, "Deployment", "raysense-controller")


GROUPS = {"worker_groups": [{"name": "cpu", "resources": {"CPU": 1}, "min_workers": 0, "max_workers": 2}]}


@pytest.mark.parametrize("values, message", [
    # The agent never runs on virtual (ECI) nodes.
    ({"agent": {"tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}]}},
     "virtual-kubelet.io/provider"),
    # Two controllers may not share their objects' names (and Lease).
    ({"rayClusters": [{"namespace": "a", "name": "x", "controllerName": "c", "config": GROUPS},
                      {"namespace": "b", "name": "rc-y", "controllerName": "c", "config": GROUPS}]},
     "controller name"),
    ({"rayClusters": [{"namespace": "a", "name": "x", "config": GROUPS},
                      {"namespace": "b", "name": "x", "config": GROUPS}]}, "controller name"),
    ({"agent": {"pushTo": "nobody"}}, "agent.pushTo"),
    # values.schema.json
    ({"rayClusters": [{"name": "x", "config": GROUPS}]}, "missing property 'namespace'"),
    ({"agent": {"capabilities": ["CAP_SYS_ADMIN"]}}, "/agent/capabilities/0"),
    ({"agent": {"port": 9700, "probePort": 9700}}, "agent.probePort must differ from agent.port"),
    ({"controller": {"probePort": 9650}}, "controller.probePort must differ from controller.port"),
    ({"rayClusters": [{"namespace": "a", "name": "x", "config": GROUPS, "dashbordUrl": "typo"}]},
     "dashbordUrl"),
])
def test_chart_refuses(helm, values, message, tmp_path):
    f = tmp_path / "values.yaml"
    f.write_text(yaml.safe_dump(values))
    proc = template(helm, f, check=False)
    assert isinstance(proc, subprocess.CompletedProcess) and proc.returncode != 0, "rendered"
    assert message in proc.stderr, proc.stderr


def test_controller_only_release(helm):
    """One release per RayCluster: every release but one without the agent."""
    docs = template(helm, sets=["agent.enabled=false", "rayClusters[0].namespace=team-c",
                                "rayClusters[0].name=rc-c", "rayClusters[0].controllerName=raysense-team-c",
                                "rayClusters[0].config.worker_groups[0].name=cpu",
                                "rayClusters[0].config.worker_groups[0].max_workers=3"])
    assert not find(docs, "DaemonSet") and not find(docs, "PriorityClass")
    assert {d["metadata"]["name"] for d in find(docs, "ServiceAccount")} == {"raysense-team-c"}
    assert {d["metadata"]["name"] for d in find(docs, "NetworkPolicy")} == {"raysense-team-c"}
    assert one(docs, "Role", "raysense-team-c")["metadata"]["namespace"] == "team-c"


def run_with_help(binary, args):
    return subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("values", [None, *EXAMPLE_FILES])
def test_binaries_accept_the_rendered_args(helm, bin, values, tmp_path):
    """Every rendered command line goes through the real option parser
    (getopt parses all flags before --help: an unknown flag or bad value exits
    2), and every controller.json through the real config loader."""
    docs = template(helm, *([values] if values else []))
    for d in find(docs, "DaemonSet") + find(docs, "Deployment"):
        c = pod_container(d)
        binary = bin(c["command"][0].rsplit("/", 1)[1])
        args = [a.replace("$(POD_NAME)", "pod-0") for a in c["args"]]
        proc = run_with_help(binary, args)
        assert proc.returncode == 0, f"{d['metadata']['name']}: {proc.stderr}"
    for cm in find(docs, "ConfigMap"):
        if "controller.json" not in cm["data"]:
            continue
        cfg = tmp_path / f"{cm['metadata']['name']}.json"
        cfg.write_text(cm["data"]["controller.json"])
        port = free_port()
        proc = subprocess.Popen(
            [bin("raysense-controller"), "--config", str(cfg), "--dry-run", "--provider", "local",
             "--state-dir", str(tmp_path / "state"), "--dashboard", "http://127.0.0.1:9",
             "--listen", f"127.0.0.1:{port}", "--log-level", "warn", "--agent-auth", "none"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(1.5)
            assert proc.poll() is None, f"{cfg.name}: controller exited {proc.returncode}:\n{proc.stdout.read()}"
        finally:
            stop_process(proc, grace_s=20)
