"""Two signal-fusion rules on real Ray (local provider) with the real eBPF
agent pushing to the controller, each against --signals off:

Rule 5b, no scale-down during a reject/spillback burst (--reject-burst, 5/s
by default).  A w1 worker the controller launched serves one task and is
then idle in Ray's eyes (idle timeout IDLE_S).  Meanwhile a driver runs
many tiny sequential tasks that need a custom resource only an unmanaged
worker raylet (started by the test) has: each lease request goes to the
driver's raylet, the head (0 CPUs, none of it), which spills it back to
that worker -- the agent's raysense_raylet_leases_total{outcome=
"spilled_back"} counts them.  With signals on the idle w1 node is kept (a
`keep` decision, reason `reject_burst`) while the burst lasts and stopped
once it ends; with signals off it is stopped during the burst.
--keep-after-lease 0 turns the recent-lease keep off (fusion.c keeps only
when now - last lease < keep_after_lease_s), so it cannot mask the rule.

Rule 6, the early tick.  The loop interval is INTERVAL_S; an unmanaged
1-CPU worker raylet takes one ~2 s task at a time, so the driver's other
lease requests wait in a raylet (the agent's lease latency histogram shows
leases >= 2^27 ns, the controller's "queueing" slot).  With signals on the
agent's push wakes the loop (`tick early` in the debug log) and w1 is
launched seconds after the tasks are submitted, by an early tick; with
signals off (controller.c sets the queueing hook only when fusion is
enabled) the launch waits for the regular tick.  The launch also needs the
tasks in Ray's demand report, which the monitor refreshes every
AUTOSCALER_UPDATE_INTERVAL_S (5 s): an early tick before that finds no
demand, and a later queued lease wakes the loop again.

The agent sees every raylet on the machine, other tests' too: the counts
the test asserts on are those of this test's raylets (by node id), but the
controller adds up all the agent reports.

Needs root and BTF (the agent); one Ray head per test."""
import calendar
import json
import os
import shutil
import sys
import time

import pytest

from controller_proc import Controller, background_driver, stop_driver

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bpf"))
from agentutil import Agent, raylet_pid_of  # noqa: E402
from promtext import parse_prom  # noqa: E402
from raycluster import free_port  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the agent needs root (BPF)")

TOKEN = "fusion-burst-token"
IDLE_S = 5
BURST_S = 40
REJECT_BURST = 5        # the controller's default --reject-burst
INTERVAL_S = 30
SLOW_S = 2 ** 27 / 1e9  # LEASE_SLOW_SLOT in controller/source/lease_report.h

# One task on the w1 node (only w1 declares `w`), then BURST_S seconds of
# tiny sequential tasks that need `x`, which only the unmanaged worker has.
# Sequential: every task asks for a new lease (the worker is returned when
# nothing else of its kind is queued), so every task is one spillback.
# Paced to at most ~40 a second (unpaced ~200/s on 2 cores) to spare the
# machine: still 8x the limit.
BURST_DRIVER = r"""
import json, time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1, resources={"w": 1})
def on_w1():
    return ray.get_runtime_context().get_node_id()
@ray.remote(num_cpus=0, resources={"x": 1})
def tiny():
    return 0
w1 = ray.get(on_w1.remote())
w1_done = time.time()
n, start = 0, time.time()
while time.time() - start < %(burst)d:
    ray.get(tiny.remote())
    n += 1
    time.sleep(0.02)
end = time.time()
print(json.dumps({"w1": w1, "w1_done": w1_done, "start": start, "end": end, "tasks": n}), flush=True)
"""

# Tasks of ~2 s, more than the unmanaged 1-CPU worker runs in INTERVAL_S.
# One task first, so that the job's worker process already runs when the
# test says go: the leases that then wait >= 2^27 ns wait for a running
# task, not for a worker process to start.
QUEUE_DRIVER = r"""
import json, os, time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work(s):
    time.sleep(s)
    return ray.get_runtime_context().get_node_id()
ray.get(work.remote(0))
print(json.dumps({"warm": time.time()}), flush=True)
while not os.path.exists(GO_PATH):
    time.sleep(0.02)
submitted = time.time()
print(json.dumps({"submitted": submitted}), flush=True)
nodes = ray.get([work.remote(2) for _ in range(24)])
print(json.dumps({"done": time.time(), "nodes": len(set(nodes))}), flush=True)
"""


def start_agent(bin, ctl, tmp_path):
    pins = "/sys/fs/bpf/rs-burst-%d-%d" % (os.getpid(), free_port())
    agent = Agent(bin("raysense-agent"), pins, "--controller-url", ctl.url + "/api/v1/signals",
                  "--token-file", str(tmp_path / "token"), "--push-interval", "1",
                  "--lease-probes", "all")
    return agent, pins


def stop_agent(agent, pins):
    agent.stop()
    shutil.rmtree(pins, ignore_errors=True)


def lease_outcomes(agent):
    """{(node_id, outcome): count} of the agent's lease outcome counters."""
    out = {}
    for n, labels, v in parse_prom(agent.metrics()):
        if n == "raysense_raylet_leases_total":
            key = (labels.get("node_id"), labels.get("outcome"))
            out[key] = out.get(key, 0) + v
    return out


def slow_leases(agent):
    """{node_id: leases that took >= 2^27 ns} from the lease latency
    histogram: all of them minus the bucket le = 2^27 ns (slots < 2^27 ns,
    agent/export_prom.c)."""
    total, fast = {}, {}
    for n, labels, v in parse_prom(agent.metrics()):
        if n != "raysense_raylet_lease_latency_seconds_bucket":
            continue
        node, le = labels.get("node_id"), float(labels["le"])
        if le == float("inf"):
            total[node] = total.get(node, 0) + v
        elif le <= SLOW_S * 1.0001:
            fast[node] = max(fast.get(node, 0), v)
    return {k: total[k] - fast.get(k, 0) for k in total}


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def t_of(d):
    return d["time_unix"]


# ---------------------------------------------------------------- rule 5b

def run_burst(cluster, bin, tmp_path, signals):
    (tmp_path / "token").write_text(TOKEN)
    extra_worker = cluster.add_worker(num_cpus=0, resources={"x": 100})
    ctl = Controller(bin("raysense-controller"), cluster, [f"w1:CPU=1,w=1,min=0,max=1,idle={IDLE_S}"],
                     extra=["--token-file", str(tmp_path / "token"), "--cooldown", "1",
                            "--signals", signals, "--keep-after-lease", "0",
                            "--reject-burst", str(REJECT_BURST), "--signal-max-age", "10"])
    agent, pins = start_agent(bin, ctl, tmp_path)
    driver = None
    try:
        for node in (cluster.head_node_id, extra_worker.node_id):
            agent.wait_tracking(raylet_pid_of(node), timeout=180)
        before = lease_outcomes(agent)
        driver = background_driver(cluster, BURST_DRIVER % {"burst": BURST_S})
        assert driver.wait(timeout=BURST_S + 240) == 0, stop_driver(driver)
        out, err = stop_driver(driver)
        run = last_json(out)
        assert run and run["tasks"] > 0, (out, err)
        time.sleep(2.5)     # the agent's counters past the last push
        after = lease_outcomes(agent)
        d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        head_spilled = d.get((cluster.head_node_id, "spilled_back"), 0)
        # After the burst the node is stopped (idle), with signals on too.
        ctl.wait(lambda: ctl.actions("terminate"), IDLE_S + 60, "the idle w1 node stopped")
        return ctl, run, d, head_spilled
    except BaseException:
        ctl.stop()
        raise
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        stop_agent(agent, pins)


def burst_report(signals, run, d, head_spilled, ctl):
    dur = run["end"] - run["start"]
    rate = head_spilled / dur
    term = ctl.actions("terminate")[0]
    outcomes = {f"{node[:8]}/{o}": int(v) for (node, o), v in sorted(d.items()) if v}
    print(f"\nsignals {signals}: burst {run['tasks']} tasks in {dur:.1f} s; head spilled back "
          f"{int(head_spilled)} leases = {rate:.1f}/s (limit {REJECT_BURST}/s); outcomes {outcomes}")
    print(f"signals {signals}: w1 idle from +0.0 s; burst +{run['start'] - run['w1_done']:.1f} .. "
          f"+{run['end'] - run['w1_done']:.1f} s; stopped at +{t_of(term) - run['w1_done']:.1f} s "
          f"(idle timeout {IDLE_S} s)")
    print(f"signals {signals}: {term.get('message')}")
    return rate, term


def test_reject_burst_keeps_the_idle_node(fresh_ray_cluster, bin, tmp_path):
    ctl, run, d, head_spilled = run_burst(fresh_ray_cluster, bin, tmp_path, "on")
    try:
        rate, term = burst_report("on", run, d, head_spilled, ctl)
        # The burst is real: the head spilled the leases back, well above the limit.
        assert rate > 2 * REJECT_BURST, (rate, d)
        keeps = [k for k in ctl.actions("keep") if k.get("reason") == "reject_burst"]
        assert keeps, f"no reject_burst keep: {ctl.decisions()}"
        k = keeps[0]
        assert k["node"] == term["node"] and k["type"] == "w1", (k, term)
        assert k["value"] > REJECT_BURST and k["limit"] == REJECT_BURST, k
        assert "no scale-down in a burst" in k["message"], k
        # Kept while the burst lasted: not stopped before its end; stopped
        # after it (the rate falls to 0 at the next push or two, then the
        # idle node goes).
        assert run["start"] <= t_of(k) <= run["end"], (k, run)
        assert t_of(term) >= run["end"], (term, run)
        assert t_of(term) <= run["end"] + IDLE_S + 30, (term, run)
        assert not [x for x in ctl.actions("keep") if x.get("reason") == "recent_lease"], \
            "--keep-after-lease 0 still kept for a recent lease"
        print(f"signals on: first reject_burst keep at +{t_of(k) - run['w1_done']:.1f} s, "
              f"controller rate {k['value']}/s: {k['message']}")
    finally:
        ctl.stop()


def test_signals_off_stops_it_during_the_burst(fresh_ray_cluster, bin, tmp_path):
    ctl, run, d, head_spilled = run_burst(fresh_ray_cluster, bin, tmp_path, "off")
    try:
        rate, term = burst_report("off", run, d, head_spilled, ctl)
        assert rate > 2 * REJECT_BURST, (rate, d)
        assert not ctl.actions("keep"), ctl.actions("keep")
        # Ray's semantics: idle for IDLE_S, stopped, burst or not.
        assert run["start"] <= t_of(term) < run["end"] - 5, (term, run)
    finally:
        ctl.stop()


# ---------------------------------------------------------------- rule 6

def tick_time(ctl):
    return ctl.status().get("time")


def our_slow_leases(agent, nodes):
    slow = slow_leases(agent)
    return sum(slow.get(n, 0) for n in nodes)


def early_tick_times(log):
    """UNIX times of the controller's `tick early` debug lines."""
    out = []
    for line in log.splitlines():
        if "tick early" in line:
            ts = json.loads(line)["ts"]
            out.append(calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
                       + float("0" + ts[19:-1]))
    return out


def run_queue(cluster, bin, tmp_path, signals):
    (tmp_path / "token").write_text(TOKEN)
    go = tmp_path / "go"
    worker = cluster.add_worker(num_cpus=1)
    ours = (cluster.head_node_id, worker.node_id)
    ctl = Controller(bin("raysense-controller"), cluster, ["w1:CPU=1,min=0,max=2,idle=60"],
                     extra=["--token-file", str(tmp_path / "token"), "--interval", str(INTERVAL_S),
                            "--signals", signals, "--signal-max-age", "10"])
    agent, pins = start_agent(bin, ctl, tmp_path)
    driver = None
    try:
        for node in ours:
            agent.wait_tracking(raylet_pid_of(node), timeout=180)
        driver = background_driver(cluster, QUEUE_DRIVER.replace("GO_PATH", repr(str(go))))
        line = driver.stdout.readline()
        assert line.startswith('{"warm"'), (line, stop_driver(driver))
        slow_before = our_slow_leases(agent, ours)
        # Go right after a regular tick: the next one is INTERVAL_S away.
        seen = ctl.wait(lambda: tick_time(ctl), 30, "a first tick")
        ctl.wait(lambda: tick_time(ctl) != seen, INTERVAL_S + 30, "a regular tick", poll=0.1)
        tick = time.time()
        go.write_text("go")
        submitted = json.loads(driver.stdout.readline())["submitted"]
        # Poll the agent until 2 s after the launch: when did our raylets
        # first show a lease that waited >= 2^27 ns?
        first_slow, launched_at = None, None
        deadline = time.time() + INTERVAL_S + 60
        while launched_at is None or time.time() < launched_at + 2:
            assert time.time() < deadline, "no launch\n" + ctl.log_tail()
            slow = our_slow_leases(agent, ours) - slow_before
            if first_slow is None and slow > 0:
                first_slow = time.time()
            if launched_at is None and ctl.actions("launch"):
                launched_at = time.time()
            time.sleep(0.2)
        launch = ctl.actions("launch")[0]
        early = [t for t in early_tick_times(ctl.log_text()) if t >= submitted]
        return ctl, tick, submitted, launch, slow, first_slow, early
    except BaseException:
        ctl.stop()
        raise
    finally:
        if driver is not None:
            stop_driver(driver)
        stop_agent(agent, pins)


def queue_report(signals, tick, submitted, launch, slow, first_slow, early):
    rel = lambda t: f"+{t - submitted:.1f} s" if t is not None else "never"  # noqa: E731
    print(f"\nsignals {signals}: tasks submitted {submitted - tick:.1f} s after a regular tick "
          f"(interval {INTERVAL_S} s); after the submission: first lease >= "
          f"{SLOW_S * 1000:.0f} ms on our raylets seen by the test {rel(first_slow)}, "
          f"early ticks {', '.join(rel(e) for e in early if e <= t_of(launch) + 2) or 'none'}, "
          f"w1 launch {rel(t_of(launch))}; "
          f"{int(slow)} slow lease(s) on our raylets by the launch + 2 s")


def test_queued_leases_launch_early(fresh_ray_cluster, bin, tmp_path):
    ctl, tick, submitted, launch, slow, first_slow, early = run_queue(fresh_ray_cluster, bin, tmp_path, "on")
    try:
        queue_report("on", tick, submitted, launch, slow, first_slow, early)
        assert slow > 0, "no lease on our raylets waited >= 2^27 ns"
        assert early, "no `tick early` in the controller log after the submission"
        # The launch was made by an early tick (its decision is stamped with
        # the tick's start, the log line a few ms before it).
        assert any(0 <= t_of(launch) - e < 3 for e in early), (launch, early)
        # Seconds after the submission, long before the regular tick.
        assert submitted <= t_of(launch) < submitted + INTERVAL_S / 2, (launch, submitted)
        assert t_of(launch) - tick < INTERVAL_S - 8, (launch, tick)
    finally:
        ctl.stop()


def test_signals_off_launches_at_the_regular_tick(fresh_ray_cluster, bin, tmp_path):
    ctl, tick, submitted, launch, slow, first_slow, early = run_queue(fresh_ray_cluster, bin, tmp_path, "off")
    try:
        queue_report("off", tick, submitted, launch, slow, first_slow, early)
        # The same queueing, seen well before the launch; nothing woke the loop.
        assert slow > 0 and first_slow < t_of(launch) - 10, (slow, first_slow, launch)
        assert not early, "`tick early` with --signals off"
        assert t_of(launch) - tick > INTERVAL_S - 3, (launch, tick)
    finally:
        ctl.stop()
