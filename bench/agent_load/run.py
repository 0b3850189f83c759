#!/usr/bin/env python3
"""run.py -- issue 16's load bench: N simulated agents against a real controller.

1. Starts a real Ray head (`--num-cpus=0`) with one worker raylet, and a real
   raysense-agent pushing to a capture server, twice: once with
   `--push-format full` (the whole snapshot, schema_version 1) and once with
   the default compact push (schema_version 2).  A captured document is the
   body every simulated agent sends (rewritten per agent by agent_load): the
   --baseline-format one (default compact; full for a controller older than
   the compact push) to the --baseline-build controller, the --format one(s)
   to this build's, once per --max-push-rate value (0: the controller never
   asks for a longer push interval; the simulated agents obey one as the
   agent does).
2. For each N (default 1,000, 5,000, 10,000): a fresh raysense-controller
   (--dry-run, real dashboard, bearer token, --agent-capacity sized for N),
   then `build/bench/agent_load` with N agents pushing at 1 Hz for --seconds.
   Meanwhile it samples the controller's CPU and RSS (/proc), times
   /healthz on the probe listener, and reads the control loop's tick time
   from its /metrics before and after (mean and the largest bucket reached).
3. Prints one table row per run: accepted/rejected, push p50/p99 (all, and
   of the pushes started after the first 10 s: steady), the push interval
   the agents were asked for, the generator's issue lag and CPU, controller
   CPU (% of one core) and RSS, tick mean/max, agents the controller holds
   and how many of them it heard from within the signal max age (30 s) at
   the end, i.e. whose data is live.  With --baseline-build, another
   build's controller runs first for each N, under the same load.
4. Runs build/bench/signals_scale on both captured documents: the agent
   table's CPU per push (full vs compact) and per tick's lookups at N agents
   (the real Ray head has only a few Ray nodes, so the bench's ticks do not
   show that cost).

The load generator runs on the same machine: its CPU is reported too, so a
reader can tell a saturated machine from a slow controller.

Usage: .venv/bin/python bench/agent_load/run.py [--agents 1000 5000 10000]
       [--baseline-build DIR] [--baseline-format compact|full] [--format compact|full ...]
       [--max-push-rate R ...] [--seconds 30] [--build build] [--keep-snapshots DIR]
"""
import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "agent"))

from raycluster import RayCluster, free_port, stop_process  # noqa: E402
from outputs_util import AgentProc, SnapshotReceiver  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def get_patiently(url, within=120.0):
    """get() retried: right after the load, the controller may still be working
    through connections left in its listen queue."""
    deadline = time.time() + within
    while True:
        try:
            return get(url, 10)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(1)


def loop_histogram(metrics_text):
    """(count, sum, {le: cumulative}) of raysense_controller_loop_duration_seconds."""
    count, total, buckets = 0.0, 0.0, {}
    for line in metrics_text.splitlines():
        if line.startswith("raysense_controller_loop_duration_seconds_count"):
            count = float(line.split()[-1])
        elif line.startswith("raysense_controller_loop_duration_seconds_sum"):
            total = float(line.split()[-1])
        elif line.startswith("raysense_controller_loop_duration_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[le] = float(line.split()[-1])
    return count, total, buckets


def gauge(metrics_text, name):
    for line in metrics_text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return float("nan")


def capture_snapshot(args, cluster, tmp, fmt):
    """The second document a real agent pushes on this machine (the first has
    no histogram deltas), in push format `fmt`."""
    port = free_port()
    receiver = SnapshotReceiver(port, "bench-token")
    token = os.path.join(tmp, "agent.token")
    with open(token, "w") as f:
        f.write("bench-token\n")
    agent = AgentProc(os.path.join(args.build, "raysense-agent"),
                      "--controller-url", f"http://127.0.0.1:{port}/api/v1/signals",
                      "--token-file", token, "--push-interval", "1", "--push-format", fmt)
    try:
        agent.wait_ready()
        deadline = time.time() + 60
        while time.time() < deadline and receiver.count() < 2:
            time.sleep(0.5)
        if receiver.count() < 2:
            raise SystemExit("the agent pushed no snapshot:\n" + agent.text()[-3000:])
        snap = receiver.received[-1]
    finally:
        agent.stop()
        receiver.stop()
    path = os.path.join(tmp, f"snapshot_{fmt}.json")
    with open(path, "w") as f:
        json.dump(snap, f, separators=(",", ":"))
    size = len(json.dumps(snap, separators=(",", ":"))), \
        len(gzip.compress(json.dumps(snap, separators=(",", ":")).encode()))
    print(f"captured a real {fmt} push: {size[0]} bytes JSON, {size[1]} gzip, "
          f"{len(snap.get('workers', []))} raylets, {len(snap.get('histograms', []))} histograms",
          file=sys.stderr)
    return path


def start_controller(args, cluster, tmp, n, build, rate=0):
    port, probe_port = free_port(), free_port()
    token = os.path.join(tmp, "ctl.token")
    with open(token, "w") as f:
        f.write("bench-token\n")
    log = open(os.path.join(tmp, f"controller-{n}.log"), "wb")
    proc = subprocess.Popen(
        [os.path.join(build, "raysense-controller"), "--dashboard", cluster.dashboard_url,
         "--dry-run", "--listen", f"127.0.0.1:{port}", "--agent-auth", "token-file",
         # its own free port: the default (port + 1) may be taken on a shared machine
         "--probe-listen", str(probe_port),
         "--token-file", token,
         "--worker-group", "cpu:CPU=1,min=0,max=2", "--agent-capacity", str(max(n, 10000)),
         "--state-dir", os.path.join(tmp, f"state-{n}")]
        + (["--max-push-rate", str(rate)] if rate else []),
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if get(f"http://127.0.0.1:{probe_port}/healthz", 2):
                return proc, base, probe_port, token, log
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"controller never healthy; log in {log.name}")


def fresh_agents(status_text, max_age_s=30.0):
    """(held, fresh): agents in /api/v1/status and those heard from within max_age_s."""
    def find(o):
        if isinstance(o, dict):
            if isinstance(o.get("agents"), list):
                return o["agents"]
            for v in o.values():
                r = find(v)
                if r is not None:
                    return r
        return None
    agents = find(json.loads(status_text)) or []
    return len(agents), sum(1 for a in agents if a.get("age_s", 1e9) <= max_age_s)


def one_run(args, cluster, tmp, snapshot, n, build, fmt, rate=0):
    proc, base, probe_port, token, log = start_controller(args, cluster, tmp, n, build, rate)
    samples, healthz_ms, stop = [], [], threading.Event()

    def sample():
        while not stop.is_set():
            t0 = time.time()
            try:
                get(f"http://127.0.0.1:{probe_port}/healthz", 5)
                healthz_ms.append((time.time() - t0) * 1000)
            except OSError:
                healthz_ms.append(float("inf"))
            samples.append((time.time(), cpu_s(proc.pid), rss_mib(proc.pid)))
            stop.wait(1.0)

    try:
        time.sleep(3)  # a few ticks before the load
        before = loop_histogram(get(base + "/metrics"))
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        t0 = time.time()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = subprocess.run(
            [os.path.join(args.build, "bench", "agent_load"), "--url", base + "/api/v1/signals",
             "--agents", str(n), "--seconds", str(args.seconds), "--snapshot", snapshot,
             "--token-file", token], capture_output=True, text=True,
            timeout=args.seconds + 120)
        wall = time.time() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        stop.set()
        thread.join()
        if load.returncode != 0:
            raise SystemExit(f"agent_load failed: {load.stderr}")
        res = json.loads(load.stdout.strip().splitlines()[-1])
        metrics = get_patiently(base + "/metrics")
        _, fresh = fresh_agents(get_patiently(base + "/api/v1/status"))
        after = loop_histogram(metrics)
        ticks = after[0] - before[0]
        tick_mean = (after[1] - before[1]) / ticks if ticks else float("nan")
        tick_max_le = next((le for le, c in sorted(after[2].items(),
                                                   key=lambda kv: float(kv[0].replace("+Inf", "inf")))
                            if c - before[2].get(le, 0) >= ticks), "+Inf")
        cpu = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]) \
            if len(samples) > 1 else float("nan")
        # The controller's CPU per accepted push: what the push format
        # changes, and less sensitive than latency to a saturated machine.
        cpu_per_push_us = (samples[-1][1] - samples[0][1]) / res["accepted"] * 1e6 \
            if len(samples) > 1 and res.get("accepted") else float("nan")
        res.update({
            "controller": "baseline" if build != args.build else "this",
            "format": fmt,
            "max_push_rate": rate,
            "agents_fresh": fresh,
            "controller_cpu_pct": round(cpu * 100, 1),
            "controller_cpu_us_per_push": round(cpu_per_push_us, 1),
            "controller_rss_mib_max": round(max(s[2] for s in samples), 1),
            "ticks": int(ticks), "tick_mean_s": round(tick_mean, 3), "tick_max_le_s": tick_max_le,
            "agents_held": gauge(metrics, "raysense_controller_agents"),
            "agents_refused_total": gauge(metrics, "raysense_controller_agents_refused_total"),
            "healthz_max_ms": round(max(healthz_ms), 1) if healthz_ms else None,
            "load_cpu_pct": round(load_cpu / wall * 100, 1),
        })
        return res
    finally:
        stop.set()
        stop_process(proc)
        log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--build", default=os.environ.get("RAYSENSE_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--baseline-build", help="also run this build's controller before each "
                    "N (same load generator, same Ray head): before/after in one run")
    ap.add_argument("--format", nargs="+", choices=["compact", "full"], default=["compact"],
                    help="what this build's controller is sent")
    ap.add_argument("--baseline-format", choices=["compact", "full"], default="compact",
                    help="what the baseline controller is sent (full for one older than the "
                    "compact push)")
    ap.add_argument("--max-push-rate", type=float, nargs="+", default=[0],
                    help="this build's controller runs once per value (0: never asks for a "
                    "longer push interval)")
    ap.add_argument("--keep-snapshots", help="copy the captured documents to this directory")
    ap.add_argument("--out", help="write the raw results as JSON here")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="rs-agent-load-")
    results = []
    with RayCluster() as cluster:
        cluster.add_worker(num_cpus=1)
        snapshots = {fmt: capture_snapshot(args, cluster, tmp, fmt) for fmt in ("full", "compact")}
        if args.keep_snapshots:
            os.makedirs(args.keep_snapshots, exist_ok=True)
            for path in snapshots.values():
                shutil.copy(path, args.keep_snapshots)
        runs = ([(args.baseline_build, args.baseline_format, 0)] if args.baseline_build else []) + \
            [(args.build, fmt, rate) for fmt in args.format for rate in args.max_push_rate]
        for n in args.agents:
            for build, fmt, rate in runs:
                print(f"N={n} ({build}, {fmt}, max push rate {rate}): {args.seconds} s at 1 Hz ...",
                      file=sys.stderr)
                results.append(one_run(args, cluster, tmp, snapshots[fmt], n, build, fmt, rate))
                print(json.dumps(results[-1]), file=sys.stderr)  # kept if a later run fails
        for fmt in ("full", "compact"):
            table = subprocess.run(
                [os.path.join(args.build, "bench", "signals_scale"), "--snapshot", snapshots[fmt],
                 "--agents"] + [str(n) for n in args.agents], capture_output=True, text=True)
            print(f"agent table alone, {fmt} push (build/bench/signals_scale, CPU time):\n"
                  + table.stdout + table.stderr[-2000:])
    print("load average %.1f %.1f %.1f (1/5/15 min; 2-core machine shared with other work)"
          % os.getloadavg())
    cols = ["controller", "format", "max_push_rate", "agents", "pushes", "accepted", "rejected",
            "transport_errors", "late", "p50_ms", "p99_ms", "max_ms", "steady_p50_ms", "steady_p99_ms",
            "asked_period_mean_s", "issue_lag_p99_ms", "load_cpu_pct_self", "controller_cpu_pct", "controller_cpu_us_per_push", "controller_rss_mib_max", "tick_mean_s",
            "tick_max_le_s", "agents_held", "agents_fresh", "healthz_max_ms", "load_cpu_pct"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        print("| " + " | ".join(str(r.get(c)) for c in cols) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
