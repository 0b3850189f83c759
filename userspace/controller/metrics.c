/* metrics.c -- the controller's counters and their Prometheus text
 * (metrics.h). */
#include "controller/metrics.h"

#include "controller/decisions.h"
#include "controller/signals.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const term_reason_names[TR_COUNT] = {
	"idle", "max_per_type", "max_global", "launch_timeout",
};

static const double loop_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define N_BUCKETS (sizeof(loop_buckets) / sizeof(loop_buckets[0]))

struct controller_metrics {
	const struct controller_config *cfg;
	pthread_mutex_t lock;
	unsigned long *launches;			/* [group] */
	unsigned long (*terminations)[TR_COUNT];	/* [group][reason] */
	unsigned long errors[METRICS_ERR_COUNT];
	double infeasible_units;
	unsigned long loop_hist[N_BUCKETS + 1];
	double loop_sum;
	unsigned long loop_count;
	char *provider_text;
};

struct controller_metrics *metrics_new(const struct controller_config *cfg)
{
	struct controller_metrics *m = calloc(1, sizeof(*m));
	size_t ng = cfg->group_count + 1;

	if (!m)
		return NULL;
	m->cfg = cfg;
	m->launches = calloc(ng, sizeof(*m->launches));
	m->terminations = calloc(ng, sizeof(*m->terminations));
	if (!m->launches || !m->terminations) {
		free(m->launches);
		free(m->terminations);
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metrics_free(struct controller_metrics *m)
{
	if (!m)
		return;
	free(m->launches);
	free(m->terminations);
	free(m->provider_text);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void metrics_error(struct controller_metrics *m, int which)
{
	if (which < 0 || which >= METRICS_ERR_COUNT)
		return;
	pthread_mutex_lock(&m->lock);
	m->errors[which]++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_launch(struct controller_metrics *m, size_t group)
{
	if (group >= m->cfg->group_count)
		return;
	pthread_mutex_lock(&m->lock);
	m->launches[group]++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_termination(struct controller_metrics *m, size_t group, enum term_reason r)
{
	if (group >= m->cfg->group_count || r >= TR_COUNT)
		return;
	pthread_mutex_lock(&m->lock);
	m->terminations[group][r]++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_infeasible(struct controller_metrics *m, double units)
{
	pthread_mutex_lock(&m->lock);
	m->infeasible_units = units;
	pthread_mutex_unlock(&m->lock);
}

void metrics_loop(struct controller_metrics *m, double seconds)
{
	size_t b = 0;

	while (b < N_BUCKETS && seconds > loop_buckets[b])
		b++;
	pthread_mutex_lock(&m->lock);
	m->loop_hist[b]++;
	m->loop_sum += seconds;
	m->loop_count++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_provider_text(struct controller_metrics *m, char *text)
{
	if (!text)
		return;
	pthread_mutex_lock(&m->lock);
	free(m->provider_text);
	m->provider_text = text;
	pthread_mutex_unlock(&m->lock);
}

/* ---------------------------------------------------------------- text */

struct buf {
	char *s;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap : 4096);
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s)
			return;
		b->s = s;
		b->cap = cap;
	}
}

static void render_decisions(struct buf *b, struct decision_log *log)
{
	unsigned long n[DECISION_ACTION_COUNT];

	decision_log_counts(log, n);
	bprintf(b, "# HELP raysense_controller_decisions_total Decisions recorded, per action.\n"
		"# TYPE raysense_controller_decisions_total counter\n");
	for (int a = 0; a < DECISION_ACTION_COUNT; a++)
		bprintf(b, "raysense_controller_decisions_total{action=\"%s\"} %lu\n",
			decision_action_name((enum decision_action)a), n[a]);
}

static void render_groups(struct buf *b, const struct controller_metrics *m)
{
	const struct controller_config *cfg = m->cfg;

	bprintf(b, "# HELP raysense_controller_launches_total Nodes launched, per worker group.\n"
		"# TYPE raysense_controller_launches_total counter\n");
	for (size_t g = 0; g < cfg->group_count; g++)
		bprintf(b, "raysense_controller_launches_total{type=\"%s\"} %lu\n",
			cfg->groups[g].name, m->launches[g]);
	bprintf(b, "# HELP raysense_controller_terminations_total Nodes terminated, per worker "
		"group and reason.\n# TYPE raysense_controller_terminations_total counter\n");
	for (size_t g = 0; g < cfg->group_count; g++)
		for (int r = 0; r < TR_COUNT; r++)
			bprintf(b, "raysense_controller_terminations_total{type=\"%s\",reason=\"%s\"} "
				"%lu\n", cfg->groups[g].name, term_reason_names[r],
				m->terminations[g][r]);
}

static void render_loop(struct buf *b, const struct controller_metrics *m)
{
	unsigned long cum = 0;

	bprintf(b, "# HELP raysense_controller_loop_duration_seconds Duration of one control "
		"loop round.\n# TYPE raysense_controller_loop_duration_seconds histogram\n");
	for (size_t i = 0; i < N_BUCKETS; i++) {
		cum += m->loop_hist[i];
		bprintf(b, "raysense_controller_loop_duration_seconds_bucket{le=\"%g\"} %lu\n",
			loop_buckets[i], cum);
	}
	cum += m->loop_hist[N_BUCKETS];
	bprintf(b, "raysense_controller_loop_duration_seconds_bucket{le=\"+Inf\"} %lu\n"
		"raysense_controller_loop_duration_seconds_sum %g\n"
		"raysense_controller_loop_duration_seconds_count %lu\n", cum, m->loop_sum,
		m->loop_count);
}

static void render_errors(struct buf *b, const struct controller_metrics *m)
{
	bprintf(b, "# HELP raysense_controller_errors_total Failed calls, per source.\n"
		"# TYPE raysense_controller_errors_total counter\n");
	for (int i = 0; i < METRICS_ERR_COUNT; i++)
		bprintf(b, "raysense_controller_errors_total{source=\"%s\"} %lu\n",
			i == METRICS_ERR_PROVIDER ? "provider" :
			i == METRICS_ERR_PLANNER ? "planner" :
			dash_source_name((enum dash_source)i), m->errors[i]);
}

char *metrics_render(struct controller_metrics *m, struct decision_log *log,
		     struct signals *sig)
{
	struct buf b = { 0 };

	render_decisions(&b, log);
	pthread_mutex_lock(&m->lock);
	render_groups(&b, m);
	bprintf(&b, "# HELP raysense_controller_infeasible_demand Demand units no node type can "
		"hold (or capped by max), last round.\n"
		"# TYPE raysense_controller_infeasible_demand gauge\n"
		"raysense_controller_infeasible_demand %g\n", m->infeasible_units);
	render_loop(&b, m);
	render_errors(&b, m);
	bprintf(&b, "# HELP raysense_controller_agents Agents whose latest snapshot is kept.\n"
		"# TYPE raysense_controller_agents gauge\nraysense_controller_agents %zu\n",
		signals_count(sig));
	if (m->provider_text)
		bprintf(&b, "%s", m->provider_text);
	pthread_mutex_unlock(&m->lock);
	return b.s;
}
