"""deploy/grafana/raysense-dashboard.json and deploy/prometheus/prometheus.yml:
the dashboard is a valid model with a datasource variable, and every metric
its PromQL queries name is one the agent exports (`raysensectl maps
--families`) or one of the controller's raysense_controller_* families; the
scrape config passes promtool (the Kubernetes jobs are checked by structure:
Debian's Prometheus 2.42 is built without kubernetes_sd_configs)."""
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request

import pytest
import yaml

from outputs_util import REPO
from promql import metric_names
from raycluster import free_port

DASHBOARD = os.path.join(REPO, "deploy", "grafana", "raysense-dashboard.json")
PROM_CONFIG = os.path.join(REPO, "deploy", "prometheus", "prometheus.yml")

# Names the controller exports (its contract with the dashboard).
CONTROLLER_FAMILIES = {
    "raysense_controller_decisions_total": "counter",
    "raysense_controller_launches_total": "counter",
    "raysense_controller_terminations_total": "counter",
    "raysense_controller_infeasible_demand": "gauge",
    "raysense_controller_loop_duration_seconds": "histogram",
    "raysense_controller_workers": "gauge",
    "raysense_controller_pending_demand": "gauge",
    "raysense_controller_holding": "gauge",
    "raysense_controller_leader": "gauge",
    "raysense_controller_startup_seconds": "histogram",
}

def agent_families(bin):
    out = subprocess.run([bin("raysensectl"), "maps", "--families"], capture_output=True,
                         text=True, check=True).stdout
    fams = dict(line.split() for line in out.splitlines() if line.strip())
    assert "raysense_raylet_lease_latency_seconds" in fams
    return fams


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def all_panels(dash):
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def family_of(name, families):
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and families.get(base) == "histogram":
            return base
    return None


def test_metric_name_parser():
    assert metric_names('sum(rate(raysense_x_bucket{node=~"$node"}[$__rate_interval])) by (le)') == \
        {"raysense_x_bucket"}
    assert metric_names("histogram_quantile(0.9, sum(increase(a_bucket[$__range])) by (le, phase))") == \
        {"a_bucket"}
    assert metric_names('min(raysense_agent_ready{node=~"$node"}) by (node)') == {"raysense_agent_ready"}


def test_dashboard_model_is_valid():
    dash = load_dashboard()
    for key in ("uid", "title", "panels", "templating", "schemaVersion", "time"):
        assert key in dash, key
    assert 8 <= len(dash["uid"]) <= 40
    assert isinstance(dash["schemaVersion"], int)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in all_panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in all_panels(dash):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
        for t in p["targets"]:
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]
    kinds = {p["type"] for p in all_panels(dash)}
    assert "heatmap" in kinds
    for p in all_panels(dash):
        if p["type"] == "heatmap":
            for t in p["targets"]:
                assert t["format"] == "heatmap" and "_bucket" in t["expr"] and "by (le)" in t["expr"]


def test_every_query_names_an_exported_metric(bin):
    families = dict(agent_families(bin))
    families.update(CONTROLLER_FAMILIES)
    dash = load_dashboard()
    seen = set()
    for p in all_panels(dash):
        for t in p.get("targets", []):
            names = metric_names(t["expr"])
            assert names, f"{p['title']}: no metric in {t['expr']!r}"
            for n in names:
                fam = family_of(n, families)
                assert fam, f"panel {p['title']!r} queries {n!r}, which nothing exports"
                seen.add(fam)
    var = next(v for v in dash["templating"]["list"] if v["name"] == "node")
    var_metric = re.match(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,", var["definition"])
    assert var_metric and family_of(var_metric.group(1), families), var["definition"]
    # The panels the issue asks for are there.
    for want in ("raysense_raylet_lease_latency_seconds", "raysense_workers",
                 "raysense_node_startup_phase_seconds", *CONTROLLER_FAMILIES):
        assert want in seen, f"dashboard never shows {want}"


def test_controller_exports_the_dashboard_families(bin, tmp_path):
    """A real controller (dry run, dashboard unreachable) serves every
    raysense_controller_* family the dashboard queries, with its TYPE."""
    port = free_port()
    proc = subprocess.Popen(
        [bin("raysense-controller"), "--dry-run", "--dashboard", "http://127.0.0.1:9",
         "--worker-group", "cpu1:CPU=1,min=0,max=2", "--listen", f"127.0.0.1:{port}",
         "--state-dir", str(tmp_path), "--log-level", "warn", "--agent-auth", "none"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        text = None
        deadline = time.time() + 20
        while time.time() < deadline and text is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert text is not None, "controller never served /metrics"
        for fam, typ in CONTROLLER_FAMILIES.items():
            assert f"# TYPE {fam} {typ}" in text, f"controller does not export {fam} as {typ}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)



def test_prometheus_config():
    with open(PROM_CONFIG) as f:
        cfg = yaml.safe_load(f)
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    agent = jobs["raysense-agent"]
    sd = agent["kubernetes_sd_configs"][0]
    assert sd["role"] == "pod"
    keep_port = [r for r in agent["relabel_configs"]
                 if r.get("source_labels") == ["__meta_kubernetes_pod_container_port_number"]]
    assert keep_port and keep_port[0]["regex"] == "9640" and keep_port[0]["action"] == "keep"
    assert jobs["raysense-agent-static"]["static_configs"][0]["targets"] == ["127.0.0.1:9640"]
    # promtool on the file minus the kubernetes_sd jobs (unsupported by Debian's build).
    cfg["scrape_configs"] = [j for j in cfg["scrape_configs"] if "kubernetes_sd_configs" not in j]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(cfg, f)
    try:
        p = subprocess.run(["promtool", "check", "config", f.name], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        os.unlink(f.name)
