/* actuator.h -- a plan becomes provider calls.  It launches what the plan
 * asks for, capped so that max_workers holds at every instant (stopping
 * nodes still count); it stops the nodes the plan terminates unless a safety
 * rule vetoes it (stale usage, the group's cool-down after a launch, a fresh
 * re-check through the cluster source finding work on the node); it gives
 * up on launches that never became ALIVE; it holds a group's launches for a
 * back-off that doubles with each launch of it that exited before becoming
 * ALIVE (so a node that cannot start is not relaunched every tick); and it records each decision and
 * counts it: one launch decision per worker group per tick, with the
 * number of nodes and (not in --dry-run) their ids, so that a backlog of
 * 20,000 tasks is one decision, not 20,000.  --dry-run records the same decisions without calling the
 * provider.  Loop thread only. */
#ifndef RAYSENSE_CONTROLLER_ACTUATOR_H
#define RAYSENSE_CONTROLLER_ACTUATOR_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/config.h"
#include "controller/act/decisions.h"
#include "controller/metrics.h"
#include "controller/plan/plan_input.h"
#include "controller/plan/planner.h"
#include "controller/provider/provider.h"
#include "controller/source/source.h"

/* Optional: who wants to know (the fusion rules, fusion/fusion.h).  Any
 * member may be NULL. */
/* Node ids a launch decision lists (its "count" has them all). */
#define LAUNCH_IDS_MAX 32

struct actuator_observer {
	void *ctx;
	/* The launch timeout of a group this tick (else the configured one). */
	double (*launch_timeout)(void *ctx, size_t group, double configured);
	void (*launched)(void *ctx, size_t group, double now);
	void (*alive)(void *ctx, size_t group, double startup_s);
	void (*stopped_idle)(void *ctx, size_t group, double now);
	void (*gave_up)(void *ctx, size_t group, const char *node, double waited_s, double now);
};

struct actuator_deps {
	struct provider *provider;
	struct cluster_source *source;		/* for the re-check before a stop */
	const struct controller_config *config;
	struct decision_log *log;
	struct controller_metrics *metrics;
	double cooldown_s;			/* no stop in a group within this of its launch */
	double launch_timeout_s;		/* launched, not ALIVE after this: give up */
	bool dry_run;
	struct actuator_observer obs;
};

/* Launches of one group that exited before Ray listed them ALIVE. */
struct launch_failures {
	int streak;				/* in a row, since one became ALIVE */
	double hold_until;			/* no launch of the group before this */
};

/* The first back-off after a failed launch (Ray's autoscaler updates every
 * 5 s, so it would not relaunch sooner), doubling up to the max. */
#define LAUNCH_BACKOFF_FIRST_S 5.0
#define LAUNCH_BACKOFF_MAX_S 300.0

struct actuator {
	struct actuator_deps d;
	double *last_launch_at;			/* [group], the plan's clock */
	struct launch_failures *failures;	/* [group] */
	char dry_sig[1024];			/* --dry-run: the last plan recorded */
	/* Provider ids seen ALIVE last tick (sorted), to notice the first time. */
	char (*alive)[PROVIDER_ID_MAX];
	size_t alive_n, alive_cap;
};

int actuator_init(struct actuator *a, const struct actuator_deps *deps);
void actuator_fini(struct actuator *a);
/* A new group set: each group's last launch follows its name (a new group
 * has none).  0 or -ENOMEM (then nothing changed). */
int actuator_set_config(struct actuator *a, const struct controller_config *cfg);

/* Before planning: tell the provider which of its nodes Ray lists ALIVE
 * (and the observer when one is ALIVE for the first time), and stop the
 * launches that stayed pending past their group's launch timeout. */
void actuator_reconcile(struct actuator *a, const struct dash_snapshot *s, double now);
/* After each provider refresh (every tick, whatever the dashboard said):
 * a `launch_failed` decision for each launch the provider reports ended on
 * its own before it was ALIVE, and a back-off of its group's launches. */
void actuator_failed_launches(struct actuator *a, double now);
/* Launch and terminate as the plan says (once per distinct plan in
 * --dry-run). */
void actuator_apply(struct actuator *a, const struct plan_input *p,
		    const struct planner_output *out);

/* Stop launch id of group g, given up before it became ALIVE after
 * waited_s: why is TR_LAUNCH_TIMEOUT (reconcile does it) or TR_UNSCHEDULABLE
 * (fusion's unschedulable rule; detail = the scheduler's message).  A
 * `terminate` decision with that reason, counted under it.  The observer's
 * gave_up is not called here: it is the launch timeout's (reconcile). */
void actuator_give_up(struct actuator *a, const char *id, size_t g, double waited_s,
		      enum term_reason why, const char *detail, double now);

/* The launch timeout of group g this tick (the observer's, or configured). */
double actuator_launch_timeout(const struct actuator *a, size_t g);

#endif
