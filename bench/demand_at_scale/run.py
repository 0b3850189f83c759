"""run.py -- how the pending demand of N tasks in four shapes shows up at scale.

For each N (default 1000 10000 20000 100000) and each autoscaler mode (v1 =
Ray's default, v2 = RAY_enable_autoscaler_v2=1), on a real Ray head
(`ray start --head --num-cpus=0`, loopback, own temp dir; see
tests/raycluster.py) with a driver (driver.py) that submits N tasks, N/4 in
each shape {CPU:1}, {CPU:2}, {CPU:4}, {CPU:1, memory:1 GiB}:

phase "sources": polls, for --observe seconds from the start of submission,
  - /api/cluster_status            (v1 loadMetricsReport.resourceDemand)
  - /api/cluster_status?format=1   (status text, "Pending Demands" lines)
  - /nodes?view=summary            (cost only)
  every --poll seconds, and, back to back in a second thread,
  - /api/v0/tasks?limit=10000&detail=true&state=PENDING_NODE_ASSIGNMENT
  - /api/v0/tasks/summarize?state=PENDING_NODE_ASSIGNMENT
  and records per call its time and size, per source the shapes it showed
  (with counts) and when it first showed each, and the CPU of the head's
  GCS, raylet and dashboard processes (from /proc, per second).

phase "autoscaler": the head runs Ray's own autoscaler with Ray's
  fake_multinode provider (recording_provider.py: launches are recorded,
  no raylet is started), production loop (AUTOSCALER_UPDATE_INTERVAL_S not
  overridden: 5 s), one worker type per shape; records the time from the
  start of submission to the first launch of each type and the number of
  nodes launched --autoscaler-window seconds after it.

phase "controller" (only with --controller CMD): the same head and driver
  with CMD running (e.g. raysense-controller --dry-run ...); `{dashboard}` in
  CMD is replaced with the dashboard URL, `{gcs}` with the GCS address. Its stderr JSON lines with
  "action":"launch" and a "demand" array give the time to first launch
  decision per shape; --controller-metrics URL (scraped every second) gives
  raysense_controller_loop_duration_seconds.

Everything is bounded in time and every head is torn down by killing its own
process group (never `ray stop`, which would kill other people's Ray on a
shared machine). Prints a table, writes the raw records as JSON (--out).

Usage: .venv/bin/python bench/demand_at_scale/run.py [--n 1000 20000]
          [--modes v1 v2] [--phases sources autoscaler] [--observe 60]
"""
import argparse
import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
from raycluster import RayCluster, kill_process_group, ray_env  # noqa: E402

GIB = float(1 << 30)
# Canonical shapes: name -> resource dict (as Ray reports them).
SHAPES = {
    "cpu1": {"CPU": 1.0},
    "cpu2": {"CPU": 2.0},
    "cpu4": {"CPU": 4.0},
    "mem": {"CPU": 1.0, "memory": GIB},
}
FUNC_OF_SHAPE = {"cpu1": "cpu1", "cpu2": "cpu2", "cpu4": "cpu4", "mem": "mem"}
PENDING_FILTER = ("filter_keys=state&filter_predicates=%3D"
                  "&filter_values=PENDING_NODE_ASSIGNMENT")


def shape_name(res):
    """Map a resource dict (any key spelling/order) to one of SHAPES, or a repr."""
    r = {k: float(v) for k, v in res.items() if float(v) != 0.0}
    for name, s in SHAPES.items():
        if r == s:
            return name
    return json.dumps(r, sort_keys=True)


# ---------------------------------------------------------------- HTTP
def get(url, timeout):
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read()
            status = r.status
    except Exception as e:  # noqa: BLE001
        return {"ok": False, "err": str(e)[:200], "secs": time.perf_counter() - t, "bytes": 0}, None
    return {"ok": status == 200, "secs": time.perf_counter() - t, "bytes": len(body)}, body


def parse_v1(body):
    d = json.loads(body)["data"]
    cs = d.get("clusterStatus")
    if not cs:
        return None
    lm = cs.get("loadMetricsReport") or {}
    out = {}
    for shape, count in lm.get("resourceDemand") or []:
        out[shape_name(shape)] = out.get(shape_name(shape), 0) + int(count)
    return out


DEMAND_RE = re.compile(r"^\s*(\{.*?\}):\s*(\d+)\+ pending tasks/actors")


def parse_text(body):
    d = json.loads(body)["data"]
    text = d.get("clusterStatus")
    if not isinstance(text, str):
        return None
    out = {}
    for line in text.splitlines():
        m = DEMAND_RE.match(line)
        if m:
            n = shape_name(ast.literal_eval(m.group(1)))
            out[n] = out.get(n, 0) + int(m.group(2))
    return out


def safe(fn, body):
    try:
        return fn(body)
    except Exception as e:  # noqa: BLE001 - a malformed answer counts as none
        return None, {"parse_error": repr(e)[:200]}


def parse_tasks(body):
    res = json.loads(body)["data"]["result"]
    out = {}
    for t in res.get("result") or []:
        n = shape_name(t.get("required_resources") or {})
        out[n] = out.get(n, 0) + 1
    meta = {k: res.get(k) for k in ("total", "num_after_truncation", "num_filtered")}
    return out, meta


def parse_summary(body):
    d = json.loads(body)["data"]["result"]
    inner = d.get("result", d) if "node_id_to_summary" not in d else d
    summ = inner["node_id_to_summary"]["cluster"]["summary"]
    out = {}
    for func, s in summ.items():
        name = func.split(".")[-1]
        cnt = sum(int(v) for k, v in (s.get("state_counts") or {}).items()
                  if k == "PENDING_NODE_ASSIGNMENT")
        out[name] = out.get(name, 0) + cnt
    return out, {"total": d.get("total"), "fields_of_one": sorted(next(iter(summ.values()), {}).keys())}


# ---------------------------------------------------------------- CPU
CLK = os.sysconf("SC_CLK_TCK")


def classify(cmd):
    if "gcs_server" in cmd:
        return "gcs"
    if "/raylet" in cmd.split(" ")[0] or cmd.startswith("raylet"):
        return "raylet"
    if "dashboard/agent.py" in cmd:
        return "agent"
    if "dashboard" in cmd:
        return "dashboard"
    if "monitor.py" in cmd:
        return "monitor"
    return None


def head_procs(sid):
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[3]) != sid:  # session id
                continue
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            c = classify(cmd)
            if c:
                out[int(p)] = (c, int(fields[11]) + int(fields[12]))
        except (OSError, ValueError):
            continue
    return out


class CpuSampler(threading.Thread):
    """Per-second CPU (cores) of the head's gcs/raylet/dashboard/agent/monitor."""

    def __init__(self, sid):
        super().__init__(daemon=True)
        self.sid = sid
        self.samples = []  # (t, {class: cores})
        self.stop_ev = threading.Event()

    def run(self):
        prev = head_procs(self.sid)
        pt = time.time()
        while not self.stop_ev.wait(1.0):
            cur = head_procs(self.sid)
            t = time.time()
            agg = {}
            for pid, (c, ticks) in cur.items():
                d = ticks - prev.get(pid, (c, ticks))[1]
                agg[c] = agg.get(c, 0.0) + d / CLK / (t - pt)
            self.samples.append((t, agg))
            prev, pt = cur, t

    def summary(self, t0, t1):
        s = [a for t, a in self.samples if t0 <= t <= t1]
        if not s:
            return {}
        keys = sorted({k for a in s for k in a})
        return {k: {"mean": sum(a.get(k, 0) for a in s) / len(s),
                    "max": max(a.get(k, 0) for a in s)} for k in keys}


# ---------------------------------------------------------------- driver
def start_driver(cluster, n, order, env_extra):
    env = {**ray_env(cluster.venv), **cluster.extra_env, **env_extra}
    env["RAY_ADDRESS"] = cluster.address
    log = open(os.path.join(cluster.tmp, "driver.err"), "wb")
    p = subprocess.Popen([cluster.python_bin, os.path.join(HERE, "driver.py"), str(n), order],
                         env=env, stdout=subprocess.PIPE, stderr=log, text=True,
                         start_new_session=True, cwd=cluster.tmp)
    return p


def wait_submitted(p, timeout):
    """Read the driver's 'submitted' line in a thread; returns a holder dict."""
    holder = {}

    def rd():
        for line in p.stdout:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("event") == "submitted":
                holder.update(d)
                return

    th = threading.Thread(target=rd, daemon=True)
    th.start()
    return holder


# ---------------------------------------------------------------- phases
class SourceLog:
    def __init__(self, name):
        self.name = name
        self.calls = []       # (t, secs, bytes, ok)
        self.first = {}       # shape -> t first seen
        self.last = None      # last parsed shapes
        self.max_shapes = 0
        self.meta = None

    def add(self, t, r, shapes, meta=None):
        self.calls.append((t, r["secs"], r["bytes"], r["ok"]))
        if shapes is not None:
            for s, c in shapes.items():
                if c > 0:
                    self.first.setdefault(s, t)
            self.last = shapes
            self.max_shapes = max(self.max_shapes, len([c for c in shapes.values() if c > 0]))
        if meta is not None:
            self.meta = meta

    def stats(self, t_sub, quiet_until=None):
        ok = [c for c in self.calls if c[3]]
        quiet = sorted(c[1] for c in ok if quiet_until is not None and c[0] < quiet_until)
        secs = sorted(c[1] for c in ok)
        byts = [c[2] for c in ok]
        return {
            "calls": len(self.calls), "ok": len(ok),
            "secs_median": secs[len(secs) // 2] if secs else None,
            "secs_max": secs[-1] if secs else None,
            "secs_median_quiet": quiet[len(quiet) // 2] if quiet else None,
            "bytes_max": max(byts) if byts else None,
            "first_seen_s": {s: round(t - t_sub, 2) for s, t in sorted(self.first.items())},
            "last": self.last, "max_shapes": self.max_shapes, "meta": self.meta,
        }


def mode_env(mode):
    return {"RAY_enable_autoscaler_v2": "1"} if mode == "v2" else {}


def phase_sources(n, mode, args):
    env = {**mode_env(mode), **dict(kv.split("=", 1) for kv in args.ray_env)}
    c = RayCluster(env=env)
    rec = {"phase": "sources", "n": n, "mode": mode, "ray_env": args.ray_env}
    drv = None
    sampler = None
    try:
        c.start_head(timeout=120)
        base = c.dashboard_url
        sampler = CpuSampler(c.head_proc.pid)
        sampler.start()
        time.sleep(3)
        t_idle0 = time.time()
        time.sleep(5)
        t_idle1 = time.time()
        srcs = {k: SourceLog(k) for k in ("v1", "text", "nodes", "tasks", "summarize")}
        drv = start_driver(c, n, args.order, {})
        t_sub = time.time()
        holder = wait_submitted(drv, args.observe)
        stop = threading.Event()
        deadline = t_sub + args.observe

        def cheap():
            while not stop.is_set() and time.time() < deadline:
                t = time.time()
                r, b = get(base + "/api/cluster_status", 10)
                srcs["v1"].add(t, r, safe(lambda x: (parse_v1(x), None), b)[0] if b else None)
                r, b = get(base + "/api/cluster_status?format=1", 10)
                srcs["text"].add(t, r, safe(lambda x: (parse_text(x), None), b)[0] if b else None)
                r, b = get(base + "/nodes?view=summary&nocache=1", 10)
                srcs["nodes"].add(t, r, None)
                stop.wait(max(0.0, args.poll - (time.time() - t)))

        heavy_from = t_sub + args.heavy_start

        def heavy():
            stop.wait(max(0.0, heavy_from - time.time()))
            while not stop.is_set() and time.time() < deadline:
                t = time.time()
                r, b = get(base + "/api/v0/tasks?limit=10000&detail=true&" + PENDING_FILTER, 60)
                if b:
                    shapes, meta = safe(parse_tasks, b)
                    srcs["tasks"].add(t, r, shapes, meta)
                else:
                    srcs["tasks"].add(t, r, None)
                t = time.time()
                r, b = get(base + "/api/v0/tasks/summarize?" + PENDING_FILTER, 60)
                if b:
                    shapes, meta = safe(parse_summary, b)
                    srcs["summarize"].add(t, r, shapes, meta)
                else:
                    srcs["summarize"].add(t, r, None)
                stop.wait(args.heavy_gap)

        ths = [threading.Thread(target=cheap, daemon=True), threading.Thread(target=heavy, daemon=True)]
        for th in ths:
            th.start()
        while time.time() < deadline:
            time.sleep(0.5)
        stop.set()
        for th in ths:
            th.join(timeout=65)
        rec["submit"] = {"secs": round(holder["t_end"] - holder["t_start"], 2),
                         "init_secs": round(holder["t_start"] - t_sub, 2)} if holder else None
        rec["sources"] = {k: v.stats(t_sub, heavy_from) for k, v in srcs.items()}
        rec["cpu_idle"] = sampler.summary(t_idle0, t_idle1)
        t_load0 = holder.get("t_end", t_sub) if holder else t_sub
        # cheap polling only (after submission, before the state-API poller starts)
        rec["cpu_cheap"] = sampler.summary(t_load0 + 1, heavy_from)
        rec["cpu_polled"] = sampler.summary(heavy_from + 1, deadline)
        rec["heavy_start_s"] = args.heavy_start
        # One more text sample, to keep the whole status text for the doc.
        r, b = get(base + "/api/cluster_status?format=1", 10)
        if b:
            rec["text_final"] = json.loads(b)["data"].get("clusterStatus")
    finally:
        if sampler:
            sampler.stop_ev.set()
        if drv:
            kill_process_group(drv, grace_s=5)
        c.stop()
    return rec


NODE_TYPES = {
    "w_cpu1": {"CPU": 1},
    "w_cpu2": {"CPU": 2},
    "w_cpu4": {"CPU": 4},
    "w_mem": {"CPU": 1, "memory": 1 << 30},
}
TYPE_SHAPE = {"w_cpu1": "cpu1", "w_cpu2": "cpu2", "w_cpu4": "cpu4", "w_mem": "mem"}


def autoscaling_config(mode, max_workers, upscaling_speed=1.0):
    types = {k: {"resources": v, "node_config": {}, "min_workers": 0,
                 "max_workers": max_workers} for k, v in NODE_TYPES.items()}
    types["ray.head.default"] = {"resources": {}, "node_config": {}, "max_workers": 0}
    provider = {"type": "external", "module": "recording_provider.RecordingProvider",
                "use_node_id_as_ip": True, "disable_node_updaters": True,
                "disable_launch_config_check": True}
    if mode == "v2":
        provider["launch_multiple"] = True
        provider["head_node_id"] = "fffffffffffffffffffffffffffffffffffffffffffffffffff00000"
    return {
        "cluster_name": "demand-at-scale", "max_workers": 4 * max_workers,
        "provider": provider, "available_node_types": types,
        "head_node_type": "ray.head.default", "auth": {}, "upscaling_speed": upscaling_speed,
        "idle_timeout_minutes": 60, "docker": {}, "initialization_commands": [],
        "setup_commands": [], "head_setup_commands": [], "worker_setup_commands": [],
        "head_start_ray_commands": [], "worker_start_ray_commands": [],
        "file_mounts": {}, "cluster_synced_files": [],
        "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
    }


def phase_autoscaler(n, mode, args):
    env = {"RAY_FAKE_CLUSTER": "1", "PYTHONPATH": HERE, **mode_env(mode),
           **dict(kv.split("=", 1) for kv in args.ray_env)}
    if mode == "v2":
        fid = "fffffffffffffffffffffffffffffffffffffffffffffffffff00000"
        env.update({"RAY_CLOUD_INSTANCE_ID": fid, "RAY_OVERRIDE_NODE_ID_FOR_TESTING": fid})
    c = RayCluster(env=env)
    launch_log = os.path.join(c.tmp, "launches.jsonl")
    c.extra_env["RAYSENSE_BENCH_LAUNCH_LOG"] = launch_log
    cfg = os.path.join(c.tmp, "autoscaling.json")
    with open(cfg, "w") as f:
        json.dump(autoscaling_config(mode, args.max_workers, args.upscaling_speed), f)
    rec = {"phase": "autoscaler", "n": n, "mode": mode, "window_s": args.autoscaler_window,
           "upscaling_speed": args.upscaling_speed}
    drv = None
    try:
        c.start_head(timeout=120, extra_args=[f"--autoscaling-config={cfg}"])
        base = c.dashboard_url
        # Wait for the autoscaler to have written/served a status once.
        deadline = time.time() + 60
        while time.time() < deadline:
            r, b = get(base + "/api/cluster_status?format=1", 5)
            if b and isinstance(json.loads(b)["data"].get("clusterStatus"), str) and \
                    "Autoscaler status" in json.loads(b)["data"]["clusterStatus"]:
                break
            time.sleep(1)
        drv = start_driver(c, n, args.order, {})
        t_sub = time.time()
        holder = wait_submitted(drv, args.autoscaler_window)
        end = t_sub + args.autoscaler_window
        while time.time() < end:
            time.sleep(0.5)
        launches = []
        if os.path.exists(launch_log):
            with open(launch_log) as f:
                launches = [json.loads(x) for x in f if x.strip()]
        first = {}
        count = {}
        for ev in launches:
            if ev["event"] != "launch" or ev["t"] > end:
                continue
            s = TYPE_SHAPE.get(ev["node_type"], ev["node_type"])
            first.setdefault(s, round(ev["t"] - t_sub, 2))
            count[s] = count.get(s, 0) + 1
        rec["first_launch_s"] = first
        rec["nodes_launched"] = count
        rec["submit"] = {"secs": round(holder["t_end"] - holder["t_start"], 2)} if holder else None
        r, b = get(base + "/api/cluster_status?format=1", 10)
        if b:
            rec["text_final"] = json.loads(b)["data"].get("clusterStatus")
        rec["monitor"] = monitor_log_stats(c.tmp, t_sub, end)
        if args.keep_logs:
            import glob
            import shutil
            dst = os.path.join(args.keep_logs, f"autoscaler-{n}-{mode}")
            os.makedirs(dst, exist_ok=True)
            for f in glob.glob(os.path.join(c.tmp, "ray", "session_latest", "logs", "monitor*")):
                shutil.copy(f, dst)
    finally:
        if drv:
            kill_process_group(drv, grace_s=5)
        c.stop()
    return rec


TOOK_RE = re.compile(r"^(\S+ \S+)\s+INFO autoscaler.py:\d+ -- The autoscaler took ([0-9.]+) seconds")
LEGACY_RE = re.compile(r"^(\S+ \S+)\s+WARNING util.py:\d+ -- Dropping the empty legacy field head_node")


def monitor_log_stats(tmp, t_sub, end):
    """Iteration times of Ray's autoscaler from its monitor.log: v1 logs 'The
    autoscaler took X seconds'; v2 logs nothing per iteration, but reloads its
    config (one 'Dropping the empty legacy field head_node' warning) at the start
    of each one, so the gap between two such lines is the update time + the 5 s
    sleep."""
    import datetime
    import glob
    out = {"v1_took_s": [], "v2_iteration_gaps_s": []}
    files = {os.path.realpath(f) for f in
             glob.glob(os.path.join(tmp, "ray", "session_*", "logs", "monitor.log"))}
    for f in sorted(files):
        prev = None
        with open(f, errors="replace") as fh:
            for line in fh:
                m = TOOK_RE.match(line)
                if m:
                    out["v1_took_s"].append(float(m.group(2)))
                m = LEGACY_RE.match(line)
                if m:
                    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    if prev is not None and t >= t_sub:
                        out["v2_iteration_gaps_s"].append(round(t - prev, 2))
                    prev = t
    return out


def loop_quantiles(lines):
    """p50/p99 of the controller's tick time from its loop-duration histogram
    (the upper bound of the bucket each falls in), the tick count, and how
    many took more than 1 s."""
    buckets, count, total = [], 0, 0.0
    for line in lines:
        m = re.match(r'raysense_controller_loop_duration_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            buckets.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)),
                            float(m.group(2))))
        elif line.startswith("raysense_controller_loop_duration_seconds_count"):
            count = float(line.split()[-1])
        elif line.startswith("raysense_controller_loop_duration_seconds_sum"):
            total = float(line.split()[-1])
    buckets.sort()
    if not count or not buckets:
        return None
    out = {"ticks": int(count), "mean_s": round(total / count, 3)}
    for q in (0.5, 0.99):
        out[f"p{int(q * 100)}_le_s"] = next((le for le, c in buckets if c >= q * count), None)
    le1 = next((c for le, c in buckets if le >= 1.0), count)
    out["over_1s"] = int(count - le1)
    return out


def phase_controller(n, mode, args):
    """Hook for raysense-controller --dry-run: first launch decision per shape
    from its JSON stderr lines, tick time from its /metrics."""
    env = {**mode_env(mode), **dict(kv.split("=", 1) for kv in args.ray_env)}
    c = RayCluster(env=env)
    rec = {"phase": "controller", "n": n, "mode": mode, "cmd": args.controller}
    drv = ctl = sampler = None
    try:
        c.start_head(timeout=120)
        sampler = CpuSampler(c.head_proc.pid)
        sampler.start()
        cmd = args.controller.replace("{dashboard}", c.dashboard_url).replace("{gcs}", c.address)
        errp = os.path.join(c.tmp, "controller.err")
        ctl = subprocess.Popen(shlex.split(cmd), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
        lines = []  # (arrival time, text)

        def rd():
            with open(errp, "wb") as keep:
                for raw in ctl.stderr:
                    lines.append((time.time(), raw))
                    keep.write(raw)

        threading.Thread(target=rd, daemon=True).start()
        time.sleep(2)
        drv = start_driver(c, n, args.order, {})
        t_sub = time.time()
        holder = wait_submitted(drv, args.autoscaler_window)
        end = t_sub + args.autoscaler_window
        loop, loop_final = [], []
        while time.time() < end:
            if args.controller_metrics:
                r, b = get(args.controller_metrics, 5)
                if b:
                    scrape = [line for line in b.decode(errors="replace").splitlines()
                              if line.startswith("raysense_controller_loop_duration_seconds")]
                    loop.extend(scrape)
                    loop_final = scrape or loop_final
            time.sleep(1)
        first = {}
        launches = decisions = 0
        largest = (0, None)
        for arrived, raw in list(lines):
            try:
                d = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(d, dict) or d.get("action") != "launch":
                continue
            decisions += 1
            launches += d.get("count", 1)  # one decision per group per tick
            t = d.get("time_unix")
            t = float(t) if isinstance(t, (int, float)) else arrived
            if t > end:
                continue
            # The largest plan and when it was first decided (a dry run plans
            # the whole demand again each time it changes).
            if d.get("count", 1) > largest[0]:
                largest = (d.get("count", 1), t)
            for item in d.get("demand") or []:
                shp = item.get("shape") if isinstance(item, dict) else None
                if isinstance(shp, dict):
                    first.setdefault(shape_name(shp), round(t - t_sub, 2))
        t_end = holder.get("t_end")
        rec.update({"first_launch": first, "launch_lines": decisions, "nodes_planned": launches,
                    "loop_duration_lines": loop[-4:], "t_sub": t_sub,
                    "submit": holder or None,
                    # s from the driver's last submission to the first launch per shape
                    "first_launch_after_submit": (
                        {k: round(v + t_sub - t_end, 2) for k, v in first.items()}
                        if t_end else None),
                    "shapes_covered": len(set(first) & set(SHAPES)),
                    "largest_plan": largest[0],
                    "largest_plan_after_submit": (round(largest[1] - t_end, 2)
                                                  if t_end and largest[1] else None),
                    "tick_quantiles": loop_quantiles(loop_final)})
        # The head's CPU with the controller polling it, then, same backlog,
        # without: the difference is raysense's share of the head.
        rec["cpu_with"] = sampler.summary(t_sub + args.cpu_settle, end)
        kill_process_group(ctl, grace_s=5)
        t_off = time.time() + 2
        time.sleep(2 + args.cpu_after)
        rec["cpu_without"] = sampler.summary(t_off, t_off + args.cpu_after)
        rec["cpu_share"] = round(sum(v["mean"] for v in rec["cpu_with"].values()) -
                                 sum(v["mean"] for v in rec["cpu_without"].values()), 4)
    finally:
        if sampler:
            sampler.stop_ev.set()
        if ctl:
            if ctl.poll() is None:
                kill_process_group(ctl, grace_s=5)
            if args.keep_logs and os.path.exists(os.path.join(c.tmp, "controller.err")):
                os.makedirs(args.keep_logs, exist_ok=True)
                shutil.copy(os.path.join(c.tmp, "controller.err"),
                            os.path.join(args.keep_logs, f"controller-{n}-{mode}.err"))
        if drv:
            kill_process_group(drv, grace_s=5)
        c.stop()
    return rec


# ---------------------------------------------------------------- report
def fmt_shapes(d, order=("cpu1", "cpu2", "cpu4", "mem")):
    if d is None:
        return "-"
    parts = [f"{k}:{d[k]}" for k in order if d.get(k)]
    parts += [f"{k}:{v}" for k, v in d.items() if k not in order and v]
    return " ".join(parts) or "none"


def print_table(records, out=sys.stdout):
    print("\n== sources (shapes seen at the end of the window; first-seen s after submit start) ==",
          file=out)
    print("| N | mode | submit s | source | calls | median s (quiet) | median s | max s | max bytes "
          "| last shapes | first seen s |", file=out)
    print("|---|---|---|---|---|---|---|---|---|---|---|", file=out)
    for r in records:
        if r.get("phase") != "sources" or "sources" not in r:
            continue
        sub = r["submit"]["secs"] if r.get("submit") else "-"
        for k in ("v1", "text", "tasks", "summarize", "nodes"):
            s = r["sources"][k]
            fs = " ".join(f"{a}:{b}" for a, b in s["first_seen_s"].items()) or "-"
            ms = f"{s['secs_median']:.3f}" if s["secs_median"] is not None else "-"
            mx = f"{s['secs_max']:.3f}" if s["secs_max"] is not None else "-"
            mq = f"{s['secs_median_quiet']:.3f}" if s.get("secs_median_quiet") is not None else "-"
            last = fmt_shapes(s["last"]) if k != "nodes" else "(cost only)"
            print(f"| {r['n']} | {r['mode']} | {sub} | {k} | {s['calls']} | {mq} | {ms} | {mx} | "
                  f"{s['bytes_max']} | {last} | {fs} |", file=out)
    print("\n== head CPU (cores, mean; idle / cheap calls every --poll s / cheap + state API) ==",
          file=out)
    for r in records:
        if r.get("phase") != "sources" or "cpu_polled" not in r:
            continue
        cells = []
        for k in ("gcs", "raylet", "dashboard", "agent", "monitor"):
            i = r["cpu_idle"].get(k, {}).get("mean", 0)
            ch = r.get("cpu_cheap", {}).get(k, {}).get("mean", 0)
            p = r["cpu_polled"].get(k, {})
            cells.append(f"{k} {i:.2f}/{ch:.2f}/{p.get('mean', 0):.2f} (max {p.get('max', 0):.2f})")
        print(f"N={r['n']} {r['mode']}: " + ", ".join(cells), file=out)
    print("\n== Ray's autoscaler (fake_multinode, recording provider, 5 s loop) ==", file=out)
    print("| N | mode | upscaling_speed | first launch s per node type | nodes launched in window | "
          "update s (min-max) |", file=out)
    print("|---|---|---|---|---|---|", file=out)
    for r in records:
        if r.get("phase") != "autoscaler" or "first_launch_s" not in r:
            continue
        fl = " ".join(f"{k}:{v}" for k, v in sorted(r["first_launch_s"].items())) or "none"
        mon = r.get("monitor") or {}
        it = mon.get("v1_took_s") or [max(0.0, round(g - 5.0, 2)) for g in mon.get("v2_iteration_gaps_s", [])]
        its = f"{min(it):.1f}-{max(it):.1f}" if it else "-"
        print(f"| {r['n']} | {r['mode']} | {r.get('upscaling_speed')} | {fl} | "
              f"{fmt_shapes(r['nodes_launched'])} | {its} |", file=out)
    for r in records:
        if r.get("phase") == "controller":
            print(f"controller N={r['n']} {r['mode']}: first launch per shape, s after the "
                  f"driver started {r.get('first_launch')}, s after submission ended "
                  f"{r.get('first_launch_after_submit')}; shapes covered "
                  f"{r.get('shapes_covered')}/4; launch decisions {r.get('launch_lines')}, "
                  f"nodes planned {r.get('nodes_planned')}; largest plan "
                  f"{r.get('largest_plan')} nodes (the demand needs {r['n'] // 2} with a "
                  f"4-CPU, 16 GiB group), s after submission ended "
                  f"{r.get('largest_plan_after_submit')}; ticks {r.get('tick_quantiles')}; "
                  f"submission {r.get('submit')}", file=out)
            if "cpu_share" in r:
                def cores(d):
                    return ", ".join(f"{k} {v['mean']:.3f}" for k, v in sorted(d.items()))
                print(f"  head CPU (cores, mean) with the controller: {cores(r['cpu_with'])}; "
                      f"without it (same backlog): {cores(r['cpu_without'])}; raysense's "
                      f"share {r['cpu_share']:.3f} core", file=out)
        if "error" in r:
            print(f"ERROR {r['phase']} N={r['n']} {r['mode']}: {r['error']}", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10000, 20000, 100000])
    ap.add_argument("--modes", nargs="+", default=["v1", "v2"], choices=["v1", "v2"])
    ap.add_argument("--phases", nargs="+", default=["sources", "autoscaler"],
                    choices=["sources", "autoscaler", "controller"])
    ap.add_argument("--order", default="blocks", choices=["blocks", "interleave"])
    ap.add_argument("--observe", type=float, default=60.0,
                    help="sources phase: seconds from submission start")
    ap.add_argument("--poll", type=float, default=1.0, help="cheap dashboard calls period (s)")
    ap.add_argument("--heavy-gap", type=float, default=2.0,
                    help="pause between two rounds of state-API calls (s)")
    ap.add_argument("--heavy-start", type=float, default=20.0,
                    help="sources phase: start the state-API poller this many seconds "
                         "after submission (before it: cheap calls alone, 'quiet')")
    ap.add_argument("--autoscaler-window", type=float, default=30.0)
    ap.add_argument("--cpu-settle", type=float, default=10.0,
                    help="controller phase: head CPU is averaged from this many s after "
                         "submission to the window's end, then for --cpu-after s with the "
                         "controller stopped")
    ap.add_argument("--cpu-after", type=float, default=20.0)
    ap.add_argument("--max-workers", type=int, default=1000, help="per worker type")
    ap.add_argument("--upscaling-speed", type=float, default=1.0,
                    help="autoscaler upscaling_speed (Ray's default 1.0 caps launches "
                         "by the node count, not by the demand)")
    ap.add_argument("--ray-env", nargs="*", default=[],
                    help="extra K=V for the head's environment (e.g. RAY_max_...=...)")
    ap.add_argument("--controller", help="command to measure (phase controller); {dashboard}, {gcs}")
    ap.add_argument("--controller-metrics", help="URL of the controller's /metrics")
    ap.add_argument("--out", default=None, help="write raw records (JSON) here")
    ap.add_argument("--keep-logs", default=None,
                    help="autoscaler phase: copy Ray's monitor logs under this folder")
    args = ap.parse_args()
    if "controller" in args.phases and not args.controller:
        ap.error("--phases controller needs --controller CMD")
    records = []
    for n in args.n:
        for mode in args.modes:
            for ph in args.phases:
                fn = {"sources": phase_sources, "autoscaler": phase_autoscaler,
                      "controller": phase_controller}[ph]
                t = time.time()
                print(f"-- {ph} N={n} {mode} ...", file=sys.stderr, flush=True)
                try:
                    rec = fn(n, mode, args)
                except Exception as e:  # noqa: BLE001 - report and go on
                    rec = {"phase": ph, "n": n, "mode": mode, "error": repr(e)[:500]}
                rec["wall_s"] = round(time.time() - t, 1)
                records.append(rec)
                if args.out:
                    with open(args.out, "w") as f:
                        json.dump(records, f, indent=1)
                print(f"   done in {rec['wall_s']} s", file=sys.stderr, flush=True)
    print_table(records)


if __name__ == "__main__":
    main()
