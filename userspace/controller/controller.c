/* controller.c -- the control loop (controller.h): wake, fetch, plan, hold
 * checks, act, record.  Each job lives in its own module: the cluster source
 * (source.h), idle runs (idle_tracker.h), the planner input (plan_input.h),
 * the planner (planner.h), the actuator (actuator.h), the decision log
 * (decisions.h), once-per-change notes (notes.h), the fusion rules around
 * the planner (fusion/fusion.h), the status JSON (views.h) and the metrics
 * (metrics.h).  This file only wires them together and owns
 * the state the HTTP threads read. */
#include "controller/controller.h"

#include "common/log.h"
#include "common/util.h"
#include "controller/act/actuator.h"
#include "controller/fusion/fusion.h"
#include "controller/trace_record.h"
#include "controller/act/decisions.h"
#include "controller/plan/idle_tracker.h"
#include "controller/metrics.h"
#include "controller/act/notes.h"
#include "controller/plan/plan_input.h"
#include "controller/views.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct controller {
	struct controller_opts o;
	struct signals *signals;
	struct decision_log *log;
	struct controller_metrics *metrics;

	pthread_mutex_t lock;		/* the fields below up to "loop thread only" */
	cJSON *status;
	double last_ok_fetch;
	char ray_version[32];
	pthread_cond_t wake;		/* controller_kick */
	bool kicked;

	/* loop thread only */
	struct actuator act;
	struct idle_tracker idle;
	struct loop_notes notes;
	bool holding;
	struct fusion fusion;
	double *group_timeouts;		/* [group] launch timeout this tick */
	struct fusion_notes fnotes;	/* this tick's */
	char kept_sig[2048];		/* nodes fusion kept last tick (said once) */
	int agents_fresh;		/* -1 unknown, 0 none, 1 some (said once) */
	struct trace_record *rec;	/* --record-trace, or NULL */
};

static double now(const struct controller *c)
{
	return c->o.clock ? c->o.clock() : rs_now_unix();
}

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
		c->last_ok_fetch = now(c);
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
	if (!c->holding) {
		cJSON *d = decision_new(DECISION_HOLD);
		char msg[768];

		snprintf(msg, sizeof(msg), "hold: no launch or termination until the dashboard "
			 "answers again (%s: %.600s)", dash_source_name(src), err);
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

/* ---------------------------------------------------------------- fusion */

static double obs_timeout(void *ctx, size_t g, double configured)
{
	return fusion_launch_timeout(&((struct controller *)ctx)->fusion, g, configured);
}

static void obs_launched(void *ctx, size_t g, double t)
{
	fusion_node_launched(&((struct controller *)ctx)->fusion, g, t);
}

static void obs_alive(void *ctx, size_t g, double startup_s)
{
	struct controller *c = ctx;

	fusion_node_alive(&c->fusion, g, startup_s);
	metrics_startup(c->metrics, g, startup_s);
}

static void obs_stopped_idle(void *ctx, size_t g, double t)
{
	fusion_node_stopped_idle(&((struct controller *)ctx)->fusion, g, t);
}

static void obs_gave_up(void *ctx, size_t g, const char *node, double waited, double t)
{
	struct controller *c = ctx;

	fusion_launch_given_up(&c->fusion, g, node, waited, t, &c->fnotes);
}

static const char *group_name(const struct controller *c, size_t g)
{
	return g < c->o.config->group_count ? c->o.config->groups[g].name : "?";
}

static void record_fallback(struct controller *c, const struct fusion_note *n, double t)
{
	cJSON *d = decision_new(DECISION_FALLBACK);
	char msg[512];

	snprintf(msg, sizeof(msg), "fallback: %s launch %s not ALIVE after %.0f s (stuck); group "
		 "%s backed off for %.0f s, its demand goes to the other groups", group_name(c, n->group),
		 n->node, n->value, group_name(c, n->group), n->limit);
	cJSON_AddStringToObject(d, "type", group_name(c, n->group));
	cJSON_AddStringToObject(d, "node", n->node);
	cJSON_AddStringToObject(d, "reason", fusion_note_kind_name(n->kind));
	cJSON_AddNumberToObject(d, "waited_s", round(n->value * 10) / 10);
	cJSON_AddNumberToObject(d, "backoff_s", n->limit);
	decision_record(c->log, d, msg, t);
}

static void record_keep(struct controller *c, const struct fusion_note *n, double t)
{
	cJSON *d = decision_new(DECISION_KEEP);
	char msg[512];

	if (n->kind == FUSION_KEEP_LEASE)
		snprintf(msg, sizeof(msg), "keep %s: it served a lease %.1f s ago (< %.0f s)",
			 n->node, n->value, n->limit);
	else
		snprintf(msg, sizeof(msg), "keep %s: %.1f rejected/spilled-back leases per second "
			 "(> %.1f): no scale-down in a burst", n->node, n->value, n->limit);
	cJSON_AddStringToObject(d, "type", group_name(c, n->group));
	cJSON_AddStringToObject(d, "node", n->node);
	cJSON_AddStringToObject(d, "reason", fusion_note_kind_name(n->kind));
	cJSON_AddNumberToObject(d, "value", round(n->value * 10) / 10);
	cJSON_AddNumberToObject(d, "limit", n->limit);
	decision_record(c->log, d, msg, t);
}

/* Decisions for what fusion did this tick; a node kept for the same
 * reason as last tick is not recorded again. */
static void record_fusion(struct controller *c, double t)
{
	char sig[sizeof(c->kept_sig)] = "";
	size_t len = 0;

	for (size_t i = 0; i < c->fnotes.n; i++) {
		const struct fusion_note *n = &c->fnotes.v[i];
		char key[160];

		if (n->kind == FUSION_FALLBACK) {
			record_fallback(c, n, t);
			continue;
		}
		snprintf(key, sizeof(key), "%d:%s:%zu,", n->kind, n->node, n->group);
		if (len + strlen(key) < sizeof(sig))
			len += (size_t)snprintf(sig + len, sizeof(sig) - len, "%s", key);
		if (n->kind == FUSION_ADAPTIVE_IDLE) {
			if (!strstr(c->kept_sig, key))
				rs_info("adaptive idle timeout: %s keeps idle nodes %.0f s (demand "
					"returned; configured %.0f s)", group_name(c, n->group),
					n->value, n->limit);
			continue;
		}
		if (!strstr(c->kept_sig, key))
			record_keep(c, n, t);
	}
	snprintf(c->kept_sig, sizeof(c->kept_sig), "%s", sig);
}

/* Agents' lease times per plan node; the reject rate; says once when the
 * agents' data goes stale (then fusion's keep rules have nothing to act on
 * and decisions follow the logical demand alone). */
static double *lease_times(struct controller *c, const struct plan_input *p,
			   struct fusion_signals *sig)
{
	double *at = calloc(p->in.node_count + 1, sizeof(*at));
	int fresh;

	sig->reject_rate = signals_reject_rate(c->signals, p->now, c->o.signal_max_age_s);
	for (size_t i = 0; at && i < p->in.node_count; i++) {
		struct node_leases nl;

		if (p->refs[i].dn && signals_node_leases(c->signals, p->refs[i].dn->node_id, p->now,
							 c->o.signal_max_age_s, &nl))
			at[i] = nl.last_lease_at;
	}
	sig->last_lease_at = at;
	fresh = sig->reject_rate >= 0;
	if (c->agents_fresh != fresh) {
		if (fresh)
			rs_info("agent signals fresh: fusion rules active");
		else if (c->agents_fresh > 0)
			rs_warn("agent signals missing or older than %.0f s: deciding from the logical "
				"demand alone", c->o.signal_max_age_s);
		c->agents_fresh = fresh;
	}
	return at;
}

static void fuse_after(struct controller *c, const struct plan_input *p,
		       struct planner_output *out)
{
	struct fusion_signals sig = { 0 };
	double *at;

	if (!c->fusion.cfg.enabled)
		return;
	at = lease_times(c, p, &sig);
	fusion_filter_plan(&c->fusion, p, out, &sig, &c->fnotes);
	free(at);
}

static void kick_on_queueing(void *ctx)
{
	controller_kick(ctx);
}

/* ---------------------------------------------------------------- the tick */

static bool busy_hint(void *ctx, const char *ray_node_id, int *busy, double *age)
{
	struct controller *c = ctx;

	return signals_busy_hint(c->signals, ray_node_id, now(c), c->o.signal_max_age_s, busy,
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
		       double t, struct plan_input *p)
{
	struct plan_sources src = {
		.config = c->o.config,
		.snap = s,
		.idle = &c->idle,
		.busy_hint = busy_hint,
		.hint_ctx = c,
		.usage_fresh = fresh,
		.scale_down_hold = scale_down_hold(s),
		.launch_timeout_s = c->o.launch_timeout_s,
		.group_launch_timeout_s = c->group_timeouts,
		.now = t,
	};

	for (size_t g = 0; g < c->o.config->group_count; g++)
		c->group_timeouts[g] = actuator_launch_timeout(&c->act, g);

	src.pnode_count = c->o.provider.ops->list(&c->o.provider, &src.pnodes);
	return plan_input_build(&src, p);
}

static int plan_and_act(struct controller *c, struct dash_snapshot *s, double t)
{
	struct plan_input p;
	struct planner_output out = { 0 };
	bool fresh = s->cs.present && t - s->cs.time <= c->o.stale_after_s;
	cJSON *st;
	int rc;

	notes_source(&c->notes, s);
	if (dash_merge_demand(s, fresh) || idle_tracker_update(&c->idle, s, fresh, t)) {
		metrics_error(c->metrics, METRICS_ERR_PLANNER);
		return -ENOMEM;
	}
	c->fnotes.n = 0;
	actuator_reconcile(&c->act, s, t);
	rc = build_input(c, s, fresh, t, &p);
	if (!rc) {
		if (trace_record_tick(c->rec, &p, &c->fusion) == -EIO)
			rs_warn("cannot write the trace to %s", c->o.record_trace);
		fusion_adjust_input(&c->fusion, &p, &c->fnotes);
		rc = planner_plan(&p.in, &out);
	}
	if (rc) {
		metrics_error(c->metrics, METRICS_ERR_PLANNER);
		rs_error("planner: %s", rc == -EINVAL ? out.error : strerror(-rc));
		plan_input_free(&p);
		return rc;
	}
	notes_infeasible(&c->notes, &p, &out, c->log, c->metrics);
	fuse_after(c, &p, &out);
	record_fusion(c, t);
	actuator_apply(&c->act, &p, &out);
	st = status_base(c, t);
	views_add_plan(st, &c->o.provider, s, &p, &out);
	views_add_fusion(st, &c->fusion, c->o.config, &p);
	publish(c, st, true);
	planner_output_free(&out);
	plan_input_free(&p);
	return 0;
}

int controller_tick(struct controller *c)
{
	double t0 = rs_now_mono(), t = now(c);
	struct dash_snapshot snap;
	enum dash_source failed;
	char err[DASH_ERR_LEN] = "";
	int rc;

	if (c->o.provider.ops->refresh(&c->o.provider, t))
		metrics_error(c->metrics, METRICS_ERR_PROVIDER);
	rc = c->o.source.ops->fetch(&c->o.source, &snap, &failed, err);
	if (rc) {
		hold(c, failed, err, t);
		metrics_loop(c->metrics, rs_now_mono() - t0);
		return 0;
	}
	t = now(c);
	resume(c, t);
	rc = plan_and_act(c, &snap, t);
	dash_snapshot_free(&snap);
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
	while (!*stop) {
		double start = rs_now_mono();

		controller_tick(c);
		wait_next(c, start, stop);
	}
}

/* ---------------------------------------------------------------- lifecycle */

static void apply_defaults(struct controller_opts *o)
{
	if (o->interval_s <= 0)
		o->interval_s = 1;
	if (o->stale_after_s <= 0)
		o->stale_after_s = 15;
	if (o->scale_down_cooldown_s < 0)
		o->scale_down_cooldown_s = 10;
	if (o->launch_timeout_s <= 0)
		o->launch_timeout_s = 180;
	if (o->signal_max_age_s <= 0)
		o->signal_max_age_s = 30;
}

static int init_actuator(struct controller *c)
{
	struct actuator_deps deps = {
		.provider = &c->o.provider,
		.source = &c->o.source,
		.config = c->o.config,
		.log = c->log,
		.metrics = c->metrics,
		.cooldown_s = c->o.scale_down_cooldown_s,
		.launch_timeout_s = c->o.launch_timeout_s,
		.dry_run = c->o.dry_run,
		.obs = {
			.ctx = c,
			.launch_timeout = obs_timeout,
			.launched = obs_launched,
			.alive = obs_alive,
			.stopped_idle = obs_stopped_idle,
			.gave_up = obs_gave_up,
		},
	};

	return actuator_init(&c->act, &deps);
}

static void free_parts(struct controller *c)
{
	actuator_fini(&c->act);
	fusion_fini(&c->fusion);
	trace_record_close(c->rec);
	free(c->group_timeouts);
	pthread_cond_destroy(&c->wake);
	idle_tracker_free(&c->idle);
	decision_log_free(c->log);
	metrics_free(c->metrics);
	signals_free(c->signals);
	cJSON_Delete(c->status);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int controller_create(const struct controller_opts *opts, struct controller **out)
{
	struct controller *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->o = *opts;
	apply_defaults(&c->o);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	notes_init(&c->notes);
	c->agents_fresh = -1;
	c->signals = signals_new();
	c->log = decision_log_new(c->o.decision_history, c->o.dry_run);
	c->metrics = metrics_new(c->o.config);
	c->group_timeouts = calloc(c->o.config->group_count + 1, sizeof(*c->group_timeouts));
	if (!c->signals || !c->log || !c->metrics || !c->group_timeouts || init_actuator(c) ||
	    fusion_init(&c->fusion, &c->o.fusion, c->o.config->group_count)) {
		free_parts(c);
		return -ENOMEM;
	}
	if (c->o.fusion.enabled)
		signals_set_queueing_hook(c->signals, kick_on_queueing, c);
	if (c->o.record_trace) {
		int rc = trace_record_open(&c->rec, c->o.record_trace, c->o.config,
					   c->o.launch_timeout_s, c->o.record_task_duration_s > 0 ?
					   c->o.record_task_duration_s : 60, now(c));

		if (rc) {
			free_parts(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

void controller_destroy(struct controller *c)
{
	if (!c)
		return;
	if (c->o.provider.ops)
		c->o.provider.ops->destroy(&c->o.provider);
	if (c->o.source.ops)
		c->o.source.ops->destroy(&c->o.source);
	free_parts(c);
}

/* ---------------------------------------------------------------- API views */

struct signals *controller_signals(struct controller *c)
{
	return c->signals;
}

bool controller_ready(struct controller *c)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = c->last_ok_fetch > 0 && now(c) - c->last_ok_fetch < 10 * c->o.interval_s + 5;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

cJSON *controller_status_json(struct controller *c)
{
	cJSON *st;

	pthread_mutex_lock(&c->lock);
	st = c->status ? cJSON_Duplicate(c->status, true) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (!st) {
		st = cJSON_CreateObject();
		cJSON_AddStringToObject(st, "holding", "no successful fetch yet");
	}
	return st;
}

cJSON *controller_decisions_json(struct controller *c, size_t limit)
{
	return decision_log_json(c->log, limit);
}

char *controller_metrics_text(struct controller *c)
{
	return metrics_render(c->metrics, c->log, c->signals);
}
