/* fusion.c -- the fusion rules around the planner (fusion.h). */
#include "controller/fusion/fusion.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fusion_config_defaults(struct fusion_config *c)
{
	*c = (struct fusion_config){
		.enabled = true,
		.keep_after_lease_s = 30,
		.reject_burst_per_s = 5,
		.stuck_factor = 3,
		.stuck_min_samples = 5,
		.backoff_s = 120,
		.unschedulable_grace_s = 10,
		.idle_beta = 2,
		.idle_max_s = 600,
		.returned_window_s = 600,
	};
}

int fusion_init(struct fusion *f, const struct fusion_config *cfg, size_t group_count)
{
	memset(f, 0, sizeof(*f));
	f->cfg = *cfg;
	f->group_count = group_count;
	f->g = calloc(group_count + 1, sizeof(*f->g));
	f->order = calloc(PLAN_FIRST_GROUP_TYPE + group_count, sizeof(*f->order));
	f->p50 = calloc(group_count + 1, sizeof(*f->p50));
	return f->g && f->order && f->p50 ? 0 : -ENOMEM;
}

void fusion_fini(struct fusion *f)
{
	free(f->g);
	free(f->order);
	free(f->p50);
	f->g = NULL;
	f->order = NULL;
	f->p50 = NULL;
}

int fusion_regroup(struct fusion *f, const int *map, size_t group_count)
{
	struct fusion_group *g = calloc(group_count + 1, sizeof(*g));
	size_t *order = calloc(PLAN_FIRST_GROUP_TYPE + group_count, sizeof(*order));
	double *p50 = calloc(group_count + 1, sizeof(*p50));

	if (!g || !order || !p50) {
		free(g);
		free(order);
		free(p50);
		return -ENOMEM;
	}
	for (size_t i = 0; i < group_count; i++)
		if (map[i] >= 0)
			g[i] = f->g[map[i]];
	fusion_fini(f);
	f->g = g;
	f->order = order;
	f->p50 = p50;
	f->group_count = group_count;
	return 0;
}

const char *fusion_note_kind_name(enum fusion_note_kind k)
{
	switch (k) {
	case FUSION_KEEP_LEASE:
		return "recent_lease";
	case FUSION_KEEP_BURST:
		return "reject_burst";
	case FUSION_FALLBACK:
		return "timeout";
	case FUSION_ADAPTIVE_IDLE:
		return "adaptive_idle";
	case FUSION_FALLBACK_UNSCHEDULABLE:
		return "unschedulable";
	}
	return "unknown";
}

static struct fusion_note *note(struct fusion_notes *notes, enum fusion_note_kind kind,
				size_t group, const char *node, double value, double limit)
{
	struct fusion_note *n;

	if (!notes || notes->n == FUSION_MAX_NOTES)
		return NULL;
	n = &notes->v[notes->n++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->group = group;
	snprintf(n->node, sizeof(n->node), "%s", node ? node : "");
	n->value = value;
	n->limit = limit;
	return n;
}

/* ---------------------------------------------------------------- observations */

void fusion_node_alive(struct fusion *f, size_t group, double startup_s)
{
	if (group < f->group_count)
		startup_add(&f->g[group].startup, STARTUP_SRC_CONTROLLER, startup_s);
}

void fusion_agent_startup(struct fusion *f, size_t group, double startup_s)
{
	if (group < f->group_count)
		startup_add(&f->g[group].startup, STARTUP_SRC_AGENT, startup_s);
}

void fusion_node_launched(struct fusion *f, size_t group, double now)
{
	struct fusion_group *g;

	if (group >= f->group_count)
		return;
	g = &f->g[group];
	if (g->last_idle_stop_at > 0 && now - g->last_idle_stop_at <= f->cfg.returned_window_s)
		g->returned_at = now;
}

void fusion_node_stopped_idle(struct fusion *f, size_t group, double now)
{
	if (group < f->group_count)
		f->g[group].last_idle_stop_at = now;
}

void fusion_startup_stats(const struct fusion *f, size_t group, struct startup_stats *out)
{
	if (group < f->group_count)
		startup_stats(&f->g[group].startup, out);
	else
		memset(out, 0, sizeof(*out));
}

double fusion_launch_timeout(const struct fusion *f, size_t group, double configured)
{
	struct startup_stats st;
	double t;

	if (!f->cfg.enabled || group >= f->group_count)
		return configured;
	fusion_startup_stats(f, group, &st);
	if (st.n < f->cfg.stuck_min_samples)
		return configured;
	t = f->cfg.stuck_factor * st.p95;
	return t > 0 && t < configured ? t : configured;
}

void fusion_launch_given_up(struct fusion *f, size_t group, const char *node, double waited_s,
			    double now, struct fusion_notes *notes)
{
	if (!f->cfg.enabled || group >= f->group_count)
		return;
	f->g[group].backoff_until = now + f->cfg.backoff_s;
	note(notes, FUSION_FALLBACK, group, node, waited_s, f->cfg.backoff_s);
}

/* ---------------------------------------------------------------- before planning */

/* A backed-off group launches nothing: its max (and min) become what it
 * has now, so the planner puts its demand on the other groups. */
static void back_off(struct plan_input *p, size_t t)
{
	struct planner_node_type *type = &p->types[t];
	int have = 0;

	for (size_t i = 0; i < p->in.node_count; i++)
		if (!strcmp(p->in.nodes[i].type, type->name))
			have++;
	if (type->max_workers > have)
		type->max_workers = have;
	if (type->min_workers > type->max_workers)
		type->min_workers = type->max_workers;
}

static double base_idle(const struct plan_input *p, size_t t)
{
	return p->types[t].idle_timeout_s >= 0 ? p->types[t].idle_timeout_s : p->in.idle_timeout_s;
}

static void adapt_idle(struct fusion *f, struct plan_input *p, size_t g, double now,
		       struct fusion_notes *notes)
{
	const struct fusion_group *fg = &f->g[g];
	size_t t = PLAN_FIRST_GROUP_TYPE + g;
	struct startup_stats st;
	double base = base_idle(p, t), want;

	if (f->cfg.idle_max_s <= 0 || base < 0 || fg->returned_at <= 0 ||
	    now - fg->returned_at > f->cfg.returned_window_s)
		return;
	startup_stats(&fg->startup, &st);
	if (!st.n)
		return;
	want = fmin(f->cfg.idle_max_s, f->cfg.idle_beta * st.p90);
	if (want <= base)
		return;
	p->types[t].idle_timeout_s = want;
	note(notes, FUSION_ADAPTIVE_IDLE, g, NULL, want, base);
}

/* Fastest measured group first; only when every group is measured (an
 * unmeasured group may be the fast one). */
static void order_by_speed(struct fusion *f, struct plan_input *p)
{
	double *p50 = f->p50;	/* [group_count], sized with the group set */
	size_t n = PLAN_FIRST_GROUP_TYPE + f->group_count;

	if (p->in.node_type_count != n || !p50)
		return;
	for (size_t g = 0; g < f->group_count; g++) {
		struct startup_stats st;

		startup_stats(&f->g[g].startup, &st);
		if (st.n < f->cfg.stuck_min_samples || !st.n)
			return;
		p50[g] = st.p50;
	}
	for (size_t t = 0; t < n; t++)
		f->order[t] = t;
	/* Insertion sort of the groups (stable: config order on equal p50). */
	for (size_t i = PLAN_FIRST_GROUP_TYPE + 1; i < n; i++)
		for (size_t j = i; j > PLAN_FIRST_GROUP_TYPE &&
		     p50[f->order[j] - PLAN_FIRST_GROUP_TYPE] <
		     p50[f->order[j - 1] - PLAN_FIRST_GROUP_TYPE]; j--) {
			size_t tmp = f->order[j];

			f->order[j] = f->order[j - 1];
			f->order[j - 1] = tmp;
		}
	p->in.type_order = f->order;
}

void fusion_adjust_input(struct fusion *f, struct plan_input *p, struct fusion_notes *notes)
{
	if (!f->cfg.enabled)
		return;
	for (size_t i = 0; i < p->in.node_count; i++)
		if (p->refs[i].kind == REF_PROVIDER && !p->refs[i].dn && p->refs[i].started_at > 0)
			p->nodes[i].started = true;
	for (size_t g = 0; g < f->group_count; g++) {
		if (f->g[g].backoff_until > p->now)
			back_off(p, PLAN_FIRST_GROUP_TYPE + g);
		adapt_idle(f, p, g, p->now, notes);
	}
	order_by_speed(f, p);
}

/* ---------------------------------------------------------------- after planning */

static int group_of(const struct plan_input *p, const char *type)
{
	for (size_t t = PLAN_FIRST_GROUP_TYPE; t < p->in.node_type_count; t++)
		if (!strcmp(p->types[t].name, type))
			return (int)(t - PLAN_FIRST_GROUP_TYPE);
	return -1;
}

/* ------------------------------------------------------- unschedulable fallback */

/* A copy of what a trial changes in the plan input (types, nodes, refs). */
struct saved_input {
	struct planner_node_type *types;
	struct planner_node *nodes;
	struct node_ref *refs;
	size_t node_count;
};

static int save_input(const struct plan_input *p, struct saved_input *s)
{
	size_t nt = p->in.node_type_count, nn = p->in.node_count;

	if (!s->types && (!(s->types = malloc((nt + 1) * sizeof(*s->types))) ||
			  !(s->nodes = malloc((nn + 1) * sizeof(*s->nodes))) ||
			  !(s->refs = malloc((nn + 1) * sizeof(*s->refs)))))
		return -ENOMEM;
	memcpy(s->types, p->types, nt * sizeof(*s->types));
	memcpy(s->nodes, p->nodes, nn * sizeof(*s->nodes));
	memcpy(s->refs, p->refs, nn * sizeof(*s->refs));
	s->node_count = nn;
	return 0;
}

static void restore_input(struct plan_input *p, const struct saved_input *s)
{
	memcpy(p->types, s->types, p->in.node_type_count * sizeof(*s->types));
	memcpy(p->nodes, s->nodes, s->node_count * sizeof(*s->nodes));
	memcpy(p->refs, s->refs, s->node_count * sizeof(*s->refs));
	p->in.node_count = s->node_count;
}

static void free_saved(struct saved_input *s)
{
	free(s->types);
	free(s->nodes);
	free(s->refs);
}

/* Remove node i, keeping the order; a provider node's id lives in its ref
 * (plan_input.c), so it moves with it. */
static void drop_node(struct plan_input *p, size_t i)
{
	for (size_t j = i; j + 1 < p->in.node_count; j++) {
		bool own = p->nodes[j + 1].id == p->refs[j + 1].provider_id;

		p->nodes[j] = p->nodes[j + 1];
		p->refs[j] = p->refs[j + 1];
		if (own)
			p->nodes[j].id = p->refs[j].provider_id;
	}
	p->in.node_count--;
}

static bool unplaceable(const struct fusion *f, const struct plan_input *p, size_t i)
{
	const struct node_ref *r = &p->refs[i];

	return r->kind == REF_PROVIDER && !r->dn && r->unschedulable_since > 0 &&
	       p->now - r->unschedulable_since >= f->cfg.unschedulable_grace_s &&
	       group_of(p, p->nodes[i].type) >= 0;
}

/* The candidates' ids, longest unplaceable first; how many (<= max). */
static size_t candidates(const struct fusion *f, const struct plan_input *p,
			 char (*ids)[PROVIDER_ID_MAX], size_t max)
{
	double since[FUSION_MAX_GIVEUPS];
	size_t n = 0;

	for (size_t i = 0; i < p->in.node_count; i++) {
		double t = p->refs[i].unschedulable_since;
		size_t k;

		if (!unplaceable(f, p, i) || (n == max && t >= since[n - 1]))
			continue;
		k = n < max ? n++ : n - 1;	/* full: the youngest makes room */
		for (; k > 0 && since[k - 1] > t; k--) {
			since[k] = since[k - 1];
			memcpy(ids[k], ids[k - 1], PROVIDER_ID_MAX);
		}
		since[k] = t;
		snprintf(ids[k], PROVIDER_ID_MAX, "%s", p->nodes[i].id);
	}
	return n;
}

static int node_index(const struct plan_input *p, const char *id)
{
	for (size_t i = 0; i < p->in.node_count; i++)
		if (p->refs[i].kind == REF_PROVIDER && !strcmp(p->nodes[i].id, id))
			return (int)i;
	return -1;
}

/* Nodes the trial launches beyond the plan on groups other than type
 * `stuck`; *to = the first such type. */
static int moved(const struct planner_output *plan, const struct planner_output *trial,
		 size_t stuck, size_t *to)
{
	int n = 0;

	for (size_t t = PLAN_FIRST_GROUP_TYPE; t < trial->launch_count && t < plan->launch_count;
	     t++) {
		int more = trial->launches[t].count - plan->launches[t].count;

		if (t == stuck || more <= 0)
			continue;
		if (!n)
			*to = t;
		n += more;
	}
	return n;
}

static void gave_up_unplaceable(struct fusion *f, const struct plan_input *p, size_t g,
				const struct node_ref *r, const char *id, size_t to,
				struct fusion_giveups *gu, struct fusion_notes *notes)
{
	struct fusion_note *n;

	f->g[g].backoff_until = p->now + f->cfg.backoff_s;
	snprintf(gu->v[gu->n].node, sizeof(gu->v[gu->n].node), "%s", id);
	gu->v[gu->n].group = g;
	gu->v[gu->n].waited_s = r->launched_at > 0 ? p->now - r->launched_at : 0;
	snprintf(gu->v[gu->n].detail, sizeof(gu->v[gu->n].detail), "%s", r->unschedulable);
	n = note(notes, FUSION_FALLBACK_UNSCHEDULABLE, g, id, gu->v[gu->n].waited_s,
		 f->cfg.backoff_s);
	gu->n++;
	if (!n)
		return;
	n->unschedulable_s = p->now - r->unschedulable_since;
	snprintf(n->detail, sizeof(n->detail), "%s", r->unschedulable);
	n->to_group = to - PLAN_FIRST_GROUP_TYPE;
}

int fusion_unschedulable(struct fusion *f, struct plan_input *p, struct planner_output *out,
			 struct fusion_giveups *gu, struct fusion_notes *notes)
{
	char ids[FUSION_MAX_GIVEUPS][PROVIDER_ID_MAX];
	struct saved_input saved = { 0 };
	size_t n;
	int rc = 0;

	gu->n = 0;
	if (!f->cfg.enabled || f->cfg.unschedulable_grace_s < 0)
		return 0;
	n = candidates(f, p, ids, FUSION_MAX_GIVEUPS);
	for (size_t c = 0; c < n; c++) {
		struct planner_output trial = { 0 };
		int i = node_index(p, ids[c]), g;
		struct node_ref ref;
		size_t to = 0;

		if (i < 0)
			continue;
		if ((rc = save_input(p, &saved)))
			break;
		ref = p->refs[i];
		g = group_of(p, p->nodes[i].type);
		drop_node(p, (size_t)i);
		back_off(p, PLAN_FIRST_GROUP_TYPE + (size_t)g);
		rc = planner_plan(&p->in, &trial);
		if (rc || !moved(out, &trial, PLAN_FIRST_GROUP_TYPE + (size_t)g, &to)) {
			/* No other group takes it: it waits (launch timeout). */
			planner_output_free(&trial);
			restore_input(p, &saved);
			if (rc == -ENOMEM)
				break;
			rc = 0;
			continue;
		}
		planner_output_free(out);
		*out = trial;
		gave_up_unplaceable(f, p, (size_t)g, &ref, ids[c], to, gu, notes);
	}
	free_saved(&saved);
	return rc;
}

/* Why fusion keeps this idle node, or -1. */
static int keep_reason(const struct fusion *f, const struct plan_input *p,
		       const struct planner_termination *tm, const struct fusion_signals *sig,
		       double *value, double *limit)
{
	double at;

	if (tm->reason != PLANNER_TERM_IDLE)
		return -1;
	if (sig->reject_rate >= 0 && sig->reject_rate > f->cfg.reject_burst_per_s) {
		*value = sig->reject_rate;
		*limit = f->cfg.reject_burst_per_s;
		return FUSION_KEEP_BURST;
	}
	at = sig->last_lease_at ? sig->last_lease_at[tm->node_index] : 0;
	if (at > 0 && p->now - at < f->cfg.keep_after_lease_s) {
		*value = p->now - at;
		*limit = f->cfg.keep_after_lease_s;
		return FUSION_KEEP_LEASE;
	}
	return -1;
}

void fusion_filter_plan(struct fusion *f, const struct plan_input *p, struct planner_output *out,
			const struct fusion_signals *sig, struct fusion_notes *notes)
{
	size_t w = 0;

	if (!f->cfg.enabled)
		return;
	for (size_t i = 0; i < out->termination_count; i++) {
		const struct planner_termination *tm = &out->terminations[i];
		double value = 0, limit = 0;
		int why = keep_reason(f, p, tm, sig, &value, &limit);
		int g = group_of(p, tm->type);

		if (why < 0 || g < 0) {
			out->terminations[w++] = *tm;
			continue;
		}
		note(notes, (enum fusion_note_kind)why, (size_t)g, tm->id, value, limit);
	}
	out->termination_count = w;
}
