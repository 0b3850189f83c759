/* metrics.h -- the controller's counters and gauges (errors per source,
 * launches and terminations per group, decisions per action, infeasible
 * demand, control-loop duration, startup per group, platform and source; the operator
 * gauges of the last round: workers desired/current/pending per group,
 * pending demand per kind, why scale-down is held, leader) and their
 * Prometheus text for GET /metrics.  Every label set is bounded (groups
 * come from the config, the rest are fixed names).
 * Thread-safe: the loop counts, HTTP threads render. */
#ifndef RAYSENSE_CONTROLLER_METRICS_H
#define RAYSENSE_CONTROLLER_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/config.h"
#include "controller/source/dashboard.h"

/* errors_total{source}: the dashboard's calls, then these. */
enum metrics_error {
	METRICS_ERR_PROVIDER = DASH_SRC_COUNT,
	METRICS_ERR_PLANNER,
	METRICS_ERR_COUNT,
};

/* terminations_total{reason} */
enum term_reason {
	TR_IDLE, TR_MAX_PER_TYPE, TR_MAX_GLOBAL, TR_LAUNCH_TIMEOUT, TR_UNSCHEDULABLE, TR_COUNT
};

/* holding{reason}: why the controller holds (no scale-down). */
enum hold_reason {
	HOLD_DASHBOARD_UNREACHABLE,	/* a fetch failed: launches only, from the last answer */
	HOLD_USAGE_STALE,		/* the per-node usage report is too old */
	HOLD_PENDING_LIST,		/* scale_down_hold: task list incomplete, or a new use */
	HOLD_OTHER_AUTOSCALER,		/* the RayCluster runs KubeRay's in-tree autoscaler */
	HOLD_COUNT,
};

struct controller_metrics;
struct decision_log;
struct plan_input;
struct planner_output;
struct signals;

/* The group names are read from cfg, which must outlive the metrics. */
struct controller_metrics *metrics_new(const struct controller_config *cfg);
void metrics_free(struct controller_metrics *m);
/* A new group set (the old cfg may be freed once this returns): each
 * group's counters follow its name; a new group starts at 0.  0 or -ENOMEM
 * (then nothing changed). */
int metrics_set_config(struct controller_metrics *m, const struct controller_config *cfg);
/* raysense_controller_other_autoscaler: 1 while another autoscaler owns
 * the cluster and the controller does not act. */
void metrics_other_autoscaler(struct controller_metrics *m, bool on);

void metrics_error(struct controller_metrics *m, int which);
void metrics_launch(struct controller_metrics *m, size_t group);
void metrics_termination(struct controller_metrics *m, size_t group, enum term_reason r);
void metrics_infeasible(struct controller_metrics *m, double units);
void metrics_loop(struct controller_metrics *m, double seconds);
/* The planner ran out of its work budget this round (the plan was cut). */
void metrics_plan_cut(struct controller_metrics *m);
/* The loop publishes a group's startup model (fusion/startup_model.h)
 * whenever it learns a sample: /metrics renders this copy, the only one
 * outside the loop thread. */
struct startup_group;
void metrics_startup_publish(struct controller_metrics *m, size_t group,
			     const struct startup_group *model);
/* The gauges of one planned round: workers per group (desired = current
 * + pending + planned launches - planned terminations; current = ALIVE;
 * pending = launched, not ALIVE), pending demand per kind, and the hold
 * reasons (unreachable: the round planned from the last good answer). */
void metrics_round(struct controller_metrics *m, const struct plan_input *p,
		   const struct planner_output *out, bool unreachable);
/* A fetch failed: holding{reason="dashboard_unreachable"} until the next round. */
void metrics_unreachable(struct controller_metrics *m);
/* 1 while this replica runs the control loop (0 = standby or stopped). */
void metrics_leader(struct controller_metrics *m, bool leading);
/* Replace the provider's own Prometheus text (takes ownership; NULL keeps
 * the previous one). */
void metrics_provider_text(struct controller_metrics *m, char *text);

/* The whole /metrics text (malloc'd), with the decision counts and the
 * agent count read from their owners.  NULL when out of memory. */
char *metrics_render(struct controller_metrics *m, struct decision_log *log,
		     struct signals *sig);

#endif
