/* controller.c -- the control loop (controller.h): wake, fetch, plan, hold
 * checks, act, record.  Each job lives in its own module: the cluster source
 * (source.h), idle runs (idle_tracker.h), the planner input (plan_input.h),
 * the planner (planner.h), the actuator (actuator.h), the decision log
 * (decisions.h), once-per-change notes (notes.h), the status JSON (views.h)
 * and the metrics (metrics.h).  This file only wires them together and owns
 * the state the HTTP threads read. */
#include "controller/controller.h"

#include "common/log.h"
#include "common/util.h"
#include "controller/act/actuator.h"
#include "controller/act/decisions.h"
#include "controller/plan/idle_tracker.h"
#include "controller/metrics.h"
#include "controller/act/notes.h"
#include "controller/group_set.h"
#include "controller/plan/plan_input.h"
#include "controller/views.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct controller {
	struct controller_opts o;
	struct signals *signals;
	struct decision_log *log;
	struct controller_metrics *metrics;

	pthread_mutex_t lock;		/* the three fields below */
	cJSON *status;
	double last_ok_fetch;
	char ray_version[32];
	char provider_hold[1024];	/* why the provider does not let us act; "" = it does */

	/* loop thread only */
	struct actuator act;
	struct idle_tracker idle;
	struct loop_notes notes;
	bool holding;
	/* The provider's worker groups (o.config points there once it gave a set). */
	struct group_set groups;
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
		.now = t,
	};

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
	actuator_reconcile(&c->act, s, t);
	rc = build_input(c, s, fresh, t, &p);
	if (!rc)
		rc = planner_plan(&p.in, &out);
	if (rc) {
		metrics_error(c->metrics, METRICS_ERR_PLANNER);
		rs_error("planner: %s", rc == -EINVAL ? out.error : strerror(-rc));
		plan_input_free(&p);
		return rc;
	}
	notes_infeasible(&c->notes, &p, &out, c->log, c->metrics);
	actuator_apply(&c->act, &p, &out);
	st = status_base(c, t);
	views_add_plan(st, &c->o.provider, s, &p, &out);
	publish(c, st, true);
	planner_output_free(&out);
	plan_input_free(&p);
	return 0;
}

/* ------------------------------------------------------- the provider's say */

/* Record a change of the provider's hold: log, decision, metric. */
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

	if (group_set_sync(&c->groups, prov, c->metrics, &c->act, &c->o.config) && !why)
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
	double t0 = rs_now_mono(), t = now(c);
	struct dash_snapshot snap;
	enum dash_source failed;
	char err[DASH_ERR_LEN] = "";
	int rc;

	if (c->o.provider.ops->refresh(&c->o.provider, t))
		metrics_error(c->metrics, METRICS_ERR_PROVIDER);
	if (provider_gate(c, t)) {
		metrics_loop(c->metrics, rs_now_mono() - t0);
		return 0;
	}
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

void controller_run(struct controller *c, volatile sig_atomic_t *stop)
{
	while (!*stop) {
		double start = rs_now_mono();

		controller_tick(c);
		while (!*stop && rs_now_mono() - start < c->o.interval_s)
			usleep(20000);
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
	};

	return actuator_init(&c->act, &deps);
}

static void free_parts(struct controller *c)
{
	actuator_fini(&c->act);
	idle_tracker_free(&c->idle);
	decision_log_free(c->log);
	metrics_free(c->metrics);
	signals_free(c->signals);
	group_set_free(&c->groups);
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
	group_set_init(&c->groups);
	apply_defaults(&c->o);
	pthread_mutex_init(&c->lock, NULL);
	notes_init(&c->notes);
	c->signals = signals_new();
	c->log = decision_log_new(c->o.decision_history, c->o.dry_run);
	c->metrics = metrics_new(c->o.config);
	if (!c->signals || !c->log || !c->metrics || init_actuator(c)) {
		free_parts(c);
		return -ENOMEM;
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

bool controller_ready_why(struct controller *c, char *why, size_t size)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = c->last_ok_fetch > 0 && now(c) - c->last_ok_fetch < 10 * c->o.interval_s + 5;
	if (why)
		snprintf(why, size, "%s", c->provider_hold[0] ? c->provider_hold :
			 "no successful dashboard fetch recently");
	ok = ok && !c->provider_hold[0];
	pthread_mutex_unlock(&c->lock);
	return ok;
}

bool controller_ready(struct controller *c)
{
	return controller_ready_why(c, NULL, 0);
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
