/* notes.h -- what the controller says once per change rather than every
 * tick: which source the demand comes from, why the autoscaler-v2 data is
 * missing, which placement groups are held, and the demand no worker group
 * can hold (recorded as an "infeasible" decision; its size is a gauge).
 * Loop thread only. */
#ifndef RAYSENSE_CONTROLLER_NOTES_H
#define RAYSENSE_CONTROLLER_NOTES_H

#include "controller/act/decisions.h"
#include "controller/source/demand.h"
#include "controller/metrics.h"
#include "controller/plan/plan_input.h"
#include "controller/plan/planner.h"

struct loop_notes {
	int demand_source;		/* enum dash_cs_source last said; -1 = none yet */
	char v2_error[DASH_ERR_LEN];	/* last said */
	char held_sig[1024];		/* ids of the held groups last said */
	char infeasible_sig[1024];	/* the infeasible demand last recorded */
	bool cut;			/* the last plan was cut (said once per run of cuts) */
	bool truncated;			/* the report was truncated (said once per change) */
	int gcs;			/* GCS demand: -1 not said yet, 0 read, 1 failing */
};

void notes_init(struct loop_notes *n);
void notes_source(struct loop_notes *n, const struct dash_snapshot *s);
/* The planner's work budget cut this round: counted, logged once per run. */
void notes_cut(struct loop_notes *n, const struct planner_output *out,
	       struct controller_metrics *m);
void notes_infeasible(struct loop_notes *n, const struct plan_input *p,
		      const struct planner_output *out, struct decision_log *log,
		      struct controller_metrics *m);

#endif
