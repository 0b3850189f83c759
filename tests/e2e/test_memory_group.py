"""`--worker-group NAME:...,memory=N` (bytes, as in the JSON config): accepted
by the flag parser, and the local provider starts the raylet with
`--memory=N` (Ray refuses `memory` inside `--resources`), so the real node
declares exactly that logical memory."""
from controller_proc import Controller

MEM = 2 * 1024 ** 3


def test_memory_flag_reaches_ray(fresh_ray_cluster, bin):
    cluster = fresh_ray_cluster
    ctl = Controller(bin("raysense-controller"), cluster,
                     [f"mem:CPU=1,memory={MEM},min=1,max=1,idle=600"])
    try:
        launched = ctl.wait(lambda: ctl.launched_nodes(), 60, "min_workers launch")[0]
        node = ctl.wait(lambda: ctl.ray_node_of(launched), 120, "node ALIVE")
        assert node["resources_total"].get("memory") == MEM, node["resources_total"]
        assert node["resources_total"].get("CPU") == 1, node["resources_total"]
    finally:
        ctl.stop()
