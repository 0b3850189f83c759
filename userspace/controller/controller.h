/* controller.h -- the control loop: fetch (dashboard) -> plan (planner.h) ->
 * act (provider.h) -> record a decision, once per interval.
 *
 * Safety rules (docs/controller-config.md explains them):
 *  - a tick whose fetch failed in any part acts on nothing ("hold");
 *  - nodes are terminated only when the per-node usage (/api/cluster_status,
 *    written by Ray's monitor) is fresh (report age <= stale_after_s), the
 *    node was seen idle in those reports for its idle timeout, a fresh state
 *    API check finds no task or actor on it, and the type's cool-down after
 *    its last launch has passed;
 *  - a launched node counts as pending until Ray reports it ALIVE, and a
 *    stopping node stays excluded (and counted against max) until its
 *    process group is gone;
 *  - --dry-run logs and records decisions but never calls the provider. */
#ifndef RAYSENSE_CONTROLLER_CONTROLLER_H
#define RAYSENSE_CONTROLLER_CONTROLLER_H

#include <signal.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "controller/config.h"
#include "controller/dashboard.h"
#include "controller/provider.h"
#include "controller/signals.h"

struct controller_opts {
	struct dash_client dash;
	struct provider provider;		/* owned by the controller */
	const struct controller_config *config;
	double interval_s;			/* default 1 */
	double stale_after_s;			/* usage report age limit; default 15 */
	double scale_down_cooldown_s;		/* after a launch of a type; default 10 */
	double launch_timeout_s;		/* pending -> give up; default 180 */
	double signal_max_age_s;		/* agent hints older are ignored; default 30 */
	bool dry_run;
	size_t decision_history;		/* default 500 */
};

struct controller;

int controller_create(const struct controller_opts *opts, struct controller **out);
void controller_destroy(struct controller *c);
/* One fetch-plan-act round.  Returns 0 when it acted or held on purpose. */
int controller_tick(struct controller *c);
/* Tick every interval until *stop is set (or wake early on a signal push). */
void controller_run(struct controller *c, volatile sig_atomic_t *stop);

/* For the HTTP API (thread-safe; callers own the returned objects). */
cJSON *controller_status_json(struct controller *c);
cJSON *controller_decisions_json(struct controller *c, size_t limit);
char *controller_metrics_text(struct controller *c);
bool controller_ready(struct controller *c);
struct signals *controller_signals(struct controller *c);

#endif
