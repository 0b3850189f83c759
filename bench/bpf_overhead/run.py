"""bench/bpf_overhead/run.py -- cost of the raylet family's BPF programs.

In one run, side by side:
- raysense-agent (raylet family: lease uprobes, raylet-only runqlat, exec/exit
  tracepoints; plus whatever other families the agent has), watching one fake
  raylet (tests/bpf/targets/fake_raylet.c);
- runq_baseline: the same runqlat program with the tgid filter off, i.e.
  libbpf-tools runqlat timing ALL tasks.
Load: pipe ping-pong between two untracked processes (wakeups + switches for
"everything else"), then M zero-delay leases in the fake raylet (uprobes).
Leases come in two kinds: plain (HandleRequest/OnReplySent only) and ones
that also serialize a reply (the outcome pair fires too).
Prints, from the kernel's bpf stats (BPF_ENABLE_STATS fd, so it does not
fight other users of the sysctl): events and average ns per event of every
program, and filtered/baseline ratios. Then the end-to-end uprobe cost: the
fake raylet's lease loop time with the lease probes attached vs the same
binary without the OnReplySent symbol (so no lease probe attaches), and the
agent's userspace CPU and RSS at steady state.

Then, per --lease-probes mode (all = the default, rpc, duty:2000/8000, and
duty = duty:400/1000, which attaches and detaches every second), in the
same run: the cost per lease, from fake raylets (one copy of the binary per
mode, each watched by its own agent) running zero-delay leases that
serialize a granted reply for whole duty periods of every mode, interleaved
over ROUNDS rounds, minus the same loop in the fake without probe symbols;
its ratio to the median lease latency of a real Ray head raylet (num-cpus=0,
so it spills every lease back) measured in this run by an rpc-mode agent;
and each mode's agent CPU while its fake raylet ran (the attaching and
detaching; 10 ms ticks).

Usage: sudo python bench/bpf_overhead/run.py <build-dir> [--skip-stats]
Figures, not a test: nothing is asserted.
"""
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/bpf"))
from agentutil import (Agent, FakeRaylet, hist_quantile_s, lease_hist, prog_ids_of,  # noqa: E402
                       raylet_pid_of)
from raycluster import RayCluster  # noqa: E402

NR_BPF = 321  # x86_64
BPF_ENABLE_STATS = 32
libc = ctypes.CDLL(None, use_errno=True)
PINGPONG_N = 200000
LEASES = 20000
# A granted RequestWorkerLeaseReply (86 bytes, worker_address + worker_pid +
# resource_mapping) as the pinned Ray's node_manager_pb2 serializes it; see
# real_replies() in tests/bpf/test_raylet_probes.py.
GRANTED_REPLY = ("0a4a0a1c" + "6e" * 28 + "120831302e312e322e3318bbb902221c" + "77" * 28 +
                 "1a050a03435055309221")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MODES = ("all", "rpc", "duty:2000/8000", "duty")      # all = the agent's default; duty = 400/1000 ms
DUTY_PERIOD_MS = 8000   # whole periods of every duty mode above
ROUNDS = 3
HEAD_TASKS = 300
HEAD_WORKLOAD = f"""
import ray
ray.init()

@ray.remote(num_cpus=1)
def f(i):
    return i

for wave in range({HEAD_TASKS} // 50):
    assert sum(ray.get([f.remote(i) for i in range(50)])) == 1225
print("ok")
"""


def enable_bpf_stats():
    attr = (ctypes.c_uint32 * 32)()
    fd = libc.syscall(NR_BPF, BPF_ENABLE_STATS, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "BPF_ENABLE_STATS")
    return fd


def prog_stats(ids):
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True, capture_output=True, text=True)
    return {p["id"]: (p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0))
            for p in json.loads(out.stdout) if p["id"] in ids}


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    build = os.path.abspath(args[0] if args else "build")
    agent_bin = os.path.join(build, "raysense-agent")
    full = os.path.join(build, "tests/bpf/targets/full/raylet")
    missing = os.path.join(build, "tests/bpf/targets/missing/raylet")
    if "--skip-stats" not in sys.argv:
        program_stats(build, agent_bin, full, missing)
    modes_vs_head(agent_bin, full, missing)


def program_stats(build, agent_bin, full, missing):
    """BPF stats per program, the runqlat ratios, the --lease-probes=all
    uprobe cost, and the agent's steady-state CPU and RSS."""
    baseline_bin = os.path.join(build, "bench/bpf_overhead/runq_baseline")
    pingpong = os.path.join(build, "bench/bpf_overhead/pingpong")
    pin_dir = f"/sys/fs/bpf/raysense-bench-{uuid.uuid4().hex[:8]}"
    stats_fd = enable_bpf_stats()
    fakes, agent, base = [], None, None
    try:
        fakes = [FakeRaylet(full, "--leases", str(LEASES), "--delay-us", "0"),
                 FakeRaylet(full, "--leases", "0", "--reply", f"{LEASES}:{GRANTED_REPLY}"),
                 FakeRaylet(missing, "--leases", str(LEASES), "--delay-us", "0")]
        agent = Agent(agent_bin, pin_dir, "--lease-probes", "all",
                      "--raylet-path", os.path.dirname(os.path.dirname(full)) + "/", "--log-level", "info")
        for f in fakes:
            agent.wait_tracking(f.pid)
        base = subprocess.Popen([baseline_bin], stdout=subprocess.PIPE, text=True)
        assert base.stdout.readline().strip() == "ready"
        owner = {i: "agent" for i in prog_ids_of(agent.proc.pid)}
        owner.update({i: "baseline" for i in prog_ids_of(base.pid)})
        s0 = prog_stats(owner)

        pp_ns = float(subprocess.run([pingpong, str(PINGPONG_N)], check=True, capture_output=True,
                                     text=True).stdout)
        with_probes_ns = fakes[0].go()
        with_outcome_ns = fakes[1].go()
        without_probes_ns = fakes[2].go()
        s1 = prog_stats(owner)

        print(f"load: {PINGPONG_N} pipe round trips ({pp_ns:.0f} ns each, with both loaded), "
              f"{LEASES} leases in a tracked fake raylet\n")
        print(f"{'program':<18} {'owner':<9} {'events':>10} {'ns/event':>9}")
        per = {}
        for pid_, (name, cnt1, t1) in sorted(s1.items(), key=lambda kv: (owner[kv[0]], kv[1][0])):
            name0, cnt0, t0 = s0.get(pid_, (name, 0, 0))
            n = cnt1 - cnt0
            ns = (t1 - t0) / n if n else 0.0
            per[(owner[pid_], name)] = (n, ns)
            if n or owner[pid_] == "baseline" or name.startswith(("lease", "runq", "raylet")):
                print(f"{name:<18} {owner[pid_]:<9} {n:>10} {ns:>9.1f}")
        print()
        for prog in ("runq_switch", "runq_wakeup", "runq_wakeup_new"):
            a, b = per.get(("agent", prog)), per.get(("baseline", prog))
            if a and b and b[1]:
                print(f"ratio {prog}: raylet-only {a[1]:.1f} ns / all-tasks baseline {b[1]:.1f} ns "
                      f"= {a[1] / b[1]:.2f}")
        d = (with_probes_ns - without_probes_ns) / LEASES
        print(f"\nuprobes end to end: lease loop {with_probes_ns / LEASES:.0f} ns/lease with the lease "
              f"probes, {without_probes_ns / LEASES:.0f} ns/lease without: {d / 1000:.1f} us per lease "
              f"= {d / 2000:.1f} us per uprobe hit (2 per lease)")
        o = (with_outcome_ns - with_probes_ns) / LEASES
        d4 = (with_outcome_ns - without_probes_ns) / LEASES
        print(f"outcome pair (uprobe + uretprobe on gRPC's serializer of the reply): "
              f"{o / 1000:.1f} us more per lease; all 4 hits of --lease-probes=all: {d4 / 1000:.1f} us per lease "
              f"= {d4 / max(d, 1):.2f}x the request/reply pair alone")

        t0, c0 = time.time(), cpu_ticks(agent.proc.pid)
        time.sleep(20)
        t1, c1 = time.time(), cpu_ticks(agent.proc.pid)
        print(f"\nagent steady state (20 s, idle raylets): CPU {(c1 - c0) / CLK_TCK / (t1 - t0) * 100:.2f} % "
              f"of one core, RSS {rss_kb(agent.proc.pid) / 1024:.1f} MiB")
    finally:
        for f in fakes:
            f.stop()
        if base:
            base.terminate()
            base.wait()
        if agent:
            agent.stop()
        os.close(stats_fd)
        shutil.rmtree(pin_dir, ignore_errors=True)


def head_median_ms(agent_bin):
    """Median lease RPC latency of a real Ray head raylet, from an rpc-mode
    agent (the pair only: the fewest hits inside the timed span)."""
    pin = f"/sys/fs/bpf/raysense-bench-{uuid.uuid4().hex[:8]}"
    cluster, agent = RayCluster(), None
    try:
        cluster.start_head()
        cluster.add_worker(num_cpus=2)
        head = raylet_pid_of(cluster.head_node_id)
        ray_raylet = os.path.realpath(f"/proc/{head}/exe")
        agent = Agent(agent_bin, pin, "--lease-probes", "rpc", "--raylet-path", ray_raylet,
                      "--log-level", "info")
        agent.wait_tracking(head, timeout=120)
        h0 = lease_hist(pin, head)
        cluster.run_python(HEAD_WORKLOAD, timeout=600)
        time.sleep(1)
        h1 = lease_hist(pin, head)
        slots = [b - (h0["slots"][i] if h0 else 0) for i, b in enumerate(h1["slots"])]
        n = h1["count"] - (h0["count"] if h0 else 0)
        return hist_quantile_s(slots, 0.5) * 1e3, n
    finally:
        if agent:
            agent.stop()
        cluster.stop()
        shutil.rmtree(pin, ignore_errors=True)


def modes_vs_head(agent_bin, full, missing):
    """Cost per lease of each --lease-probes mode, and its ratio to the head
    raylet's median lease latency, all in this run."""
    tmp = f"/tmp/rs-bench-modes-{uuid.uuid4().hex[:8]}"
    agents, per_lease = {}, {m: [] for m in MODES + ("none",)}
    busy, spent = {m: 0 for m in MODES}, {m: 0.0 for m in MODES}   # agent CPU ticks while its raylet ran
    try:
        binary = {"none": missing}
        for i, m in enumerate(MODES):
            d = f"{tmp}/mode{i}"
            os.makedirs(d)
            shutil.copy2(full, f"{d}/raylet")
            binary[m] = f"{d}/raylet"
            agents[m] = Agent(agent_bin, f"/sys/fs/bpf/raysense-bench-mode{i}-{uuid.uuid4().hex[:6]}",
                              "--lease-probes", m, "--raylet-path", f"{d}/", "--log-level", "info")
        for m in MODES:
            agents[m].wait_log("agent running", timeout=300)
        for rnd in range(ROUNDS):
            for m in ("none",) + MODES:
                f = FakeRaylet(binary[m], "--for-ms", str(DUTY_PERIOD_MS), "--reply", f"1:{GRANTED_REPLY}")
                try:
                    if m != "none":
                        agents[m].wait_tracking(f.pid)
                        time.sleep(0.5)   # past the first poll (duty: closes if outside a window)
                    c0 = cpu_ticks(agents[m].proc.pid) if m != "none" else 0
                    ns = f.go()
                    per_lease[m].append(ns / f.leases_done)
                    if m != "none":
                        busy[m] += cpu_ticks(agents[m].proc.pid) - c0
                        spent[m] += ns / 1e9
                finally:
                    f.stop()
        for m in MODES:
            ag = agents.pop(m)
            pin = ag.pin_dir
            ag.stop()
            shutil.rmtree(pin, ignore_errors=True)
        print_modes(per_lease, busy, spent, None, 0)   # kept even if the head fails to start
        for attempt in range(2):   # a loaded VM sometimes fails to start a Ray head
            try:
                med_ms, n_head = head_median_ms(agent_bin)
                break
            except (RuntimeError, TimeoutError) as e:
                print(f"Ray head attempt {attempt + 1} failed: {e}", flush=True)
        else:
            raise SystemExit("no Ray head median: the mode figures above have no ratio")
    finally:
        for ag in agents.values():
            ag.stop()
            shutil.rmtree(ag.pin_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print_modes(per_lease, busy, spent, med_ms, n_head)


def print_modes(per_lease, busy, spent, med_ms, n_head):
    base = sum(per_lease["none"]) / len(per_lease["none"])
    print(f"\n--lease-probes modes, {ROUNDS} interleaved rounds of {DUTY_PERIOD_MS} ms of zero-delay "
          f"leases each (granted reply serialized); loop without probes {base / 1000:.1f} us/lease "
          f"(rounds: {', '.join(f'{x / 1000:.1f}' for x in per_lease['none'])})")
    if med_ms:
        print(f"real Ray head raylet median lease latency (rpc-mode agent, {n_head} leases in this run): "
              f"{med_ms:.3f} ms")
    print(f"{'mode':<16} {'us/lease':>9} {'cost us/lease':>14} {'% of head median':>17} {'agent CPU':>10}"
          "  rounds (us/lease)")
    for m in MODES:
        mean = sum(per_lease[m]) / len(per_lease[m])
        cost = (mean - base) / 1000
        label = {"all": "all (default)", "duty": "duty:400/1000"}.get(m, m)
        ratio = f"{cost / 1000 / med_ms * 100:>16.2f} %" if med_ms else f"{'-':>18}"
        print(f"{label:<16} {mean / 1000:>9.1f} {cost:>14.1f} {ratio} "
              f"{busy[m] / CLK_TCK / spent[m] * 100:>8.2f} %  {', '.join(f'{x / 1000:.1f}' for x in per_lease[m])}")


if __name__ == "__main__":
    main()
