/* loop.c -- the control loop (controller.h): wake, fetch, plan, hold
 * checks, act, record.  Each job lives in its own module: the cluster source
 * (source.h), idle runs (idle_tracker.h), the planner input (plan_input.h),
 * the planner (planner.h), the actuator (actuator.h), the decision log
 * (decisions.h), once-per-change notes (notes.h), the fusion rules around
 * the planner (fusion_loop.h), the status JSON (views.h) and the metrics
 * (metrics.h).  The state is in controller_state.h; creating it and the
 * HTTP threads' reads of it are in controller.c. */
#include "controller/controller.h"
#include "controller/controller_state.h"

#include "common/log.h"
#include "common/util.h"
#include "controller/plan/plan_input.h"
#include "controller/views.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>



/* ---------------------------------------------------------------- publishing */

static void publish(struct controller *c, cJSON *st, bool fetched_ok)
{
	struct provider *prov = &c->o.provider;

	/* Built here, on the loop thread: HTTP threads must not read the
	 * provider's state. */
	if (prov->ops->metrics_text)
		metrics_provider_text(c->metrics, prov->ops->metrics_text(prov));
	pthread_mutex_lock(&c->lock);
	if (st) {
		cJSON_AddStringToObject(st, "ray_version", c->ray_version);
		cJSON_Delete(c->status);
		c->status = st;
	}
	if (fetched_ok)
		c->last_ok_fetch = controller_now(c);
	pthread_mutex_unlock(&c->lock);
}

static cJSON *status_base(struct controller *c, double t)
{
	return views_status_base(c->o.config, &c->o.provider, c->signals, c->o.dry_run, t);
}

/* ---------------------------------------------------------------- hold / resume */

static void hold(struct controller *c, enum dash_source src, const char *err, double t)
{
	cJSON *st;

	metrics_error(c->metrics, (int)src);
	metrics_unreachable(c->metrics);
	if (!c->holding) {
		cJSON *d = decision_new(DECISION_HOLD);
		char msg[768];

		snprintf(msg, sizeof(msg), "hold: no termination until the dashboard answers "
			 "again, and launches only from its last answer for %.0f s (%s: %.600s)",
			 c->o.scale_up_grace_s, dash_source_name(src), err);
		cJSON_AddStringToObject(d, "source", dash_source_name(src));
		cJSON_AddStringToObject(d, "error", err);
		decision_record(c->log, d, msg, t);
		c->holding = true;
	} else {
		rs_warn("still holding: %s: %s", dash_source_name(src), err);
	}
	pthread_mutex_lock(&c->lock);
	st = c->status ? cJSON_Duplicate(c->status, true) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (!st)
		st = status_base(c, t);
	if (st) {
		cJSON_DeleteItemFromObject(st, "holding");
		cJSON_AddItemToObject(st, "holding", cJSON_CreateString(err));
	}
	publish(c, st, false);
}

static void learn_version(struct controller *c)
{
	struct cluster_source *src = &c->o.source;
	char err[DASH_ERR_LEN], v[32] = "";

	if (c->ray_version[0] || src->ops->version(src, v, sizeof(v), err))
		return;
	pthread_mutex_lock(&c->lock);
	snprintf(c->ray_version, sizeof(c->ray_version), "%s", v);
	pthread_mutex_unlock(&c->lock);
	rs_info("connected to Ray %s at %s", v,
		src->ops->describe ? src->ops->describe(src) : src->ops->name);
	if (c->o.provider.ops->ray_version)
		c->o.provider.ops->ray_version(&c->o.provider, v);
}

static void resume(struct controller *c, double t)
{
	learn_version(c);
	if (c->holding) {
		decision_record(c->log, decision_new(DECISION_RESUME),
				"resume: the dashboard answers again", t);
		c->holding = false;
	}
}

/* ---------------------------------------------------------------- the tick */

static bool busy_hint(void *ctx, const char *ray_node_id, int *busy, double *age)
{
	struct controller *c = ctx;

	return signals_busy_hint(c->signals, ray_node_id, controller_now(c), c->o.signal_max_age_s, busy,
				 age);
}

/* A slow pending-task list holds scale-down only (dash_source.c). */
static const char *scale_down_hold(const struct dash_snapshot *s)
{
	if (dash_pending_complete(s))
		return NULL;
	return s->pending_error[0] ? s->pending_error :
	       "the pending-task list was read before the usage report";
}

static int build_input(struct controller *c, const struct dash_snapshot *s, bool fresh,
		       double t, const char *stale, struct plan_input *p)
{
	struct plan_sources src = {
		.config = c->o.config,
		.snap = s,
		.idle = &c->idle,
		.busy_hint = busy_hint,
		.hint_ctx = c,
		.usage_fresh = fresh,
		.scale_down_hold = stale ? stale : scale_down_hold(s),
		.launch_timeout_s = c->o.launch_timeout_s,
		.group_launch_timeout_s = c->group_timeouts,
		/* Ray's autoscaler has no such rule (v2's scheduler takes a
		 * running node's available resources as reported), so Ray's
		 * plans (--signals off) do without it. */
		.new_use_margin_s = c->fusion.fusion.cfg.enabled ? PLAN_NEW_USE_MARGIN_S : 0,
		.now = t,
	};

	for (size_t g = 0; g < c->o.config->group_count; g++)
		c->group_timeouts[g] = actuator_launch_timeout(&c->act, g);

	src.pnode_count = c->o.provider.ops->list(&c->o.provider, &src.pnodes);
	return plan_input_build(&src, p);
}

/* One planned round.  stale != NULL: s is the last good snapshot (this
 * tick's fetch failed): launches only, nothing learned from it again. */
static int plan_and_act(struct controller *c, struct dash_snapshot *s, double t,
			const char *stale)
{
	struct plan_input p;
	struct planner_output out = { 0 };
	bool fresh = s->cs.present && t - s->cs.time <= c->o.stale_after_s;
	cJSON *st;
	int rc;

	notes_source(&c->notes, s);
	if (dash_merge_demand(s, fresh) || (!stale && idle_tracker_update(&c->idle, s, fresh, t))) {
		metrics_error(c->metrics, METRICS_ERR_PLANNER);
		return -ENOMEM;
	}
	if (!stale)
		actuator_reconcile(&c->act, s, t);
	rc = build_input(c, s, fresh, t, stale, &p);
	if (!rc && p.credited)
		rs_debug("%zu node(s) counted as empty: %s", p.credited, p.hold_why);
	if (!rc) {
		if (trace_record_tick(c->rec, &p, &c->fusion.fusion) == -EIO)
			rs_warn("cannot write the trace to %s", c->o.record_trace);
		fusion_loop_before(&c->fusion, &p);
		rc = planner_plan(&p.in, &out);
		/* Not from a stale snapshot: a node may be ALIVE by now. */
		if (!rc && !stale)
			fusion_loop_unschedulable(&c->fusion, &p, &out);
	}
	if (rc) {
		metrics_error(c->metrics, METRICS_ERR_PLANNER);
		rs_error("planner: %s", rc == -EINVAL ? out.error : strerror(-rc));
		plan_input_free(&p);
		return rc;
	}
	notes_cut(&c->notes, &out, c->metrics);
	notes_infeasible(&c->notes, &p, &out, c->log, c->metrics);
	fusion_loop_stop_unplaceable(&c->fusion, &c->act, t);
	fusion_loop_after(&c->fusion, &p, &out);
	actuator_apply(&c->act, &p, &out);
	metrics_round(c->metrics, &p, &out, stale != NULL);
	st = status_base(c, t);
	views_add_plan(st, &c->o.provider, s, &p, &out);
	views_add_fusion(st, &c->fusion.fusion, c->o.config, &p);
	if (stale)
		cJSON_AddStringToObject(st, "holding", stale);
	publish(c, st, !stale);
	planner_output_free(&out);
	plan_input_free(&p);
	return 0;
}

/* ------------------------------------------------------- the provider's say */

/* Record a change of the provider's hold as a decision (logged once). */
static void note_provider_hold(struct controller *c, const char *why, double t)
{
	char msg[1100];
	cJSON *d;

	if (why) {
		snprintf(msg, sizeof(msg), "hold: not acting: %s", why);
		d = decision_new(DECISION_HOLD);
		cJSON_AddStringToObject(d, "source", "provider");
		cJSON_AddStringToObject(d, "error", why);
		decision_record(c->log, d, msg, t);
	} else {
		decision_record(c->log, decision_new(DECISION_RESUME),
				"resume: the provider lets the controller act again", t);
	}
}

/* Swap the provider's worker groups in when they changed (group_set.h).
 * Non-zero while it has none yet. */
static int sync_groups(struct controller *c)
{
	struct group_followers f = {
		.metrics = c->metrics, .act = &c->act, .fusion = &c->fusion,
		.group_timeouts = &c->group_timeouts,
	};
	const struct controller_config *before = c->o.config;
	int rc = group_set_sync(&c->groups, &c->o.provider, &f, &c->o.config);

	if (c->o.config != before && c->rec) {
		rs_warn("worker groups changed: trace recording to %s stops (its header lists the "
			"old groups)", c->o.record_trace);
		trace_record_close(c->rec);
		c->rec = NULL;
	}
	return rc;
}

/* The provider's say before a tick: swap its worker groups in, and hold
 * while it does not let us act (another autoscaler owns the cluster, or its
 * groups are not known yet).  True = hold this tick. */
static bool provider_gate(struct controller *c, double t)
{
	struct provider *prov = &c->o.provider;
	const char *other = prov->ops->blocked ? prov->ops->blocked(prov) : NULL;
	const char *why = other;
	bool changed;
	cJSON *st;

	if (sync_groups(c) && !why)
		why = "waiting for the provider's worker groups (the RayCluster is not read yet)";
	metrics_other_autoscaler(c->metrics, other != NULL);
	pthread_mutex_lock(&c->lock);
	changed = strcmp(c->provider_hold, why ? why : "") != 0;
	snprintf(c->provider_hold, sizeof(c->provider_hold), "%s", why ? why : "");
	pthread_mutex_unlock(&c->lock);
	if (changed)
		note_provider_hold(c, why, t);
	if (!why)
		return false;
	st = status_base(c, t);
	if (st) {
		cJSON_AddStringToObject(st, "holding", why);
		cJSON_AddBoolToObject(st, "other_autoscaler", other != NULL);
	}
	publish(c, st, false);
	return true;
}

int controller_tick(struct controller *c)
{
	double t0 = rs_now_mono(), t = controller_now(c);
	struct dash_snapshot snap;
	enum dash_source failed;
	char err[DASH_ERR_LEN] = "";
	int rc;

	if (c->o.provider.ops->refresh(&c->o.provider, t))
		metrics_error(c->metrics, METRICS_ERR_PROVIDER);
	actuator_failed_launches(&c->act, t);
	if (provider_gate(c, t)) {
		metrics_loop(c->metrics, rs_now_mono() - t0);
		return 0;
	}
	rc = c->o.source.ops->fetch(&c->o.source, &snap, &failed, err);
	if (rc) {
		hold(c, failed, err, t);
		if (c->have_last && t - c->last_at <= c->o.scale_up_grace_s)
			plan_and_act(c, &c->last, t, "the dashboard did not answer: launches only, "
				     "from its last answer");
		metrics_loop(c->metrics, rs_now_mono() - t0);
		return 0;
	}
	t = controller_now(c);
	resume(c, t);
	if (c->o.node_map && node_map_set_ray_nodes(c->o.node_map, &snap))
		rs_warn("agent auth: out of memory for the Ray node map (kept the previous one)");
	rc = plan_and_act(c, &snap, t, NULL);
	/* Kept for the ticks whose fetch fails: scale-up goes on from it for
	 * scale_up_grace_s; scale-down never does. */
	dash_snapshot_free(&c->last);
	c->last = snap;
	c->have_last = true;
	c->last_at = t;
	metrics_loop(c->metrics, rs_now_mono() - t0);
	return rc;
}

void controller_kick(struct controller *c)
{
	pthread_mutex_lock(&c->lock);
	c->kicked = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

/* Sleep until the interval is over, a kick comes (no sooner than 0.25 s
 * after the tick began), or *stop is set (checked every 50 ms: a signal
 * handler sets it). */
static void wait_next(struct controller *c, double start, volatile sig_atomic_t *stop)
{
	pthread_mutex_lock(&c->lock);
	while (!*stop) {
		double elapsed = rs_now_mono() - start;
		struct timespec ts;
		double t;

		if (elapsed >= c->o.interval_s || (c->kicked && elapsed >= 0.25))
			break;
		t = rs_now_unix() + 0.05;
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&c->wake, &c->lock, &ts);
	}
	if (c->kicked)
		rs_debug("tick early: an agent reported leases queueing");
	c->kicked = false;
	pthread_mutex_unlock(&c->lock);
}

void controller_run(struct controller *c, volatile sig_atomic_t *stop)
{
	metrics_leader(c->metrics, true);
	while (!*stop) {
		double start = rs_now_mono();

		controller_tick(c);
		wait_next(c, start, stop);
	}
	metrics_leader(c->metrics, false);
}

