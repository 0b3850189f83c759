"""Static check of deploy/grafana/raysense-dashboard.json against the
exporters' source (no binaries): every metric a query names is a family the
source exports, and every label a query groups by (`by (...)`), and every
{{label}} in a legend, is a label the source puts on that family.

The families and labels come from:
- the controller: a real raysense-controller's /metrics (--dry-run, a
  dashboard nobody answers: every family is written from the start, with
  its labels);
- the KubeRay provider: its contract below (tests/k8s/test_kuberay_provider.py
  reads those series from the real provider's /metrics);
- the agent's families are the rs_family_info tables (snapshot.c,
  export_prom.c, plus agent_http.c's set_value calls); their labels are built
  at run time, so a family's allowed labels are those the files naming it put
  in label position (label arrays, add_label/add_counter calls, label key
  assignments), plus `node` (export_prom.c adds it to every series) and `le`
  for histograms. That is looser than per family, but a label no exporter
  file ever writes (node_type, shape, decision) is caught.
tests/agent/test_dashboard.py checks the metric names against the real
binaries' output.
"""
import json
import re
import subprocess
import tempfile
import time
import urllib.request

import pytest
from manifests import REPO
from promql import grouping_labels, metric_names

SRC = REPO / "userspace"
DASHBOARD = REPO / "deploy" / "grafana" / "raysense-dashboard.json"
AGENT_DIR = SRC / "agent"

# The KubeRay provider's families and labels (provider_kuberay.c).
KUBERAY_FAMILIES = {
    "raysense_kuberay_patches_total": ("counter", {"outcome"}),
    "raysense_kuberay_pod_startup_seconds": ("histogram", {"phase", "eci", "le"}),
}


def controller_families(bin):
    """{family: (type, labels)} from a real controller's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families
    from raycluster import free_port
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rs-dash-") as state:
        proc = subprocess.Popen([bin("raysense-controller"), "--dry-run",
                                 "--dashboard", "http://127.0.0.1:1", "--dashboard-timeout-ms", "200",
                                 "--worker-group", "g:CPU=1,max=1", "--state-dir", state,
                                 "--listen", f"127.0.0.1:{port}", "--agent-auth", "none"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            text = None
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                        text = r.read().decode()
                    break
                except OSError:
                    time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert text, "the controller never served /metrics"
    fams = {}
    for fam in text_string_to_metric_families(text):
        labels = {k for s in fam.samples for k in s.labels}
        # The parser drops a counter's _total from the family name.
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        fams[name] = (fam.type, labels)
    return fams


def label_keys_in(text):
    """Label keys a C file puts in label position."""
    keys = set()
    # (const char *[]){ "k", v, "k2", v2, NULL } and { "k", v, ..., NULL }
    for body in re.findall(r"\{\s*((?:\"\w+\"\s*,\s*[^,{}]+?\s*,\s*)+)NULL\s*\}", text):
        items = [i.strip() for i in body.split(",") if i.strip()]
        keys.update(i.strip('"') for i in items[0::2] if re.fullmatch(r'"\w+"', i))
    # common/prom_text: RS_PROM_LABELS({ "k", v }, { "k2", v2 })
    for body in re.findall(r"RS_PROM_LABELS\((.*?)\)\s*[,;)]", text, flags=re.S):
        keys.update(re.findall(r"\{\s*\"(\w+)\"\s*,", body))
    keys.update(re.findall(r"\(struct rs_prom_label\)\{\s*\"(\w+)\"", text))
    keys.update(re.findall(r"add_label\([^,]+,[^,]+,\s*\"(\w+)\"", text))
    keys.update(re.findall(r"add_counter\([^,]+,[^,]+,[^,]+,\s*\"(\w+)\"", text))
    keys.update(re.findall(r"labels\[[\w +]+\]\s*=\s*\"(\w+)\"", text))
    keys.update(re.findall(r"labels\[\d+\]\.key,\s*\w+,\s*\"(\w+)\"", text))
    return keys


def agent_families(bin):
    """{family: (type, labels)} for the agent: names and types from the real
    binary (`raysensectl maps --families`), labels from the source files that
    name the family (by its literal or by the macro that spells it)."""
    out = subprocess.run([bin("raysensectl"), "maps", "--families"], capture_output=True,
                         text=True, check=True).stdout
    fams = {name: (typ, set()) for name, typ in (l.split() for l in out.splitlines() if l.strip())}
    files = {p: p.read_text() for p in sorted(AGENT_DIR.glob("*.[ch]"))}
    macros = {}
    for text in files.values():
        for macro, name in re.findall(r"#define\s+(\w+)\s+\"(raysense_\w+)\"", text):
            macros.setdefault(name, set()).add(macro)
    for name, (typ, labels) in fams.items():
        labels.add("node")
        if typ == "histogram":
            labels.add("le")
        spellings = {f'"{name}"'} | macros.get(name, set())
        for text in files.values():
            if any(sp in text for sp in spellings):
                labels.update(label_keys_in(text))
    return fams


@pytest.fixture(scope="module")
def families(bin):
    fams = agent_families(bin)
    for name, (typ, labels) in {**controller_families(bin), **KUBERAY_FAMILIES}.items():
        assert name not in fams, f"{name} exported twice"
        fams[name] = (typ, labels)
    return fams


def test_source_extraction(families):
    """What the extraction finds, on families whose labels are known."""
    assert families["raysense_controller_decisions_total"][1] == {"action"}
    assert families["raysense_controller_launches_total"][1] == {"type"}
    assert families["raysense_controller_terminations_total"][1] == {"type", "reason"}
    assert families["raysense_controller_infeasible_demand"][1] == set()
    assert families["raysense_controller_loop_duration_seconds"] == ("histogram", {"le"})
    assert families["raysense_kuberay_pod_startup_seconds"][1] == {"phase", "eci", "le"}
    assert families["raysense_raylet_lease_latency_seconds"][0] == "histogram"
    assert {"raylet_pid", "node_id", "raylet_port", "node", "le"} <= \
        families["raysense_raylet_lease_latency_seconds"][1]
    assert "outcome" in families["raysense_raylet_leases_total"][1]
    assert "state" in families["raysense_workers"][1]
    assert "reason" in families["raysense_worker_startup_failures_total"][1]
    assert "version" in families["raysense_agent_build_info"][1]
    for fam, (_, labels) in families.items():
        assert not {"node_type", "shape", "decision"} & labels, fam


def all_targets():
    dash = json.loads(DASHBOARD.read_text())

    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))
    for p in walk(dash["panels"]):
        for t in p.get("targets", []):
            yield p["title"], t
    for v in dash["templating"]["list"]:
        if v.get("type") == "query":
            yield f"variable {v['name']}", {"expr": v["definition"]}


def family_of(name, families):
    if name in families:
        return name
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    if base != name and families.get(base, ("",))[0] in ("histogram", "summary"):
        return base
    return None


def test_parsers():
    e = 'histogram_quantile(0.9, sum(increase(a_bucket{node=~"$node"}[$__range])) by (le, phase))'
    assert metric_names(e) == {"a_bucket"} and grouping_labels(e) == {"le", "phase"}
    e = "sum by (action) (rate(raysense_controller_decisions_total[$__rate_interval]))"
    assert metric_names(e) == {"raysense_controller_decisions_total"} and grouping_labels(e) == {"action"}
    assert metric_names("label_values(raysense_agent_build_info, node)") == {"raysense_agent_build_info", "node"}


def test_no_debug_labels_in_the_dashboard():
    """raylet_pid, pod_uid, gcs_pid, peer exist only with the agent's
    --debug-labels: no panel may need them."""
    for title, t in all_targets():
        text = t["expr"] + t.get("legendFormat", "")
        for lbl in ("raylet_pid", "pod_uid", "gcs_pid", "peer"):
            assert not re.search(rf"\b{lbl}\b", text), f"{title}: {lbl} in {text}"


def test_every_query_uses_exported_names_and_labels(families):
    problems = []
    for title, t in all_targets():
        expr = t["expr"]
        if expr.startswith("label_values("):
            m = re.fullmatch(r"label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)", expr)
            fam = family_of(m.group(1), families)
            if not fam or m.group(2) not in families[fam][1]:
                problems.append(f"{title}: {expr}")
            continue
        fams = [family_of(n, families) for n in metric_names(expr)]
        if not fams or None in fams:
            problems.append(f"{title}: unknown metric in {expr}")
            continue
        have = set().union(*(families[f][1] for f in fams))
        # Labels in selectors {a="..."} and in by(...) must exist.
        used = grouping_labels(expr) | set(re.findall(r"[{,]\s*(\w+)\s*=~?", expr))
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
        # A legend can only show labels the query keeps: all of them without
        # an aggregation, else the by(...) list.
        kept = grouping_labels(expr) if re.search(r"\b(sum|min|max|avg|count)\b", expr) else have
        for lbl in sorted(used - have):
            problems.append(f"{title}: {expr} uses label {lbl!r}, which {fams} do not have")
        for lbl in sorted(legend - kept):
            problems.append(f"{title}: legend {{{{{lbl}}}}} is not a label of the result of {expr}")
    assert not problems, "\n".join(problems)
