"""test_launch_failures.py -- a worker that cannot start is not relaunched
every tick (real Ray, real controller, local provider).

Every `ray start` the controller runs gets an option Ray does not know
(`--ray-start-arg=--no-such-option`), so each exits at once, before Ray
lists the node.  With one pending one-CPU task the controller must record
each as a `launch_failed` decision (reason exited_before_alive) and hold the
group's launches 5 s, then 10 s, then 20 s (doubling): over 30 s that is at
most four launches, where a relaunch every 1 s tick would be about thirty.
"""
import time

from controller_proc import Controller, background_driver, stop_driver

DRIVER = r"""
import ray, time
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work():
    return 1
ref = work.remote()
time.sleep(600)
"""


def test_failed_launches_back_off(ray_cluster, bin):
    ctl = Controller(bin("raysense-controller"), ray_cluster,
                     ["cpu1:CPU=1,min=0,max=4,idle=10"],
                     extra=["--ray-start-arg=--no-such-option"])
    driver = background_driver(ray_cluster, DRIVER)
    try:
        ctl.wait(lambda: len(ctl.actions("launch_failed")) >= 3, 90, "three failed launches")
        time.sleep(8)
        fails = ctl.actions("launch_failed")
        launches = ctl.actions("launch")
        for d in fails:
            assert d["type"] == "cpu1" and d["reason"] == "exited_before_alive", d
            assert d["node"].startswith("rs-cpu1-"), d
        assert [d["failures_in_a_row"] for d in fails] == list(range(1, len(fails) + 1)), fails
        assert [d["backoff_s"] for d in fails[:3]] == [5, 10, 20], fails
        # Each launch after a failure waits out that failure's back-off.
        times = [d["time_unix"] for d in launches]
        for f in fails:
            later = [t for t in times if t > f["time_unix"]]
            if later:
                assert later[0] - f["time_unix"] >= f["backoff_s"] - 0.5, (f, times)
        span = times[-1] - times[0]
        assert len(launches) <= 2 + span / 5, (len(launches), span)
        assert "exited on its own before Ray listed it ALIVE" in ctl.log_tail(200000)
        assert not [n for n in ray_cluster.alive_nodes() if n["node_name"].startswith("rs-")]
    finally:
        stop_driver(driver)
        ctl.stop()
