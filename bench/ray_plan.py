"""ray_plan.py -- run Ray's own autoscaler v2 scheduler on a raysense scenario.

The baseline for bench/planner_bench and for the differential tests: it turns
a scenario (the public `raysensectl plan` format, see
userspace/controller/plan/scenario.h) into the SchedulingRequest that Ray's
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

With --limit (ray_plan(scn, limit=True)) the reply then goes through the
pinned Ray's own reconciler steps that follow the scheduler in
Reconciler._step_next (reconciler.py l. 307-325): _scale_cluster (the
scheduler is replaced by one returning this reply) applies the
terminations and queues the launches, _terminate_instances, then
_handle_instances_launch partitions the instances by status and calls
_compute_to_launch.  All three run on a real InstanceManager over an
in-memory store, so Ray's status transitions are checked too.  The result
adds
  "launch": {type: n}   instances Ray moved QUEUED -> REQUESTED this round,
  "head_running": bool  Ray scales nothing until the head is RAY_RUNNING,
  "reconcile_error": str or null  (e.g. an invalid status transition).
Pending scenario nodes become REQUESTED instances there: raysense counts
pending nodes as in flight (deviation D6), REQUESTED is Ray's in-flight
status, and the scheduler treats REQUESTED and ALLOCATED alike (both are
pending nodes with the type's resources; the pending idle timeout is off).

Usage: ray_plan.py [--limit] SCENARIO.json   (prints the JSON above)
"""
import json
import logging
import sys
import time

from ray.autoscaler._private.constants import AUTOSCALER_MAX_CONCURRENT_LAUNCHES
from ray.autoscaler.v2.instance_manager.config import NodeTypeConfig
from ray.autoscaler.v2.instance_manager.instance_manager import InstanceManager
from ray.autoscaler.v2.instance_manager.instance_storage import InstanceStorage
from ray.autoscaler.v2.instance_manager.reconciler import Reconciler
from ray.autoscaler.v2.instance_manager.storage import InMemoryStorage
from ray.autoscaler.v2.scheduler import ResourceDemandScheduler, SchedulingRequest
from ray.autoscaler.v2.schema import AutoscalerInstance
from ray.core.generated.autoscaler_pb2 import (
    AffinityConstraint,
    AntiAffinityConstraint,
    AutoscalingState,
    ClusterResourceConstraint,
    ClusterResourceState,
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


def build_request(scn, pending_status=Instance.ALLOCATED):
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
            status=Instance.RAY_RUNNING if running else pending_status,
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


class _Reply:
    """Scheduler stand-in for _scale_cluster: returns the reply computed
    from build_request() (the same instances _scale_cluster would send)."""

    def __init__(self, reply):
        self.reply = reply

    def schedule(self, _request):
        return self.reply


class _Config:
    """The AutoscalingConfig getters the reconciler steps below read."""

    def __init__(self, scn, req):
        self.req = req
        self.speed = float(scn.get("upscaling_speed", 0.0))  # DEFAULT_UPSCALING_SPEED
        self.conc = scn.get("max_concurrent_launches", AUTOSCALER_MAX_CONCURRENT_LAUNCHES)
        self.provider = None

    def get_node_type_configs(self):
        return self.req.node_type_configs

    def get_max_num_nodes(self):
        return self.req.max_num_nodes

    def get_idle_timeout_s(self):
        return self.req.idle_timeout_s

    def get_pending_idle_timeout_s(self):
        return None

    def disable_launch_config_check(self):
        return True

    def get_upscaling_speed(self):
        return self.speed

    def get_max_concurrent_launches(self):
        return self.conc


class _NoCloudData:
    def get_resource_availabilities(self):
        return {}

    def get_recoverable_resource_availabilities(self):
        return {}


def reconcile_launch(scn, req, reply):
    """Ray's reconciler after the scheduler: {type: instances requested}."""
    # Ray logs every status transition at INFO; this is a batch run.
    logging.getLogger("ray.autoscaler.v2.instance_manager").setLevel(logging.WARNING)
    im = InstanceManager(InstanceStorage("raysense", InMemoryStorage()), [])
    im._instance_storage.batch_upsert_instances([i.im_instance for i in req.current_instances])
    before = {i.instance_id for i in Reconciler._get_im_instances(im)[0]
              if i.status == Instance.REQUESTED}
    config = _Config(scn, req)
    Reconciler._scale_cluster(
        autoscaling_state=AutoscalingState(), instance_manager=im,
        cloud_resource_monitor=_NoCloudData(), ray_state=ClusterResourceState(),
        scheduler=_Reply(reply), autoscaling_config=config, cloud_provider=None)
    Reconciler._terminate_instances(instance_manager=im)
    Reconciler._handle_instances_launch(instance_manager=im, autoscaling_config=config)
    launch = {}
    for i in Reconciler._get_im_instances(im)[0]:
        if i.status == Instance.REQUESTED and i.instance_id not in before:
            launch[i.instance_type] = launch.get(i.instance_type, 0) + 1
    return launch, Reconciler._is_head_node_running(im)


def ray_plan(scn, limit=False):
    req = build_request(scn, Instance.REQUESTED if limit else Instance.ALLOCATED)
    sched = ResourceDemandScheduler()
    c0 = time.process_time()
    t0 = time.perf_counter()
    reply = sched.schedule(req)
    out = summarize(reply, time.perf_counter() - t0, time.process_time() - c0)
    if limit:
        out["launch"], out["head_running"], out["reconcile_error"] = {}, False, None
        try:
            out["launch"], out["head_running"] = reconcile_launch(scn, req, reply)
        except AssertionError as e:  # Ray refused an update (invalid transition)
            out["reconcile_error"] = str(e) or "AssertionError"
    return out


def main():
    args = sys.argv[1:]
    limit = bool(args) and args[0] == "--limit"
    if limit:
        args = args[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0]) as f:
        scn = json.load(f)
    print(json.dumps(ray_plan(scn, limit), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
