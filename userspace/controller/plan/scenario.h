/* scenario.h -- the public scenario format of `raysensectl plan`: JSON in,
 * planner input out, and the plan rendered back as JSON.
 *
 * Input (every field below; anything else is an error, except keys that
 * start with "_", which are comments):
 *   {"node_types": {"<name>": {"resources": {"CPU": 1, "memory": 1073741824},
 *                              "min_workers": 0, "max_workers": 10,
 *                              "idle_timeout_s": 60}},
 *    "head_node_type": "<name>", "max_workers": 100, "upscaling_speed": 1.0,
 *    "idle_timeout_s": 60, "max_concurrent_launches": 10,
 *    "nodes": [{"id": "n1", "type": "<name>", "status": "running|pending",
 *               "total": {}, "available": {}, "idle_s": 0,
 *               "busy_workers": 0, "busy_age_s": 12.5}],
 *    "demand": {"tasks":  [{"shape": {"CPU": 1}, "count": 4}],
 *               "actors": [{"shape": {"custom": 1}, "count": 1}],
 *               "placement_groups": [{"strategy": "STRICT_SPREAD",
 *                                     "bundles": [{"CPU": 1}, {"CPU": 1}], "count": 1}],
 *               "request_resources": [{"shape": {"CPU": 8}, "count": 1}]}}
 *
 * Required: node_types (non-empty), each type's resources and max_workers
 * (the head type's max_workers defaults to 0), each node's id and type, each
 * shape, each placement group's strategy and bundles.  Defaults: min_workers
 * 0, counts 1, status "running", max_workers (global) unlimited,
 * upscaling_speed 0 (Ray v2's DEFAULT_UPSCALING_SPEED: one node per type per
 * round), idle_timeout_s 60 (KubeRay's default), max_concurrent_launches 10.
 * A node's idle_s, busy_workers, busy_age_s, total and available may be
 * omitted: missing data never terminates the node (total and available come
 * together or not at all).  request_resources entries may also be bare
 * bundles ({"CPU": 8}), as ray.autoscaler.sdk.request_resources takes them.
 *
 * Output (plan_json_render, plan_json.h):
 *   {"launch": {"<type>": 2}, "terminate": [{"id": "n2", "reason": "idle", ...}],
 *    "infeasible": [{"shape": {}, "count": 1, ...}],
 *    "desired": {...}, "kept": [...], "explain": [...]}
 */
#ifndef RAYSENSE_SCENARIO_H
#define RAYSENSE_SCENARIO_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "common/json_util.h"
#include "controller/plan/planner.h"
#include "controller/plan/res_intern.h"

/* Documents larger than this are refused before parsing. */
#define SCENARIO_MAX_BYTES (32u << 20)

/* A parsed scenario.  `in` borrows from the arrays, the interned names and
 * resource maps, and the skeleton document owned here (node type names);
 * the nodes and demand lists are read entry by entry (scenario_stream.h)
 * and borrow nothing from JSON.  Everything is freed by scenario_free(). */
struct scenario {
	struct planner_input in;
	cJSON *doc;		/* the document without its demand lists */
	/* backing storage (owned) */
	struct planner_node_type *types;
	struct planner_node *nodes;	/* ids owned, types interned */
	size_t node_cap;
	struct planner_shape_demand *shapes;	/* tasks, then actors */
	size_t shape_cap;
	struct planner_shape_demand *actors;	/* while reading */
	size_t actor_count, actor_cap;
	struct planner_pg_demand *pgs;
	struct planner_shape_demand *requests;
	size_t request_cap;
	struct planner_resources **bundle_arrays;	/* per placement group */
	size_t bundle_array_count;
	struct res_intern maps;		/* every resource map, one copy per distinct map */
};

/* Parse `len` bytes.  Returns 0, -EINVAL (err->msg names the JSON path,
 * e.g. "$.nodes[2].type: unknown node type 'gpu'"), -EFBIG or -ENOMEM. */
int scenario_parse(const char *buf, size_t len, struct scenario *out,
		   struct rs_json_error *err);

void scenario_free(struct scenario *s);

#endif
