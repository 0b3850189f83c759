/* controller_opts.h -- how a controller is set up (controller.h creates
 * one from these).  Its own header so that the controller's private state
 * (controller_state.h) needs it without the public API. */
#ifndef RAYSENSE_CONTROLLER_OPTS_H
#define RAYSENSE_CONTROLLER_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/auth/node_map.h"
#include "controller/config.h"
#include "controller/fusion/fusion.h"
#include "controller/provider/provider.h"
#include "controller/source/source.h"

struct controller_opts {
	struct cluster_source source;		/* owned by the controller */
	struct provider provider;		/* owned by the controller */
	const struct controller_config *config;
	double interval_s;			/* default 1 */
	double stale_after_s;			/* usage report age limit; default 15 */
	double scale_down_cooldown_s;		/* after a launch of a type; default 10 */
	double launch_timeout_s;		/* pending -> give up; default 180 */
	double signal_max_age_s;		/* agent hints older are ignored; default 30 */
	double scale_up_grace_s;		/* launch from the last good fetch this long; 0 = not */
	bool dry_run;
	size_t decision_history;		/* default 500 */
	/* Signal fusion (fusion/fusion.h); all zero = off: Ray's plans. */
	struct fusion_config fusion;
	/* Record a replay trace here (docs/replay.md); NULL = no. */
	const char *record_trace;
	double record_task_duration_s;		/* stands for every task's; default 60 */
	/* Wall clock in UNIX seconds; NULL = the real one.  Tests drive ticks
	 * with their own. */
	double (*clock)(void);
	/* --agent-auth tokenreview: the loop gives it each fetched snapshot's
	 * Ray nodes (id -> IP) so that agent reports can be bound to nodes
	 * (auth/node_map.h); NULL = not used.  Borrowed. */
	struct node_map *node_map;
};

#endif
