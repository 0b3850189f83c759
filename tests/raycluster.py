"""raycluster.py -- a real local Ray cluster for tests, demos and benches.

RayCluster starts a real head (`ray start --head --num-cpus=0`) on free ports in
its own temp dir, waits for the dashboard's /api/gcs_healthz, adds and removes
worker raylets (`ray start --address=...`), and always tears down by killing
each `ray start --block` process group, so that it never touches another Ray
on the machine (`ray stop` would kill every Ray on the host).
RayCluster(venv=...) runs another Ray install (e.g. the Task-era Ray of
.venv-ray-taskera/) instead of the pinned one in .venv/.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("RAYSENSE_VENV", os.path.join(REPO, ".venv"))
RAY_BIN = os.path.join(VENV, "bin", "ray")
PYTHON_BIN = os.path.join(VENV, "bin", "python")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(width=64):
    """A base port with `width` free ports above it (checked, not reserved)."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - width)
        ok = True
        for p in range(base, base + width):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def ray_env(venv=VENV):
    env = dict(os.environ)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")
    # Keep the venv's python first so workers use the pinned Ray.
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    return env


def driver_json(proc):
    """The JSON object a driver printed last. Ray may print its own lines to
    the driver's stdout after the result (log forwarding, autoscaler events),
    so the last line is not always the driver's: take the last line that is a
    JSON object, and fail with the whole output when there is none."""
    for line in reversed(proc.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise AssertionError(f"driver printed no JSON result (rc={proc.returncode})\n"
                         f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")


def _pgid_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def kill_process_group(proc, grace_s=10.0):
    """SIGTERM the process group of `proc`, then SIGKILL what is left."""
    if proc is None:
        return
    pgid = proc.pid  # started with start_new_session=True: pgid == pid
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + wait
        while time.time() < deadline and _pgid_alive(pgid):
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        if not _pgid_alive(pgid):
            break
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def stop_process(proc, grace_s=30.0, sig=signal.SIGTERM):
    """Send `sig` to `proc` if it still runs, SIGKILL it after `grace_s`;
    returns its exit code. For one process; see kill_process_group for a
    `ray start` process group."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class WorkerNode:
    def __init__(self, proc, num_cpus, resources, log_path, ports):
        self.proc = proc
        self.num_cpus = num_cpus
        self.resources = resources
        self.log_path = log_path
        self.ports = ports
        self.node_id = None

    @property
    def pid(self):
        return self.proc.pid


class RayCluster:
    """A head with num-cpus=0 plus worker raylets, all on 127.0.0.1."""

    def __init__(self, tmp_root=None, venv=None, env=None):
        self.venv = venv or VENV
        self.ray_bin = os.path.join(self.venv, "bin", "ray")
        self.python_bin = os.path.join(self.venv, "bin", "python")
        # env: extra environment for every `ray start` of this cluster (e.g.
        # {"RAY_enable_autoscaler_v2": "1"} on the head and its workers).
        self.extra_env = dict(env or {})
        # Unix socket paths must stay short: use /tmp directly.
        self.tmp = tempfile.mkdtemp(prefix="rs-ray-", dir=tmp_root or "/tmp")
        self.gcs_port = free_port()
        self.dashboard_port = free_port()
        self.head_proc = None
        self.workers = []
        self.head_node_id = None

    # -- addresses
    @property
    def address(self):
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self):
        return f"http://127.0.0.1:{self.dashboard_port}"

    # -- lifecycle
    def _node_ports(self, avoid=()):
        # The GCS, dashboard (and the head's client-server) ports were picked
        # earlier by free_port() and are not bound yet: keep them out of the
        # node's range (a clash made `ray start` fail with "port ... used by
        # other components").
        taken = (self.gcs_port, self.dashboard_port) + tuple(avoid)
        base = free_port_range(48)
        while any(base <= p < base + 48 for p in taken):
            base = free_port_range(48)
        return {
            "--node-manager-port": base,
            "--object-manager-port": base + 1,
            "--metrics-export-port": base + 2,
            "--dashboard-agent-listen-port": base + 3,
            "--dashboard-agent-grpc-port": base + 4,
            "--runtime-env-agent-port": base + 5,
            "--min-worker-port": base + 8,
            "--max-worker-port": base + 47,
        }

    def _spawn(self, args, log_name):
        log_path = os.path.join(self.tmp, log_name)
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            [self.ray_bin, "start", "--block", "--disable-usage-stats"] + args,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**ray_env(self.venv), **self.extra_env}, start_new_session=True, cwd=self.tmp)
        log.close()
        return proc, log_path

    def start_head(self, timeout=90.0, extra_args=(), attempts=2):
        """Start the head; a head that does not come up (GCS not healthy or
        the head node never ALIVE within timeout, or `ray start` exiting) is
        killed and started once more on fresh ports: CI run ci42 had a head
        whose node never became ALIVE in 90 s on a quiet machine (load 0.8),
        the cause not found."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_head_once(timeout, extra_args)
            except (TimeoutError, RuntimeError) as e:
                kill_process_group(self.head_proc)
                self.head_proc = None
                if attempt == attempts:
                    raise
                sys.stderr.write(f"ray head did not come up (attempt {attempt}): "
                                 f"{str(e)[:300]}; starting it again on new ports\n")
                self.gcs_port = free_port()
                self.dashboard_port = free_port()

    def _start_head_once(self, timeout, extra_args):
        client_port = free_port()
        ports = self._node_ports(avoid=(client_port,))
        args = ["--head", "--num-cpus=0", "--num-gpus=0",
                "--node-ip-address=127.0.0.1",
                f"--port={self.gcs_port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                f"--ray-client-server-port={client_port}",
                f"--temp-dir={self.tmp}/ray",
                "--include-dashboard=true"]
        args += [f"{k}={v}" for k, v in ports.items()]
        args += list(extra_args)
        self.head_ports = ports
        self.head_proc, self.head_log = self._spawn(args, "head.log")
        self.wait_gcs_healthy(timeout)
        self.head_node_id = self._wait_head_node(timeout)
        return self

    def _read_log(self, path):
        try:
            with open(path, "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def http_get(self, path, timeout=5.0):
        with urllib.request.urlopen(self.dashboard_url + path, timeout=timeout) as r:
            return r.status, r.read()

    def wait_gcs_healthy(self, timeout=90.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.head_proc.poll() is not None:
                raise RuntimeError("ray head exited early:\n" + self._read_log(self.head_log))
            try:
                status, _ = self.http_get("/api/gcs_healthz", timeout=2)
                if status == 200:
                    return
            except Exception as e:  # noqa: BLE001 - keep polling until deadline
                last = e
            time.sleep(0.5)
        raise TimeoutError(f"dashboard not healthy after {timeout}s ({last}):\n"
                           + self._read_log(self.head_log))

    def nodes(self):
        """All nodes from the state API: list of dicts (node_id, state, ...)."""
        _, body = self.http_get("/api/v0/nodes?limit=1000&detail=1", timeout=10)
        data = json.loads(body)
        return data["data"]["result"]["result"]

    def alive_nodes(self):
        return [n for n in self.nodes() if n.get("state") == "ALIVE"]

    def _wait_head_node(self, timeout):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                for n in self.alive_nodes():
                    if n.get("is_head_node"):
                        return n["node_id"]
                last = "not listed ALIVE"
            except Exception as e:  # noqa: BLE001
                last = e
            time.sleep(0.5)
        raise TimeoutError(f"head node never became ALIVE ({last}):\n" +
                           self._read_log(self.head_log))

    def _alive_nodes_retrying(self, deadline):
        """alive_nodes(), retried until deadline while the dashboard refuses
        connections: Ray 2.41.0's dashboard once refused a call right after
        it had answered /api/gcs_healthz and the head's node list (matrix
        CI, test_missing_probe); the next start of the test passed."""
        while True:
            try:
                return self.alive_nodes()
            except (urllib.error.URLError, ConnectionError):
                if time.time() >= deadline:
                    raise
                time.sleep(0.5)

    def add_worker(self, num_cpus=1, resources=None, num_gpus=0, wait=True, timeout=90.0):
        ports = self._node_ports()
        before = {n["node_id"] for n in self._alive_nodes_retrying(time.time() + 30)}
        args = [f"--address={self.address}", f"--num-cpus={num_cpus}",
                f"--num-gpus={num_gpus}", "--node-ip-address=127.0.0.1"]
        if resources:
            args.append("--resources=" + json.dumps(resources))
        args += [f"{k}={v}" for k, v in ports.items()]
        proc, log_path = self._spawn(args, f"worker-{len(self.workers)}.log")
        w = WorkerNode(proc, num_cpus, resources or {}, log_path, ports)
        self.workers.append(w)
        if wait:
            deadline = time.time() + timeout
            while time.time() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError("worker exited early:\n" + self._read_log(log_path))
                new = [n for n in self._alive_nodes_retrying(deadline)
                       if n["node_id"] not in before
                       and n.get("resources_total", {}).get("CPU", 0) == num_cpus]
                if new:
                    w.node_id = new[0]["node_id"]
                    return w
                time.sleep(0.5)
            raise TimeoutError("worker never became ALIVE:\n" + self._read_log(log_path))
        return w

    def remove_worker(self, w):
        kill_process_group(w.proc)
        if w in self.workers:
            self.workers.remove(w)

    def run_python(self, code, timeout=180.0, check=True):
        """Run a driver script connected to this cluster; returns CompletedProcess."""
        env = {**ray_env(self.venv), **self.extra_env}
        env["RAY_ADDRESS"] = self.address
        p = subprocess.run([self.python_bin, "-c", code], env=env, capture_output=True,
                           text=True, timeout=timeout, cwd=self.tmp)
        if check and p.returncode != 0:
            raise RuntimeError(f"driver failed rc={p.returncode}\nstdout:\n{p.stdout}\n"
                               f"stderr:\n{p.stderr[-4000:]}")
        return p

    def stop(self):
        for w in list(self.workers):
            self.remove_worker(w)
        kill_process_group(self.head_proc)
        self.head_proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start_head()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    # Smoke run: python tests/raycluster.py
    with RayCluster() as c:
        w = c.add_worker(num_cpus=1)
        print("head", c.head_node_id, "worker", w.node_id, file=sys.stderr)
        out = c.run_python("import ray; ray.init(); "
                           "print(ray.get(ray.remote(num_cpus=1)(lambda: ray.get_runtime_context().get_node_id()).remote()))")
        print(out.stdout.strip())
