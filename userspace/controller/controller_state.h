/* controller_state.h -- the controller's state, shared by the loop
 * (loop.c) and its set-up and HTTP reads (controller.c).  Private to those
 * two files.  It includes controller_opts.h, not controller.h, so that no
 * include circle runs through the controller's modules. */
#ifndef RAYSENSE_CONTROLLER_STATE_H
#define RAYSENSE_CONTROLLER_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "controller/act/actuator.h"
#include "controller/act/decisions.h"
#include "controller/act/notes.h"
#include "controller/controller_opts.h"
#include "controller/fusion_loop.h"
#include "controller/group_set.h"
#include "controller/metrics.h"
#include "controller/plan/idle_tracker.h"
#include "controller/trace_record.h"

struct controller {
	struct controller_opts o;
	struct signals *signals;
	struct decision_log *log;
	struct controller_metrics *metrics;

	pthread_mutex_t lock;		/* the fields below up to "loop thread only" */
	cJSON *status;
	double last_ok_fetch;
	char ray_version[32];
	char provider_hold[1024];	/* why the provider does not let us act; "" = it does */
	pthread_cond_t wake;		/* controller_kick */
	bool kicked;

	/* loop thread only */
	struct actuator act;
	struct idle_tracker idle;
	struct loop_notes notes;
	bool holding;
	struct fusion_loop fusion;
	double *group_timeouts;		/* [group] launch timeout this tick */
	struct trace_record *rec;	/* --record-trace, or NULL */
	struct dash_snapshot last;	/* the last good fetch, and when */
	bool have_last;
	double last_at;
	/* The provider's worker groups (o.config points there once it gave a set). */
	struct group_set groups;
};

/* The controller's clock (opts.clock or the wall clock). */
double controller_now(const struct controller *c);

#endif
