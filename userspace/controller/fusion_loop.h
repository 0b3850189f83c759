/* fusion_loop.h -- the fusion rules (fusion/fusion.h) wired into the control
 * loop: the actuator's observer (launches, first ALIVE, idle stops, given-up
 * launches feed the startup model and the stuck rule), the agents' startup
 * timelines (one sample per Ray node of a group, source agent), the agents' lease
 * reports per plan node for the keep rules, and the decisions fusion causes
 * (`keep` with reason recent_lease or reject_burst, once per node and idle
 * run; `fallback` for a stuck group, reason timeout or unschedulable).
 * Loop thread only. */
#ifndef RAYSENSE_CONTROLLER_FUSION_LOOP_H
#define RAYSENSE_CONTROLLER_FUSION_LOOP_H

#include "controller/act/actuator.h"
#include "controller/act/decisions.h"
#include "controller/config.h"
#include "controller/fusion/fusion.h"
#include "controller/metrics.h"
#include "controller/source/signals.h"

struct fusion_loop_deps {
	const struct controller_config *cfg;
	const struct fusion_config *fusion;
	struct signals *signals;
	struct decision_log *log;
	struct controller_metrics *metrics;
	double signal_max_age_s;
};

/* A Ray node whose agent startup sample was taken (ids as the agent sends
 * them: shorter than 64 bytes). */
struct counted_node {
	char id[64];
};

struct fusion_loop {
	struct fusion fusion;
	struct counted_node *counted;	/* sorted; only nodes in the last plan */
	size_t ncounted;
	struct fusion_notes notes;	/* this tick's */
	struct fusion_giveups giveups;	/* this tick's unplaceable launches */
	char kept_sig[2048];		/* nodes kept last tick (said once) */
	int agents_fresh;		/* -1 unknown, 0 none, 1 some (said once) */
	const struct controller_config *cfg;
	struct signals *signals;
	struct decision_log *log;
	struct controller_metrics *metrics;
	double signal_max_age_s;
};

int fusion_loop_init(struct fusion_loop *fl, const struct fusion_loop_deps *deps);
void fusion_loop_fini(struct fusion_loop *fl);
/* A new group set (group_set.h): each group's startup model and back-off
 * follow its name.  0 or -ENOMEM (then nothing changed). */
int fusion_loop_set_config(struct fusion_loop *fl, const struct controller_config *cfg);
struct actuator_observer fusion_loop_observer(struct fusion_loop *fl);
/* Around the planner: learn the agents' startup samples of the plan's Ray
 * nodes (each node once) and adjust the input; filter its plan and record
 * what fusion did. */
void fusion_loop_before(struct fusion_loop *fl, struct plan_input *p);
/* After planning: the unschedulable rule (fusion.h fusion_unschedulable);
 * may replace p's nodes and *out.  Then fusion_loop_stop_unplaceable stops
 * the launches it gave up, before the plan is acted on. */
void fusion_loop_unschedulable(struct fusion_loop *fl, struct plan_input *p,
			       struct planner_output *out);
void fusion_loop_stop_unplaceable(struct fusion_loop *fl, struct actuator *a, double now);
void fusion_loop_after(struct fusion_loop *fl, const struct plan_input *p,
		       struct planner_output *out);

#endif
