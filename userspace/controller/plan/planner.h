/* planner.h -- logical demand + cluster state -> scaling plan, with the
 * semantics of Ray's autoscaler v2 scheduler
 * (ray/autoscaler/v2/scheduler.py, ResourceDemandScheduler, Ray 2.60.0) and
 * the v2 reconciler's upscaling-speed limit
 * (ray/autoscaler/v2/instance_manager/reconciler.py, _compute_to_launch).
 *
 * The planner is a pure function: no I/O, no clocks, no global state.  Time
 * enters only as durations in the input (idle_s, busy_age_s).  The same input
 * always yields the same output.  Every deliberate deviation from Ray is
 * listed at the top of planner.c.
 *
 * Memory: the input only borrows caller memory (strings and arrays) and is
 * never modified.  The output holds malloc'd arrays that point back into the
 * input (type names, node ids, shapes): keep the input alive while you use
 * the output, and release it with planner_output_free().
 *
 * The controller fills struct planner_input from the Ray dashboard and the
 * provider; `raysensectl plan` fills it from the scenario JSON (scenario.h). */
#ifndef RAYSENSE_PLANNER_H
#define RAYSENSE_PLANNER_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/plan/planner_types.h"

/* Compute the plan.  Returns 0, -EINVAL (bad input; out->error says why and
 * nothing else in *out is set) or -ENOMEM.  *out must be zeroed or freed
 * with planner_output_free() before the call. */
int planner_plan(const struct planner_input *in, struct planner_output *out);

/* Two nodes with the same id, O(n log n): 1 with their indexes (first <
 * second in input order when ids tie), 0 when all ids differ, -ENOMEM. */
int planner_find_duplicate_id(const struct planner_node *nodes, size_t n, size_t *first,
			      size_t *second);

void planner_output_free(struct planner_output *out);

/* Stable lower-case names for logs and JSON. */
const char *planner_term_reason_name(enum planner_term_reason r);
const char *planner_keep_reason_name(enum planner_keep_reason r);
const char *planner_cause_name(enum planner_cause c);
const char *planner_infeasible_reason_name(enum planner_infeasible_reason r);
const char *planner_pg_strategy_name(enum planner_pg_strategy s);
const char *planner_stage_name(enum planner_stage s);
/* Parses "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"; 0 or -EINVAL. */
int planner_pg_strategy_parse(const char *s, enum planner_pg_strategy *out);


#endif
