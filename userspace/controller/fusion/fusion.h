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
};

struct fusion_note {
	enum fusion_note_kind kind;
	size_t group;			/* worker group index */
	char node[96];			/* the node, "" for a group-wide note */
	double value;			/* seconds (lease age, timeout) or the rate */
	double limit;			/* the bound it was compared with */
};

#define FUSION_MAX_NOTES 64

struct fusion_notes {
	struct fusion_note v[FUSION_MAX_NOTES];
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
/* Drops the idle terminations the keep rules veto. */
void fusion_filter_plan(struct fusion *f, const struct plan_input *p, struct planner_output *out,
			const struct fusion_signals *sig, struct fusion_notes *notes);

const char *fusion_note_kind_name(enum fusion_note_kind k);

#endif
