/* startup_model.c -- startup samples per group and source (startup_model.h). */
#include "controller/fusion/startup_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const double startup_bucket_le[STARTUP_BUCKETS] = { 1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300,
						     600 };

const char *const startup_source_names[STARTUP_SOURCES] = { "controller", "agent" };

void startup_add(struct startup_group *g, enum startup_source src, double seconds)
{
	struct startup_series *s;
	size_t b = 0;

	if ((unsigned)src >= STARTUP_SOURCES || !isfinite(seconds) || seconds < 0)
		return;
	s = &g->src[src];
	s->samples[s->next] = seconds;
	s->next = (s->next + 1) % STARTUP_SAMPLES;
	if (s->n < STARTUP_SAMPLES)
		s->n++;
	while (b < STARTUP_BUCKETS && seconds > startup_bucket_le[b])
		b++;
	s->hist[b]++;
	s->count++;
	s->sum += seconds;
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

void startup_series_stats(const struct startup_series *s, struct startup_stats *out)
{
	double v[STARTUP_SAMPLES];

	memset(out, 0, sizeof(*out));
	if (!s->n)
		return;
	memcpy(v, s->samples, s->n * sizeof(*v));
	qsort(v, s->n, sizeof(*v), cmp_double);
	out->n = s->n;
	out->p50 = rank(v, s->n, 0.50);
	out->p90 = rank(v, s->n, 0.90);
	out->p95 = rank(v, s->n, 0.95);
}

void startup_stats(const struct startup_group *g, struct startup_stats *out)
{
	enum startup_source src = g->src[STARTUP_SRC_CONTROLLER].n ? STARTUP_SRC_CONTROLLER :
				  STARTUP_SRC_AGENT;

	startup_series_stats(&g->src[src], out);
	out->source = src;
}
