/* source.h -- where the control loop reads the cluster from: an ops table,
 * like provider.h, so that whole ticks can run against a scripted source in
 * unit tests (tests/unit/test_tick.c) and against the Ray dashboard in
 * production (dash_source.c wraps dashboard.h).  All calls come from the
 * control-loop thread. */
#ifndef RAYSENSE_CONTROLLER_SOURCE_H
#define RAYSENSE_CONTROLLER_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/source/dashboard.h"
#include "controller/source/demand.h"

struct cluster_source;

struct cluster_source_ops {
	const char *name;
	/* One snapshot of nodes, usage and demand.  On failure -errno, *failed
	 * names the call and err (DASH_ERR_LEN) says why; the snapshot is then
	 * empty and must not be acted on. */
	int (*fetch)(struct cluster_source *s, struct dash_snapshot *snap,
		     enum dash_source *failed, char *err);
	/* Ray's version string, for the status and the log.  0 or -errno. */
	int (*version)(struct cluster_source *s, char *out, size_t size, char *err);
	/* Fresh check just before a node is stopped: does anything run on it?
	 * Errors mean "unknown", and the caller keeps the node. */
	int (*node_has_work)(struct cluster_source *s, const char *ray_node_id, bool *busy,
			     char *err);
	/* Where it reads from, for log lines ("http://head:8265"). */
	const char *(*describe)(struct cluster_source *s);
	void (*destroy)(struct cluster_source *s);
};

struct cluster_source {
	const struct cluster_source_ops *ops;
	void *impl;
};

/* The production source: the Ray dashboard at cfg->base_url (dash_source.c).
 * The pending-task list is read on a thread of its own, only while the
 * report shows at most tasks_max_pending pending tasks (< 0 = 2000); a tick
 * waits at most tasks_wait_s for a fresh one (< 0 = 0.3 s), within its read
 * budget.  cfg's strings are borrowed and must outlive the source.  0 or
 * -errno. */
int dash_source_create(const struct dash_client *cfg, double tasks_wait_s,
		       long tasks_max_pending, struct cluster_source *out);

#endif
