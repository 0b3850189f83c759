"""lifecycle_fakes.py -- processes shaped like Ray's, for controlled-delay
tests of the lifecycle probe family (tests/bpf/test_lifecycle.py).

The probes recognise processes by what the kernel sees, so the fakes copy
exactly that, nothing more:
- `ray start`: comm "ray" (exec'd through a symlink named `ray`) with an
  argument "start"; it sleeps, then forks + execs the raylet.
- raylet: comm "raylet" (symlink named `raylet`), carries --gcs-address=;
  listens on TCP after a delay, connects to the GCS after a delay, and
  forks+execs workers whose argv names a script ending in "_worker.py".
- worker: sleeps, listens on TCP (ready), renames itself with
  prctl(PR_SET_NAME) to ray::IDLE / ray::<task> on command, exits on command.
- gcs_server: comm "gcs_server", listens, accepts.

Ground truth: every fake writes CLOCK_MONOTONIC timestamps (time.monotonic_ns,
the clock bpf_ktime_get_ns reads) of what it did to a JSON-lines file, so the
test compares the probes with the true instants, not with nominal sleeps.

Usage (argv[1] is the role):
  ray start <dir> <raylet_delay> <raylet args...>
  raylet <dir> --gcs-address=H:P <listen_delay> <connect_delay> <worker delays...>
  gcs <dir> <port_file>
  <dir>/default_worker.py <dir> <index> <delay>   (negative delay: exit early)
The `ray`/`raylet`/`gcs_server` symlinks to the interpreter and the
default_worker.py symlink to this file live in <dir> (made by the test).
"""
import ctypes
import json
import os
import socket
import sys
import time

PR_SET_NAME = 15


def log(d, **kv):
    kv["pid"] = os.getpid()
    with open(os.path.join(d, "events.jsonl"), "a") as f:
        f.write(json.dumps(kv) + "\n")


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def wait_file(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit(3)
        time.sleep(0.005)


def role_ray_start(d, raylet_delay, raylet_args):
    log(d, what="ray_start_exec", t=time.monotonic_ns())
    time.sleep(float(raylet_delay))
    log(d, what="raylet_fork", t=time.monotonic_ns())  # before: bounds the exec
    pid = os.fork()
    if pid == 0:
        exe = os.path.join(d, "raylet")
        os.execv(exe, [exe, __file__, "raylet", d] + raylet_args)
    os.waitpid(pid, 0)


def role_raylet(d, gcs_address, listen_delay, connect_delay, worker_delays):
    t0 = time.monotonic_ns()
    log(d, what="raylet_exec", t=t0)
    workers = []
    for i, delay in enumerate(worker_delays):
        t = time.monotonic_ns()
        pid = os.fork()
        if pid == 0:
            script = os.path.join(d, "default_worker.py")
            py = os.path.realpath(sys.executable)  # not the `raylet` symlink
            os.execv(py, [py, script, d, str(i), delay])
        log(d, what="worker_fork", t=t, index=i, child=pid)
        workers.append(pid)
    # Listen and connect at known offsets from the exec.
    time.sleep(max(0.0, float(listen_delay) - (time.monotonic_ns() - t0) / 1e9))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    log(d, what="raylet_listen", t=time.monotonic_ns())
    time.sleep(max(0.0, float(connect_delay) - (time.monotonic_ns() - t0) / 1e9))
    host, port = gcs_address.rsplit(":", 1)
    c = socket.create_connection((host, int(port)))
    log(d, what="raylet_gcs_connected", t=time.monotonic_ns(), port=int(port))
    for pid in workers:
        os.waitpid(pid, 0)
    wait_file(os.path.join(d, "raylet.exit"))
    c.close()
    srv.close()


def role_worker(d, index, delay):
    delay = float(delay)
    if delay < 0:  # a worker that dies before it is ready
        time.sleep(-delay)
        log(d, what="worker_died", t=time.monotonic_ns(), index=index)
        sys.exit(1)
    time.sleep(delay)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    log(d, what="worker_listen", t=time.monotonic_ns(), index=index)
    set_comm("ray::IDLE")
    # Commands: <index>.busy -> ray::<task>, <index>.idle -> ray::IDLE, <index>.exit
    state = "idle"
    while True:
        if os.path.exists(os.path.join(d, f"{index}.exit")):
            break
        busy = os.path.exists(os.path.join(d, f"{index}.busy"))
        if busy and state != "busy":
            set_comm("ray::a_task_with_a_long_name")
            state = "busy"
            log(d, what="worker_busy", t=time.monotonic_ns(), index=index)
        elif not busy and state == "busy":
            set_comm("ray::IDLE")
            state = "idle"
            log(d, what="worker_idle", t=time.monotonic_ns(), index=index)
        time.sleep(0.005)
    srv.close()


def role_gcs(d, port_file):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.settimeout(0.05)
    conns = []
    while not os.path.exists(os.path.join(d, "gcs.exit")):
        try:
            c, _ = srv.accept()
            conns.append(c)
            log(d, what="gcs_accepted", t=time.monotonic_ns())
        except socket.timeout:
            pass
    for c in conns:
        c.close()


def main():
    argv = sys.argv
    if os.path.basename(argv[0]) == "default_worker.py":
        role_worker(argv[1], int(argv[2]), argv[3])
    elif argv[1] == "start":
        role_ray_start(argv[2], argv[3], argv[4:])
    elif argv[1] == "raylet":
        role_raylet(argv[2], argv[3].split("=", 1)[1], argv[4], argv[5], argv[6:])
    elif argv[1] == "gcs":
        role_gcs(argv[2], argv[3])
    else:
        sys.exit(f"unknown role {argv[1]!r}")


if __name__ == "__main__":
    main()
