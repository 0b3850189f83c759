/* plan_json.h -- the one JSON rendering of a plan and of the demand behind
 * it, shared by `raysensectl plan` (scenario.h input) and the controller
 * (/api/v1/status "last_plan", the "demand" of each decision, the status's
 * demand lists).
 *
 * A plan: {"launch": {TYPE: N}, "desired": {TYPE: N},
 *          "terminate": [{"id", "reason", "type", "idle_s", "timeout_s"}],
 *          "kept": [{"id", "reason"}],
 *          "infeasible": [DEMAND + "reason"] (past 1,000 entries, the rest is
 *          one entry per cause, kind and reason: {"cause", "kind", "count":
 *          UNITS, "entries": N, "reason"}),
 *          "explain": [{"action": "launch"|"defer", "type", "because": [DEMAND],
 *                       "text"} | {"action": "terminate", "id", "text"}],
 *          (past 1,000 planned nodes, the rest is one entry per action and
 *          type: {"action", "type", "count": NODES, "because": [{"cause",
 *          "count": UNITS}], "text"}, so the JSON stays bounded)
 *          "cut": true, "cut_stage": STAGE (only when the work budget cut
 *          the round, see planner_output.cut)}
 * A DEMAND: {"cause", "count", "kind", "shape", "index"}, plus "strategy"
 * and "bundles" for a placement group ("shape" is then the sum of one
 * copy's bundles; a group of more than 64 bundles has "bundle_count"
 * instead of "shape" and "bundles", so the JSON stays linear in the plan) and "type" for min_workers (no kind or shape). */
#ifndef RAYSENSE_CONTROLLER_PLAN_JSON_H
#define RAYSENSE_CONTROLLER_PLAN_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "controller/plan/planner.h"

/* The plan (caller frees with cJSON_Delete), or NULL when out of memory. */
cJSON *plan_json_render(const struct planner_input *in, const struct planner_output *plan);
/* One demand entry of `in` (see above), or NULL when out of memory. */
cJSON *plan_json_demand(const struct planner_input *in, enum planner_cause cause, size_t index,
			long count);

#endif
