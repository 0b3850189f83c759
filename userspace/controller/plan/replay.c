/* replay.c -- the replay simulation (replay.h).
 *
 * The world advances in 1 s steps: tasks that ran their duration end, nodes
 * whose startup is over become ALIVE, the trace's submissions arrive, and
 * pending tasks are placed first-fit, in submission order, on ALIVE nodes
 * with free resources.  On its own cadence each arm runs the controller's
 * tick: give up launches past their (fusion's) launch timeout, build the
 * dashboard snapshot and provider list the controller would see, then
 * plan_input_build -> fusion_adjust_input -> planner_plan ->
 * fusion_filter_plan, and act (launch, stop).  With signals off the fusion
 * calls leave everything as it is: Ray's semantics.  Pure. */
#include "controller/plan/replay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/plan/plan_input.h"

/* The simulated UNIX time of the trace's start: fusion and the provider
 * list read 0 as "never". */
#define T0 1000.0
#define STEP_S 1.0
#define FIT_EPS 1e-9
#define PI 3.14159265358979323846

struct task {
	double submit, start, end;	/* absolute; start < 0 while pending */
	double duration;
	size_t shape, node;
};

struct node {
	char id[24];			/* "n<index>" */
	size_t group;
	double launched, started, alive_at;	/* alive_at = INFINITY: never */
	double stopped;			/* < 0 while it runs */
	bool alive, reported;
	struct resmap avail;
	int running;
	double idle_since, last_lease;
};

struct sim {
	const struct replay_trace *t;
	const struct replay_loop *loop;
	struct fusion fusion;
	struct fusion_notes notes;
	struct task *tasks;
	size_t ntasks;
	size_t *pending, npend;		/* FIFO */
	size_t *running, nrun;
	struct node *nodes;
	size_t nnodes, cap, live;
	size_t next_sub;
	uint64_t *rng;			/* [group] */
	double *timeouts;		/* [group], this tick */
	bool *blocked;			/* [shape], this step */
	struct replay_metrics m;
	char *err;
	size_t err_size;
};

/* ---------------------------------------------------------------- draws */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
	return (double)(splitmix(s) >> 11) * 0x1.0p-53;
}

/* Three draws per launch whatever the distribution, so that the k-th launch
 * of a group gets the same startup in both arms. */
static double draw_startup(const struct replay_startup *st, uint64_t *rng, bool *never)
{
	double un = uniform(rng), u1 = uniform(rng), u2 = uniform(rng);

	*never = un < st->never_p;
	switch (st->dist) {
	case REPLAY_LOGNORMAL:
		return st->median_s * exp(st->sigma * sqrt(-2 * log1p(-u1)) * cos(2 * PI * u2));
	case REPLAY_SAMPLES:
	case REPLAY_RECORDED:
		if (st->sample_count)
			return st->samples[(size_t)(u1 * (double)st->sample_count)];
		return st->s;
	case REPLAY_FIXED:
		break;
	}
	return st->s;
}

/* ---------------------------------------------------------------- nodes */

static struct node *node_of(struct sim *s, const char *id)
{
	size_t i = (size_t)strtoul(id + 1, NULL, 10);

	return i < s->nnodes ? &s->nodes[i] : NULL;
}

static int launch(struct sim *s, size_t g, double now)
{
	const struct replay_startup *st = &s->t->startup[g];
	struct node *n;
	bool never;
	double up;

	if (s->nnodes == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *v = realloc(s->nodes, cap * sizeof(*s->nodes));

		if (!v)
			return -ENOMEM;
		s->nodes = v;
		s->cap = cap;
	}
	up = draw_startup(st, &s->rng[g], &never);
	n = &s->nodes[s->nnodes];
	*n = (struct node){ .group = g, .launched = now, .started = now + st->started_after_s,
			    .alive_at = never ? INFINITY : now + up, .stopped = -1 };
	snprintf(n->id, sizeof(n->id), "n%zu", s->nnodes++);
	if (resmap_copy(&n->avail, &s->t->cfg.groups[g].resources))
		return -ENOMEM;
	s->live++;
	s->m.launches++;
	fusion_node_launched(&s->fusion, g, now);
	return 0;
}

static void stop(struct sim *s, struct node *n, double now)
{
	n->stopped = now;
	s->m.node_seconds += now - n->launched;
	s->live--;
}

static int live_in_group(const struct sim *s, size_t g)
{
	int k = 0;

	for (size_t i = 0; i < s->nnodes; i++)
		k += s->nodes[i].stopped < 0 && s->nodes[i].group == g;
	return k;
}

/* ---------------------------------------------------------------- the world */

static bool fits(const struct resmap *avail, const struct resmap *shape)
{
	for (size_t i = 0; i < shape->count; i++)
		if (resmap_get(avail, shape->items[i].name, 0) + FIT_EPS < shape->items[i].value)
			return false;
	return true;
}

static int take(struct resmap *avail, const struct resmap *shape, double sign)
{
	for (size_t i = 0; i < shape->count; i++)
		if (resmap_add(avail, shape->items[i].name, sign * shape->items[i].value))
			return -ENOMEM;
	return 0;
}

static int finish_tasks(struct sim *s, double now)
{
	size_t w = 0;

	for (size_t i = 0; i < s->nrun; i++) {
		struct task *tk = &s->tasks[s->running[i]];
		struct node *n = &s->nodes[tk->node];

		if (tk->end > now) {
			s->running[w++] = s->running[i];
			continue;
		}
		if (take(&n->avail, &s->t->shapes[tk->shape], 1))
			return -ENOMEM;
		if (--n->running == 0)
			n->idle_since = now;
	}
	s->nrun = w;
	return 0;
}

static void nodes_come_up(struct sim *s, double now)
{
	for (size_t i = 0; i < s->nnodes; i++) {
		struct node *n = &s->nodes[i];

		if (n->stopped < 0 && !n->alive && n->alive_at <= now) {
			n->alive = true;
			n->idle_since = now;
		}
	}
}

static void submit(struct sim *s, double now)
{
	for (; s->next_sub < s->t->sub_count && T0 + s->t->subs[s->next_sub].t <= now;
	     s->next_sub++) {
		const struct replay_submit *sb = &s->t->subs[s->next_sub];

		for (long k = 0; k < sb->count; k++) {
			s->tasks[s->ntasks] = (struct task){ .submit = now, .start = -1,
							     .duration = sb->duration_s,
							     .shape = sb->shape };
			s->pending[s->npend++] = s->ntasks++;
		}
	}
}

static struct node *first_fit(struct sim *s, const struct resmap *shape)
{
	for (size_t i = 0; i < s->nnodes; i++)
		if (s->nodes[i].alive && s->nodes[i].stopped < 0 && fits(&s->nodes[i].avail, shape))
			return &s->nodes[i];
	return NULL;
}

static int place_one(struct sim *s, struct task *tk, double now)
{
	struct node *n;

	if (s->blocked[tk->shape])
		return 0;
	if (!(n = first_fit(s, &s->t->shapes[tk->shape]))) {
		s->blocked[tk->shape] = true;	/* the same shape fits nowhere either */
		return 0;
	}
	if (take(&n->avail, &s->t->shapes[tk->shape], -1))
		return -ENOMEM;
	tk->start = now;
	tk->end = now + tk->duration;
	tk->node = (size_t)(n - s->nodes);
	n->running++;
	n->last_lease = now;
	s->running[s->nrun++] = (size_t)(tk - s->tasks);
	return 1;
}

static int place(struct sim *s, double now)
{
	size_t w = 0;

	memset(s->blocked, 0, (s->t->shape_count + 1) * sizeof(*s->blocked));
	for (size_t i = 0; i < s->npend; i++) {
		int rc = place_one(s, &s->tasks[s->pending[i]], now);

		if (rc < 0)
			return rc;
		if (!rc)
			s->pending[w++] = s->pending[i];
	}
	s->npend = w;
	return 0;
}

static int world_step(struct sim *s, double now)
{
	int rc = finish_tasks(s, now);

	if (rc)
		return rc;
	nodes_come_up(s, now);
	submit(s, now);
	return place(s, now);
}

/* ---------------------------------------------------------------- what the controller sees */

struct view {
	struct dash_snapshot snap;
	struct provider_node *pn;
	size_t npn;
	double *lease;			/* [plan node] */
};

static void view_node(struct sim *s, struct node *n, struct view *v, double now)
{
	struct provider_node *pn = &v->pn[v->npn++];
	struct dash_node *dn;

	snprintf(pn->id, sizeof(pn->id), "%s", n->id);
	snprintf(pn->type, sizeof(pn->type), "%s", s->t->cfg.groups[n->group].name);
	pn->launched_at = n->launched;
	pn->started_at = now >= n->started ? n->started : 0;
	if (!n->alive)
		return;
	dn = &v->snap.nodes[v->snap.node_count++];
	*dn = (struct dash_node){ .node_id = n->id, .node_name = n->id, .label_node = n->id,
				  .alive = true, .total = s->t->cfg.groups[n->group].resources,
				  .have_usage = true, .available = n->avail,
				  .busy = n->running > 0 };
}

static void view_demand(struct sim *s, struct view *v, double now)
{
	struct dash_shape *sh = v->snap.shapes;

	for (size_t k = 0; k < s->t->shape_count; k++)
		sh[k] = (struct dash_shape){ PLANNER_DEMAND_TASK, s->t->shapes[k], 0 };
	for (size_t i = 0; i < s->npend; i++) {
		const struct task *tk = &s->tasks[s->pending[i]];

		if (tk->submit <= now - s->loop->demand_lag_s)
			sh[tk->shape].count++;
	}
	for (size_t k = 0; k < s->t->shape_count; k++)
		if (sh[k].count)
			sh[v->snap.shape_count++] = sh[k];
}

static int view_build(struct sim *s, struct view *v, double now)
{
	memset(v, 0, sizeof(*v));
	v->snap.nodes = calloc(s->nnodes + 1, sizeof(*v->snap.nodes));
	v->pn = calloc(s->nnodes + 1, sizeof(*v->pn));
	v->snap.shapes = calloc(s->t->shape_count + 1, sizeof(*v->snap.shapes));
	if (!v->snap.nodes || !v->pn || !v->snap.shapes)
		return -ENOMEM;
	v->snap.fetched_at = now;
	for (size_t i = 0; i < s->nnodes; i++)
		if (s->nodes[i].stopped < 0)
			view_node(s, &s->nodes[i], v, now);
	view_demand(s, v, now);
	return 0;
}

static void view_free(struct view *v)
{
	free(v->snap.nodes);
	free(v->snap.shapes);
	free(v->pn);
	free(v->lease);
}

/* Ray's idle durations (GCS idle_duration_ms) and the agents' last lease
 * per plan node. */
static int node_facts(struct sim *s, struct plan_input *p, struct view *v, double now)
{
	if (!(v->lease = calloc(p->in.node_count + 1, sizeof(*v->lease))))
		return -ENOMEM;
	for (size_t i = 0; i < p->in.node_count; i++) {
		struct node *n;

		if (p->refs[i].kind != REF_PROVIDER || !(n = node_of(s, p->refs[i].provider_id)))
			continue;
		v->lease[i] = n->last_lease;
		if (p->refs[i].dn)
			p->nodes[i].idle_s = n->running ? 0 : now - n->idle_since;
	}
	return 0;
}

/* ---------------------------------------------------------------- the controller's tick */

static void reconcile(struct sim *s, double now)
{
	for (size_t g = 0; g < s->t->cfg.group_count; g++)
		s->timeouts[g] = fusion_launch_timeout(&s->fusion, g, s->t->launch_timeout_s);
	for (size_t i = 0; i < s->nnodes; i++) {
		struct node *n = &s->nodes[i];

		if (n->stopped >= 0)
			continue;
		if (n->alive && !n->reported) {
			n->reported = true;
			fusion_node_alive(&s->fusion, n->group, now - n->launched);
		} else if (!n->alive && now - n->launched > s->timeouts[n->group]) {
			stop(s, n, now);
			s->m.gave_up++;
			fusion_launch_given_up(&s->fusion, n->group, n->id, now - n->launched, now,
					       &s->notes);
		}
	}
}

static int apply_launches(struct sim *s, const struct planner_output *out, double now)
{
	const struct controller_config *cfg = &s->t->cfg;

	for (size_t g = 0; g < cfg->group_count; g++) {
		int n = out->launches[PLAN_FIRST_GROUP_TYPE + g].count;
		int room = cfg->groups[g].max_workers - live_in_group(s, g);

		if (cfg->max_workers >= 0 && cfg->max_workers - (int)s->live < room)
			room = cfg->max_workers - (int)s->live;
		for (int k = 0; k < n && k < room; k++)
			if (launch(s, g, now))
				return -ENOMEM;
	}
	return 0;
}

static void apply_stops(struct sim *s, const struct planner_output *out, double now)
{
	for (size_t i = 0; i < out->termination_count; i++) {
		const struct planner_termination *tm = &out->terminations[i];
		struct node *n = node_of(s, tm->id);

		/* The actuator's re-check: work on the node keeps it. */
		if (!n || n->stopped >= 0 || n->running)
			continue;
		stop(s, n, now);
		if (tm->reason == PLANNER_TERM_IDLE) {
			s->m.idle_stops++;
			fusion_node_stopped_idle(&s->fusion, n->group, now);
		}
	}
}

static int plan(struct sim *s, struct plan_input *p, struct view *v, struct planner_output *out)
{
	struct fusion_signals sig = { .reject_rate = 0 };
	int rc;

	fusion_adjust_input(&s->fusion, p, &s->notes);
	if ((rc = planner_plan(&p->in, out))) {
		snprintf(s->err, s->err_size, "planner: %s", rc == -EINVAL ? out->error : "no memory");
		return rc;
	}
	sig.last_lease_at = v->lease;
	fusion_filter_plan(&s->fusion, p, out, &sig, &s->notes);
	return 0;
}

static int control(struct sim *s, double now)
{
	struct plan_sources src = {
		.config = &s->t->cfg, .usage_fresh = true, .launch_timeout_s = s->t->launch_timeout_s,
		.group_launch_timeout_s = s->timeouts, .now = now,
	};
	struct planner_output out = { 0 };
	struct plan_input p = { 0 };
	struct view v;
	int rc;

	s->notes.n = 0;
	reconcile(s, now);
	if (!(rc = view_build(s, &v, now))) {
		src.snap = &v.snap;
		src.pnodes = v.pn;
		src.pnode_count = v.npn;
		rc = plan_input_build(&src, &p);
	}
	if (!rc && !(rc = node_facts(s, &p, &v, now)) && !(rc = plan(s, &p, &v, &out))) {
		apply_stops(s, &out, now);
		rc = apply_launches(s, &out, now);
	}
	for (size_t i = 0; i < s->notes.n; i++)
		s->m.fallbacks += s->notes.v[i].kind == FUSION_FALLBACK;
	planner_output_free(&out);
	plan_input_free(&p);
	view_free(&v);
	return rc;
}

/* ---------------------------------------------------------------- metrics */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);

	return n ? v[i ? i - 1 : 0] : 0;
}

static int finish_metrics(struct sim *s, double end)
{
	double *ttc = malloc((s->ntasks + 1) * sizeof(*ttc)), sum = 0;
	size_t n = 0;

	if (!ttc)
		return -ENOMEM;
	for (size_t i = 0; i < s->nnodes; i++)
		if (s->nodes[i].stopped < 0)
			s->m.node_seconds += end - s->nodes[i].launched;
	for (size_t i = 0; i < s->ntasks; i++)
		if (s->tasks[i].start >= 0)
			sum += ttc[n++] = s->tasks[i].start - s->tasks[i].submit;
	qsort(ttc, n, sizeof(*ttc), cmp_double);
	s->m.tasks = s->t->task_count;
	s->m.served = (long)n;
	s->m.unserved = s->m.tasks - s->m.served;
	s->m.ttc_p50_s = pct(ttc, n, 0.5);
	s->m.ttc_p99_s = pct(ttc, n, 0.99);
	s->m.ttc_max_s = n ? ttc[n - 1] : 0;
	s->m.ttc_mean_s = n ? sum / (double)n : 0;
	free(ttc);
	return 0;
}

/* ---------------------------------------------------------------- the run */

static int sim_init(struct sim *s, const struct replay_trace *t, const struct replay_loop *loop)
{
	struct fusion_config fc = t->fusion;
	size_t ng = t->cfg.group_count, nt = (size_t)t->task_count + 1;

	fc.enabled = loop->signals;
	if (fusion_init(&s->fusion, &fc, ng))
		return -ENOMEM;
	s->tasks = calloc(nt, sizeof(*s->tasks));
	s->pending = calloc(nt, sizeof(*s->pending));
	s->running = calloc(nt, sizeof(*s->running));
	s->rng = calloc(ng + 1, sizeof(*s->rng));
	s->timeouts = calloc(ng + 1, sizeof(*s->timeouts));
	s->blocked = calloc(t->shape_count + 1, sizeof(*s->blocked));
	if (!s->tasks || !s->pending || !s->running || !s->rng || !s->timeouts || !s->blocked)
		return -ENOMEM;
	for (size_t g = 0; g < ng; g++)
		s->rng[g] = t->seed ^ ((uint64_t)(g + 1) * 0xD1B54A32D192ED03ull);
	return 0;
}

static void sim_free(struct sim *s)
{
	for (size_t i = 0; i < s->nnodes; i++)
		resmap_free(&s->nodes[i].avail);
	free(s->nodes);
	free(s->tasks);
	free(s->pending);
	free(s->running);
	free(s->rng);
	free(s->timeouts);
	free(s->blocked);
	fusion_fini(&s->fusion);
}

int replay_run(const struct replay_trace *t, const struct replay_loop *loop,
	       struct replay_metrics *out, char *err, size_t err_size)
{
	struct sim s = { .t = t, .loop = loop, .err = err, .err_size = err_size };
	long every = lround(fmax(loop->interval_s, STEP_S) / STEP_S);
	long steps = (long)floor(t->end_s / STEP_S);
	int rc = sim_init(&s, t, loop);

	if (err_size)
		err[0] = 0;
	for (long k = 0; !rc && k <= steps; k++) {
		double now = T0 + (double)k * STEP_S;

		rc = world_step(&s, now);
		if (!rc && k % every == 0)
			rc = control(&s, now);
		if ((int)s.live > s.m.peak_nodes)
			s.m.peak_nodes = (int)s.live;
	}
	if (!rc)
		rc = finish_metrics(&s, T0 + (double)steps * STEP_S);
	if (!rc)
		*out = s.m;
	else if (rc == -ENOMEM && err_size)
		snprintf(err, err_size, "out of memory");
	sim_free(&s);
	return rc;
}
