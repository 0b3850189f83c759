"""The GCS demand read (controller/source/gcs_load.c) against real Ray:
a GCS address that reaches another Ray cluster is refused (its demand is
never taken for this cluster's), and the report's demand is used instead;
the right address gives the demand live."""
from controller_proc import Controller, background_driver, stop_driver
from raycluster import RayCluster

DRIVER = r"""
import time, ray
ray.init(logging_level="ERROR")
@ray.remote(num_cpus=2)
def work():
    time.sleep(600)
refs = [work.remote() for _ in range(6)]
print("submitted", flush=True)
time.sleep(600)
"""


def test_another_clusters_gcs_is_refused(ray_cluster, bin):
    other = RayCluster()
    ctl = driver = None
    try:
        other.start_head()
        ctl = Controller(bin("raysense-controller"), ray_cluster,
                         ["w:CPU=2,min=0,max=10,idle=60"],
                         extra=["--dry-run", "--gcs-address", other.address])
        driver = background_driver(ray_cluster, DRIVER)
        # The report (written every 5 s) still gives the demand.
        ctl.wait(lambda: any(x["count"] == 6 for x in ctl.status()["demand"]["shapes"]), 60,
                 "the six 2-CPU tasks in the demand, from the report")
        demand = ctl.status()["demand"]
        assert demand["demand_from_gcs"] is False, demand
        assert "not this cluster's GCS" in demand["gcs_error"], demand
        assert other.address in demand["gcs_error"], demand
        assert ctl.log_text().count("reading the demand from the GCS failed") == 1
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        if ctl:
            ctl.stop()
        other.stop()


def test_the_right_gcs_gives_the_demand_live(ray_cluster, bin):
    ctl = Controller(bin("raysense-controller"), ray_cluster, ["w:CPU=2,min=0,max=10,idle=60"],
                     extra=["--dry-run"])
    driver = None
    try:
        driver = background_driver(ray_cluster, DRIVER)
        ctl.wait(lambda: ctl.status()["demand"].get("demand_from_gcs") and
                 any(x["count"] == 6 for x in ctl.status()["demand"]["shapes"]), 60,
                 "the six 2-CPU tasks in the demand, from the GCS")
        assert "gcs_error" not in ctl.status()["demand"]
        assert ctl.log_text().count("demand read live from the GCS") == 1
    finally:
        if driver is not None and driver.poll() is None:
            stop_driver(driver)
        ctl.stop()
