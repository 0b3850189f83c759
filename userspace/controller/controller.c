/* controller.c -- the controller (controller.h): creating its state
 * (defaults, modules, the fusion wiring, the trace file), releasing it, and
 * the thread-safe reads the HTTP API makes of it.  The loop is in loop.c;
 * the state they share in controller_state.h. */
#include "controller/controller.h"
#include "controller/controller_state.h"

#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double controller_now(const struct controller *c)
{
	return c->o.clock ? c->o.clock() : rs_now_unix();
}

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
	if (o->scale_up_grace_s < 0)
		o->scale_up_grace_s = 0;
}

static int init_fusion(struct controller *c)
{
	struct fusion_loop_deps deps = {
		.cfg = c->o.config,
		.fusion = &c->o.fusion,
		.signals = c->signals,
		.log = c->log,
		.metrics = c->metrics,
		.signal_max_age_s = c->o.signal_max_age_s,
	};

	return fusion_loop_init(&c->fusion, &deps);
}

static void kick_on_queueing(void *ctx)
{
	controller_kick(ctx);
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
		.obs = fusion_loop_observer(&c->fusion),
	};

	return actuator_init(&c->act, &deps);
}

static void free_parts(struct controller *c)
{
	actuator_fini(&c->act);
	fusion_loop_fini(&c->fusion);
	trace_record_close(c->rec);
	dash_snapshot_free(&c->last);
	free(c->group_timeouts);
	pthread_cond_destroy(&c->wake);
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
	pthread_cond_init(&c->wake, NULL);
	notes_init(&c->notes);
	c->signals = signals_new();
	c->log = decision_log_new(c->o.decision_history, c->o.dry_run);
	c->metrics = metrics_new(c->o.config);
	c->group_timeouts = calloc(c->o.config->group_count + 1, sizeof(*c->group_timeouts));
	if (!c->signals || !c->log || !c->metrics || !c->group_timeouts || init_fusion(c) ||
	    init_actuator(c)) {
		free_parts(c);
		return -ENOMEM;
	}
	if (c->o.fusion.enabled)
		signals_set_queueing_hook(c->signals, kick_on_queueing, c);
	if (c->o.record_trace) {
		int rc = trace_record_open(&c->rec, c->o.record_trace, c->o.config,
					   c->o.launch_timeout_s, c->o.record_task_duration_s > 0 ?
					   c->o.record_task_duration_s : 60, controller_now(c));

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


struct signals *controller_signals(struct controller *c)
{
	return c->signals;
}

bool controller_ready_why(struct controller *c, char *why, size_t size)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = c->last_ok_fetch > 0 && controller_now(c) - c->last_ok_fetch < 10 * c->o.interval_s + 5;
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
