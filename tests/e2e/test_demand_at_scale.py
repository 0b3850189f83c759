"""Demand at scale on real Ray: a driver submits 10,000 one-CPU tasks; the
controller (local provider, a group of at most 2 workers) launches for them
and every tick stays within 1 s while the backlog lasts: the state API's
task list (seconds at this size) is not read while the backlog is large,
the reads a tick makes share an 800 ms budget, and a read that fails still
lets the tick launch from the last answer (docs/demand-at-scale.md,
docs/controller-config.md).  Then 10,000 tasks in four shapes, where Ray's
v1 report keeps one: counted exactly from the GCS's aggregate, and, with
the GCS read off, found through the task list.
"""
import time

from controller_proc import Controller, background_driver, stop_driver
from promtext import parse_prom

N = 10000

DRIVER = r"""
import time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=1)
def work():
    time.sleep(60)
t0 = time.time()
refs = [work.remote() for _ in range(%d)]
print("submitted", time.time() - t0, flush=True)
time.sleep(600)
""" % N


def loop_buckets(ctl):
    """(count, count <= 1 s) of the controller's ticks so far."""
    samples = parse_prom(ctl.metrics())
    count = [v for n, _, v in samples if n == "raysense_controller_loop_duration_seconds_count"][0]
    le1 = [v for n, lbl, v in samples
           if n == "raysense_controller_loop_duration_seconds_bucket" and lbl.get("le") in ("1", "1.0")]
    return count, le1[0]


def test_ten_thousand_pending_tasks_launch_and_ticks_stay_short(fresh_ray_cluster, bin):
    cluster = fresh_ray_cluster
    ctl = Controller(bin("raysense-controller"), cluster, ["cpu1:CPU=1,min=0,max=2,idle=30"])
    driver = None
    try:
        before = loop_buckets(ctl)
        t0 = time.time()
        driver = background_driver(cluster, DRIVER)
        ctl.wait(lambda: ctl.launch_count() >= 2, 90, "two launches for the backlog")
        t_launch = max(d["time_unix"] for d in ctl.actions("launch"))
        time.sleep(20)  # keep the backlog while ticks go on
        count, le1 = loop_buckets(ctl)
        ticks, slow = count - before[0], (count - le1) - (before[0] - before[1])
        status = ctl.status()
        pending = status["demand"]["shapes"]
        assert ctl.launch_count() == 2, ctl.actions("launch")
        assert ticks >= 20 and slow == 0, f"{slow} of {ticks} ticks took more than 1 s"
        print(f"\n{N} tasks: 2 launches {t_launch - t0:.1f} s after the driver started; "
              f"{int(ticks)} ticks, none over 1 s; {len(ctl.actions('hold'))} hold(s); "
              f"demand seen {pending}; "
              f"task list age {status['demand'].get('pending_list_age_s')} s")
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        ctl.stop()


FOUR = r"""
import time, ray
ray.init(logging_level="ERROR")
GIB = 1 << 30
shapes = [dict(num_cpus=1), dict(num_cpus=2), dict(num_cpus=4), dict(num_cpus=1, memory=GIB)]
@ray.remote
def work():
    time.sleep(600)
t0 = time.time()
refs = [work.options(**shapes[i %% 4]).remote() for i in range(%d)]
print("submitted", time.time() - t0, flush=True)
time.sleep(600)
""" % N


def shape_key(shape):
    return tuple(sorted((k, float(v)) for k, v in shape.items()))


def test_every_shape_counted_from_the_gcs(fresh_ray_cluster, bin):
    """10,000 tasks in four shapes: Ray's v1 report keeps one shape
    (docs/demand-at-scale.md); the controller (dry run) reads the GCS's
    aggregate instead and plans for all four with their exact counts, and
    says where its demand came from."""
    cluster = fresh_ray_cluster
    ctl = Controller(bin("raysense-controller"), cluster,
                     [f"big:CPU=4,memory={16 << 30},min=0,max=10000,idle=60"], extra=["--dry-run"])
    driver = None
    want = {shape_key(s): N // 4 for s in ({"CPU": 1}, {"CPU": 2}, {"CPU": 4},
                                            {"CPU": 1, "memory": 1 << 30})}
    try:
        t0 = time.time()
        driver = background_driver(cluster, FOUR)

        def exact():
            d = ctl.status()["demand"]
            got = {shape_key(x["shape"]): x["count"] for x in d["shapes"]}
            return got == want and d

        demand = ctl.wait(exact, 90, "the four shapes with 2,500 tasks each in the demand")
        t_all = time.time() - t0
        assert demand["demand_from_gcs"] is True and "gcs_error" not in demand, demand
        # The dry-run plan is capped per tick (Ray's max_concurrent_launches,
        # 10 by default), so only its first shapes get launch decisions.
        ctl.wait(lambda: ctl.actions("launch"), 30, "a launch decision")
        count, le1 = loop_buckets(ctl)
        assert count == le1, f"{count - le1} of {count} ticks took more than 1 s"
        assert ctl.log_text().count("demand read live from the GCS") == 1
        print(f"\nfour shapes x 2,500 from the GCS: exact counts {t_all:.1f} s after the "
              f"driver started; {int(count)} ticks, none over 1 s")
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        ctl.stop()


def test_every_shape_seen_when_the_report_keeps_one(fresh_ray_cluster, bin):
    """The same without the GCS read (--gcs-address off): the controller
    still plans for all four shapes, from the task list it reads because
    the report is truncated."""
    cluster = fresh_ray_cluster
    ctl = Controller(bin("raysense-controller"), cluster,
                     [f"big:CPU=4,memory={16 << 30},min=0,max=10000,idle=60"],
                     extra=["--dry-run", "--gcs-address", "off"])
    driver = None
    try:
        t0 = time.time()
        driver = background_driver(cluster, FOUR)
        want = {shape_key(s) for s in ({"CPU": 1}, {"CPU": 2}, {"CPU": 4},
                                        {"CPU": 1, "memory": 1 << 30})}

        def seen():
            got = {shape_key(d["shape"]) for d in ctl.status()["demand"]["shapes"]}
            return want <= got and got

        got = ctl.wait(seen, 90, "all four shapes in the controller's demand")
        t_all = time.time() - t0
        assert ctl.status()["demand"]["demand_from_gcs"] is False
        launched = {shape_key(b["shape"]) for d in ctl.actions("launch") for b in d["demand"]}
        count, le1 = loop_buckets(ctl)
        assert count == le1, f"{count - le1} of {count} ticks took more than 1 s"
        print(f"\nfour shapes x 2,500: all four in the demand {t_all:.1f} s after the driver "
              f"started; launch decisions cover {len(launched & want)} of 4 shapes; "
              f"{int(count)} ticks, none over 1 s")
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        ctl.stop()
