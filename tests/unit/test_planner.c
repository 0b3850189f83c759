/* test_planner.c -- table-driven tests of the planner, one or more rows per
 * rule of Ray's autoscaler semantics (and per raysense safety rule).
 *
 * Each row is a scenario in the public JSON format plus the expected plan,
 * written as canonical strings:
 *   launch   "type:n,..."            nodes to start now (after the upscaling limit)
 *   desired  "type:n,..."            nodes the scheduler wants (before it)
 *   term     "id:reason,..."         terminations, in decision order
 *   kept     "id:reason,..."         nodes deliberately kept (idle or over max)
 *   infeas   "kind#index:count:reason,..."
 * The expectations were worked out by hand from Ray 2.60's scheduler.py rules
 * (comments say how); bench/ray_plan.py and tests/golden/test_plan_vs_ray.py
 * additionally check random scenarios against Ray itself.
 *
 * The upscaling limit, as the pinned wheel does it
 * (ray/autoscaler/v2/instance_manager/reconciler.py, Ray 2.60.0):
 *   - _step_next (l. 307-325) runs _scale_cluster before
 *     _handle_instances_launch.  _scale_cluster applies the scheduler's
 *     to_terminate (l. 1299-1331: RAY_RUNNING -> RAY_STOP_REQUESTED,
 *     ALLOCATED/RAY_INSTALLING -> TERMINATING, QUEUED -> TERMINATED) and
 *     queues to_launch as QUEUED instances (l. 1333-1345).
 *   - _handle_instances_launch (l. 823-878) then sorts instances by status
 *     (l. 829-839): running = RAY_RUNNING per type, in flight = REQUESTED of
 *     all types.  ALLOCATED, RAY_INSTALLING and the nodes this round stops
 *     count as neither.
 *   - _compute_to_launch (l. 880-937), types in order of their first QUEUED
 *     instance: n = max(1, ceil(upscaling_speed * max(running[type], 1)))
 *     (l. 915-918); n = min(max_concurrent_launches - in_flight, n)
 *     (l. 903, 921-924; AUTOSCALER_MAX_CONCURRENT_LAUNCHES = 10); n clamped
 *     to [0, QUEUED[type]] (l. 927-928); in_flight += n.  Pending nodes of the type do not
 *     lower its own allowance, only the cluster-wide one.
 * raysense cannot tell REQUESTED from ALLOCATED and counts every pending node
 * as in flight (D6).  The rows under "the upscaling limit" state one case
 * each: no terminations, terminations of the same type, of another type,
 * pending nodes. */
#include "check.h"
#include "controller/plan/planner.h"
#include "controller/plan/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



/* Common node types: a head with no CPU and a 1-CPU worker group. */
#define HEAD_TYPE "\"head\": {\"resources\": {\"CPU\": 0, \"memory\": 1e9}}"
#define HEAD_NODE "{\"id\": \"head\", \"type\": \"head\", \"total\": {\"CPU\": 0, \"memory\": 1e9}, " \
		  "\"available\": {\"CPU\": 0, \"memory\": 1e9}, \"idle_s\": 1000}"
#define CPU1(min, max) "\"cpu1\": {\"resources\": {\"CPU\": 1}, \"min_workers\": " #min ", \"max_workers\": " #max "}"
#define IDLE_CPU1(id, idle) "{\"id\": \"" id "\", \"type\": \"cpu1\", \"total\": {\"CPU\": 1}, " \
			    "\"available\": {\"CPU\": 1}, \"idle_s\": " #idle "}"
#define BUSY_CPU1(id) "{\"id\": \"" id "\", \"type\": \"cpu1\", \"total\": {\"CPU\": 1}, " \
		      "\"available\": {\"CPU\": 0}, \"idle_s\": 0}"
#define FAST "\"upscaling_speed\": 1000, \"head_node_type\": \"head\""
/* The upscaling limit rows: upscaling_speed 1, a 2-CPU worker group. */
#define SPEED1 "\"upscaling_speed\": 1.0, \"head_node_type\": \"head\""
#define CPU2_TYPE "\"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 20}"
#define BUSY_CPU2(id) "{\"id\": \"" id "\", \"type\": \"cpu2\", \"total\": {\"CPU\": 2}, " \
		      "\"available\": {\"CPU\": 0}, \"idle_s\": 0}"
/* A cpu2 node idle past the timeout that reports only 1 CPU (e.g. num-cpus
 * set below the group's resources): 2-CPU demand cannot use it, so the same
 * round both stops it and launches its type. */
#define SMALL_IDLE_CPU2(id, extra) "{\"id\": \"" id "\", \"type\": \"cpu2\", \"total\": {\"CPU\": 1}, " \
				   "\"available\": {\"CPU\": 1}, \"idle_s\": 100" extra "}"
#define CPU2_TASKS(n) "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 2}, \"count\": " #n "}]}"

struct row {
	const char *name;
	const char *scenario;
	const char *launch, *desired, *term, *kept, *infeas;
};

static const struct row rows[] = {
	/* --- bin-packing and launches --- */
	{ "seed: two 1-CPU tasks, head CPU 0 -> exactly two workers",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ", \"nodes\": [" HEAD_NODE "],"
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 2}]}}",
	  "cpu1:2", "cpu1:2", "", "", "" },
	{ "idle capacity on an existing node absorbs demand (and keeps it)",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 4}}, " FAST ","
	  "\"nodes\": [" HEAD_NODE ", {\"id\": \"w\", \"type\": \"cpu2\", \"total\": {\"CPU\": 2}, "
	  "\"available\": {\"CPU\": 2}, \"idle_s\": 100}],"
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 2}]}}",
	  "", "", "", "w:needed_by_demand", "" },
	{ "a pending node takes demand before a new node is launched",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"nodes\": [" HEAD_NODE ", {\"id\": \"p\", \"type\": \"cpu1\", \"status\": \"pending\"}],"
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 2}]}}",
	  "cpu1:1", "cpu1:1", "", "", "" },
	{ "utilization scorer: two 1-CPU tasks fill a 2-CPU node (score 2) over an 8-CPU node (0.125)",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 4},"
	  "\"cpu8\": {\"resources\": {\"CPU\": 8}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 2}]}}",
	  "cpu2:1", "cpu2:1", "", "", "" },
	{ "utilization scorer: eight tasks fill one 8-CPU node (score 8) rather than a 2-CPU one (2)",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 4},"
	  "\"cpu8\": {\"resources\": {\"CPU\": 8}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 8}]}}",
	  "cpu8:1", "cpu8:1", "", "", "" },
	{ "GPU avoidance: CPU-only demand avoids the GPU type even when it packs better",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu4\": {\"resources\": {\"CPU\": 4}, \"max_workers\": 4},"
	  "\"gpu\": {\"resources\": {\"CPU\": 1, \"GPU\": 1}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 1}]}}",
	  "cpu4:1", "cpu4:1", "", "", "" },
	{ "GPU demand goes to the GPU type",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu4\": {\"resources\": {\"CPU\": 4}, \"max_workers\": 4},"
	  "\"gpu\": {\"resources\": {\"CPU\": 8, \"GPU\": 1}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1, \"GPU\": 1}, \"count\": 1}]}}",
	  "gpu:1", "gpu:1", "", "", "" },
	{ "GPU avoidance yields when only a GPU type can hold the demand",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu4\": {\"resources\": {\"CPU\": 4}, \"max_workers\": 4},"
	  "\"gpu\": {\"resources\": {\"CPU\": 16, \"GPU\": 1}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 8}, \"count\": 1}]}}",
	  "gpu:1", "gpu:1", "", "", "" },
	{ "actors with a custom resource go to the one group that has it",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) ", \"special\": {\"resources\": {\"CPU\": 1, \"custom\": 2},"
	  "\"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"actors\": [{\"shape\": {\"custom\": 1}, \"count\": 3}]}}",
	  "special:2", "special:2", "", "", "" },
	{ "GPU demand with no GPU group is infeasible and does not block CPU demand",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"GPU\": 1}, \"count\": 2}, {\"shape\": {\"CPU\": 1}, \"count\": 1}]}}",
	  "cpu1:1", "cpu1:1", "", "", "task#0:2:no_node_type_fits" },
	{ "implicit resources count as 1 on any node",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1, \"node:__internal_implicit_resource_x\": 0.5}, \"count\": 1}]}}",
	  "cpu1:1", "cpu1:1", "", "", "" },
	{ "zero counts are no demand",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 0}]}}",
	  "", "", "", "", "" },

	/* --- max, min and the upscaling limit --- */
	{ "per-type max is never exceeded; the rest is reported at max",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 10}]}}",
	  "cpu1:4", "cpu1:4", "", "", "task#0:6:at_max_workers" },
	{ "per-type max counts existing and pending nodes",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 3) "}, " FAST ","
	  "\"nodes\": [" HEAD_NODE ", " BUSY_CPU1("b1") ", {\"id\": \"p\", \"type\": \"cpu1\", \"status\": \"pending\"}],"
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 5}]}}",
	  "cpu1:1", "cpu1:1", "", "", "task#0:3:at_max_workers" },
	{ "global max_workers caps all types together",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 10) ", \"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 10}},"
	  FAST ", \"max_workers\": 3, \"nodes\": [" HEAD_NODE ", " BUSY_CPU1("b1") "],"
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 2}, \"count\": 5}]}}",
	  "cpu2:2", "cpu2:2", "", "", "task#0:3:at_max_workers" },
	{ "min_workers are launched without demand",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(2, 4) "}, " FAST ", \"nodes\": [" HEAD_NODE "]}",
	  "cpu1:2", "cpu1:2", "", "", "" },
	{ "min_workers nodes take demand first",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(2, 4) "}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 3}]}}",
	  "cpu1:3", "cpu1:3", "", "", "" },
	{ "upscaling_speed 1 with no running worker: one node per round (v2 reconciler)",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, \"upscaling_speed\": 1.0, \"head_node_type\": \"head\","
	  "\"nodes\": [" HEAD_NODE "], \"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 2}]}}",
	  "cpu1:1", "cpu1:2", "", "", "" },
	{ "upscaling_speed 1 with three running workers: three per round",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 20) "}, \"upscaling_speed\": 1.0, \"head_node_type\": \"head\","
	  "\"nodes\": [" BUSY_CPU1("b1") ", " BUSY_CPU1("b2") ", " BUSY_CPU1("b3") "],"
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 10}]}}",
	  "cpu1:3", "cpu1:10", "", "", "" },
	{ "default upscaling_speed (0): one node per type per round",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 20) "}, \"head_node_type\": \"head\","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 5}]}}",
	  "cpu1:1", "cpu1:5", "", "", "" },
	{ "at most max_concurrent_launches in flight (pending nodes count)",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 20) "}, " FAST ", \"max_concurrent_launches\": 3,"
	  "\"nodes\": [{\"id\": \"p1\", \"type\": \"cpu1\", \"status\": \"pending\"},"
	  "{\"id\": \"p2\", \"type\": \"cpu1\", \"status\": \"pending\"}],"
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 6}]}}",
	  "cpu1:1", "cpu1:4", "", "", "" },

	/* --- the upscaling limit after this round's terminations (rule at the top) --- */
	{ "limit, no terminations: two running cpu2 -> ceil(1 * 2) = 2 start",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU2_TYPE "}, " SPEED1 ","
	  "\"nodes\": [" HEAD_NODE ", " BUSY_CPU2("b1") ", " BUSY_CPU2("b2") "], " CPU2_TASKS(5) "}",
	  "cpu2:2", "cpu2:5", "", "", "" },
	{ "limit, same type terminating: the idle cpu2 is stopped first, so 2 running -> 2 start, not 3",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU2_TYPE "}, " SPEED1 ","
	  "\"nodes\": [" HEAD_NODE ", " BUSY_CPU2("b1") ", " BUSY_CPU2("b2") ", " SMALL_IDLE_CPU2("s", "") "],"
	  CPU2_TASKS(5) "}",
	  "cpu2:2", "cpu2:5", "s:idle", "", "" },
	{ "limit, same type, kept by the agent's busy hint (D2): Ray stops it, so it does not count",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU2_TYPE "}, " SPEED1 ","
	  "\"nodes\": [" HEAD_NODE ", " BUSY_CPU2("b1") ", " BUSY_CPU2("b2") ", "
	  SMALL_IDLE_CPU2("s", ", \"busy_workers\": 1") "], " CPU2_TASKS(5) "}",
	  "cpu2:2", "cpu2:5", "", "s:agent_reports_busy", "" },
	{ "limit, another type terminating: cpu2's own running count is unchanged -> 2 start",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) ", " CPU2_TYPE "}, " SPEED1 ","
	  "\"nodes\": [" HEAD_NODE ", " BUSY_CPU2("b1") ", " BUSY_CPU2("b2") ", " IDLE_CPU1("i", 100) "],"
	  CPU2_TASKS(5) "}",
	  "cpu2:2", "cpu2:5", "i:idle", "", "" },
	{ "limit, pending nodes: not running, and they do not lower their type's allowance -> 2 start",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU2_TYPE "}, " SPEED1 ","
	  "\"nodes\": [" HEAD_NODE ", " BUSY_CPU2("b1") ", " BUSY_CPU2("b2") ","
	  "{\"id\": \"p\", \"type\": \"cpu2\", \"status\": \"pending\"}], " CPU2_TASKS(6) "}",
	  "cpu2:2", "cpu2:5", "", "", "" },
	{ "limit, pending nodes count toward max_concurrent_launches (D6): 3 - 2 in flight -> 1 starts",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU2_TYPE "}, " SPEED1 ", \"max_concurrent_launches\": 3,"
	  "\"nodes\": [" HEAD_NODE ", " BUSY_CPU2("b1") ", " BUSY_CPU2("b2") ", " SMALL_IDLE_CPU2("s", "") ","
	  "{\"id\": \"p1\", \"type\": \"cpu2\", \"status\": \"pending\"},"
	  "{\"id\": \"p2\", \"type\": \"cpu2\", \"status\": \"pending\"}], " CPU2_TASKS(6) "}",
	  "cpu2:1", "cpu2:4", "s:idle", "", "" },

	/* --- placement groups --- */
	{ "STRICT_SPREAD of two bundles needs two nodes",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"placement_groups\": [{\"strategy\": \"STRICT_SPREAD\", \"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}]}]}}",
	  "cpu2:2", "cpu2:2", "", "", "" },
	{ "PACK of two bundles shares one node",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"placement_groups\": [{\"strategy\": \"PACK\", \"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}]}]}}",
	  "cpu2:1", "cpu2:1", "", "", "" },
	{ "SPREAD is soft for the autoscaler: one node can hold both bundles",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"placement_groups\": [{\"strategy\": \"SPREAD\", \"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}]}]}}",
	  "cpu2:1", "cpu2:1", "", "", "" },
	{ "STRICT_PACK picks a type that holds the whole group",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 10) ", \"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"placement_groups\": [{\"strategy\": \"STRICT_PACK\", \"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}]}]}}",
	  "cpu2:1", "cpu2:1", "", "", "" },
	{ "STRICT_PACK too big for any type is infeasible; tasks still launch",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu4\": {\"resources\": {\"CPU\": 4}, \"max_workers\": 4}}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 1}],"
	  "\"placement_groups\": [{\"strategy\": \"STRICT_PACK\", \"bundles\": [{\"CPU\": 3}, {\"CPU\": 3}]}]}}",
	  "cpu4:1", "cpu4:1", "", "", "placement_group#0:1:no_node_type_fits" },
	{ "a group is all or nothing: STRICT_SPREAD of 3 with max 2 launches nothing for it",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 2) "}, " FAST ","
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 1}],"
	  "\"placement_groups\": [{\"strategy\": \"STRICT_SPREAD\", \"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}, {\"CPU\": 1}]}]}}",
	  "cpu1:1", "cpu1:1", "", "", "placement_group#0:1:at_max_workers" },
	{ "identical groups: each all or nothing (3 copies of 2 bundles, max 5)",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 5) "}, " FAST ","
	  "\"demand\": {\"placement_groups\": [{\"strategy\": \"STRICT_SPREAD\", \"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}], \"count\": 3}]}}",
	  "cpu1:4", "cpu1:4", "", "", "placement_group#0:1:at_max_workers" },

	/* --- request_resources --- */
	{ "request_resources counts TOTAL resources of busy nodes",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 10) "}, " FAST ","
	  "\"nodes\": [" HEAD_NODE ", " BUSY_CPU1("b1") "],"
	  "\"demand\": {\"request_resources\": [{\"shape\": {\"CPU\": 1}, \"count\": 4}]}}",
	  "cpu1:3", "cpu1:3", "", "", "" },
	{ "request_resources accepts bare bundles and keeps idle nodes",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 10) "}, " FAST ","
	  "\"nodes\": [" HEAD_NODE ", " IDLE_CPU1("i1", 500) "],"
	  "\"demand\": {\"request_resources\": [{\"CPU\": 1}]}}",
	  "", "", "", "i1:needed_by_demand", "" },
	{ "request_resources is all or nothing",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 10) "}, " FAST ","
	  "\"demand\": {\"request_resources\": [{\"shape\": {\"CPU\": 1}, \"count\": 2}, {\"shape\": {\"GPU\": 1}}]}}",
	  "", "", "", "",
	  "request_resources#0:2:at_max_workers,request_resources#1:1:no_node_type_fits" },

	/* --- termination --- */
	{ "idle past the timeout -> terminated; not past -> kept silently",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ", \"idle_timeout_s\": 60,"
	  "\"nodes\": [" HEAD_NODE ", " IDLE_CPU1("old", 61) ", " IDLE_CPU1("young", 59) "]}",
	  "", "", "old:idle", "", "" },
	{ "the per-type idle timeout overrides the cluster's",
	  "{\"node_types\": {" HEAD_TYPE ", \"cpu1\": {\"resources\": {\"CPU\": 1}, \"max_workers\": 4, \"idle_timeout_s\": 10}},"
	  FAST ", \"idle_timeout_s\": 600, \"nodes\": [" IDLE_CPU1("w", 30) "]}",
	  "", "", "w:idle", "", "" },
	{ "min_workers are kept; the longest idle goes first",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(1, 4) "}, " FAST ","
	  "\"nodes\": [" HEAD_NODE ", " IDLE_CPU1("a", 100) ", " IDLE_CPU1("b", 300) "]}",
	  "", "", "b:idle", "a:min_workers", "" },
	{ "never the head, however idle",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ", \"nodes\": [" HEAD_NODE "]}",
	  "", "", "", "", "" },
	{ "never a node with logical resources in use, even if reported idle",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"nodes\": [{\"id\": \"w\", \"type\": \"cpu1\", \"total\": {\"CPU\": 1}, \"available\": {\"CPU\": 0.5}, \"idle_s\": 100}]}",
	  "", "", "", "w:resources_in_use", "" },
	{ "never a node the agent reports busy (busy workers)",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"nodes\": [{\"id\": \"w\", \"type\": \"cpu1\", \"total\": {\"CPU\": 1}, \"available\": {\"CPU\": 1},"
	  "\"idle_s\": 100, \"busy_workers\": 1}]}",
	  "", "", "", "w:agent_reports_busy", "" },
	{ "agent saw it busy recently (busy_age_s within the timeout) -> kept; long ago -> terminated",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"nodes\": [{\"id\": \"recent\", \"type\": \"cpu1\", \"total\": {\"CPU\": 1}, \"available\": {\"CPU\": 1},"
	  "\"idle_s\": 100, \"busy_workers\": 0, \"busy_age_s\": 5},"
	  "{\"id\": \"long\", \"type\": \"cpu1\", \"total\": {\"CPU\": 1}, \"available\": {\"CPU\": 1},"
	  "\"idle_s\": 100, \"busy_workers\": 0, \"busy_age_s\": 90}]}",
	  "", "", "long:idle", "recent:agent_reports_busy", "" },
	{ "missing idle time or resources never terminates",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"nodes\": [{\"id\": \"noidle\", \"type\": \"cpu1\", \"total\": {\"CPU\": 1}, \"available\": {\"CPU\": 1}},"
	  "{\"id\": \"nores\", \"type\": \"cpu1\", \"idle_s\": 1000}]}",
	  "", "", "", "nores:missing_data,noidle:missing_data", "" },
	{ "a pending node is not idle-terminated",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 4) "}, " FAST ","
	  "\"nodes\": [{\"id\": \"p\", \"type\": \"cpu1\", \"status\": \"pending\", \"idle_s\": 1000}]}",
	  "", "", "", "", "" },
	{ "over the per-type max: idle extras terminated, a working one kept (D1)",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 1) "}, " FAST ", \"idle_timeout_s\": 600,"
	  "\"nodes\": [" BUSY_CPU1("busy") ", " IDLE_CPU1("i1", 10) ", " IDLE_CPU1("i2", 20) "]}",
	  "", "", "i2:max_workers_per_type,i1:max_workers_per_type", "", "" },
	{ "over the per-type max with only working nodes: nothing terminated, nothing launched",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 1) "}, " FAST ","
	  "\"nodes\": [" BUSY_CPU1("b1") ", " BUSY_CPU1("b2") "],"
	  "\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 1}]}}",
	  "", "", "", "b1:resources_in_use,b2:resources_in_use", "task#0:1:at_max_workers" },
	{ "over the global max: a pending node is cancelled first",
	  "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 5) "}, " FAST ", \"max_workers\": 1,"
	  "\"nodes\": [" BUSY_CPU1("b1") ", {\"id\": \"p\", \"type\": \"cpu1\", \"status\": \"pending\"}]}",
	  "", "", "p:max_workers", "", "" },
};

/* Appends "a:b" to a comma-separated list. */
static void append(char *buf, size_t len, const char *a, const char *b)
{
	size_t w = strlen(buf);
	snprintf(buf + w, len - w, "%s%s:%s", w ? "," : "", a, b);
}

static const char *cause_kind(const struct planner_input *in, const struct planner_infeasible *f)
{
	switch (f->cause) {
	case PLANNER_CAUSE_SHAPE:
		return in->shapes[f->index].kind == PLANNER_DEMAND_ACTOR ? "actor" : "task";
	case PLANNER_CAUSE_PLACEMENT_GROUP:
		return "placement_group";
	case PLANNER_CAUSE_REQUEST_RESOURCES:
		return "request_resources";
	default:
		return "?";
	}
}

/* Index within its own list (tasks and actors share input.shapes). */
static long kind_index(const struct planner_input *in, const struct planner_infeasible *f)
{
	if (f->cause != PLANNER_CAUSE_SHAPE)
		return (long)f->index;
	long k = 0;
	for (size_t i = 0; i < f->index; i++)
		if (in->shapes[i].kind == in->shapes[f->index].kind)
			k++;
	return k;
}

static void run_row(const struct row *r)
{
	struct scenario sc;
	struct rs_json_error err = { { 0 } };
	struct planner_output out = { 0 };
	char launch[512] = "", desired[512] = "", term[512] = "", kept[512] = "", infeas[512] = "";

	if (scenario_parse(r->scenario, strlen(r->scenario), &sc, &err)) {
		CHECK(0, "[%s] scenario does not parse: %s", r->name, err.msg);
		return;
	}
	int rc = planner_plan(&sc.in, &out);
	CHECK(rc == 0, "[%s] planner_plan = %d (%s)", r->name, rc, out.error);
	char num[32], key[128];
	for (size_t t = 0; t < out.launch_count; t++) {
		snprintf(num, sizeof(num), "%d", out.launches[t].count);
		if (out.launches[t].count)
			append(launch, sizeof(launch), out.launches[t].type, num);
		snprintf(num, sizeof(num), "%d", out.launches[t].desired);
		if (out.launches[t].desired)
			append(desired, sizeof(desired), out.launches[t].type, num);
	}
	for (size_t i = 0; i < out.termination_count; i++)
		append(term, sizeof(term), out.terminations[i].id,
		       planner_term_reason_name(out.terminations[i].reason));
	for (size_t i = 0; i < out.kept_count; i++)
		append(kept, sizeof(kept), sc.in.nodes[out.kept[i].node_index].id,
		       planner_keep_reason_name(out.kept[i].reason));
	for (size_t i = 0; i < out.infeasible_count; i++) {
		const struct planner_infeasible *f = &out.infeasible[i];
		snprintf(key, sizeof(key), "%s#%ld:%ld", cause_kind(&sc.in, f),
			 kind_index(&sc.in, f), f->count);
		append(infeas, sizeof(infeas), key, planner_infeasible_reason_name(f->reason));
	}
	CHECK(strcmp(launch, r->launch) == 0, "[%s] launch: got '%s', want '%s'", r->name, launch, r->launch);
	CHECK(strcmp(desired, r->desired) == 0, "[%s] desired: got '%s', want '%s'", r->name, desired, r->desired);
	CHECK(strcmp(term, r->term) == 0, "[%s] terminate: got '%s', want '%s'", r->name, term, r->term);
	CHECK(strcmp(kept, r->kept) == 0, "[%s] kept: got '%s', want '%s'", r->name, kept, r->kept);
	CHECK(strcmp(infeas, r->infeas) == 0, "[%s] infeasible: got '%s', want '%s'", r->name, infeas, r->infeas);

	/* Every launched node must be explained by at least one demand. */
	for (size_t i = 0; i < out.new_node_count; i++)
		CHECK(out.new_nodes[i].reason_count > 0, "[%s] new node %zu has no reason", r->name, i);

	/* Determinism: the same input gives the same plan. */
	struct planner_output again = { 0 };
	CHECK(planner_plan(&sc.in, &again) == 0, "[%s] second run", r->name);
	CHECK(again.termination_count == out.termination_count &&
	      again.new_node_count == out.new_node_count &&
	      again.infeasible_count == out.infeasible_count,
	      "[%s] second run differs", r->name);
	for (size_t t = 0; t < out.launch_count && t < again.launch_count; t++)
		CHECK(again.launches[t].count == out.launches[t].count, "[%s] nondeterministic", r->name);
	planner_output_free(&again);
	planner_output_free(&out);
	scenario_free(&sc);
}

/* The planner's own validation, independent of the scenario parser. */
static void test_invalid_input(void)
{
	struct planner_resource cpu = { "CPU", 1 };
	struct planner_node_type types[2] = {
		{ .name = "w", .resources = { &cpu, 1 }, .max_workers = 2, .idle_timeout_s = -1 },
		{ .name = "w", .resources = { &cpu, 1 }, .max_workers = 2, .idle_timeout_s = -1 },
	};
	struct planner_node node = { .id = "n", .type = "nope", .idle_s = -1,
				     .busy_workers = -1, .busy_age_s = -1 };
	struct planner_shape_demand neg = { .shape = { &cpu, 1 }, .count = -1 };
	struct planner_input in = { .node_types = types, .node_type_count = 1, .max_workers = -1,
				    .idle_timeout_s = 60 };
	struct planner_output out = { 0 };

	in.node_type_count = 2;
	CHECK(planner_plan(&in, &out) == -EINVAL && strstr(out.error, "twice"),
	      "duplicate type: %s", out.error);
	in.node_type_count = 1;
	in.nodes = &node;
	in.node_count = 1;
	CHECK(planner_plan(&in, &out) == -EINVAL && strstr(out.error, "unknown type"),
	      "unknown node type: %s", out.error);
	in.node_count = 0;
	in.shapes = &neg;
	in.shape_count = 1;
	CHECK(planner_plan(&in, &out) == -EINVAL && strstr(out.error, "count"),
	      "negative count: %s", out.error);
	in.shape_count = 0;
	types[0].min_workers = 3;
	CHECK(planner_plan(&in, &out) == -EINVAL && strstr(out.error, "min_workers"),
	      "min > max: %s", out.error);
	types[0].min_workers = 0;
	in.upscaling_speed = NAN;
	CHECK(planner_plan(&in, &out) == -EINVAL, "NaN upscaling_speed");
	in.upscaling_speed = 1;
	struct planner_resource bad = { "CPU", -1 };
	types[0].resources.items = &bad;
	CHECK(planner_plan(&in, &out) == -EINVAL && strstr(out.error, "negative"),
	      "negative resource: %s", out.error);
	planner_output_free(&out);
}

/* A running node the dashboard did not describe still counts toward max
 * (D3) and is never terminated; it is scheduled with its type's resources. */
static void test_unreported_running_node(void)
{
	struct planner_resource cpu = { "CPU", 1 };
	struct planner_node_type type = { .name = "w", .resources = { &cpu, 1 },
					  .max_workers = 2, .idle_timeout_s = -1 };
	struct planner_node node = { .id = "n", .type = "w", .status = PLANNER_NODE_RUNNING,
				     .idle_s = 1000, .busy_workers = -1, .busy_age_s = -1 };
	struct planner_shape_demand d = { .shape = { &cpu, 1 }, .count = 5 };
	struct planner_input in = { .node_types = &type, .node_type_count = 1, .max_workers = -1,
				    .upscaling_speed = 1000, .idle_timeout_s = 60,
				    .nodes = &node, .node_count = 1, .shapes = &d, .shape_count = 1 };
	struct planner_output out = { 0 };

	CHECK(planner_plan(&in, &out) == 0, "plan: %s", out.error);
	CHECK(out.launches[0].count == 1, "launch %d, want 1 (max 2, one unreported node)",
	      out.launches[0].count);
	CHECK(out.termination_count == 0, "unreported node terminated");
	CHECK(out.infeasible_count == 1 && out.infeasible[0].count == 3,
	      "3 tasks left: they fit the unreported node's type resources (1) + 1 new");
	planner_output_free(&out);
}

/* Large counts are handled without expanding them one by one. */
static void test_large_counts(void)
{
	const char *s = "{\"node_types\": {\"big\": {\"resources\": {\"CPU\": 100000}, \"max_workers\": 3}},"
			"\"upscaling_speed\": 1000,"
			"\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 1}, \"count\": 250000}]}}";
	struct scenario sc;
	struct rs_json_error err = { { 0 } };
	struct planner_output out = { 0 };

	CHECK(scenario_parse(s, strlen(s), &sc, &err) == 0, "parse: %s", err.msg);
	CHECK(planner_plan(&sc.in, &out) == 0, "plan: %s", out.error);
	/* 250000 one-CPU tasks: 100000 + 100000 + 50000 on three new nodes. */
	CHECK(out.launches[0].count == 3, "launch %d, want 3", out.launches[0].count);
	CHECK(out.infeasible_count == 0, "nothing infeasible");
	planner_output_free(&out);
	scenario_free(&sc);
}

static int total_desired(const struct planner_output *out)
{
	int n = 0;
	for (size_t t = 0; t < out->launch_count; t++)
		n += out->launches[t].desired;
	return n;
}

/* The work budget: a cut round is deterministic (a count of steps, not a
 * clock), launches only what was planned before the cut, terminates
 * nothing, says where it stopped, and a large budget changes nothing. */
static void test_work_budget(void)
{
	/* The idle cpu1 node cannot hold the two-CPU tasks: an uncut plan
	 * stops it. */
	const char *s = "{\"node_types\": {" HEAD_TYPE ", " CPU1(0, 10) ", "
			"\"cpu2\": {\"resources\": {\"CPU\": 2}, \"max_workers\": 1000}}, " FAST ","
			"\"idle_timeout_s\": 60, \"nodes\": [" HEAD_NODE ", " IDLE_CPU1("idle", 600) "],"
			"\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 2}, \"count\": 500}],"
			"\"placement_groups\": [{\"strategy\": \"STRICT_SPREAD\","
			"\"bundles\": [{\"GPU\": 1}]}]}}";
	struct scenario sc;
	struct rs_json_error err = { { 0 } };
	struct planner_output full = { 0 }, cut = { 0 }, again = { 0 };

	CHECK(scenario_parse(s, strlen(s), &sc, &err) == 0, "parse: %s", err.msg);
	CHECK(planner_plan(&sc.in, &full) == 0 && !full.cut && full.termination_count == 1,
	      "uncut plan: %s", full.error);
	sc.in.work_budget = full.work / 2;
	CHECK(planner_plan(&sc.in, &cut) == 0 && cut.cut, "cut plan (budget %llu)",
	      sc.in.work_budget);
	CHECK(cut.cut_stage == PLANNER_STAGE_DEMAND, "cut in %s, want demand",
	      planner_stage_name(cut.cut_stage));
	CHECK(cut.termination_count == 0, "a cut plan terminated %zu node(s)",
	      cut.termination_count);
	CHECK(total_desired(&cut) > 0 && total_desired(&cut) < total_desired(&full),
	      "cut plan wants %d nodes, the full one %d", total_desired(&cut), total_desired(&full));
	CHECK(planner_plan(&sc.in, &again) == 0 && again.work == cut.work &&
	      total_desired(&again) == total_desired(&cut), "cut plans differ");
	for (size_t i = 0; i < cut.infeasible_count; i++)
		CHECK(cut.infeasible[i].cause != PLANNER_CAUSE_SHAPE,
		      "a cut demand stage reported demand infeasible");
	planner_output_free(&again);
	sc.in.work_budget = full.work * 2;
	CHECK(planner_plan(&sc.in, &again) == 0 && !again.cut &&
	      total_desired(&again) == total_desired(&full) && again.termination_count == 1,
	      "a larger budget changed the plan");
	planner_output_free(&full);
	planner_output_free(&cut);
	planner_output_free(&again);
	scenario_free(&sc);
}

/* PLANNER_MAX_NODES caps the new nodes of one plan in total, not only per
 * type (KubeRay's default maxReplicas is 2^31-1). */
static void test_total_node_cap(void)
{
	const char *s = "{\"node_types\": {"
			"\"a\": {\"resources\": {\"CPU\": 1}, \"min_workers\": 1000000, \"max_workers\": 1000000},"
			"\"b\": {\"resources\": {\"CPU\": 1}, \"min_workers\": 1000000, \"max_workers\": 1000000}},"
			"\"demand\": {\"tasks\": [{\"shape\": {\"CPU\": 2}, \"count\": 1}]}}";
	struct scenario sc;
	struct rs_json_error err = { { 0 } };
	struct planner_output out = { 0 };

	CHECK(scenario_parse(s, strlen(s), &sc, &err) == 0, "parse: %s", err.msg);
	CHECK(planner_plan(&sc.in, &out) == 0, "plan: %s", out.error);
	CHECK(total_desired(&out) == PLANNER_MAX_NODES, "%d nodes wanted, cap %d",
	      total_desired(&out), PLANNER_MAX_NODES);
	CHECK(out.launches[0].desired == PLANNER_MAX_NODES, "type a first");
	planner_output_free(&out);
	scenario_free(&sc);
}


/* ---- repeated picks: identical fresh nodes as a count, existing nodes by
 * class ----
 * Random clusters (seeded, so reproducible): a few node types, some of them
 * identical (their templates tie, so picks alternate and must not be
 * repeated), existing nodes (some reporting usage at a few levels, so they
 * form classes of identical state; some idle past the timeout), many task
 * entries drawn from a small pool of shapes, placement groups.  The plan with repeated picks must equal, node by
 * node and reason by reason, the plan that tries every template for every
 * new node (exact_picks). */

static unsigned long long rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng_state >> 33) % n;
}

#define RP_TYPES 6
#define RP_SHAPES 8
#define RP_ENTRIES 400
#define RP_NODES 48
#define RP_PGS 4
#define RP_BUNDLES 12

struct rp_case {
	struct planner_node_type types[RP_TYPES];
	struct planner_resource type_res[RP_TYPES][3];
	struct planner_resource shape_res[RP_SHAPES][3];
	struct planner_resources shape_maps[RP_SHAPES];
	struct planner_shape_demand tasks[RP_ENTRIES];
	struct planner_node nodes[RP_NODES];
	struct planner_resource node_total[RP_NODES][3], node_avail[RP_NODES][3];
	char ids[RP_NODES][8];
	struct planner_pg_demand pgs[RP_PGS];
	struct planner_resources bundles[RP_PGS][RP_BUNDLES];
	struct planner_input in;
};

static const char *const rp_names[RP_TYPES] = { "head", "a", "b", "c", "d", "e" };

static void rp_fill(struct rp_case *c)
{
	static const char *const res[3] = { "CPU", "GPU", "mem" };
	memset(c, 0, sizeof(*c));
	for (int t = 0; t < RP_TYPES; t++) {
		/* Types d and e copy a and b: equal templates, tied scores. */
		int src = t >= 4 && rnd(2) ? t - 3 : t;
		for (int r = 0; r < 3; r++)
			c->type_res[t][r] = src == t ?
				(struct planner_resource){ res[r], t ? (double)(1u << rnd(5)) *
							   (r == 1 ? rnd(2) : 1) : 0 } :
				c->type_res[src][r];
		c->types[t] = (struct planner_node_type){ .name = rp_names[t],
			.resources = { c->type_res[t], 3 }, .idle_timeout_s = -1,
			.max_workers = t ? (int)(1 + rnd(3) * 200) : 0, .is_head = t == 0 };
	}
	for (int k = 0; k < RP_SHAPES; k++) {
		for (int r = 0; r < 3; r++)
			c->shape_res[k][r] = (struct planner_resource){ res[r],
				r == 1 ? (rnd(4) ? 0 : 1) : (double)(1 + rnd(6)) / (r ? 1 : 2) };
		c->shape_maps[k] = (struct planner_resources){ c->shape_res[k], 3 };
	}
	for (int i = 0; i < RP_ENTRIES; i++)
		c->tasks[i] = (struct planner_shape_demand){ .shape = c->shape_maps[rnd(RP_SHAPES)],
			.count = rnd(4) ? 1 : 1 + rnd(60) };
	for (int i = 0; i < RP_NODES; i++) {
		int t = 1 + (int)rnd(RP_TYPES - 1);
		snprintf(c->ids[i], sizeof(c->ids[i]), "n%d", i);
		c->nodes[i] = (struct planner_node){ .id = c->ids[i], .type = rp_names[t],
			.status = rnd(4) ? PLANNER_NODE_RUNNING : PLANNER_NODE_PENDING,
			.idle_s = -1, .busy_workers = -1, .busy_age_s = -1 };
		/* Some running nodes report usage from a few levels (used up,
		 * half, idle), so existing nodes fall into classes of identical
		 * state, with members spread over the context. */
		if (c->nodes[i].status == PLANNER_NODE_RUNNING && rnd(2)) {
			double level = (double)rnd(3) / 2;
			for (int r = 0; r < 3; r++) {
				c->node_total[i][r] = c->type_res[t][r];
				c->node_avail[i][r] = (struct planner_resource){ res[r],
					c->type_res[t][r].value * level };
			}
			c->nodes[i].have_resources = true;
			c->nodes[i].total = (struct planner_resources){ c->node_total[i], 3 };
			c->nodes[i].available = (struct planner_resources){ c->node_avail[i], 3 };
			c->nodes[i].idle_s = level == 1 ? 30.0 * rnd(4) : 0;
		}
	}
	for (int g = 0; g < RP_PGS; g++) {
		size_t nb = 1 + rnd(RP_BUNDLES);
		for (size_t b = 0; b < nb; b++)
			c->bundles[g][b] = c->shape_maps[rnd(RP_SHAPES)];
		c->pgs[g] = (struct planner_pg_demand){ .strategy = (enum planner_pg_strategy)rnd(4),
			.bundles = c->bundles[g], .bundle_count = nb, .count = 1 + rnd(5) };
	}
	c->in = (struct planner_input){ .node_types = c->types, .node_type_count = RP_TYPES,
		.max_workers = rnd(3) ? -1 : (int)(100 + rnd(400)), .upscaling_speed = 1.0,
		.idle_timeout_s = 60, .nodes = c->nodes, .node_count = RP_NODES,
		.shapes = c->tasks, .shape_count = RP_ENTRIES, .pgs = c->pgs,
		.pg_count = rnd(2) ? RP_PGS : 0, .work_budget = 1ULL << 40 };
}

static bool same_plan(const struct planner_output *a, const struct planner_output *b)
{
	if (a->new_node_count != b->new_node_count || a->reason_count != b->reason_count ||
	    a->infeasible_count != b->infeasible_count || a->cut || b->cut)
		return false;
	for (size_t i = 0; i < a->launch_count; i++)
		if (a->launches[i].count != b->launches[i].count ||
		    a->launches[i].desired != b->launches[i].desired)
			return false;
	/* Field by field: struct padding is not part of the plan. */
	for (size_t i = 0; i < a->new_node_count; i++) {
		const struct planner_new_node *x = &a->new_nodes[i], *y = &b->new_nodes[i];
		if (x->type_index != y->type_index || x->deferred != y->deferred ||
		    x->reason_start != y->reason_start || x->reason_count != y->reason_count)
			return false;
	}
	for (size_t i = 0; i < a->reason_count; i++) {
		const struct planner_reason *x = &a->reasons[i], *y = &b->reasons[i];
		if (x->cause != y->cause || x->index != y->index || x->count != y->count)
			return false;
	}
	for (size_t i = 0; i < a->infeasible_count; i++) {
		const struct planner_infeasible *x = &a->infeasible[i], *y = &b->infeasible[i];
		if (x->cause != y->cause || x->index != y->index || x->count != y->count ||
		    x->reason != y->reason)
			return false;
	}
	return true;
}

static void test_repeated_picks(void)
{
	struct rp_case *c = malloc(sizeof(*c));
	unsigned long long work_exact = 0, work_rep = 0;
	size_t nodes = 0;

	CHECK(c != NULL, "out of memory");
	if (!c)
		return;
	for (unsigned seed = 1; seed <= 200; seed++) {
		struct planner_output rep = { 0 }, exact = { 0 };
		rng_state = seed;
		rp_fill(c);
		CHECK(planner_plan(&c->in, &rep) == 0, "seed %u: %s", seed, rep.error);
		c->in.exact_picks = true;
		CHECK(planner_plan(&c->in, &exact) == 0, "seed %u: %s", seed, exact.error);
		CHECK(same_plan(&rep, &exact), "seed %u: repeated picks changed the plan "
		      "(%zu vs %zu new nodes)", seed, rep.new_node_count, exact.new_node_count);
		work_rep += rep.work;
		work_exact += exact.work;
		nodes += rep.new_node_count;
		planner_output_free(&rep);
		planner_output_free(&exact);
	}
	/* The repeats did happen: they are what makes the work smaller. */
	CHECK(nodes > 1000 && work_rep < work_exact, "%zu new nodes, work %llu with repeats, "
	      "%llu without", nodes, work_rep, work_exact);
	free(c);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);
	test_invalid_input();
	test_unreported_running_node();
	test_large_counts();
	test_work_budget();
	test_total_node_cap();
	test_repeated_picks();
	if (check_failures) {
		fprintf(stderr, "test_planner: %d check(s) failed\n", check_failures);
		return 1;
	}
	printf("test_planner: %zu table rows and 6 API tests passed\n", sizeof(rows) / sizeof(rows[0]));
	return 0;
}
