"""ray_plan.py -- run Ray's own autoscaler v2 scheduler on a raysense scenario.

The baseline for bench/planner_bench and for the differential tests: it turns
a scenario (the public `raysensectl plan` format, see
userspace/controller/scenario.h) into the SchedulingRequest that Ray's
autoscaler v2 builds from GCS state, runs the pinned Ray's
`ray.autoscaler.v2.scheduler.ResourceDemandScheduler.schedule()`, and reports
what it decided in the same terms as raysense's plan:

  {"desired": {type: n}, "terminate": [{"id", "reason"}],
   "infeasible": {"tasks": n, "placement_groups": n, "request_resources": bool},
   "seconds": wall time of schedule(), "cpu_seconds": its CPU time}

Mapping (matches what Ray's GCS/instance manager would feed the scheduler):
  * running node  -> Instance RAY_RUNNING + NodeState(total, available,
                     idle_duration_ms); the head gets NodeKind.HEAD.
  * pending node  -> Instance ALLOCATED (cloud instance exists, Ray not up).
  * tasks/actors  -> ResourceRequestByCount(shape, count).
  * placement groups -> one GangResourceRequest per copy; STRICT_SPREAD
                     bundles get an anti-affinity label, STRICT_PACK an
                     affinity label (GenPlacementConstraintForPlacementGroup).
  * request_resources -> one ClusterResourceConstraint.
  * global max_workers -> max_num_nodes = max_workers + 1 (head included).
Ray's "desired" launches are compared with raysense's "desired" (before
the reconciler's upscaling-speed limit, which is not part of the scheduler).

Usage: ray_plan.py SCENARIO.json   (prints the JSON above)
"""
import json
import sys
import time

from ray.autoscaler.v2.instance_manager.config import NodeTypeConfig
from ray.autoscaler.v2.scheduler import ResourceDemandScheduler, SchedulingRequest
from ray.autoscaler.v2.schema import AutoscalerInstance
from ray.core.generated.autoscaler_pb2 import (
    AffinityConstraint,
    AntiAffinityConstraint,
    ClusterResourceConstraint,
    GangResourceRequest,
    NodeState,
    NodeStatus,
    PlacementConstraint,
    ResourceRequest,
    ResourceRequestByCount,
)
from ray.core.generated.instance_manager_pb2 import Instance, NodeKind


def _positive(shape):
    # The GCS reports only positive amounts in demand shapes.
    return {k: float(v) for k, v in shape.items() if v > 0}


def _shape_entries(lst, bare_ok=False):
    out = []
    for e in lst or []:
        if bare_ok and "shape" not in e:
            out.append((e, 1))
        else:
            out.append((e["shape"], e.get("count", 1)))
    return out


def build_request(scn):
    head = scn.get("head_node_type")
    configs = {}
    for name, t in scn["node_types"].items():
        configs[name] = NodeTypeConfig(
            name=name,
            min_worker_nodes=t.get("min_workers", 0),
            max_worker_nodes=t.get("max_workers", 0),
            idle_timeout_s=t.get("idle_timeout_s"),
            resources={k: float(v) for k, v in t["resources"].items()},
            labels={},
        )

    instances = []
    for i, n in enumerate(scn.get("nodes", [])):
        running = n.get("status", "running") == "running" and "total" in n
        im = Instance(
            instance_id=n["id"],
            cloud_instance_id=n["id"],
            instance_type=n["type"],
            status=Instance.RAY_RUNNING if running else Instance.ALLOCATED,
            node_kind=NodeKind.HEAD if n["type"] == head else NodeKind.WORKER,
            node_id=("%032x" % (i + 1)) if running else "",
        )
        ray_node = None
        if running:
            idle_ms = int(n.get("idle_s", 0) * 1000) if n.get("idle_s", -1) >= 0 else 0
            ray_node = NodeState(
                node_id=bytes.fromhex("%032x" % (i + 1)),
                instance_id=n["id"],
                ray_node_type_name=n["type"],
                total_resources={k: float(v) for k, v in n["total"].items()},
                available_resources={k: float(v) for k, v in n["available"].items()},
                idle_duration_ms=idle_ms,
                status=NodeStatus.IDLE if idle_ms > 0 else NodeStatus.RUNNING,
            )
        instances.append(
            AutoscalerInstance(im_instance=im, ray_node=ray_node, cloud_instance_id=n["id"])
        )

    demand = scn.get("demand", {})
    resource_requests = []
    for key in ("tasks", "actors"):
        for shape, count in _shape_entries(demand.get(key)):
            if count > 0:
                resource_requests.append(
                    ResourceRequestByCount(
                        request=ResourceRequest(resources_bundle=_positive(shape)), count=count
                    )
                )

    gangs = []
    pg_id = 0
    for pg in demand.get("placement_groups", []):
        for _ in range(pg.get("count", 1)):
            pg_id += 1
            label = "_PG_%032x" % pg_id
            reqs = []
            for b in pg["bundles"]:
                r = ResourceRequest(resources_bundle=_positive(b))
                if pg["strategy"] == "STRICT_SPREAD":
                    r.placement_constraints.append(
                        PlacementConstraint(
                            anti_affinity=AntiAffinityConstraint(label_name=label, label_value="")
                        )
                    )
                elif pg["strategy"] == "STRICT_PACK":
                    r.placement_constraints.append(
                        PlacementConstraint(
                            affinity=AffinityConstraint(label_name=label, label_value="")
                        )
                    )
                reqs.append(r)
            gangs.append(GangResourceRequest(requests=reqs, details="pg%d" % pg_id))

    constraints = []
    rr = [
        ResourceRequestByCount(request=ResourceRequest(resources_bundle=_positive(s)), count=c)
        for s, c in _shape_entries(demand.get("request_resources"), bare_ok=True)
        if c > 0
    ]
    if rr:
        constraints.append(ClusterResourceConstraint(resource_requests=rr))

    max_workers = scn.get("max_workers")
    return SchedulingRequest(
        disable_launch_config_check=True,
        node_type_configs=configs,
        max_num_nodes=(max_workers + 1) if max_workers is not None else None,
        idle_timeout_s=scn.get("idle_timeout_s", 60),
        resource_requests=resource_requests,
        gang_resource_requests=gangs,
        cluster_resource_constraints=constraints,
        current_instances=instances,
    )


CAUSE_NAMES = {1: "idle", 2: "max_workers", 3: "max_workers_per_type"}


def summarize(reply, seconds, cpu_seconds):
    from ray.core.generated.instance_manager_pb2 import TerminationRequest

    desired = {}
    for lr in reply.to_launch:
        desired[lr.instance_type] = desired.get(lr.instance_type, 0) + lr.count
    terminate = []
    for t in reply.to_terminate:
        cause = TerminationRequest.Cause.Name(t.cause)
        reason = {"IDLE": "idle", "MAX_NUM_NODES": "max_workers",
                  "MAX_NUM_NODE_PER_TYPE": "max_workers_per_type"}.get(cause, cause.lower())
        terminate.append({"id": t.instance_id, "reason": reason})
    return {
        "desired": desired,
        "terminate": terminate,
        "infeasible": {
            "tasks": len(reply.infeasible_resource_requests),
            "placement_groups": len(reply.infeasible_gang_resource_requests),
            "request_resources": len(reply.infeasible_cluster_resource_constraints) > 0,
        },
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }


def ray_plan(scn):
    req = build_request(scn)
    sched = ResourceDemandScheduler()
    c0 = time.process_time()
    t0 = time.perf_counter()
    reply = sched.schedule(req)
    return summarize(reply, time.perf_counter() - t0, time.process_time() - c0)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        scn = json.load(f)
    print(json.dumps(ray_plan(scn), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
