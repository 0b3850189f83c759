"""Lifecycle probe family on the real kernel: controlled delays with fake
Ray-shaped processes (tests/bpf/lifecycle_fakes.py), pod cgroups made by
hand in the real cgroup tree, and a real Ray 2.60 cluster.

Every measurement is compared with a ground truth taken in the same run:
CLOCK_MONOTONIC instants the fakes log (the clock bpf_ktime_get_ns reads),
or, for real Ray, the raylet's own ray_worker_register_time_ms.

Run: RAYSENSE_BUILD_DIR=<build> pytest -rs tests/bpf/test_lifecycle.py
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from raycluster import PYTHON_BIN, free_port  # noqa: E402
from promtext import parse_prom

FAKES = os.path.join(HERE, "lifecycle_fakes.py")
PY = os.path.realpath(PYTHON_BIN)

# Tolerance of one measured interval against the fakes' own timestamps: the
# fake logs just after listen()/connect()/fork() return, the probe fires
# inside them, so the two differ by one syscall plus a Python call (<1 ms
# idle); 20 ms absorbs scheduling noise on this shared 2-CPU VM.
TOL_S = 0.020


# ---------------------------------------------------------------- helpers

def series(samples, name, **want):
    return [(l, v) for n, l, v in samples if n == name
            and all(l.get(k) == str(x) for k, x in want.items())]


def one(samples, name, **want):
    s = series(samples, name, **want)
    assert len(s) == 1, f"{name}{want}: want 1 series, got {s}"
    return s[0][1]


class Agent:
    def __init__(self, binary, tmp, env=None, pin_dir=None):
        self.pin_dir = pin_dir or f"/sys/fs/bpf/rs-lc-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.log_path = os.path.join(tmp, f"agent-{uuid.uuid4().hex[:6]}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--pin-dir", self.pin_dir, "--listen", f"127.0.0.1:{self.port}",
             "--log-level", "debug", "--debug-labels"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, "agent exited:\n" + self.read_log()
            try:
                if self.get("/readyz")[0] == 200 and "lifecycle attached" in self.read_log():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError("agent not ready:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return r.status, r.read().decode()

    def metrics(self):
        return parse_prom(self.get("/metrics")[1])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.pin_dir, ignore_errors=True)


@pytest.fixture
def agent(require_bpf, bin, tmp_path):
    a = Agent(bin("raysense-agent"), str(tmp_path))
    try:
        yield a
    finally:
        a.stop()


class Fakes:
    """A directory with the role symlinks, and the fake processes started."""

    def __init__(self, tmp):
        self.d = os.path.join(tmp, "fk")
        os.makedirs(self.d)
        for name in ("ray", "raylet", "gcs_server"):
            os.symlink(PY, os.path.join(self.d, name))
        os.symlink(FAKES, os.path.join(self.d, "default_worker.py"))
        self.procs = []

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def gcs(self):
        port_file = os.path.join(self.d, "gcs.port")
        self.spawn([os.path.join(self.d, "gcs_server"), FAKES, "gcs", self.d, port_file])
        deadline = time.time() + 30
        while not os.path.exists(port_file):
            assert time.time() < deadline, "fake gcs_server did not start"
            time.sleep(0.02)
        return int(open(port_file).read())

    def ray_start(self, raylet_delay, gcs_port, listen_delay, connect_delay, worker_delays,
                  preexec=None, wrapper=None):
        argv = [os.path.join(self.d, "ray"), FAKES, "start", self.d, str(raylet_delay),
                f"--gcs-address=127.0.0.1:{gcs_port}", str(listen_delay), str(connect_delay)]
        argv += [str(x) for x in worker_delays]
        self.spawn_t = time.monotonic_ns()
        return self.spawn(wrapper(argv) if wrapper else argv)

    def events(self, what=None):
        path = os.path.join(self.d, "events.jsonl")
        if not os.path.exists(path):
            return []
        ev = [json.loads(l) for l in open(path) if l.strip()]
        return [e for e in ev if what is None or e["what"] == what]

    def wait_events(self, what, n, timeout=60):
        deadline = time.time() + timeout
        while len(self.events(what)) < n:
            assert time.time() < deadline, f"waited for {n} {what}: {self.events()}"
            time.sleep(0.02)
        return self.events(what)

    def touch(self, name):
        open(os.path.join(self.d, name), "w").close()

    def rm(self, name):
        os.unlink(os.path.join(self.d, name))

    def stop(self):
        for n in ("raylet.exit", "gcs.exit") + tuple(f"{i}.exit" for i in range(16)):
            self.touch(n)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture
def fakes(tmp_path):
    f = Fakes(str(tmp_path))
    try:
        yield f
    finally:
        f.stop()


def wait_metric(agent, pred, timeout=20):
    deadline = time.time() + timeout
    while True:
        s = agent.metrics()
        if pred(s):
            return s
        assert time.time() < deadline, "metric condition not reached; agent log:\n" + agent.read_log()[-3000:]
        time.sleep(0.2)


# ---------------------------------------------------------------- controlled delays

WORKER_DELAYS = [0.25, 0.5, 1.0]


def test_worker_startup_activity_and_node_timeline(agent, fakes):
    """Fake `ray start` -> raylet -> 3 workers ready after 0.25/0.5/1.0 s and
    one that dies early; busy/idle by rename; a ray-start timeline with every
    phase; the fake gcs_server counts the raylet's connection."""
    gcs_port = fakes.gcs()
    fakes.ray_start(0.3, gcs_port, 0.4, 0.6, WORKER_DELAYS + [-0.2])
    fakes.wait_events("worker_listen", len(WORKER_DELAYS))
    fakes.wait_events("worker_died", 1)
    raylet_pid = fakes.wait_events("raylet_exec", 1)[0]["pid"]
    fakes.wait_events("raylet_gcs_connected", 1)

    # Ground truth: fork (raylet side) -> listen (worker side), per worker.
    forks = {e["index"]: e["t"] for e in fakes.events("worker_fork")}
    truth = [(e["t"] - forks[e["index"]]) / 1e9 for e in fakes.events("worker_listen")]

    s = wait_metric(agent, lambda s: series(s, "raysense_worker_startup_seconds_count",
                                           raylet_pid=raylet_pid)
                    and one(s, "raysense_worker_startup_seconds_count", raylet_pid=raylet_pid) >= 3
                    and one(s, "raysense_worker_startup_failures_total", raylet_pid=raylet_pid,
                            reason="exited") >= 1)
    count = one(s, "raysense_worker_startup_seconds_count", raylet_pid=raylet_pid)
    total = one(s, "raysense_worker_startup_seconds_sum", raylet_pid=raylet_pid)
    assert count == 3
    assert one(s, "raysense_worker_processes_started_total", raylet_pid=raylet_pid) == 4
    assert one(s, "raysense_worker_startup_failures_total", raylet_pid=raylet_pid, reason="exited") == 1
    assert one(s, "raysense_worker_startup_failures_total", raylet_pid=raylet_pid, reason="timeout") == 0
    # The sum is exact (ns in the kernel): compare means. Each sample also
    # lands in its log2 bucket: check the +Inf-free bucket of the longest.
    print(f"worker startup: probe mean {total / count:.4f}s, truth mean {sum(truth) / 3:.4f}s, "
          f"truth {truth}")
    assert abs(total / count - sum(truth) / 3) < TOL_S
    for t in truth:
        assert t > WORKER_DELAYS[0]

    # Activity: 3 idle, 0 busy; then worker 1 busy; then idle again.
    s = wait_metric(agent, lambda s: series(s, "raysense_workers", raylet_pid=raylet_pid, state="idle")
                    and one(s, "raysense_workers", raylet_pid=raylet_pid, state="idle") == 3)
    assert one(s, "raysense_workers", raylet_pid=raylet_pid, state="busy") == 0
    assert not series(s, "raysense_raylet_seconds_since_busy", raylet_pid=raylet_pid), \
        "never busy yet: seconds_since_busy must be absent"
    fakes.touch("1.busy")
    s = wait_metric(agent, lambda s: one(s, "raysense_workers", raylet_pid=raylet_pid, state="busy") == 1)
    assert one(s, "raysense_workers", raylet_pid=raylet_pid, state="idle") == 2
    assert one(s, "raysense_raylet_seconds_since_busy", raylet_pid=raylet_pid) == 0
    fakes.rm("1.busy")
    idle_at = fakes.wait_events("worker_idle", 1)[0]["t"]
    time.sleep(1.5)
    s = agent.metrics()
    now = time.monotonic_ns()
    since = one(s, "raysense_raylet_seconds_since_busy", raylet_pid=raylet_pid)
    want = (now - idle_at) / 1e9
    print(f"seconds_since_busy {since:.3f} want {want:.3f}")
    assert one(s, "raysense_workers", raylet_pid=raylet_pid, state="busy") == 0
    assert one(s, "raysense_workers", raylet_pid=raylet_pid, state="idle") == 3
    assert want - 0.5 < since <= want + TOL_S  # the scrape itself takes time

    # Timeline of the fake `ray start` node. Exec instants are known only
    # within bounds (after the parent's last log line before fork/spawn,
    # before the child's first log line), listen/connect exactly.
    ev = {e["what"]: e["t"] for e in fakes.events()}
    ev["spawn"] = fakes.spawn_t
    start_pid = fakes.events("ray_start_exec")[0]["pid"]
    key = f"pid:{start_pid}"
    rel = {l["phase"]: v for l, v in series(s, "raysense_startup_phase_seconds", timeline=key)}
    print("timeline", key, rel)
    assert set(rel) == {"first_exec", "raylet_exec", "raylet_listen", "gcs_connected"}, rel
    assert rel["first_exec"] == 0
    assert rel["first_exec"] < rel["raylet_exec"] < rel["raylet_listen"] < rel["gcs_connected"]

    def within(measured, lo_ns, hi_ns, what):
        lo, hi = lo_ns / 1e9 - TOL_S, hi_ns / 1e9 + TOL_S
        print(f"{what}: {measured:.4f}s in [{lo:.4f}, {hi:.4f}]")
        assert lo <= measured <= hi, what

    within(rel["raylet_exec"], ev["raylet_fork"] - ev["ray_start_exec"],
           ev["raylet_exec"] - ev["spawn"], "ray start exec -> raylet exec")
    within(rel["raylet_listen"] - rel["raylet_exec"], ev["raylet_listen"] - ev["raylet_exec"],
           ev["raylet_listen"] - ev["raylet_fork"], "raylet exec -> listen")
    within(rel["gcs_connected"] - rel["raylet_listen"],
           ev["raylet_gcs_connected"] - ev["raylet_listen"],
           ev["raylet_gcs_connected"] - ev["raylet_listen"], "raylet listen -> gcs connected")
    ph = {l["phase"]: v for l, v in series(s, "raysense_node_startup_phase_seconds_count")}
    assert all(ph[p] >= 1 for p in ("raylet_exec", "raylet_listen", "gcs_connected")), ph

    # GCS join seen from the (fake) head: the raylet's connection was accepted.
    s = agent.metrics()
    assert one(s, "raysense_gcs_accepted_connections_total", gcs_port=gcs_port) == 1
    first = one(s, "raysense_gcs_peer_first_seen_timestamp_seconds", gcs_port=gcs_port, peer="127.0.0.1")
    wall_connected = time.time() - (time.monotonic_ns() - ev["raylet_gcs_connected"]) / 1e9
    assert abs(first - wall_connected) < TOL_S + 0.01


# ---------------------------------------------------------------- pod cgroups

def fstype(path):
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True,
                          text=True).stdout.strip()


def pod_hierarchy_root(version):
    """Where the agent tracks pod cgroups: the cgroup v2 tree when
    /sys/fs/cgroup is cgroup2 (or RAYSENSE_POD_CGROUP=v2), else the v1 cpu
    controller (lifecycle.c pick_hierarchy)."""
    if fstype("/sys/fs/cgroup") == "cgroup2fs":
        return "/sys/fs/cgroup" if version == "v2" else None
    if version == "v2":
        return "/sys/fs/cgroup/unified" if fstype("/sys/fs/cgroup/unified") == "cgroup2fs" else None
    return "/sys/fs/cgroup/cpu" if os.path.isdir("/sys/fs/cgroup/cpu") else None


@pytest.fixture(params=["v1", "v2"])
def pod_agent(request, require_bpf, bin, tmp_path):
    root = pod_hierarchy_root(request.param)
    if root is None:
        pytest.fail(f"no cgroup {request.param} hierarchy to test on this host")
    env = dict(os.environ, RAYSENSE_POD_CGROUP=request.param)
    a = Agent(bin("raysense-agent"), str(tmp_path), env=env)
    try:
        yield a, root
    finally:
        a.stop()


@pytest.mark.parametrize("layout", ["cgroupfs", "systemd"])
def test_pod_timeline(pod_agent, fakes, layout):
    """A pod cgroup made by hand in kubelet's layout; 0.3 s later the first
    exec in its container cgroup is a fake `ray start`. The timeline is keyed
    by the pod UID and starts at the cgroup's creation."""
    agent, root = pod_agent
    uid = str(uuid.uuid4())
    if layout == "cgroupfs":
        qos = os.path.join(root, "kubepods", "burstable")
        pod = os.path.join(qos, "pod" + uid)
        ctr = os.path.join(pod, "0123456789abcdef")
    else:
        qos = os.path.join(root, "kubepods.slice", "kubepods-burstable.slice")
        pod = os.path.join(qos, "kubepods-burstable-pod" + uid.replace("-", "_") + ".slice")
        ctr = os.path.join(pod, "cri-containerd-0123456789abcdef.scope")
    made = []
    try:
        for d in (os.path.dirname(qos), qos):
            if not os.path.isdir(d):
                os.mkdir(d)
                made.append(d)
        t_mkdir0 = time.monotonic_ns()
        os.mkdir(pod)
        made.append(pod)
        t_mkdir1 = time.monotonic_ns()
        os.mkdir(ctr)
        made.append(ctr)
        time.sleep(0.3)
        gcs_port = fakes.gcs()

        def in_pod(argv):
            return ["sh", "-c", f'echo $$ > {ctr}/cgroup.procs && exec "$@"', "sh"] + argv

        fakes.ray_start(0.2, gcs_port, 0.3, 0.4, [0.1], wrapper=in_pod)
        fakes.wait_events("raylet_gcs_connected", 1)
        fakes.wait_events("worker_listen", 1)
        s = wait_metric(agent, lambda s: len(series(s, "raysense_startup_phase_seconds", timeline=uid)) >= 5)
        rel = {l["phase"]: v for l, v in series(s, "raysense_startup_phase_seconds", timeline=uid)}
        labels = series(s, "raysense_startup_phase_seconds", timeline=uid)[0][0]
        print(layout, uid, rel)
        assert labels["pod_uid"] == uid
        assert set(rel) == {"cgroup_created", "first_exec", "raylet_exec", "raylet_listen", "gcs_connected"}
        assert rel["cgroup_created"] == 0
        assert rel["cgroup_created"] < rel["first_exec"] < rel["raylet_exec"] < rel["raylet_listen"] \
            < rel["gcs_connected"]
        ev = {e["what"]: e["t"] for e in fakes.events()}
        lo = (fakes.spawn_t - t_mkdir1) / 1e9 - TOL_S
        hi = (ev["ray_start_exec"] - t_mkdir0) / 1e9 + TOL_S
        print(f"cgroup -> first exec {rel['first_exec']:.4f}s in [{lo:.4f}, {hi:.4f}]")
        assert lo <= rel["first_exec"] <= hi
        # The raylet in the pod is the timeline's raylet; its worker counted.
        raylet_pid = fakes.events("raylet_exec")[0]["pid"]
        assert labels["raylet_pid"] == str(raylet_pid)
        assert one(s, "raysense_worker_startup_seconds_count", raylet_pid=raylet_pid) == 1
    finally:
        fakes.stop()
        for d in reversed(made):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)


# ---------------------------------------------------------------- real Ray

def children(ppid, comm):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            c = st[st.index("(") + 1:st.rindex(")")]
            pp = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        if pp == ppid and c == comm:
            out.append(int(p))
    return out


def ray_metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return parse_prom(r.read().decode())


def ray_register_time(port):
    """(count, sum_ms) of the raylet's ray_worker_register_time_ms."""
    s = ray_metrics(port)
    c = [v for n, l, v in s if n == "ray_worker_register_time_ms_count" and l.get("Component") == "raylet"]
    t = [v for n, l, v in s if n == "ray_worker_register_time_ms_sum" and l.get("Component") == "raylet"]
    return (sum(c), sum(t)) if c else (0, 0.0)


def median_bucket_s(samples, family, **labels):
    """[lo, hi) seconds of the bucket holding the median of a histogram."""
    b = sorted((float(l["le"]), v) for l, v in series(samples, family + "_bucket", **labels)
               if l["le"] != "+Inf")
    total = one(samples, family + "_count", **labels)
    lo = 0.0
    for le, cum in b:
        if cum >= total / 2:
            return (lo, le)
        lo = le
    return (lo, float("inf"))


def ray_median_bucket_s(port):
    s = [(l, v) for n, l, v in ray_metrics(port)
         if n == "ray_worker_register_time_ms_bucket" and l.get("Component") == "raylet"]
    b = sorted((float(l["le"]) / 1e3, v) for l, v in s if l["le"] != "+Inf")
    total = max(v for l, v in s if l["le"] == "+Inf")
    lo = 0.0
    for le, cum in b:
        if cum >= total / 2:
            return (lo, le)
        lo = le
    return (lo, float("inf"))


DRIVER = r"""
import os, sys, time, ray
ray.init()
node = sys.argv[1]
@ray.remote(num_cpus=1)
def work(i):
    time.sleep(4)
    return os.getpid()
s = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(node, soft=False)
refs = [work.options(scheduling_strategy=s).remote(i) for i in range(4)]
print("pids", sorted(set(ray.get(refs))), flush=True)
open(sys.argv[2], "w").write("done")
# An actor on the same node once the test has looked at the idle workers.
while not os.path.exists(sys.argv[2] + ".actor"):
    time.sleep(0.05)
@ray.remote(num_cpus=1)
class Act:
    def __init__(self, flag):
        self.flag = flag  # the driver's path: sys.argv differs in the worker
    def meth(self):
        open(self.flag, "w").write(str(os.getpid()))
        time.sleep(3)
        return os.getpid()
a = Act.options(scheduling_strategy=s).remote(sys.argv[2] + ".running")
print("actor", ray.get(a.meth.remote()), flush=True)
open(sys.argv[2] + ".between", "w").write("x")
while not os.path.exists(sys.argv[2] + ".end"):
    time.sleep(0.05)
import json
from ray.util.state import list_workers
ws = [w for w in list_workers(detail=True, limit=1000, raise_on_missing_output=False)
      if w.node_id == node and w.worker_type == "WORKER"]
print("WORKERS", json.dumps([{"pid": w.pid, "launch": w.worker_launch_time_ms,
                              "launched": w.worker_launched_time_ms, "start": w.start_time_ms}
                             for w in ws]), flush=True)
"""


def test_real_ray_worker_node(agent, ray_cluster, tmp_path):
    """A real worker raylet started after the agent: its `ray start` timeline,
    worker startup against Ray's ray_worker_register_time_ms, busy/idle while
    4 one-CPU tasks run on its 2 CPUs and after, and the head's GCS accepts."""
    gcs_port = ray_cluster.gcs_port
    before = agent.metrics()
    accepted0 = sum(v for l, v in series(before, "raysense_gcs_accepted_connections_total",
                                         gcs_port=gcs_port))
    t_added = time.time()
    w = ray_cluster.add_worker(num_cpus=2)
    raylets = children(w.pid, "raylet")
    assert len(raylets) == 1, raylets
    raylet = raylets[0]
    mport = w.ports["--metrics-export-port"]

    done = os.path.join(str(tmp_path), "tasks.done")
    env = dict(os.environ, RAY_ADDRESS=ray_cluster.address, RAY_USAGE_STATS_ENABLED="0")
    drv = subprocess.Popen([PYTHON_BIN, "-c", DRIVER, w.node_id, done], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # While the tasks run: 2 busy workers on the 2-CPU node.
        s = wait_metric(agent, lambda s: series(s, "raysense_workers", raylet_pid=raylet, state="busy")
                        and one(s, "raysense_workers", raylet_pid=raylet, state="busy") == 2, timeout=120)
        assert one(s, "raysense_raylet_seconds_since_busy", raylet_pid=raylet) == 0
        # Two raylets on this host are kept apart: the head (num-cpus=0) runs none.
        head_raylet = children(ray_cluster.head_proc.pid, "raylet")
        assert len(head_raylet) == 1
        assert one(s, "raysense_workers", raylet_pid=head_raylet[0], state="busy") == 0
        deadline = time.time() + 120
        while not os.path.exists(done):
            assert drv.poll() is None, drv.communicate()
            assert time.time() < deadline
            time.sleep(0.2)
        time.sleep(2.0)
        s = agent.metrics()
        busy = one(s, "raysense_workers", raylet_pid=raylet, state="busy")
        idle = one(s, "raysense_workers", raylet_pid=raylet, state="idle")
        since = one(s, "raysense_raylet_seconds_since_busy", raylet_pid=raylet)
        print(f"after tasks: busy={busy} idle={idle} seconds_since_busy={since:.2f}")
        assert busy == 0 and idle >= 2
        assert 1.5 < since < 10

        # Actors: busy while a method runs, and still busy between calls
        # (title ray::Act: the worker is dedicated to the actor).
        open(done + ".actor", "w").close()
        deadline = time.time() + 120
        while not os.path.exists(done + ".running"):
            assert drv.poll() is None, drv.communicate()
            assert time.time() < deadline
            time.sleep(0.05)
        actor_pid = int(open(done + ".running").read() or 0)
        s = wait_metric(agent, lambda s: one(s, "raysense_workers", raylet_pid=raylet, state="busy") == 1,
                        timeout=3)
        deadline = time.time() + 60
        while not os.path.exists(done + ".between"):
            assert drv.poll() is None, drv.communicate()
            assert time.time() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        s = agent.metrics()
        comm = open(f"/proc/{actor_pid}/comm").read().strip()
        print(f"actor between calls: comm={comm!r} busy={one(s, 'raysense_workers', raylet_pid=raylet, state='busy')}")
        assert comm == "ray::Act"
        assert one(s, "raysense_workers", raylet_pid=raylet, state="busy") == 1
        assert one(s, "raysense_raylet_seconds_since_busy", raylet_pid=raylet) == 0
        open(done + ".end", "w").close()
    finally:
        for suffix in (".actor", ".end"):
            open(done + suffix, "a").close()
        out, err = drv.communicate(timeout=60)
    assert drv.returncode == 0, err[-3000:]
    print(out.strip())

    # Worker startup vs Ray. Ray 2.60's ray_worker_register_time_ms gives an
    # exact _count and exact buckets {1,10,100,1000,10000} ms, but its _sum
    # is made of bucket midpoints (550, 5500: see docs/lifecycle-facts.md),
    # so the per-worker ground truth for the mean is the state API:
    # start_time_ms (registered) - worker_launch_time_ms (raylet starts it).
    workers = json.loads(out.split("WORKERS", 1)[1].strip().splitlines()[0])
    truth_ms = [w["start"] - w["launch"] for w in workers]
    deadline = time.time() + 60
    while True:
        s = agent.metrics()
        n = one(s, "raysense_worker_startup_seconds_count", raylet_pid=raylet)
        total = one(s, "raysense_worker_startup_seconds_sum", raylet_pid=raylet)
        rc, _ = ray_register_time(mport)
        if rc == n and n > 0:
            break
        assert time.time() < deadline, f"probe count {n} vs ray count {rc}"
        time.sleep(1)
    ours_ms = total / n * 1e3
    truth_mean = sum(truth_ms) / len(truth_ms)
    print(f"worker startup: {n} workers (ray_worker_register_time_ms_count {rc}, state API "
          f"{len(truth_ms)}); probe mean {ours_ms:.1f} ms; state API register-launch mean "
          f"{truth_mean:.1f} ms {truth_ms}")
    assert n == rc == len(truth_ms)
    assert one(s, "raysense_worker_startup_failures_total", raylet_pid=raylet, reason="exited") == 0
    # Nested intervals: the fork comes after Ray's launch stamp and the
    # first listen before Ray's registration, so ours <= Ray's (+ ms
    # rounding). The gap is Ray's pre-fork work plus the worker's connect +
    # register round trip after listen, which grows under CPU contention on
    # this shared 2-CPU VM (measured 26-103 ms at 1-2 s startups): allow
    # max(50 ms, 10%) below.
    assert ours_ms <= truth_mean + 5
    assert ours_ms >= truth_mean - max(50.0, 0.10 * truth_mean)
    # Median: our log2 bucket holding the median must overlap Ray's.
    ours_med = median_bucket_s(s, "raysense_worker_startup_seconds", raylet_pid=raylet)
    ray_med = ray_median_bucket_s(mport)
    print(f"median bucket: probe {ours_med}, ray {ray_med}")
    assert ours_med[0] < ray_med[1] and ray_med[0] < ours_med[1]

    # The worker node's `ray start` timeline: every phase, in order.
    key = f"pid:{w.pid}"
    rel = {l["phase"]: v for l, v in series(s, "raysense_startup_phase_seconds", timeline=key)}
    print("ray start timeline", rel)
    assert set(rel) == {"first_exec", "raylet_exec", "raylet_listen", "gcs_connected"}, rel
    assert rel["first_exec"] == 0 < rel["raylet_exec"] < rel["raylet_listen"]
    assert rel["raylet_exec"] < rel["gcs_connected"]

    # Seen from the head: the new node's connections to the GCS.
    accepted = sum(v for l, v in series(s, "raysense_gcs_accepted_connections_total", gcs_port=gcs_port))
    print(f"gcs accepted {accepted0} -> {accepted}")
    print("peers", series(s, "raysense_gcs_peer_first_seen_timestamp_seconds"))
    assert accepted > accepted0
    # The peer is the address the raylet's socket is bound to (the host's
    # address here, whatever --node-ip-address says): do not assume it.
    peers = series(s, "raysense_gcs_peer_first_seen_timestamp_seconds", gcs_port=gcs_port)
    assert peers and all(t_added - 5 < v < time.time() for _, v in peers), peers


def test_agent_restart_reuses_pins_and_reseeds(require_bpf, bin, fakes, tmp_path):
    """Stop the agent while a (fake) raylet runs 2 workers, one busy; a new
    agent on the same pin dir keeps the cumulative startup histogram and
    rebuilds the busy/idle gauges from /proc (the workers are not re-forked)."""
    gcs_port = fakes.gcs()
    a = Agent(bin("raysense-agent"), str(tmp_path))
    pin_dir = a.pin_dir
    try:
        fakes.ray_start(0.05, gcs_port, 0.1, 0.1, [0.1, 0.1])
        fakes.wait_events("worker_listen", 2)
        raylet = fakes.events("raylet_exec")[0]["pid"]
        fakes.touch("0.busy")
        fakes.wait_events("worker_busy", 1)
        s = wait_metric(a, lambda s: series(s, "raysense_workers", raylet_pid=raylet, state="busy")
                        and one(s, "raysense_workers", raylet_pid=raylet, state="busy") == 1)
        hist_sum = one(s, "raysense_worker_startup_seconds_sum", raylet_pid=raylet)
        assert one(s, "raysense_worker_startup_seconds_count", raylet_pid=raylet) == 2
    finally:
        # Stop without removing the pins (Agent.stop would).
        a.proc.send_signal(signal.SIGTERM)
        a.proc.wait(timeout=20)
        a.log.close()
    b = None
    try:
        b = Agent(bin("raysense-agent"), str(tmp_path), pin_dir=pin_dir)
        s = wait_metric(b, lambda s: series(s, "raysense_workers", raylet_pid=raylet, state="busy"))
        assert one(s, "raysense_worker_startup_seconds_count", raylet_pid=raylet) == 2
        assert one(s, "raysense_worker_startup_seconds_sum", raylet_pid=raylet) == hist_sum
        assert one(s, "raysense_workers", raylet_pid=raylet, state="busy") == 1
        assert one(s, "raysense_workers", raylet_pid=raylet, state="idle") == 1
        assert "reusing pinned map " + pin_dir + "/lc_nodes" in b.read_log()
        # And it keeps following them: the busy one goes idle.
        fakes.rm("0.busy")
        wait_metric(b, lambda s: one(s, "raysense_workers", raylet_pid=raylet, state="idle") == 2)
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(pin_dir, ignore_errors=True)


def test_worker_failures_and_timeouts(require_bpf, bin, fakes, tmp_path):
    """Workers that exit before they are ready: before the registration
    timeout (1 s here, RAYSENSE_WORKER_REGISTER_TIMEOUT_S) they count as
    reason=exited, after it as reason=timeout; neither enters the histogram."""
    env = dict(os.environ, RAYSENSE_WORKER_REGISTER_TIMEOUT_S="1")
    a = Agent(bin("raysense-agent"), str(tmp_path), env=env)
    try:
        assert "worker registration timeout 1.000 s" in a.read_log()
        gcs_port = fakes.gcs()
        fakes.ray_start(0.05, gcs_port, 0.1, 0.1, [-1.5, -0.2, 0.1])
        fakes.wait_events("worker_died", 2)
        fakes.wait_events("worker_listen", 1)
        raylet = fakes.events("raylet_exec")[0]["pid"]
        s = wait_metric(a, lambda s: series(s, "raysense_worker_startup_failures_total",
                                            raylet_pid=raylet, reason="timeout")
                        and one(s, "raysense_worker_startup_failures_total", raylet_pid=raylet,
                                reason="timeout") == 1)
        assert one(s, "raysense_worker_startup_failures_total", raylet_pid=raylet, reason="exited") == 1
        assert one(s, "raysense_worker_processes_started_total", raylet_pid=raylet) == 3
        assert one(s, "raysense_worker_startup_seconds_count", raylet_pid=raylet) == 1
        assert one(s, "raysense_workers", raylet_pid=raylet, state="idle") == 1
    finally:
        a.stop()
