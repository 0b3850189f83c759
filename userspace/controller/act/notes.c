/* notes.c -- once-per-change log lines and infeasible-demand decisions
 * (notes.h). */
#include "controller/act/notes.h"

#include "common/log.h"
#include "controller/plan/plan_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void notes_init(struct loop_notes *n)
{
	memset(n, 0, sizeof(*n));
	n->demand_source = -1;
	n->gcs = -1;
}

/* The GCS demand read (gcs_load.h): said when it starts working and when
 * it starts failing, not every tick (an error text may carry timings). */
static void note_gcs(struct loop_notes *n, const struct dash_snapshot *s)
{
	int state;

	if (s->cs.source != DASH_CS_STRUCTURED)
		return;
	state = s->cs.demand_from_gcs ? 0 : s->gcs_error[0] ? 1 : -1;
	if (state < 0 || state == n->gcs)
		return;
	if (state == 0)
		rs_info("demand read live from the GCS (complete per shape; the monitor's report "
			"gives usage, placement groups and request_resources)");
	else
		rs_warn("reading the demand from the GCS failed, using the monitor's report "
			"(up to 5 s old, and truncated at scale): %s", s->gcs_error);
	n->gcs = state;
}

static const char *source_detail(enum dash_cs_source s)
{
	switch (s) {
	case DASH_CS_STRUCTURED:
		return "the v1 monitor's structured report";
	case DASH_CS_V2_TEXT:
		return "autoscaler v2: clusterStatus null, reading the status text, placement "
		       "groups and node summary";
	default:
		return "no cluster status: state-API tasks only, no placement groups, "
		       "no scale-down";
	}
}

static void note_held(struct loop_notes *n, const struct dash_cluster_status *cs)
{
	char sig[sizeof(n->held_sig)] = "";
	size_t len = 0;

	for (size_t i = 0; i < cs->held_count && len < sizeof(sig) - 1; i++)
		len += (size_t)snprintf(sig + len, sizeof(sig) - len, "%s,", cs->held[i].id);
	if (!strcmp(sig, n->held_sig))
		return;
	for (size_t i = 0; i < cs->held_count; i++)
		rs_warn("holding placement group %s (%zu bundles): no launch for it: %s",
			cs->held[i].id, cs->held[i].bundle_count, cs->held_why);
	snprintf(n->held_sig, sizeof(n->held_sig), "%s", sig);
}

void notes_source(struct loop_notes *n, const struct dash_snapshot *s)
{
	if (n->demand_source != (int)s->cs.source) {
		rs_info("demand source: %s (%s)", dash_cs_source_name(s->cs.source),
			source_detail(s->cs.source));
		n->demand_source = (int)s->cs.source;
	}
	if (s->cs.demand_truncated != n->truncated) {
		if (s->cs.demand_truncated)
			rs_warn("the monitor's report is truncated (its demand vector passed Ray's "
				"AUTOSCALER_MAX_RESOURCE_DEMAND_VECTOR_SIZE): shapes it leaves out are "
				"taken from the task list, read as often as its cost allows (seconds "
				"to tens of seconds).  Fix: let the controller read the GCS "
				"(--gcs-address; the log says why it failed), or start the head with "
				"AUTOSCALER_MAX_RESOURCE_DEMAND_VECTOR_SIZE=10000000 in its environment "
				"and pass --demand-vector-max 10000000 here, or start it with "
				"RAY_enable_autoscaler_v2=1 (docs/demand-at-scale.md)");
		else
			rs_info("the monitor's report lists all pending shapes again");
		n->truncated = s->cs.demand_truncated;
	}
	if (strcmp(n->v2_error, s->v2_error)) {
		if (s->v2_error[0])
			rs_warn("autoscaler-v2 data missing or partial: %s", s->v2_error);
		snprintf(n->v2_error, sizeof(n->v2_error), "%s", s->v2_error);
	}
	note_gcs(n, s);
	note_held(n, &s->cs);
}

void notes_cut(struct loop_notes *n, const struct planner_output *out,
	       struct controller_metrics *m)
{
	if (out->cut) {
		metrics_plan_cut(m);
		if (!n->cut)
			rs_warn("plan cut by the planner's work budget in stage %s: launching what "
				"was planned before the cut, terminating nothing",
				planner_stage_name(out->cut_stage));
	} else if (n->cut) {
		rs_info("plans complete again (no work-budget cut)");
	}
	n->cut = out->cut;
}

void notes_infeasible(struct loop_notes *n, const struct plan_input *p,
		      const struct planner_output *out, struct decision_log *log,
		      struct controller_metrics *m)
{
	cJSON *arr = cJSON_CreateArray();
	double units = 0;
	char *sig;

	for (size_t i = 0; arr && i < out->infeasible_count; i++) {
		const struct planner_infeasible *f = &out->infeasible[i];
		cJSON *o = plan_json_demand(&p->in, f->cause, f->index, f->count);

		cJSON_AddStringToObject(o, "reason", planner_infeasible_reason_name(f->reason));
		cJSON_AddItemToArray(arr, o);
		units += (double)f->count;
	}
	metrics_infeasible(m, units);
	sig = cJSON_PrintUnformatted(arr);
	if (sig && strcmp(sig, n->infeasible_sig) != 0) {
		snprintf(n->infeasible_sig, sizeof(n->infeasible_sig), "%s", sig);
		if (out->infeasible_count) {
			cJSON *d = decision_new(DECISION_INFEASIBLE);
			char msg[768];

			snprintf(msg, sizeof(msg), "infeasible demand, nothing launched for it: %.600s",
				 sig);
			if (cJSON_AddItemToObject(d, "demand", arr))
				arr = NULL;
			decision_record(log, d, msg, p->now);
		}
	}
	free(sig);
	cJSON_Delete(arr);
}
