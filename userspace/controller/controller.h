/* controller.h -- the control loop: once per interval, read the cluster
 * (source.h), plan (plan_input.h -> planner.h), act (actuator.h) and
 * publish the status, decisions and metrics the HTTP API serves (api.h).
 *
 * Safety rules (docs/controller-config.md explains them):
 *  - a tick whose fetch failed in any part terminates nothing ("hold"); for
 *    scale_up_grace_s after the last good fetch it still launches from
 *    that answer (scale-up never waits on a slow source), then nothing;
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

#include "controller/controller_opts.h"
#include "controller/source/signals.h"


struct controller;

/* 0, -ENOMEM, or -errno when the trace file cannot be created; on failure
 * the source and provider in opts are not taken. */
int controller_create(const struct controller_opts *opts, struct controller **out);
void controller_destroy(struct controller *c);
/* One fetch-plan-act round.  Returns 0 when it acted or held on purpose. */
int controller_tick(struct controller *c);
/* Tick every interval until *stop is set; with fusion on, an agent snapshot
 * showing leases queueing starts the next tick at once (at most every
 * 0.25 s). */
void controller_run(struct controller *c, volatile sig_atomic_t *stop);
/* Start the next tick now (thread-safe). */
void controller_kick(struct controller *c);

/* For the HTTP API (thread-safe; callers own the returned objects). */
cJSON *controller_status_json(struct controller *c);
cJSON *controller_decisions_json(struct controller *c, size_t limit);
char *controller_metrics_text(struct controller *c);
bool controller_ready(struct controller *c);
/* Same, with why it is not ready (the provider's hold, or no recent fetch). */
bool controller_ready_why(struct controller *c, char *why, size_t size);
struct signals *controller_signals(struct controller *c);

#endif
