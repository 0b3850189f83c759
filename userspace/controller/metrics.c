/* metrics.c -- the controller's counters and their Prometheus text
 * (metrics.h). */
#include "controller/metrics.h"

#include "common/prom_text.h"
#include "controller/act/decisions.h"
#include "controller/fusion/startup_model.h"
#include "controller/plan/plan_input.h"
#include "controller/source/signals.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const term_reason_names[TR_COUNT] = {
	"idle", "max_per_type", "max_global", "launch_timeout", "unschedulable",
};

enum worker_state { WS_DESIRED, WS_CURRENT, WS_PENDING, WS_COUNT };
enum demand_kind { DK_TASK, DK_ACTOR, DK_PG, DK_REQUEST, DK_COUNT };

static const char *const worker_state_names[WS_COUNT] = { "desired", "current", "pending" };
static const char *const demand_kind_names[DK_COUNT] = {
	"task", "actor", "placement_group", "request_resources",
};
static const char *const hold_reason_names[HOLD_COUNT] = {
	"dashboard_unreachable", "usage_stale", "pending_list", "other_autoscaler",
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
	unsigned long plans_cut;
	bool other_autoscaler;
	unsigned long loop_hist[N_BUCKETS + 1];
	double loop_sum;
	unsigned long loop_count;
	char *provider_text;
	struct startup_group *startup;			/* [group] */
	long (*workers)[WS_COUNT];			/* [group][state], last round */
	double demand[DK_COUNT];			/* last round */
	bool hold[HOLD_COUNT];
	bool leader;
};

struct controller_metrics *metrics_new(const struct controller_config *cfg)
{
	struct controller_metrics *m = calloc(1, sizeof(*m));
	size_t ng = cfg->group_count + 1;

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->cfg = cfg;
	m->launches = calloc(ng, sizeof(*m->launches));
	m->terminations = calloc(ng, sizeof(*m->terminations));
	m->startup = calloc(ng, sizeof(*m->startup));
	m->workers = calloc(ng, sizeof(*m->workers));
	if (!m->launches || !m->terminations || !m->startup || !m->workers) {
		metrics_free(m);
		return NULL;
	}
	return m;
}

/* Group i of cfg takes the counters (and last round's worker counts) of old
 * group map[i]; every per-group array is replaced by one sized for cfg, and
 * the old arrays come back in the arguments (to be freed).  Under m->lock. */
static void regroup(struct controller_metrics *m, const struct controller_config *cfg,
		    const int *map, unsigned long **launches,
		    unsigned long (**terms)[TR_COUNT], struct startup_group **startup,
		    long (**workers)[WS_COUNT])
{
	unsigned long *l = *launches, (*t)[TR_COUNT] = *terms;
	struct startup_group *st = *startup;
	long (*w)[WS_COUNT] = *workers;

	for (size_t i = 0; i < cfg->group_count; i++) {
		if (map[i] < 0)
			continue;
		l[i] = m->launches[map[i]];
		memcpy(t[i], m->terminations[map[i]], sizeof(t[i]));
		st[i] = m->startup[map[i]];
		memcpy(w[i], m->workers[map[i]], sizeof(w[i]));
	}
	*launches = m->launches;
	*terms = m->terminations;
	*startup = m->startup;
	*workers = m->workers;
	m->launches = l;
	m->terminations = t;
	m->startup = st;
	m->workers = w;
	m->cfg = cfg;
}

int metrics_set_config(struct controller_metrics *m, const struct controller_config *cfg)
{
	size_t ng = cfg->group_count + 1;
	unsigned long *launches = calloc(ng, sizeof(*launches));
	unsigned long (*terms)[TR_COUNT] = calloc(ng, sizeof(*terms));
	struct startup_group *startup = calloc(ng, sizeof(*startup));
	long (*workers)[WS_COUNT] = calloc(ng, sizeof(*workers));
	int *map = calloc(ng, sizeof(*map));
	int rc = -ENOMEM;

	if (launches && terms && startup && workers && map) {
		pthread_mutex_lock(&m->lock);
		config_group_map(m->cfg, cfg, map);
		regroup(m, cfg, map, &launches, &terms, &startup, &workers);
		pthread_mutex_unlock(&m->lock);
		rc = 0;
	}
	free(workers);
	free(launches);
	free(terms);
	free(startup);
	free(map);
	return rc;
}

void metrics_other_autoscaler(struct controller_metrics *m, bool on)
{
	pthread_mutex_lock(&m->lock);
	m->other_autoscaler = on;
	m->hold[HOLD_OTHER_AUTOSCALER] = on;
	pthread_mutex_unlock(&m->lock);
}

void metrics_free(struct controller_metrics *m)
{
	if (!m)
		return;
	free(m->launches);
	free(m->terminations);
	free(m->provider_text);
	free(m->startup);
	free(m->workers);
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

void metrics_startup_publish(struct controller_metrics *m, size_t group,
			     const struct startup_group *model)
{
	if (group >= m->cfg->group_count)
		return;
	pthread_mutex_lock(&m->lock);
	m->startup[group] = *model;
	pthread_mutex_unlock(&m->lock);
}

void metrics_plan_cut(struct controller_metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->plans_cut++;
	pthread_mutex_unlock(&m->lock);
}

/* Workers per group and state; m->workers zeroed by the caller. */
static void count_workers(struct controller_metrics *m, const struct planner_input *in,
			  const struct planner_output *out)
{
	const struct controller_config *cfg = m->cfg;
	int g;

	for (size_t i = 0; i < in->node_count; i++)
		if ((g = plan_group_index(cfg, in->nodes[i].type)) >= 0)
			m->workers[g][in->nodes[i].status == PLANNER_NODE_RUNNING ?
				      WS_CURRENT : WS_PENDING]++;
	for (size_t i = 0; i < cfg->group_count; i++)
		m->workers[i][WS_DESIRED] = m->workers[i][WS_CURRENT] + m->workers[i][WS_PENDING];
	for (size_t t = 0; t < out->launch_count; t++)
		if ((g = plan_group_index(cfg, out->launches[t].type)) >= 0)
			m->workers[g][WS_DESIRED] += out->launches[t].desired;
	for (size_t i = 0; i < out->termination_count; i++)
		if ((g = plan_group_index(cfg, in->nodes[out->terminations[i].node_index].type)) >= 0)
			m->workers[g][WS_DESIRED]--;
}

static void count_demand(double *d, const struct planner_input *in)
{
	for (size_t i = 0; i < in->shape_count; i++)
		d[in->shapes[i].kind == PLANNER_DEMAND_ACTOR ? DK_ACTOR : DK_TASK] +=
			(double)in->shapes[i].count;
	for (size_t i = 0; i < in->pg_count; i++)
		d[DK_PG] += (double)in->pgs[i].count;
	for (size_t i = 0; i < in->request_count; i++)
		d[DK_REQUEST] += (double)in->requests[i].count;
}

void metrics_round(struct controller_metrics *m, const struct plan_input *p,
		   const struct planner_output *out, bool unreachable)
{
	pthread_mutex_lock(&m->lock);
	memset(m->workers, 0, m->cfg->group_count * sizeof(*m->workers));
	memset(m->demand, 0, sizeof(m->demand));
	count_workers(m, &p->in, out);
	count_demand(m->demand, &p->in);
	m->hold[HOLD_DASHBOARD_UNREACHABLE] = unreachable;
	m->hold[HOLD_USAGE_STALE] = !p->usage_fresh;
	m->hold[HOLD_PENDING_LIST] = !unreachable && p->scale_down_hold;
	m->hold[HOLD_OTHER_AUTOSCALER] = m->other_autoscaler;
	pthread_mutex_unlock(&m->lock);
}

void metrics_unreachable(struct controller_metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->hold[HOLD_DASHBOARD_UNREACHABLE] = true;
	pthread_mutex_unlock(&m->lock);
}

void metrics_leader(struct controller_metrics *m, bool leading)
{
	pthread_mutex_lock(&m->lock);
	m->leader = leading;
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

static void render_decisions(struct rs_prom_text *w, struct decision_log *log)
{
	static const char name[] = "raysense_controller_decisions_total";
	unsigned long n[DECISION_ACTION_COUNT];

	decision_log_counts(log, n);
	rs_prom_family(w, name, "Decisions recorded, per action.", RS_PROM_COUNTER);
	for (int a = 0; a < DECISION_ACTION_COUNT; a++)
		rs_prom_sample_u64(w, name, NULL, RS_PROM_LABELS({ "action",
				   decision_action_name((enum decision_action)a) }), n[a]);
}

static void render_groups(struct rs_prom_text *w, const struct controller_metrics *m)
{
	static const char launches[] = "raysense_controller_launches_total";
	static const char terms[] = "raysense_controller_terminations_total";
	const struct controller_config *cfg = m->cfg;

	rs_prom_family(w, launches, "Nodes launched, per worker group.", RS_PROM_COUNTER);
	for (size_t g = 0; g < cfg->group_count; g++)
		rs_prom_sample_u64(w, launches, NULL, RS_PROM_LABELS({ "type", cfg->groups[g].name }),
				   m->launches[g]);
	rs_prom_family(w, terms, "Nodes terminated, per worker group and reason.",
		       RS_PROM_COUNTER);
	for (size_t g = 0; g < cfg->group_count; g++)
		for (int r = 0; r < TR_COUNT; r++)
			rs_prom_sample_u64(w, terms, NULL,
					   RS_PROM_LABELS({ "type", cfg->groups[g].name },
							  { "reason", term_reason_names[r] }),
					   m->terminations[g][r]);
}

static void render_loop(struct rs_prom_text *w, const struct controller_metrics *m)
{
	static const char name[] = "raysense_controller_loop_duration_seconds";
	uint64_t cum[N_BUCKETS];
	uint64_t total = 0;
	struct rs_prom_hist h = {
		.n_buckets = N_BUCKETS, .le = loop_buckets, .cumulative = cum,
		.sum = m->loop_sum,
	};

	for (size_t i = 0; i < N_BUCKETS; i++)
		cum[i] = total += m->loop_hist[i];
	h.count = total + m->loop_hist[N_BUCKETS];
	rs_prom_family(w, name, "Duration of one control loop round.", RS_PROM_HISTOGRAM);
	rs_prom_histogram(w, name, NULL, 0, &h);
}

static void render_startup(struct rs_prom_text *w, const struct controller_metrics *m)
{
	static const char name[] = "raysense_controller_startup_seconds";

	rs_prom_family(w, name, "Node startup per worker group and platform (local, ecs, eci): "
		       "source=controller from the controller's launch to Ray ALIVE, source=agent "
		       "from the agent's timeline (pod cgroup or ray start to the raylet's GCS "
		       "connection).", RS_PROM_HISTOGRAM);
	for (size_t g = 0; g < m->cfg->group_count; g++) {
		const struct worker_group *wg = &m->cfg->groups[g];

		for (int src = 0; src < STARTUP_SOURCES; src++) {
			const struct startup_series *sg = &m->startup[g].src[src];
			uint64_t cum[STARTUP_BUCKETS], total = 0;
			struct rs_prom_hist h = {
				.n_buckets = STARTUP_BUCKETS, .le = startup_bucket_le,
				.cumulative = cum, .count = sg->count, .sum = sg->sum,
			};

			for (size_t b = 0; b < STARTUP_BUCKETS; b++)
				cum[b] = total += sg->hist[b];
			rs_prom_histogram(w, name, RS_PROM_LABELS({ "type", wg->name },
					  { "platform", config_platform_name(wg->platform) },
					  { "source", startup_source_names[src] }), &h);
		}
	}
}

static void render_operator(struct rs_prom_text *w, const struct controller_metrics *m)
{
	static const char workers[] = "raysense_controller_workers";
	static const char demand[] = "raysense_controller_pending_demand";
	static const char holding[] = "raysense_controller_holding";
	bool held = false;

	rs_prom_family(w, workers, "Worker nodes per group, last round: desired (the plan), "
		       "current (ALIVE), pending (launched, not ALIVE).", RS_PROM_GAUGE);
	for (size_t g = 0; g < m->cfg->group_count; g++)
		for (int s = 0; s < WS_COUNT; s++)
			rs_prom_sample(w, workers, NULL, RS_PROM_LABELS({ "type", m->cfg->groups[g].name },
				       { "state", worker_state_names[s] }), (double)m->workers[g][s]);
	rs_prom_family(w, demand, "Pending logical demand, last round: tasks, actors, placement "
		       "groups, request_resources bundles.", RS_PROM_GAUGE);
	for (int k = 0; k < DK_COUNT; k++)
		rs_prom_sample(w, demand, NULL, RS_PROM_LABELS({ "kind", demand_kind_names[k] }),
			       m->demand[k]);
	rs_prom_family(w, holding, "1 for each reason the controller holds scale-down "
		       "(none = not holding).", RS_PROM_GAUGE);
	for (int r = 0; r < HOLD_COUNT; r++) {
		held |= m->hold[r];
		rs_prom_sample_u64(w, holding, NULL, RS_PROM_LABELS({ "reason", hold_reason_names[r] }),
				   m->hold[r]);
	}
	rs_prom_sample_u64(w, holding, NULL, RS_PROM_LABELS({ "reason", "none" }), !held);
	rs_prom_family(w, "raysense_controller_leader", "1 while this replica runs the control "
		       "loop (0: standby).", RS_PROM_GAUGE);
	rs_prom_sample_u64(w, "raysense_controller_leader", NULL, NULL, 0, m->leader);
}

/* The agent table (--agent-capacity): full means new agents are refused. */
static void render_agent_table(struct rs_prom_text *w, struct signals *sig)
{
	struct signals_stats st;

	signals_stats(sig, &st);
	rs_prom_family(w, "raysense_controller_agent_capacity", "Agents the table holds "
		       "(--agent-capacity).", RS_PROM_GAUGE);
	rs_prom_sample_u64(w, "raysense_controller_agent_capacity", NULL, NULL, 0, st.capacity);
	rs_prom_family(w, "raysense_controller_agents_evicted_total", "Entries evicted to make "
		       "room: agents silent for longer than the signal max age.", RS_PROM_COUNTER);
	rs_prom_sample_u64(w, "raysense_controller_agents_evicted_total", NULL, NULL, 0,
			   st.evicted_total);
	rs_prom_family(w, "raysense_controller_agents_refused_total", "Snapshots from new agents "
		       "refused (507) because the table was full of live agents.", RS_PROM_COUNTER);
	rs_prom_sample_u64(w, "raysense_controller_agents_refused_total", NULL, NULL, 0,
			   st.rejected_full_total);
}

static void render_errors(struct rs_prom_text *w, const struct controller_metrics *m)
{
	static const char name[] = "raysense_controller_errors_total";

	rs_prom_family(w, name, "Failed calls, per source.", RS_PROM_COUNTER);
	for (int i = 0; i < METRICS_ERR_COUNT; i++)
		rs_prom_sample_u64(w, name, NULL, RS_PROM_LABELS({ "source",
				   i == METRICS_ERR_PROVIDER ? "provider" :
				   i == METRICS_ERR_PLANNER ? "planner" :
				   dash_source_name((enum dash_source)i) }), m->errors[i]);
}

char *metrics_render(struct controller_metrics *m, struct decision_log *log,
		     struct signals *sig)
{
	struct rs_prom_text w;

	rs_prom_init(&w, RS_PROM_FLOAT_G);
	render_decisions(&w, log);
	pthread_mutex_lock(&m->lock);
	render_groups(&w, m);
	rs_prom_family(&w, "raysense_controller_infeasible_demand", "Demand units no node type "
		       "can hold (or capped by max), last round.", RS_PROM_GAUGE);
	rs_prom_sample(&w, "raysense_controller_infeasible_demand", NULL, NULL, 0,
		       m->infeasible_units);
	rs_prom_family(&w, "raysense_controller_plans_cut_total", "Rounds whose plan was cut by "
		       "the planner's work budget (launches planned before the cut only, no "
		       "termination).", RS_PROM_COUNTER);
	rs_prom_sample_u64(&w, "raysense_controller_plans_cut_total", NULL, NULL, 0, m->plans_cut);
	render_loop(&w, m);
	render_startup(&w, m);
	render_errors(&w, m);
	rs_prom_family(&w, "raysense_controller_other_autoscaler", "1 while another autoscaler "
		       "(KubeRay enableInTreeAutoscaling) owns the cluster and nothing is done.",
		       RS_PROM_GAUGE);
	rs_prom_sample_u64(&w, "raysense_controller_other_autoscaler", NULL, NULL, 0,
			   m->other_autoscaler);
	render_operator(&w, m);
	rs_prom_family(&w, "raysense_controller_agents", "Agents whose latest snapshot is kept.",
		       RS_PROM_GAUGE);
	rs_prom_sample_u64(&w, "raysense_controller_agents", NULL, NULL, 0, signals_count(sig));
	render_agent_table(&w, sig);
	if (m->provider_text)
		rs_prom_raw(&w, m->provider_text);
	pthread_mutex_unlock(&m->lock);
	return rs_prom_finish(&w, NULL);
}
