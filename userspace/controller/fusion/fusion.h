/* fusion.h -- signal fusion: what the agents and the startup model tell
 * changes *when* and *which* nodes change, never *more* than the logical
 * demand justifies.  It sits around the pure planner: before it, it adjusts
 * the plan input; after it, it may only drop terminations.  With `enabled`
 * false every function here leaves its input as it is, so the plans are
 * exactly the planner's (Ray's semantics).
 *
 * The rules:
 *  - in flight until started: a pending node whose machine already runs
 *    (pod scheduled, process started) no longer counts against
 *    max_concurrent_launches, so bursts are not throttled by Ray's startup;
 *  - stuck-group fallback: a launch still not ALIVE after stuck_factor x its
 *    group's p95 startup (never later than the configured launch timeout) is
 *    given up and its group backed off for backoff_s: the group launches
 *    nothing more meanwhile, so its demand is planned onto the next feasible
 *    group, and the stuck node is stopped, so the total never exceeds what
 *    the demand needs;
 *  - unschedulable fallback, the early stuck signal: a pending launch the
 *    provider reports unplaceable (a pod Unschedulable) for at least
 *    unschedulable_grace_s is given up at once -- but only when another
 *    group takes its demand in the same plan: the plan is made again
 *    without that launch and with its group backed off, and adopted only if
 *    it launches more on some other group.  Otherwise the launch waits (a
 *    node autoscaler may be adding a node for it; the launch timeout still
 *    applies).  The stuck node is stopped in the tick its replacement is
 *    launched, so the total stays what the demand needs;
 *  - faster group on ties: once every group's startup is measured, groups
 *    are offered to the planner fastest first (planner_input.type_order),
 *    so where Ray's scorer rates two groups equal the faster one wins;
 *  - adaptive idle timeout: when demand came back to a group within
 *    returned_window_s of an idle stop there, its idle nodes are kept up to
 *    max(configured, min(idle_max_s, idle_beta x the group's p90 startup));
 *  - keep rules from the kernel: no idle stop of a node that served a lease
 *    within keep_after_lease_s, and none at all while the cluster's
 *    rejected + spilled-back lease replies run above reject_burst_per_s.
 * Pure: no I/O, no clock (now comes in). */
#ifndef RAYSENSE_CONTROLLER_FUSION_H
#define RAYSENSE_CONTROLLER_FUSION_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/fusion/startup_model.h"
#include "controller/plan/plan_input.h"
#include "controller/plan/planner.h"

struct fusion_config {
	bool enabled;			/* --signals on|off */
	double keep_after_lease_s;	/* default 30 */
	double reject_burst_per_s;	/* default 5 */
	double stuck_factor;		/* default 3 */
	size_t stuck_min_samples;	/* the model needs this many; default 5 */
	double backoff_s;		/* default 120 */
	/* An Unschedulable launch is a candidate for the fallback after this
	 * long (default 10, kube-scheduler's longest retry back-off); < 0 =
	 * Unschedulable is no signal. */
	double unschedulable_grace_s;
	double idle_beta;		/* default 2 */
	double idle_max_s;		/* 0 = no adaptive idle timeout (default 600) */
	double returned_window_s;	/* default 600 */
};

void fusion_config_defaults(struct fusion_config *c);

/* What the agents say this tick, aligned with the plan input's nodes. */
struct fusion_signals {
	const double *last_lease_at;	/* [node]: UNIX time of the last lease; 0 = none; NULL = no agent */
	double reject_rate;		/* cluster-wide per second; < 0 = unknown */
};

enum fusion_note_kind {
	FUSION_KEEP_LEASE,		/* an idle stop dropped: a recent lease */
	FUSION_KEEP_BURST,		/* an idle stop dropped: reject/spillback burst */
	FUSION_FALLBACK,		/* a stuck launch given up, its group backed off */
	FUSION_ADAPTIVE_IDLE,		/* a group's idle timeout raised */
	FUSION_FALLBACK_UNSCHEDULABLE,	/* an unplaceable launch given up, its demand moved */
};

struct fusion_note {
	enum fusion_note_kind kind;
	size_t group;			/* worker group index */
	char node[PROVIDER_ID_MAX];	/* the node, "" for a group-wide note */
	double value;			/* seconds (lease age, timeout) or the rate */
	double limit;			/* the bound it was compared with */
	/* FUSION_FALLBACK_UNSCHEDULABLE: how long unplaceable, the provider's
	 * reason, and the group that took the demand first. */
	double unschedulable_s;
	char detail[PROVIDER_WHY_MAX];
	size_t to_group;
};

#define FUSION_MAX_NOTES 64

struct fusion_notes {
	struct fusion_note v[FUSION_MAX_NOTES];
	size_t n;
};

/* The launches fusion gave up this tick for the unschedulable rule: the
 * caller stops them (actuator_give_up) before it acts on the plan. */
#define FUSION_MAX_GIVEUPS 8

struct fusion_giveups {
	struct {
		char node[PROVIDER_ID_MAX];
		size_t group;
		double waited_s;	/* since the launch */
		char detail[PROVIDER_WHY_MAX];
	} v[FUSION_MAX_GIVEUPS];
	size_t n;
};

struct fusion_group {
	struct startup_group startup;
	double backoff_until;
	double last_idle_stop_at;
	double returned_at;		/* demand came back within the window */
};

struct fusion {
	struct fusion_config cfg;
	struct fusion_group *g;		/* [group_count] */
	size_t group_count;
	size_t *order;			/* [PLAN_FIRST_GROUP_TYPE + group_count] */
	double *p50;			/* [group_count], order_by_speed's scratch */
};

int fusion_init(struct fusion *f, const struct fusion_config *cfg, size_t group_count);
void fusion_fini(struct fusion *f);
/* A new group set: group i takes the state of old group map[i] (-1: a new
 * group, no state).  0 or -ENOMEM (then nothing changed). */
int fusion_regroup(struct fusion *f, const int *map, size_t group_count);

/* ---- observations (the loop reports what happened) ---- */
void fusion_node_alive(struct fusion *f, size_t group, double startup_s);
/* An agent's startup timeline of a node of the group (startup_model.h). */
void fusion_agent_startup(struct fusion *f, size_t group, double startup_s);
void fusion_node_launched(struct fusion *f, size_t group, double now);
void fusion_node_stopped_idle(struct fusion *f, size_t group, double now);
/* A launch of the group was given up after waited_s: back the group off
 * (when enabled) and say so in notes. */
void fusion_launch_given_up(struct fusion *f, size_t group, const char *node, double waited_s,
			    double now, struct fusion_notes *notes);

/* The launch timeout of a group this tick (never above configured). */
double fusion_launch_timeout(const struct fusion *f, size_t group, double configured);
void fusion_startup_stats(const struct fusion *f, size_t group, struct startup_stats *out);

/* ---- around the planner ---- */
void fusion_adjust_input(struct fusion *f, struct plan_input *p, struct fusion_notes *notes);
/* After planner_plan(&p->in, out), the unschedulable rule (top of this
 * file): for each candidate, oldest first, at most FUSION_MAX_GIVEUPS a
 * tick, plan again without it and with its group backed off; when that
 * plan launches more on another group, adopt it (p loses the node, *out is
 * the new plan), back the group off and list the node in *gu.  One more
 * planner run per candidate, none without one.  0, or -ENOMEM with p and
 * *out as the last adopted plan left them (consistent). */
int fusion_unschedulable(struct fusion *f, struct plan_input *p, struct planner_output *out,
			 struct fusion_giveups *gu, struct fusion_notes *notes);
/* Drops the idle terminations the keep rules veto. */
void fusion_filter_plan(struct fusion *f, const struct plan_input *p, struct planner_output *out,
			const struct fusion_signals *sig, struct fusion_notes *notes);

const char *fusion_note_kind_name(enum fusion_note_kind k);

#endif
