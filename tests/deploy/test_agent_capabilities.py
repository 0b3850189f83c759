"""The agent DaemonSet's capabilities, measured on this machine's kernel.

The real raysense-agent runs as uid 0 with its capability bounding set cut to
exactly what deploy/base/agent-daemonset.yaml adds (after `drop: [ALL]`),
no inheritable/ambient capabilities and no_new_privs (allowPrivilegeEscalation:
false), and a read-only root mount (readOnlyRootFilesystem) -- the
credentials and root filesystem a container runtime gives that container. The target
is the fake raylet (tests/bpf/targets/fake_raylet.c, same mangled probe
symbols as Ray 2.60.0's raylet) running as uid 1000, like the `ray` user of
the rayproject/ray image.

Checks:
- with the manifest's set, every probe family attaches, the raylet gets as
  many lease uprobes as a fully privileged agent gets, the agent holds as many
  BPF programs, and the probes count every injected lease;
- each capability the manifest adds beyond BPF and PERFMON is necessary:
  without it the raylet family measures nothing (printed as a table).
"""
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from manifests import container
from promtext import metric_value
from raycluster import free_port, stop_process

RAYLET_UID = 1000
LEASES = 12

pytestmark = pytest.mark.usefixtures("require_bpf")


def manifest_caps():
    sc = container("agent-daemonset.yaml")["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["runAsUser"] == 0
    return [c.lower() for c in sc["capabilities"]["add"]]



CAP_BITS = {"sys_ptrace": 19, "sys_admin": 21, "perfmon": 38, "bpf": 39,
            "dac_override": 1, "dac_read_search": 2}


class Run:
    """One agent run (given capabilities, or None = root with every capability)
    against a fresh fake raylet owned by RAYLET_UID."""

    def __init__(self, agent_bin, raylet_bin, caps):
        self.caps = caps
        self.pin_dir = f"/sys/fs/bpf/raysense-captest-{uuid.uuid4().hex[:8]}"
        self.raylet = subprocess.Popen(
            ["setpriv", f"--reuid={RAYLET_UID}", f"--regid={RAYLET_UID}", "--clear-groups",
             raylet_bin, "--node_id=" + "cd" * 28, "--leases", str(LEASES), "--delay-us", "2000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.raylet.stdout.readline()
        assert line.startswith("ready "), f"fake raylet said {line!r}"
        self.raylet_pid = int(line.split()[1])
        self.port = free_port()
        cmd = [agent_bin, "--pin-dir", self.pin_dir, "--listen", f"127.0.0.1:{self.port}",
               "--log-level", "debug", "--raylet-path", raylet_bin, "--debug-labels"]
        if caps is not None:
            bounding = "-all" + "".join(f",+{c}" for c in caps)
            cmd = ["setpriv", "--bounding-set", bounding, "--inh-caps", "-all",
                   "--ambient-caps", "-all", "--no-new-privs", "--"] + cmd
            # readOnlyRootFilesystem: the root mount is read-only in a private
            # mount namespace (bpffs, tracefs, /proc stay separate mounts, as
            # the DaemonSet's volumes are).
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-ec",
                   'mount --bind / / && mount -o remount,bind,ro / && exec "$@"', "sh"] + cmd
        self.log_path = f"/tmp/raysense-captest-{uuid.uuid4().hex[:8]}.log"
        self.log = open(self.log_path, "w+")
        self.agent = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        return Path(self.log_path).read_text()

    def wait_running(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "agent running:" in self.text():
                return
            assert self.agent.poll() is None, f"agent exited:\n{self.text()}"
            time.sleep(0.1)
        raise AssertionError(f"agent never reported running:\n{self.text()}")

    def tracked_probes(self, timeout=10):
        """Lease uprobes attached to our raylet, or None if it was never tracked."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(rf"tracking raylet pid {self.raylet_pid} .*?(\d+) lease probe\(s\) attached",
                          self.text())
            if m:
                return int(m.group(1))
            time.sleep(0.2)
        return None

    def cap_eff(self):
        status = Path(f"/proc/{self.agent.pid}/status").read_text()
        return int(re.search(r"CapEff:\s*([0-9a-f]+)", status).group(1), 16)

    def bpf_fds(self):
        """(programs loaded, links attached) held by the agent, from fdinfo:
        a program fd shows prog_type, a link fd (uprobe/tracepoint
        attachment) shows link_id."""
        progs = links = 0
        fd_dir = Path(f"/proc/{self.agent.pid}/fdinfo")
        for fd in fd_dir.iterdir():
            try:
                info = fd.read_text()
            except OSError:
                continue
            progs += "prog_type:" in info
            links += "link_id:" in info
        return progs, links

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            return r.read().decode()

    def run_leases(self):
        self.raylet.stdin.write("go\n")
        self.raylet.stdin.flush()
        line = self.raylet.stdout.readline()
        assert line.split()[:1] == ["done"], f"fake raylet said {line!r}"

    def stop(self):
        stop_process(self.agent)
        if self.raylet.poll() is None:
            try:
                self.raylet.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.raylet.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.raylet.kill()
                self.raylet.wait()
        self.log.close()
        shutil.rmtree(self.pin_dir, ignore_errors=True)
        os.unlink(self.log_path)


@pytest.fixture
def agent_bin(bin):
    return bin("raysense-agent")


@pytest.fixture
def raylet_bin(build_dir):
    p = os.path.join(build_dir, "tests/bpf/targets/full/raylet")
    if not os.access(p, os.X_OK):
        pytest.fail(f"{p} not built (tests/bpf/CMakeLists.txt)")
    return p


def read_startup(proc, timeout=30):
    """The agent's output (stdout=PIPE) until it reports running or that no
    probe family attached, it exits, or `timeout` s pass."""
    deadline, out = time.time() + timeout, ""
    while time.time() < deadline and "agent running:" not in out and "no probe family" not in out:
        line = proc.stdout.readline()
        if not line:
            break
        out += line
    return out


def measure(agent_bin, raylet_bin, caps):
    run = Run(agent_bin, raylet_bin, caps)
    try:
        run.wait_running()
        probes = run.tracked_probes()
        failed = re.findall(r"probe family (\w+) failed to attach", run.text())
        return {"probes": probes, "failed": failed, "progs": run.bpf_fds()}
    finally:
        run.stop()


def test_manifest_capabilities_attach_every_program(agent_bin, raylet_bin):
    caps = manifest_caps()
    full = measure(agent_bin, raylet_bin, None)
    assert full["probes"] and full["probes"] >= 2, f"fully privileged agent: {full}"

    run = Run(agent_bin, raylet_bin, caps)
    try:
        run.wait_running()
        mountinfo = Path(f"/proc/{run.agent.pid}/mountinfo").read_text()
        assert re.search(r"^\S+ \S+ \S+ \S+ / (ro|ro,\S*) ", mountinfo, re.M), "root not read-only"
        want = sum(1 << CAP_BITS[c] for c in caps)
        assert run.cap_eff() == want, f"CapEff {run.cap_eff():#x}, manifest grants {want:#x}"
        assert not re.findall(r"probe family (\w+) failed to attach", run.text()), run.text()
        probes = run.tracked_probes()
        assert probes == full["probes"], (
            f"with {caps}: {probes} lease probes, fully privileged: {full['probes']}\n{run.text()}")
        assert "run-queue latency on" in run.text()
        assert run.bpf_fds() == full["progs"], (run.bpf_fds(), full["progs"])
        with urllib.request.urlopen(f"http://127.0.0.1:{run.port}/readyz", timeout=10) as r:
            assert r.status == 200
        run.run_leases()
        count = metric_value(run.metrics(), "raysense_raylet_lease_latency_seconds_count",
                             raylet_pid=run.raylet_pid)
        assert count is not None, "no lease histogram for the raylet in /metrics"
        assert count == LEASES
        print(f"\nmanifest caps {caps}: {probes} lease uprobes, (programs, links) = {full['progs']}, "
              f"{LEASES}/{LEASES} leases counted (same as a fully privileged agent)")
    finally:
        run.stop()


def test_each_added_capability_is_necessary(agent_bin, raylet_bin):
    caps = manifest_caps()
    extra = [c for c in caps if c not in ("bpf", "perfmon")]
    rows = []
    for c in ["(nothing)"] + extra:
        subset = [x for x in caps if x != c]
        rows.append((c, measure(agent_bin, raylet_bin, subset)))
    rows.append(("all but bpf,perfmon", measure(agent_bin, raylet_bin, ["bpf", "perfmon"])))
    print("\nwithout              lease uprobes  (programs, links)  families failed")
    for c, r in rows:
        print(f"{c:<20} {str(r['probes']):>13}  {str(r['progs']):>17}  {r['failed']}")
    full = rows[0][1]
    assert full["probes"] and full["probes"] >= 2
    kernel = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    for c, r in rows[1:-1]:
        if c == "sys_admin" and kernel < (6, 16):
            # Before "perf: Revert to requiring CAP_SYS_ADMIN for uprobes"
            # (unless backported), PERFMON was enough for uprobes.
            continue
        assert not r["probes"], f"without {c} the raylet still got {r['probes']} uprobes: not needed?"
    # The tracepoint families need only BPF + PERFMON.
    assert not rows[-1][1]["failed"], rows[-1]


def test_tracefs_mount_is_necessary(agent_bin, tmp_path):
    """A container's /sys has no tracefs; the DaemonSet mounts the host's
    /sys/kernel/tracing because libbpf reads tracepoint ids there. Hidden
    (a private mount namespace with an empty tmpfs over tracefs and debugfs,
    as in a container without that mount), the raylet family cannot attach
    its sched tracepoints."""
    mounts = {m["mountPath"]: m for m in container("agent-daemonset.yaml")["volumeMounts"]}
    assert mounts["/sys/kernel/tracing"].get("readOnly") is True
    wrapper = tmp_path / "hide-tracefs.sh"
    wrapper.write_text("#!/bin/sh\nset -e\nmount -t tmpfs none /sys/kernel/tracing\n"
                       "if [ -d /sys/kernel/debug/tracing ]; then mount -t tmpfs none /sys/kernel/debug; fi\n"
                       'exec "$@"\n')
    wrapper.chmod(0o755)
    pin = f"/sys/fs/bpf/raysense-captest-{uuid.uuid4().hex[:8]}"
    port = free_port()
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", str(wrapper), agent_bin,
                             "--pin-dir", pin, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = read_startup(proc)
        assert "probe family raylet failed to attach" in out, out
        assert "failed to determine tracepoint" in out, out
        # The other families keep serving, but the pod must not look Ready.
        assert "agent running:" in out, out
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert not_ready.value.code == 503
    finally:
        stop_process(proc)
        shutil.rmtree(pin, ignore_errors=True)


def test_uid_0_is_necessary(agent_bin):
    """The DaemonSet runs the agent as uid 0 (without DAC_OVERRIDE). As
    another uid with the very same capabilities (ambient), the tracepoint ids
    under tracefs (root, 0700) cannot be read and the raylet family fails."""
    caps = ",".join(f"+{c}" for c in manifest_caps())
    pin = f"/sys/fs/bpf/raysense-captest-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        ["setpriv", "--reuid=65532", "--regid=65532", "--clear-groups",
         f"--inh-caps=-all,{caps}", f"--ambient-caps=-all,{caps}", f"--bounding-set=-all,{caps}",
         "--", agent_bin, "--pin-dir", pin, "--listen", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = read_startup(proc)
        assert "failed to determine tracepoint" in out and "Permission denied" in out, out
        assert "probe family raylet failed to attach" in out, out
    finally:
        stop_process(proc)
        shutil.rmtree(pin, ignore_errors=True)
