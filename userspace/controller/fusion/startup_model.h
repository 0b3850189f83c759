/* startup_model.h -- how long a node of each worker group takes from its
 * launch to Ray listing it ALIVE, learned from the controller's own
 * launches: the last STARTUP_SAMPLES samples per group and their p50, p90
 * and p95, plus a cumulative histogram for /metrics.  The fusion rules read
 * it (a launch pending far past its group's p95 is stuck; an idle node of a
 * slow group is kept longer when demand keeps returning).  Pure. */
#ifndef RAYSENSE_CONTROLLER_STARTUP_MODEL_H
#define RAYSENSE_CONTROLLER_STARTUP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define STARTUP_SAMPLES 64
#define STARTUP_BUCKETS 12

extern const double startup_bucket_le[STARTUP_BUCKETS];

struct startup_group {
	double samples[STARTUP_SAMPLES];	/* ring */
	size_t n, next;
	uint64_t hist[STARTUP_BUCKETS + 1];	/* not cumulative; [STARTUP_BUCKETS] = +Inf */
	uint64_t count;
	double sum;
};

struct startup_stats {
	size_t n;			/* samples the percentiles come from */
	double p50, p90, p95;		/* seconds; 0 when n == 0 */
};

void startup_add(struct startup_group *g, double seconds);
void startup_stats(const struct startup_group *g, struct startup_stats *out);

#endif
