/* startup_model.h -- how long a node of each worker group takes to start,
 * from two sources kept apart:
 *  - controller: the controller's own launches, launch -> Ray lists the node
 *    ALIVE (the actuator's observer);
 *  - agent: the raysense agent's startup timeline of the node, its start
 *    (pod cgroup created, else the first exec / `ray start`) -> the raylet's
 *    GCS connection (Ray registers the node then); it misses what happens
 *    before the node's cgroup exists (scheduling, an ECI instance's
 *    creation), so it is the shorter of the two.
 * Per source: the last STARTUP_SAMPLES samples and their p50, p90 and p95,
 * plus a cumulative histogram for /metrics.  The model the fusion rules read
 * (startup_stats) is the controller's samples when there is any, else the
 * agent's: a launch pending far past its group's p95 is stuck; an idle node
 * of a slow group is kept longer when demand keeps returning.  Pure. */
#ifndef RAYSENSE_CONTROLLER_STARTUP_MODEL_H
#define RAYSENSE_CONTROLLER_STARTUP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define STARTUP_SAMPLES 64
#define STARTUP_BUCKETS 12

extern const double startup_bucket_le[STARTUP_BUCKETS];

enum startup_source {
	STARTUP_SRC_CONTROLLER,		/* launch -> first seen ALIVE */
	STARTUP_SRC_AGENT,		/* the agent's timeline: start -> GCS connected */
	STARTUP_SOURCES,
};

/* "controller", "agent": the `source` label and the status keys. */
extern const char *const startup_source_names[STARTUP_SOURCES];

struct startup_series {
	double samples[STARTUP_SAMPLES];	/* ring */
	size_t n, next;
	uint64_t hist[STARTUP_BUCKETS + 1];	/* not cumulative; [STARTUP_BUCKETS] = +Inf */
	uint64_t count;
	double sum;
};

struct startup_group {
	struct startup_series src[STARTUP_SOURCES];
};

struct startup_stats {
	size_t n;			/* samples the percentiles come from */
	double p50, p90, p95;		/* seconds; 0 when n == 0 */
	enum startup_source source;	/* whose samples (startup_stats) */
};

/* A finite sample >= 0 (anything else is ignored). */
void startup_add(struct startup_group *g, enum startup_source src, double seconds);
/* The model: the controller's samples when it has any, else the agent's. */
void startup_stats(const struct startup_group *g, struct startup_stats *out);
/* One source's samples alone. */
void startup_series_stats(const struct startup_series *s, struct startup_stats *out);

#endif
