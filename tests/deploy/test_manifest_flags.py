"""The command lines in deploy/base must be ones the real binaries accept.

Each container's args (with $(VAR) references expanded from the ConfigMap and
the downward API, as the kubelet does) are handed to the built binary followed
by --help: getopt parses every manifest flag and its value first, so the run
exits 0 only if the binary knows all of them (an unknown flag or a bad value
is a usage error, exit 2). Ports and probe paths are cross-checked too.
"""
import json
import subprocess
import time

import yaml
from manifests import REPO, container, controller_env, expand, load
from raycluster import free_port, stop_process


def run_with_help(binary, args):
    return subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30)


def test_agent_accepts_its_manifest_args(bin):
    c = container("agent-daemonset.yaml")
    assert c["command"] == ["/usr/local/bin/raysense-agent"]
    proc = run_with_help(bin("raysense-agent"), c["args"])
    assert proc.returncode == 0, f"raysense-agent rejects the manifest args:\n{proc.stderr}"
    args = dict(a.split("=", 1) for a in c["args"] if "=" in a)
    port = int(args["--listen"].rsplit(":", 1)[1])
    assert port == c["ports"][0]["containerPort"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    probes = next(p["containerPort"] for p in c["ports"] if p["name"] == "probes")
    assert args["--probe-listen"] == f"0.0.0.0:{probes}"
    # The push goes to the controller Service's port, on the controller's
    # signals endpoint.
    svc = next(d for d in load("services.yaml") if d["metadata"]["name"] == "raysense-controller")
    url = args["--controller-url"]
    assert url == (f"http://raysense-controller.raysense-system.svc:"
                   f"{svc['spec']['ports'][0]['port']}/api/v1/signals"), url
    token_mount = next(m for m in c["volumeMounts"] if m["name"] == "push-token")
    assert args["--token-file"] == token_mount["mountPath"] + "/token"
    # Its own pod-bound token, for the controller's audience (issue 16).
    ds = next(d for d in load("agent-daemonset.yaml") if d["kind"] == "DaemonSet")
    vol = next(v for v in ds["spec"]["template"]["spec"]["volumes"] if v["name"] == "push-token")
    audience = vol["projected"]["sources"][0]["serviceAccountToken"]["audience"]
    ctl = dict(a.split("=", 1) for a in container("controller-deployment.yaml")["args"] if "=" in a)
    assert ctl["--agent-auth"] == "tokenreview" and ctl["--agent-token-audience"] == audience


def test_controller_accepts_its_manifest_args(bin):
    c = container("controller-deployment.yaml")
    assert c["command"] == ["/usr/local/bin/raysense-controller"]
    args = expand(c["args"], controller_env())
    proc = run_with_help(bin("raysense-controller"), args)
    assert proc.returncode == 0, f"raysense-controller rejects the manifest args:\n{proc.stderr}"


def test_controller_ports_probes_and_files():
    c = container("controller-deployment.yaml")
    env = controller_env()
    args = dict(a.split("=", 1) for a in expand(c["args"], env) if "=" in a)
    assert int(args["--listen"].rsplit(":", 1)[1]) == c["ports"][0]["containerPort"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    probes = next(p["containerPort"] for p in c["ports"] if p["name"] == "probes")
    assert int(args["--probe-listen"]) == probes
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert args["--config"] == mounts["config"] + "/controller.json"
    assert args["--agent-auth"] == "tokenreview" and "--token-file" not in args
    # The Role is in the namespace the controller is told to act in.
    role = next(d for d in load("controller-rbac.yaml") if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == args["--namespace"]
    lease_rule = next(r for r in role["rules"] if r.get("resourceNames"))
    assert lease_rule["resourceNames"] == [args["--lease-name"]]


def start_controller(binary, cfg, tmp_path):
    port = free_port()
    return subprocess.Popen(
        [binary, "--config", str(cfg), "--dry-run", "--provider", "local",
         "--state-dir", str(tmp_path / "state"), "--dashboard", "http://127.0.0.1:9",
         "--listen", f"127.0.0.1:{port}", "--log-level", "debug", "--agent-auth", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)



def test_controller_config_file_is_accepted(bin, tmp_path):
    """controller.json from the ConfigMap goes through the real controller:
    it loads and validates --config after parsing flags and exits 2 on a bad
    file, so a controller still running after 2 s accepted it. A broken copy
    (min > max) is the control that the check can fail."""
    cfg = tmp_path / "controller.json"
    cfg.write_text(controller_env()["controller.json"])
    proc = start_controller(bin("raysense-controller"), cfg, tmp_path)
    try:
        time.sleep(2)
        assert proc.poll() is None, f"controller exited {proc.returncode}:\n{proc.stdout.read()}"
    finally:
        stop_process(proc, grace_s=20)

    bad = json.loads(cfg.read_text())
    bad["worker_groups"][0]["min_workers"] = 9
    bad["worker_groups"][0]["max_workers"] = 1
    cfg.write_text(json.dumps(bad))
    proc = start_controller(bin("raysense-controller"), cfg, tmp_path)
    try:
        assert proc.wait(timeout=10) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_prometheus_example_matches_the_manifests():
    """deploy/prometheus/prometheus.yml finds what deploy/base creates: agent
    pods by label and port 9640 in raysense-system, the controller Service's
    endpoint port named "metrics"."""
    prom = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    agent_job = jobs["raysense-agent"]
    sd = agent_job["kubernetes_sd_configs"][0]
    (ds,) = [d for d in load("agent-daemonset.yaml")]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    key, _, value = sd["selectors"][0]["label"].partition("=")
    assert labels[key] == value
    assert sd["namespaces"]["names"] == [ds["metadata"]["namespace"]]
    port_rule = next(r for r in agent_job["relabel_configs"]
                     if r.get("source_labels") == ["__meta_kubernetes_pod_container_port_number"])
    assert int(port_rule["regex"]) == container("agent-daemonset.yaml")["ports"][0]["containerPort"]

    ctl_job = jobs["raysense-controller"]
    rules = {tuple(r["source_labels"]): r["regex"] for r in ctl_job["relabel_configs"]}
    svc = next(d for d in load("services.yaml") if d["metadata"]["name"] == "raysense-controller")
    assert rules[("__meta_kubernetes_service_name",)] == svc["metadata"]["name"]
    assert rules[("__meta_kubernetes_endpoint_port_name",)] == svc["spec"]["ports"][0]["name"]


def test_servicemonitors_select_the_services():
    """optional/servicemonitor.yaml (not applied here: the prometheus-operator
    CRDs are absent) selects the Services of deploy/base by label, namespace
    and port name."""
    monitors = load("optional/servicemonitor.yaml")
    services = {d["metadata"]["name"]: d for d in load("services.yaml")}
    assert {m["metadata"]["name"] for m in monitors} == set(services)
    for m in monitors:
        svc = services[m["metadata"]["name"]]
        sel = m["spec"]["selector"]["matchLabels"]
        assert all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items())
        assert m["spec"]["namespaceSelector"]["matchNames"] == [svc["metadata"]["namespace"]]
        ports = {p["name"] for p in svc["spec"]["ports"]}
        assert {e["port"] for e in m["spec"]["endpoints"]} <= ports
        assert all(e["path"] == "/metrics" for e in m["spec"]["endpoints"])
