"""Signal fusion rules that use the startup model, on real Ray with the
local provider (issue 11, rules 3 and 4):

  * faster group on ties: two worker groups of the same shape ({CPU: 1}),
    which Ray's scorer rates equal, so Ray's semantics launch on the first
    one in config order (`slow`).  Once both groups' startup is measured,
    raysense launches on the one measured faster (`fast`);
  * the launch timeout from the model: a launch not ALIVE after
    --stuck-factor x its group's p95 startup is given up long before the
    configured --launch-timeout, its group backed off, and the demand goes
    to the other group, never with more nodes than the demand needs.

`slow` is slow because the test's --ray-bin wrapper sleeps SLOW_EXTRA_S
before it execs `ray start` for that group's nodes (found by the group
label the provider passes): it stands in for a platform whose machines
take longer to come up (an ECI pod's creation, say), which cannot run
here.  For the stuck launch the wrapper, once told to, turns `fast`'s next
`ray start` into a process that never joins Ray.  Everything else is real:
the Ray head, the workers' raylets, the controller.

--startup-min-samples 1 lets one measured launch per group count; the
default (5) needs five, which the unit tests cover (tests/unit/test_fusion.c)."""
import os
import stat
import time

import pytest

from controller_proc import Controller, background_driver, stop_driver
from raycluster import RAY_BIN

IDLE_S = 4
SLOW_EXTRA_S = 10
LAUNCH_TIMEOUT_S = 300          # configured; the model's must come far sooner
STUCK_FACTOR = 3

WRAPPER = """#!/bin/sh
# raysense test: `ray start` of group slow comes up SLOW_EXTRA_S later; of
# group fast, never, while the file HANG exists.
case "$*" in
*raysense.io/group=slow*) sleep {slow} ;;
*raysense.io/group=fast*) [ -e {hang} ] && exec sleep 100000 ;;
esac
exec {ray} "$@"
"""

# Two tasks at once: one node of each group (max 1 each) is launched, so
# both groups' startup is measured.
TWO_TASKS = r"""
import time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work():
    time.sleep(2)
    return ray.get_runtime_context().get_node_id()
print("nodes", len(set(ray.get([work.remote() for _ in range(2)]))), flush=True)
"""

ONE_TASK = r"""
import time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work():
    time.sleep(1)
    return ray.get_runtime_context().get_node_id()
print("node", ray.get(work.remote()), flush=True)
"""


def start(cluster, bin, tmp_path, signals):
    hang = tmp_path / "hang-fast"
    wrapper = tmp_path / "ray-wrapper.sh"
    wrapper.write_text(WRAPPER.format(slow=SLOW_EXTRA_S, hang=hang, ray=RAY_BIN))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    groups = [f"slow:CPU=1,min=0,max=1,idle={IDLE_S}", f"fast:CPU=1,min=0,max=1,idle={IDLE_S}"]
    ctl = Controller(bin("raysense-controller"), cluster, groups,
                     extra=["--ray-bin", str(wrapper), "--signals", signals, "--cooldown", "1",
                            "--startup-min-samples", "1", "--stuck-factor", str(STUCK_FACTOR),
                            "--launch-timeout", str(LAUNCH_TIMEOUT_S), "--stop-grace", "3"])
    return ctl, hang


def run_driver(cluster, code, timeout=240):
    driver = background_driver(cluster, code)
    try:
        driver.wait(timeout=timeout)
    finally:
        out, err = stop_driver(driver)
    assert driver.returncode == 0, (out, err[-3000:])
    return out


def groups_of(ctl):
    return {g["type"]: g for g in (ctl.status().get("fusion") or {}).get("groups") or []}


def worker_nodes(ctl):
    """Nodes the controller launched that are still pending or running."""
    return [n for n in ctl.status().get("nodes") or []
            if n.get("state") in ("pending", "running", "stopping")]


def measure_both(cluster, ctl):
    """Warm-up: one launch per group, both ALIVE once; then both idle-stopped.
    Returns the p50 startup of each group."""
    assert "nodes" in run_driver(cluster, TWO_TASKS)
    g = ctl.wait(lambda: (lambda g: g if all(g.get(t, {}).get("startup_samples", 0) >= 1
                                             for t in ("slow", "fast")) else None)(groups_of(ctl)),
                 60, "a startup sample of each group")
    ctl.wait(lambda: not worker_nodes(ctl), IDLE_S + 60, "both warm-up nodes stopped")
    p50 = {t: g[t]["startup_p50_s"] for t in ("slow", "fast")}
    # The wrapper's delay shows in the model: slow is measured slower.
    assert p50["slow"] >= p50["fast"] + SLOW_EXTRA_S / 2, g
    return p50, g


def launches_after(ctl, n_before):
    return ctl.actions("launch")[n_before:]


def test_measured_faster_group_wins_the_tie_and_a_stuck_launch_falls_back(fresh_ray_cluster, bin,
                                                                          tmp_path):
    cluster = fresh_ray_cluster
    ctl, hang = start(cluster, bin, tmp_path, "on")
    try:
        p50, g = measure_both(cluster, ctl)
        print(f"\nstartup p50: slow {p50['slow']} s, fast {p50['fast']} s")

        # Rule 4: the tie goes to the group measured faster.
        n0 = len(ctl.actions("launch"))
        run_driver(cluster, ONE_TASK)
        new = launches_after(ctl, n0)
        assert [d["type"] for d in new] == ["fast"], new
        ctl.wait(lambda: not worker_nodes(ctl), IDLE_S + 60, "the fast node stopped")

        # Rule 3 with the model: fast's next launch never joins Ray.
        fast = groups_of(ctl)["fast"]
        bound = STUCK_FACTOR * fast["startup_p95_s"]
        assert bound < LAUNCH_TIMEOUT_S / 2, fast
        hang.touch()
        n0, f0 = len(ctl.actions("launch")), len(ctl.actions("fallback"))
        t0 = time.time()
        driver = background_driver(cluster, ONE_TASK)
        try:
            peak = 0
            deadline = time.time() + bound + 90
            while driver.poll() is None and time.time() < deadline:
                peak = max(peak, len([n for n in worker_nodes(ctl) if n.get("state") != "stopping"]))
                time.sleep(0.5)
            assert driver.poll() == 0, ("the task never ran", ctl.log_tail())
        finally:
            stop_driver(driver)
        took = time.time() - t0
        new, falls = launches_after(ctl, n0), ctl.actions("fallback")[f0:]
        assert [d["type"] for d in new] == ["fast", "slow"], new
        assert len(falls) == 1 and falls[0]["type"] == "fast" and falls[0]["reason"] == "timeout", falls
        waited = falls[0]["waited_s"]
        # Given up at the model's bound (a tick or two late), not at the
        # configured launch timeout.
        assert bound - 1 <= waited <= bound + 5, (waited, bound, fast)
        # Never more nodes than the one the demand needs.
        assert peak <= 1, peak
        print(f"stuck fast launch given up after {waited} s (bound {STUCK_FACTOR} x p95 "
              f"{fast['startup_p95_s']} s = {bound:.1f} s; configured {LAUNCH_TIMEOUT_S} s); "
              f"the task ran on slow {took:.1f} s after it was submitted; peak {peak} node")
    finally:
        ctl.stop()


def test_signals_off_ties_go_to_config_order(fresh_ray_cluster, bin, tmp_path):
    cluster = fresh_ray_cluster
    ctl, _ = start(cluster, bin, tmp_path, "off")
    try:
        p50, _ = measure_both(cluster, ctl)
        n0 = len(ctl.actions("launch"))
        run_driver(cluster, ONE_TASK)
        new = launches_after(ctl, n0)
        assert [d["type"] for d in new] == ["slow"], new
        print(f"\nsignals off: slow (p50 {p50['slow']} s) launched although fast "
              f"(p50 {p50['fast']} s) was measured faster")
    finally:
        ctl.stop()
