"""The dashboard on real data: a real Ray head, the real controller (local
provider, one 1-CPU group), the real eBPF agent pushing to it, and Debian's
real Prometheus scraping both at 1 s.  A workload makes the controller
launch a worker (a few seconds of leases) and stop it once idle; then EVERY
query of deploy/grafana/raysense-dashboard.json (and its template variable
queries), with Grafana's variables substituted, is evaluated through
Prometheus' HTTP API: each returns at least one series and each `by (...)`
and legend {{label}} is on the result.  Prints panel title -> series count.
The agent runs without --debug-labels (no default series has a process,
pod, peer or timeline-key label) and in the sampled
--lease-probes=duty mode (the lease panels divide by the sampled seconds).  The launched worker starts
START_DELAY_S late, so Prometheus sees the pending-workers gauge at 1.

Needs root and BTF (the agent)."""
import json
import os
import re
import shutil
import sys
import tempfile
import time

import pytest

from outputs_util import REPO, Prometheus, free_port
from raycluster import RAY_BIN

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bpf"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from agentutil import Agent  # noqa: E402
from controller_proc import Controller, background_driver, stop_driver  # noqa: E402

DASHBOARD = os.path.join(REPO, "deploy", "grafana", "raysense-dashboard.json")
IDLE_S = 5
# The launched worker's `ray start` waits this long first (a --ray-bin
# wrapper), so it stays launched-but-not-ALIVE over several 1 s scrapes and
# the pending-workers gauge is seen at 1 (a local raylet is otherwise ALIVE
# 2-3 s after its launch, which a scrape can miss).
START_DELAY_S = 8

# Sequential 1-CPU tasks: one worker launched, a few seconds of leases.
# One task on a static (unmanaged, CPU-less) raylet, which outlives the
# launched worker: a raylet still there that was busy (a never-busy raylet
# has no raysense_raylet_seconds_since_busy series).
DRIVER = r"""
import time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work(i):
    time.sleep(0.5)
    return i
@ray.remote(num_cpus=0, resources={"static": 1})
def pinned():
    time.sleep(0.5)
    return 1
assert ray.get(pinned.remote()) == 1
for _ in range(4):
    ray.get([work.remote(i) for i in range(4)])
print("ok", flush=True)
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the agent needs root (BPF)")


def all_panels(dash):
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def substitute(expr, range_s):
    for var, val in (("$__rate_interval", "1m"), ("$__interval", "15s"),
                     ("$__range", f"{range_s}s"), ("${node}", ".*"), ("$node", ".*")):
        expr = expr.replace(var, val)
    assert "$" not in expr, f"unsubstituted variable in {expr!r}"
    return expr


def by_labels(expr):
    """Labels every `by (...)` of expr keeps on its result; histogram_quantile
    consumes `le`."""
    labels = {l.strip() for m in re.finditer(r"\bby\s*\(([^)]*)\)", expr)
              for l in m.group(1).split(",") if l.strip()}
    if expr.lstrip().startswith("histogram_quantile"):
        labels.discard("le")
    return labels


def variable_queries(dash):
    """(name, PromQL, label) of each label_values(metric, label) variable."""
    for v in dash["templating"]["list"]:
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"label_values\((.+),\s*([a-zA-Z_]\w*)\s*\)$", (q or "").strip())
        if m:
            yield v["name"], m.group(1), m.group(2)


def dashboard_queries(dash):
    """(title, PromQL, labels the result must carry: by (...) and legend
    {{label}}) of every target and template variable."""
    for p in all_panels(dash):
        for t in p.get("targets", []):
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
            yield p["title"], t["expr"], by_labels(t["expr"]) | legend
    for name, metric, label in variable_queries(dash):
        yield f"variable ${name}", metric, {label}


def test_by_labels_parser():
    assert by_labels("sum by (action) (rate(x[1m]))") == {"action"}
    assert by_labels("histogram_quantile(0.9, sum(increase(a_bucket[1m])) by (le, phase))") == {"phase"}
    assert by_labels("sum(increase(a_bucket[1m])) by (le)") == {"le"}


def slow_ray_bin(tmp):
    """A `ray` that starts START_DELAY_S late (the local provider runs
    `<ray-bin> start --block ...`; exec keeps the pid it stops)."""
    path = os.path.join(tmp, "ray-slow-start")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\nsleep {START_DELAY_S}\nexec "{RAY_BIN}" "$@"\n')
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def stack(fresh_ray_cluster, bin):
    fresh_ray_cluster.add_worker(num_cpus=0, resources={"static": 1})
    tmp = tempfile.mkdtemp(prefix="rs-dashreal-")
    ctl = Controller(bin("raysense-controller"), fresh_ray_cluster,
                     [f"cpu1:CPU=1,min=0,max=1,idle={IDLE_S}"],
                     extra=["--cooldown", "1", "--ray-bin", slow_ray_bin(tmp)])
    pins = "/sys/fs/bpf/rs-dashreal-%d-%d" % (os.getpid(), free_port())
    agent = prom = None
    try:
        agent = Agent(bin("raysense-agent"), pins, "--controller-url", ctl.url + "/api/v1/signals",
                      # Sampled (--lease-probes=duty): the lease panels divide by the
                      # sampled seconds, and must still return series.
                      "--push-interval", "1", "--lease-probes", "duty", debug_labels=False)
        agent.wait_log(r"tracking raylet pid", timeout=120)
        prom = Prometheus(tmp, {"raysense-agent": agent.port, "raysense-controller": ctl.port})
        yield fresh_ray_cluster, ctl, agent, prom
    finally:
        if prom is not None:
            prom.stop()
        if agent is not None:
            agent.stop()
        ctl.stop()
        shutil.rmtree(pins, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def test_every_dashboard_query_returns_series(require_bpf, stack):
    cluster, ctl, agent, prom = stack
    t0 = time.time()
    driver = background_driver(cluster, DRIVER)
    try:
        assert driver.wait(timeout=180) is not None, "the workload did not finish"
    finally:
        out, err = stop_driver(driver)
    assert "ok" in out, (out, err[-2000:])
    ctl.wait(lambda: ctl.actions("terminate"), IDLE_S + 60, "the idle worker stopped")
    time.sleep(5)  # a few scrapes after the stop
    assert prom.target_health() == ["up", "up"]

    with open(DASHBOARD) as f:
        dash = json.load(f)
    range_s = int(time.time() - t0) + 10
    rows, failures = [], []
    for title, expr, want in dashboard_queries(dash):
        promql = substitute(expr, range_s)
        res = prom.query(promql)
        nonzero = sum(1 for s in res if s["value"][1] not in ("0", "NaN"))
        rows.append((title, len(res), nonzero))
        if not res:
            failures.append(f"{title}: no series for {promql}")
        for label in sorted(want):
            if res and not all(label in s["metric"] for s in res):
                failures.append(f"{title}: label {label!r} missing on {promql}: "
                                f"{[s['metric'] for s in res][:3]}")
    width = max(len(r[0]) for r in rows)
    print("\npanel" + " " * (width - 5) + "  series  non-zero")
    for title, n, nz in rows:
        print(f"{title:<{width}}  {n:>6}  {nz:>8}")
    assert not failures, "\n".join(failures)
    check_operator_values(prom, range_s, t0, ctl)
    # Default series: no per-process, per-pod or per-peer label, and no
    # timeline key (a pod UID or a pid).
    for label in ("raylet_pid", "pod_uid", "gcs_pid", "peer", "timeline"):
        res = prom.query(f'{{__name__=~"raysense_.+", {label}=~".+"}}')
        assert not res, f"default series with {label}: {[s['metric'] for s in res][:3]}"


def scalar(prom, promql):
    res = prom.query(promql)
    assert len(res) == 1, f"{promql}: {res}"
    return float(res[0]["value"][1])


def check_operator_values(prom, range_s, t0, ctl):
    """The operator panels saw the run: the demand, a pending then current
    worker, a finite time to capacity, the leader, not holding now."""
    peak = {state: scalar(prom, f'max(max_over_time(raysense_controller_workers{{state="{state}"}}'
                                f'[{range_s}s]))') for state in ("desired", "current", "pending")}
    # The worker starts START_DELAY_S late: pending over several scrapes.
    assert peak == {"desired": 1, "current": 1, "pending": 1}, peak
    # From the first to the last scrape that saw it pending.  Not a count of
    # 1 s steps: a failed scrape marks the series stale for the steps it
    # covers.  Unloaded, the span is START_DELAY_S - 2..0 s (the gauge is
    # set by the tick after the launch and cleared by the tick that sees the
    # node ALIVE); a full CI run on 2 loaded cores once read 4.0 s with a
    # 6 s delay and no failed scrape (ticks late), so the bound is half the
    # delay: enough to show the gauge follows the launch, not one sample.
    pending = 'timestamp(raysense_controller_workers{state="pending"} == 1)'
    pending_s = (scalar(prom, f"max_over_time({pending}[{range_s}s:1s])") -
                 scalar(prom, f"min_over_time({pending}[{range_s}s:1s])"))
    failed = scalar(prom, f'sum(sum_over_time((up == bool 0)[{range_s}s:1s]))')
    samples = prom.query(f'raysense_controller_workers{{state=~"pending|current"}}[{range_s}s]')
    timeline = {s["metric"]["state"]: [(round(float(t) - t0, 1), v) for t, v in s["values"]
                                       if v != "0"][:12] for s in samples}
    assert pending_s >= START_DELAY_S / 2, \
        (f"pending for only {pending_s:.1f} s ({failed:.0f} failed scrape step(s) in the range); "
         f"non-zero samples (s after start, value): {timeline}; controller log:\n"
         + "\n".join(l for l in ctl.log_text().splitlines()
                     if re.search(r"launch|ALIVE|alive|local provider", l))[-3000:])
    assert scalar(prom, f'max_over_time(raysense_controller_pending_demand{{kind="task"}}[{range_s}s])') >= 1
    assert scalar(prom, "raysense_controller_workers{state=\"current\"}") == 0, "the worker was stopped"
    assert scalar(prom, "raysense_controller_leader") == 1
    assert scalar(prom, 'raysense_controller_holding{reason="none"}') == 1
    # The launch may fall before the range's first scrape (increase() is then
    # 0 and the quantile NaN): the total and the count are what was seen.
    n = scalar(prom, 'sum(raysense_controller_startup_seconds_count{source="controller"})')
    mean = scalar(prom, 'sum(raysense_controller_startup_seconds_sum{source="controller"})') / n if n else float("nan")
    assert n >= 1 and 0 < mean < 120, (n, mean)
    print(f"operator: peak workers {peak}, launch to ALIVE mean {mean:.1f} s over {n:.0f} launch(es)")
