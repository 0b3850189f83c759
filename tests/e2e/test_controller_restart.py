"""Controller lifecycle on a real Ray: --dry-run records a decision but
starts nothing; a controller killed with SIGKILL loses nothing: the next one
(same --state-dir) re-adopts the running node instead of launching another;
`raysensectl status` shows it (text and -j)."""
import json
import os
import signal
import subprocess
import time

from controller_proc import Controller


def test_dry_run_then_restart_readopts(fresh_ray_cluster, bin):
    cluster = fresh_ray_cluster
    group = ["cpu1:CPU=1,min=1,max=2,idle=5"]

    dry = Controller(bin("raysense-controller"), cluster, group, extra=["--dry-run"])
    try:
        dry.wait(lambda: dry.actions("launch"), 30, "dry-run launch decision")
        time.sleep(4)
        launches = dry.actions("launch")
        assert len(launches) == 1 and launches[0].get("dry_run") is True, launches
        assert not [n for n in cluster.alive_nodes() if n["node_name"].startswith("rs-")]
        state = os.path.join(dry.dir, "state", "local-provider.json")
        assert not os.path.exists(state) or '"nodes":[]' in open(state).read()
    finally:
        dry.stop()

    first = Controller(bin("raysense-controller"), cluster, group)
    second = None
    try:
        first.wait(lambda: first.actions("launch"), 30, "min launch")
        node = first.launched_nodes()[0]
        first.wait(lambda: first.ray_node_of(node), 120, "node ALIVE")
        os.killpg(first.proc.pid, signal.SIGKILL)  # a crash: no cleanup at all
        first.proc.wait(timeout=10)
        time.sleep(2)
        assert first.ray_node_of(node), "the node outlives the controller"

        # Same state dir and node temp root: the next controller takes over.
        second = Controller(bin("raysense-controller"), cluster, group,
                            extra=["--state-dir", os.path.join(first.dir, "state"),
                                   "--node-temp-root", first.node_tmp])
        second.wait(lambda: any(n["id"] == node and n["state"] == "running"
                                for n in second.status().get("nodes", [])), 30, "re-adopted")
        time.sleep(8)  # > idle timeout: min=1 keeps it, nothing new is launched
        assert not second.actions("launch"), second.actions("launch")
        assert "re-adopted " + node in second.log_text()

        ctl = bin("raysensectl")
        text = subprocess.run([ctl, "status", "--url", second.url], capture_output=True,
                              text=True, timeout=20)
        assert text.returncode == 0, text.stderr
        assert node in text.stdout and "running" in text.stdout and "cpu1" in text.stdout
        js = subprocess.run([ctl, "-j", "status", "--url", second.url], capture_output=True,
                            text=True, timeout=20)
        doc = json.loads(js.stdout)
        assert any(n["id"] == node for n in doc["nodes"]) and "recent_decisions" in doc
        bad = subprocess.run([ctl, "status", "--url", "http://127.0.0.1:1"],
                             capture_output=True, text=True, timeout=20)
        assert bad.returncode == 1 and "127.0.0.1:1" in bad.stderr
    finally:
        if second is not None:
            second.stop()
        first.stop()
