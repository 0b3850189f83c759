/* startup_model.c -- launch -> ALIVE samples per group (startup_model.h). */
#include "controller/fusion/startup_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const double startup_bucket_le[STARTUP_BUCKETS] = { 1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300,
						     600 };

void startup_add(struct startup_group *g, double seconds)
{
	size_t b = 0;

	if (!isfinite(seconds) || seconds < 0)
		return;
	g->samples[g->next] = seconds;
	g->next = (g->next + 1) % STARTUP_SAMPLES;
	if (g->n < STARTUP_SAMPLES)
		g->n++;
	while (b < STARTUP_BUCKETS && seconds > startup_bucket_le[b])
		b++;
	g->hist[b]++;
	g->count++;
	g->sum += seconds;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double rank(const double *v, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);

	return v[k ? k - 1 : 0];
}

void startup_stats(const struct startup_group *g, struct startup_stats *out)
{
	double v[STARTUP_SAMPLES];

	memset(out, 0, sizeof(*out));
	if (!g->n)
		return;
	memcpy(v, g->samples, g->n * sizeof(*v));
	qsort(v, g->n, sizeof(*v), cmp_double);
	out->n = g->n;
	out->p50 = rank(v, g->n, 0.50);
	out->p90 = rank(v, g->n, 0.90);
	out->p95 = rank(v, g->n, 0.95);
}
