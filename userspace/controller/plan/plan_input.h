/* plan_input.h -- the planner's input built from what the controller knows:
 * the dashboard snapshot (nodes, usage, demand), the provider's nodes, the
 * idle runs (idle_tracker.h) and the agents' busy hints.  Pure: no I/O, no
 * clock (now comes in), no side effects; the same sources give the same
 * input.  tests/unit/test_plan_input.c drives it with tables.
 *
 * Node types: [0] the head, [1] "unmanaged" (ALIVE Ray nodes that no
 * provider launched: never launched, never terminated), then one per
 * worker group in config order. */
#ifndef RAYSENSE_CONTROLLER_PLAN_INPUT_H
#define RAYSENSE_CONTROLLER_PLAN_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/config.h"
#include "controller/source/demand.h"
#include "controller/plan/idle_tracker.h"
#include "controller/plan/planner.h"
#include "controller/provider/provider.h"

#define PLAN_HEAD_TYPE "head"
#define PLAN_UNMANAGED_TYPE "unmanaged"
#define PLAN_FIRST_GROUP_TYPE 2

/* A worker-group node's new use is credited back (the node counts as empty)
 * until the demand in hand was read at least this long after the first
 * report that showed the use (plan_sources.new_use_margin_s).
 *
 * Why: Ray's demand lags its per-node usage.  The usage report can show a
 * task's CPU in use on a node that just took it while the same report (or
 * the autoscaler-v2 status text) still lists the task as pending demand:
 * each raylet reports its own load and usage to the GCS on its own, and a
 * lease granted while the worker process starts is already in "used"
 * (Ray 2.41.0 and 2.49.2 in the matrix, docs/ray-versions.md).  Counted
 * twice, the task made the planner launch one node too many.
 *
 * Why 2 s: the double count was seen in a report 1 s old, 0.2 s before an
 * extra launch that came 2 s after the first node's launch (a worker that
 * registered and took its task within 1-2 s); twice the 1 s seen.  The v1
 * monitor writes a report every 5 s, so there any margin up to 5 s means
 * "the next report"; the v2 status text is read live each tick, so there
 * it is 2 s.  The cost is that a launch the demand really needs waits that
 * long (one report, or two ticks); the credit never causes a termination:
 * it changes no idle time and holds scale-down while it lasts and there is
 * demand. */
#define PLAN_NEW_USE_MARGIN_S 2.0

enum node_ref_kind { REF_HEAD, REF_UNMANAGED, REF_PROVIDER };

/* What each planner node stands for.  Provider ids are copied: the
 * provider's array may move (a launch grows it) while the plan is acted on. */
struct node_ref {
	enum node_ref_kind kind;
	char provider_id[PROVIDER_ID_MAX];	/* "" unless REF_PROVIDER */
	double launched_at;
	double started_at;			/* provider_node.started_at */
	double unschedulable_since;		/* provider_node's, and its message */
	char unschedulable[PROVIDER_WHY_MAX];
	const struct dash_node *dn;		/* the Ray node, NULL while pending */
};

/* The agents' busy hint for a Ray node: false (and -1s) when none is fresh. */
typedef bool (*busy_hint_fn)(void *ctx, const char *ray_node_id, int *busy_workers,
			     double *busy_age_s);

struct plan_sources {
	const struct controller_config *config;
	const struct dash_snapshot *snap;
	const struct provider_node *pnodes;
	size_t pnode_count;
	const struct idle_tracker *idle;
	busy_hint_fn busy_hint;			/* NULL = no agents */
	void *hint_ctx;
	bool usage_fresh;			/* per-node usage recent enough to trust */
	/* Why no node may be stopped this tick though usage is fresh (the
	 * detail that would show demand for it is missing), or NULL. */
	const char *scale_down_hold;
	double launch_timeout_s;
	/* Per worker group, overriding launch_timeout_s (fusion's stuck rule);
	 * NULL = launch_timeout_s for all. */
	const double *group_launch_timeout_s;
	/* > 0: credit a worker-group node's new use back for this long after
	 * the report that first showed it (PLAN_NEW_USE_MARGIN_S; needs
	 * `idle`); 0: use the usage as reported, as Ray's autoscaler does
	 * (--signals off: Ray's plans). */
	double new_use_margin_s;
	double now;
};

struct plan_input {
	struct planner_input in;
	struct node_ref *refs;			/* [in.node_count] */
	bool usage_fresh;
	const char *scale_down_hold;		/* from plan_sources, or hold_why */
	/* Nodes whose new use was credited back this tick; while there are
	 * any and there is demand, scale-down is held (hold_why says which):
	 * the demand is older than the usage, so it cannot say which nodes
	 * are needed. */
	size_t credited;
	char hold_why[DASH_ERR_LEN];
	double now;
	/* storage behind `in` */
	struct planner_node_type *types;
	struct planner_node *nodes;
	struct planner_shape_demand *shapes;
	struct planner_pg_demand *pgs;
	struct planner_resources *bundles;
	struct planner_shape_demand *requests;
};

/* 0 or -ENOMEM.  The input borrows from src->snap and src->config: keep them
 * alive while it is used; release with plan_input_free() in any case. */
int plan_input_build(const struct plan_sources *src, struct plan_input *out);
void plan_input_free(struct plan_input *p);

/* Index of the worker group named type in cfg, or -1. */
int plan_group_index(const struct controller_config *cfg, const char *type);
/* The ALIVE Ray node that provider node id became, or NULL. */
const struct dash_node *plan_ray_node_of(const struct dash_snapshot *s, const char *id);
/* A launched node that never became ALIVE within the launch timeout: the
 * plan leaves it out and the actuator gives up on it. */
bool plan_launch_expired(const struct provider_node *pn, const struct dash_node *dn,
			 double now, double launch_timeout_s);

#endif
