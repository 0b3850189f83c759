"""lifecycle_overhead.py -- cost of the lifecycle probe family's programs.

Runs three loads that hit its tracepoints (prctl renames -> task_rename;
loopback TCP connect/accept/close -> inet_sock_set_state; fork+exec+exit of
/bin/true -> sched_process_fork/exec/exit), first with no raysense-agent
started by this bench (baseline), then with one, and prints:
- per program: events and average ns per event from the kernel's bpf stats
  (enabled through BPF_ENABLE_STATS, a reference-counted fd, so it does not
  fight other users of the kernel.bpf_stats_enabled sysctl);
- per load: time per operation with the agent / baseline (a ratio).
Agents started by others on this machine stay attached in both runs; the
bench prints how many lifecycle programs were already attached.

Usage: sudo python bench/lifecycle_overhead.py <build-dir>/raysense-agent
These are figures, not a test: nothing is asserted.
"""
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "bpf"))
from agentutil import prog_ids_of  # noqa: E402

NR_BPF = 321            # x86_64
BPF_ENABLE_STATS = 32
BPF_STATS_RUN_TIME = 0
PR_SET_NAME = 15

libc = ctypes.CDLL(None, use_errno=True)


def enable_bpf_stats():
    attr = (ctypes.c_uint32 * 32)()
    attr[0] = BPF_STATS_RUN_TIME
    fd = libc.syscall(NR_BPF, BPF_ENABLE_STATS, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "BPF_ENABLE_STATS")
    return fd


def load_rename(n=200000):
    t = time.perf_counter()
    for i in range(n):
        libc.prctl(PR_SET_NAME, b"bench-a" if i & 1 else b"bench-b", 0, 0, 0)
    return (time.perf_counter() - t) / n, n


def load_tcp(n=3000):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    addr = srv.getsockname()
    t = time.perf_counter()
    for _ in range(n):
        c = socket.create_connection(addr)
        s, _ = srv.accept()
        c.close()
        s.close()
    dt = time.perf_counter() - t
    srv.close()
    return dt / n, n


def load_exec(n=300):
    t = time.perf_counter()
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True)
    return (time.perf_counter() - t) / n, n


LOADS = [("prctl rename", load_rename), ("tcp connect+accept+close", load_tcp),
         ("fork+exec+exit /bin/true", load_exec)]


def progs_of(pid):
    """{name: (run_cnt, run_time_ns)} of the lc_* programs the process holds
    (prog ids from /proc/PID/fdinfo; this bpftool prints no pids)."""
    ids = prog_ids_of(pid)
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True,
                         check=True).stdout
    res = {}
    for p in json.loads(out):
        if p["id"] in ids and p.get("name", "").startswith("lc_"):
            res[p["name"]] = (p.get("run_cnt", 0), p.get("run_time_ns", 0))
    return res


def count_lc_attached():
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True,
                         check=True).stdout
    return sum(1 for p in json.loads(out) if p.get("name", "").startswith("lc_"))


def main():
    agent_bin = sys.argv[1]
    stats_fd = enable_bpf_stats()
    others = count_lc_attached()
    base = {name: fn() for name, fn in LOADS}
    pin_dir = f"/sys/fs/bpf/rs-lc-bench-{os.getpid()}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agent = subprocess.Popen([agent_bin, "--pin-dir", pin_dir, "--listen", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while len(progs_of(agent.pid)) < 6:
            if time.time() > deadline or agent.poll() is not None:
                sys.exit("agent did not attach the lifecycle programs")
            time.sleep(0.2)
        before = progs_of(agent.pid)
        with_agent = {name: fn() for name, fn in LOADS}
        after = progs_of(agent.pid)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        shutil.rmtree(pin_dir, ignore_errors=True)
        os.close(stats_fd)
    print(f"lifecycle programs attached by other agents during both runs: {others}")
    print(f"{'program':<14} {'events':>9} {'avg ns/event':>13}")
    for name in sorted(after):
        cnt = after[name][0] - before.get(name, (0, 0))[0]
        ns = after[name][1] - before.get(name, (0, 0))[1]
        print(f"{name:<14} {cnt:>9} {ns / cnt if cnt else 0:>13.0f}")
    print(f"{'load':<28} {'ops':>6} {'baseline us/op':>15} {'with agent us/op':>17} {'ratio':>6}")
    for name, _ in LOADS:
        b, n = base[name]
        w, _ = with_agent[name]
        print(f"{name:<28} {n:>6} {b * 1e6:>15.2f} {w * 1e6:>17.2f} {w / b:>6.2f}")


if __name__ == "__main__":
    main()
