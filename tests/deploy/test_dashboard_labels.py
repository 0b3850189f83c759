"""Static check of deploy/grafana/raysense-dashboard.json against the
exporters' source (no binaries): every metric a query names is a family the
source exports, and every label a query groups by (`by (...)`), and every
{{label}} in a legend, is a label the source puts on that family.

The families and labels are read from the C source:
- the controller (userspace/controller/controller.c) and the KubeRay provider
  (provider_kuberay.c) write their exposition with format strings, so
  `raysense_x{a=\\"%s\\",b=\\"%s\\"}` gives family x labels {a, b};
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

import pytest
from manifests import REPO
from promql import grouping_labels, metric_names

SRC = REPO / "userspace"
DASHBOARD = REPO / "deploy" / "grafana" / "raysense-dashboard.json"
FORMAT_SOURCES = [SRC / "controller" / "controller.c", SRC / "controller" / "provider_kuberay.c"]
AGENT_DIR = SRC / "agent"

# Labels being added by a change not merged yet, (family, label): the
# dashboard already uses them. Remove an entry once the source has it.
PENDING = {
    # controller.c: decisions_total per action (launch, terminate, keep,
    # hold, resume, infeasible), in the controller engineer's branch.
    ("raysense_controller_decisions_total", "action"),
}

def format_families():
    """{family: (type, labels)} from the controller's format strings."""
    fams = {}
    for path in FORMAT_SOURCES:
        text = path.read_text()
        for name, typ in re.findall(r"# TYPE (raysense_\w+) (\w+)", text):
            fams[name] = (typ, set())
        for name, body in re.findall(r"(raysense_\w+)\{((?:\w+=\\\"[^\\]*\\\",?)+)\}", text):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if base in fams:
                fams[base][1].update(re.findall(r"(\w+)=\\\"", body))
    return fams


def label_keys_in(text):
    """Label keys a C file puts in label position."""
    keys = set()
    # (const char *[]){ "k", v, "k2", v2, NULL } and { "k", v, ..., NULL }
    for body in re.findall(r"\{\s*((?:\"\w+\"\s*,\s*[^,{}]+?\s*,\s*)+)NULL\s*\}", text):
        items = [i.strip() for i in body.split(",") if i.strip()]
        keys.update(i.strip('"') for i in items[0::2] if re.fullmatch(r'"\w+"', i))
    keys.update(re.findall(r"add_label\([^,]+,[^,]+,\s*\"(\w+)\"", text))
    keys.update(re.findall(r"add_counter\([^,]+,[^,]+,[^,]+,\s*\"(\w+)\"", text))
    keys.update(re.findall(r"labels\[[\w +]+\]\s*=\s*\"(\w+)\"", text))
    keys.update(re.findall(r"labels\[\d+\]\.key,\s*\w+,\s*\"(\w+)\"", text))
    return keys


def agent_families():
    """{family: (type, labels)} for the agent."""
    fams = {}
    files = {p: p.read_text() for p in sorted(AGENT_DIR.glob("*.c"))}
    for text in files.values():
        for name, typ in re.findall(r"\{\s*\"(raysense_\w+)\",\s*(?:\"(?:[^\"\\]|\\.)*\"\s*)+,\s*\"(\w+)\"\s*\}",
                                    text):
            fams[name] = (typ, set())
        for name, kind in re.findall(r"set_value\([^,]+,\s*\"(raysense_\w+)\",\s*RS_VALUE_(\w+)", text):
            fams.setdefault(name, (kind.lower(), set()))
    for name, (typ, labels) in fams.items():
        labels.add("node")
        if typ == "histogram":
            labels.add("le")
        for text in files.values():
            if f'"{name}"' in text:
                labels.update(label_keys_in(text))
    return fams


@pytest.fixture(scope="module")
def families():
    fams = agent_families()
    for name, (typ, labels) in format_families().items():
        assert name not in fams, f"{name} exported twice"
        fams[name] = (typ, labels)
    for fam, label in PENDING:
        fams[fam][1].add(label)
    return fams


def test_source_extraction(families):
    """What the extraction finds, on families whose labels are known."""
    assert families["raysense_controller_launches_total"][1] == {"type"}
    assert families["raysense_controller_terminations_total"][1] == {"type", "reason"}
    assert families["raysense_controller_infeasible_demand"][1] == set()
    assert families["raysense_controller_loop_duration_seconds"] == ("histogram", {"le"})
    assert families["raysense_kuberay_pod_startup_seconds"][1] == {"phase", "eci"}
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
