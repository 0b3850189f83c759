/* planner.c -- the scaling planner: Ray autoscaler v2 semantics in pure C.
 *
 * Mirrors ResourceDemandScheduler.schedule() of Ray 2.60.0
 * (python/ray/autoscaler/v2/scheduler.py) step by step:
 *
 *   1. min_workers per type           (_enforce_min_workers_per_type)
 *   2. max_workers per type           (_enforce_max_workers_per_type)
 *   3. global max_workers             (_enforce_max_workers_global)
 *   4. request_resources on TOTAL resources, all or nothing
 *                                     (_enforce_resource_constraints)
 *   5. placement groups, each all or nothing, sorted by (#placement
 *      constraints, #bundles) desc    (_sched_gang_resource_requests)
 *   6. tasks and actors               (_sched_resource_requests)
 *   7. idle termination               (_enforce_idle_termination)
 *
 * and then the v2 reconciler's launch limit (reconciler.py,
 * _compute_to_launch):  per type, at most
 *     max(1, ceil(upscaling_speed * max(running_of_type, 1)))
 * nodes start per round, and at most max_concurrent_launches (10) nodes are
 * in flight cluster-wide.
 *
 * Bin-packing (_try_schedule / _sched_best_node / SchedulingNode.try_schedule):
 * requests are sorted by (#placement constraints, #resources, sum of amounts,
 * sorted items) descending, stable.  Existing nodes are filled first: every
 * candidate node tries all remaining requests first-fit in that order, the
 * node with the best utilization score wins and leaves the candidate list;
 * repeat.  Then new nodes: one template per launchable type (in node type
 * order), the best template becomes a new node, a fresh template of that type
 * goes to the END of the pool while the type has quota.  Score, compared
 * lexicographically (higher is better):
 *     (gpu_ok, #requested resource types the node has,
 *      min_k total_k*util_k^3, mean_k total_k*util_k^3)
 * gpu_ok is false for a GPU node whose placed requests ask for no GPU
 * (AUTOSCALER_CONSERVE_GPU_NODES).  Ties go to the earlier node.  The order
 * of the node list between steps follows Ray's, so ties break the same way.
 *
 * Placement groups become gang requests as the GCS builds them
 * (gcs_autoscaler_state_manager.cc, GenPlacementConstraintForPlacementGroup):
 * STRICT_SPREAD bundles carry an anti-affinity label (one bundle per node),
 * STRICT_PACK bundles are summed into one request (one node), PACK and
 * SPREAD bundles are independent requests.
 *
 * DELIBERATE DEVIATIONS FROM RAY (copied to the README):
 *  D1. Never terminate a working node.  Ray's max_workers enforcement
 *      (per type and global) terminates running nodes regardless of use
 *      (a "preemption" drain).  Here only pending nodes, or running nodes
 *      that are idle by every signal (resources all free, agent not busy,
 *      data present), are terminated for max; the others are kept and
 *      reported in `kept`.  They still count toward max, so nothing new is
 *      launched while the cluster is over max.
 *  D2. Idle termination adds three guards to Ray's (idle past timeout, not
 *      needed by demand, not below min, never the head): the node's logical
 *      resources must all be free (total == available), the agent's busy
 *      hint must not say busy, and idle time and resources must be known.
 *      Missing data never terminates anything.
 *  D3. A running node whose resources were not reported is scheduled with
 *      its type's resources and counts toward max.  Ray skips such an
 *      instance entirely (scheduler.py, "Skipping RAY_RUNNING instance with
 *      ray_node=None"), which could launch past max.
 *  D4. Nodes marked for termination in this round (over max) receive no
 *      demand.  Ray's _try_schedule still offers them to requests.
 *  D5. The global cap counts worker nodes against max_workers (the head is
 *      excluded).  Ray counts all nodes against max_workers + 1, which is the
 *      same when the head is present and one more when it is not reported.
 *  D6. Pending nodes count as "in flight" for max_concurrent_launches.  Ray
 *      counts only instances in REQUESTED state (cloud request not yet
 *      answered); raysense cannot see that state, so a pod or process that
 *      is starting counts too.  This launches at most as many as Ray would.
 *  D7. No label selectors, no node type priorities, no cloud availability
 *      scores, no IPPR (in-place pod resize), no outdated-config
 *      termination, no pending-node idle timeout: raysense does not feed
 *      these inputs, and Ray treats their absence as neutral.
 *  D8. Very large counts: when more than 1024 copies of one shape fit on one
 *      node, the rest is placed by multiplication instead of one
 *      subtraction per copy (Ray subtracts one by one; the difference is at
 *      most floating-point rounding).  Node counts are clamped to
 *      PLANNER_MAX_NODES.
 *  D9. Demand that is feasible but blocked by max_workers is reported as
 *      infeasible with reason "at_max"; Ray reports both kinds the same way.
 */
#include "controller/planner.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPLICIT_PREFIX "node:__internal_implicit_resource_"
#define BULK_PLACE_AFTER 1024
#define NO_INDEX ((size_t)-1)

enum src { SRC_DEMAND = 0, SRC_CONSTRAINT = 1, SRC_N = 2 };
enum nstate { N_SCHEDULABLE, N_TO_LAUNCH, N_TO_TERMINATE };
enum constraint { C_NONE = 0, C_AFFINITY = 1, C_ANTI = 2 };

/* ---------------------------------------------------------------- arrays */

/* A sparse resource vector: interned resource ids and amounts, in order. */
struct rvec {
	int n, cap;
	int *ids;
	double *vals;
};

static int rvec_reserve(struct rvec *v, int need)
{
	if (need <= v->cap)
		return 0;
	int cap = v->cap ? v->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	int *ids = realloc(v->ids, (size_t)cap * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	v->ids = ids;
	double *vals = realloc(v->vals, (size_t)cap * sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	v->vals = vals;
	v->cap = cap;
	return 0;
}

static int rvec_push(struct rvec *v, int id, double val)
{
	int err = rvec_reserve(v, v->n + 1);
	if (err)
		return err;
	v->ids[v->n] = id;
	v->vals[v->n] = val;
	v->n++;
	return 0;
}

static int rvec_copy(struct rvec *dst, const struct rvec *src)
{
	int err = rvec_reserve(dst, src->n);
	if (err)
		return err;
	if (src->n) {
		memcpy(dst->ids, src->ids, (size_t)src->n * sizeof(int));
		memcpy(dst->vals, src->vals, (size_t)src->n * sizeof(double));
	}
	dst->n = src->n;
	return 0;
}

static void rvec_free(struct rvec *v)
{
	free(v->ids);
	free(v->vals);
	memset(v, 0, sizeof(*v));
}

static int rvec_find(const struct rvec *v, int id)
{
	for (int i = 0; i < v->n; i++)
		if (v->ids[i] == id)
			return i;
	return -1;
}

/* A growable array of plain structs. */
#define VEC_PUSH(arr, n, cap, item)                                           \
	({                                                                    \
		int __err = 0;                                                \
		if ((n) == (cap)) {                                           \
			size_t __c = (cap) ? (cap) * 2 : 16;                  \
			void *__p = realloc((arr), __c * sizeof(*(arr)));     \
			if (!__p)                                             \
				__err = -ENOMEM;                              \
			else {                                                \
				(arr) = __p;                                  \
				(cap) = __c;                                  \
			}                                                     \
		}                                                             \
		if (!__err)                                                   \
			(arr)[(n)++] = (item);                                \
		__err;                                                        \
	})

/* ------------------------------------------------------ resource interning */

struct names {
	const char **name;	/* by id */
	bool *implicit;		/* by id */
	int n, cap;
	int *slots;		/* open addressing, -1 = empty */
	size_t nslots;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int names_grow(struct names *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 256;
	int *slots = malloc(nslots * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < nslots; i++)
		slots[i] = -1;
	for (int id = 0; id < t->n; id++) {
		size_t s = hash_str(t->name[id]) & (nslots - 1);
		while (slots[s] >= 0)
			s = (s + 1) & (nslots - 1);
		slots[s] = id;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* Returns the id of `name`, adding it if new; -ENOMEM on failure. */
static int names_intern(struct names *t, const char *name)
{
	if ((size_t)(t->n + 1) * 2 > t->nslots && names_grow(t))
		return -ENOMEM;
	size_t s = hash_str(name) & (t->nslots - 1);
	while (t->slots[s] >= 0) {
		if (strcmp(t->name[t->slots[s]], name) == 0)
			return t->slots[s];
		s = (s + 1) & (t->nslots - 1);
	}
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 64;
		const char **nm = realloc(t->name, (size_t)cap * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		t->name = nm;
		bool *im = realloc(t->implicit, (size_t)cap * sizeof(*im));
		if (!im)
			return -ENOMEM;
		t->implicit = im;
		t->cap = cap;
	}
	int id = t->n++;
	t->name[id] = name;
	t->implicit[id] = strncmp(name, IMPLICIT_PREFIX, strlen(IMPLICIT_PREFIX)) == 0;
	t->slots[s] = id;
	return id;
}

static void names_free(struct names *t)
{
	free(t->name);
	free(t->implicit);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------- requests */

/* A resource request shape, positive amounts only, plus the sort key. */
struct shape {
	struct rvec res;	/* in request order */
	int *sorted;		/* indexes into res, by resource name */
	double sum;		/* of amounts, in name order */
	bool has_gpu;
};

/* `remaining` copies of one request.  Runs are what gets sorted. */
struct run {
	struct shape *shape;
	enum constraint constraint;
	int label;		/* anti-affinity label (one per placement group) */
	long remaining;
	enum planner_cause cause;
	size_t index;
	size_t pos;		/* position before sorting (stability) */
	int seg;		/* segment of identical requests, after sorting */
};

/* Contiguous runs with identical requests (Ray's per-shape cache). */
struct segment {
	size_t first, end;
	long remaining;
};

/* -------------------------------------------------------------- the nodes */

struct snode {
	size_t type;		/* node type index */
	size_t input;		/* index into input.nodes, NO_INDEX for new nodes */
	enum nstate state;
	bool head;
	bool running_ray;	/* Ray reported it (Ray's ray_node_id != "") */
	bool exhaustible;	/* Ray's RAY_RUNNING: subject to the pre-filter */
	double idle_ms;
	struct rvec total;
	struct rvec avail[SRC_N];
	struct rvec reqd[SRC_N];	/* resource ids requested (vals unused) */
	bool gpu_req[SRC_N];
	bool needed[SRC_N];
	/* explanation (new nodes) */
	struct planner_reason *reasons;
	size_t nreasons, capreasons;
};

/* Saved state of a node touched by an all-or-nothing attempt. */
struct saved {
	size_t node;
	struct rvec avail, reqd;
	bool gpu_req, needed;
	size_t nreasons;
};

struct score {
	int gpu_ok;
	int matching;
	double min_util;
	double mean_util;
};

/* Scratch state of one trial placement on a node. */
struct trial {
	struct rvec avail;
	struct rvec reqd;
	bool gpu_req;
	int *labels;
	size_t nlabels, caplabels;
	size_t *placed_run;	/* run indexes that got copies */
	long *placed_k;
	size_t nplaced, capplaced;
	struct score score;
};

struct planner {
	const struct planner_input *in;
	struct planner_output *out;
	struct names names;
	int gpu_id;
	struct shape **shapes;
	size_t nshapes, capshapes;
	struct snode *nodes;	/* all nodes ever created (existing first) */
	size_t nnodes, capnodes;
	size_t *ctx;		/* Ray's context order: node indexes */
	size_t nctx, capctx;
	int *type_max;		/* clamped max per type */
	struct rvec *type_res;	/* interned resources per type */
	int global_max;		/* -1 = none */
	int next_label;
	struct trial trial[2];	/* current attempt and best so far */
	struct saved *saved;
	size_t nsaved, capsaved;
	bool journal;		/* record saves (all-or-nothing attempts) */
	size_t first_new_in_attempt;
};

/* ------------------------------------------------------------ validation */

static int fail(struct planner *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct planner *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->out->error, sizeof(p->out->error), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int check_resources(struct planner *p, const struct planner_resources *r,
			   const char *what)
{
	if (r->count && !r->items)
		return fail(p, "%s: resource list is NULL", what);
	for (size_t i = 0; i < r->count; i++) {
		const struct planner_resource *it = &r->items[i];
		if (!it->name || !it->name[0])
			return fail(p, "%s: resource #%zu has no name", what, i);
		if (!isfinite(it->value) || it->value < 0)
			return fail(p, "%s: amount of '%s' is negative or not finite",
				    what, it->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->items[j].name, it->name) == 0)
				return fail(p, "%s: resource '%s' appears twice", what, it->name);
	}
	return 0;
}

static long type_index(const struct planner_input *in, const char *name)
{
	for (size_t i = 0; i < in->node_type_count; i++)
		if (strcmp(in->node_types[i].name, name) == 0)
			return (long)i;
	return -1;
}

static int cmp_node_id(const void *a, const void *b, void *nodes)
{
	const struct planner_node *n = nodes;
	return strcmp(n[*(const size_t *)a].id, n[*(const size_t *)b].id);
}

/* Node ids must be unique (they name terminations).  O(n log n). */
static int check_unique_ids(struct planner *p)
{
	size_t n = p->in->node_count;
	size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_node_id, (void *)p->in->nodes);
	int err = 0;
	for (size_t i = 1; i < n && !err; i++)
		if (strcmp(p->in->nodes[idx[i - 1]].id, p->in->nodes[idx[i]].id) == 0)
			err = fail(p, "node id '%s' appears twice", p->in->nodes[idx[i]].id);
	free(idx);
	return err;
}

static int validate(struct planner *p)
{
	const struct planner_input *in = p->in;
	int err;

	if (in->node_type_count && !in->node_types)
		return fail(p, "node_types is NULL");
	for (size_t i = 0; i < in->node_type_count; i++) {
		const struct planner_node_type *t = &in->node_types[i];
		if (!t->name || !t->name[0])
			return fail(p, "node type #%zu has no name", i);
		if (type_index(in, t->name) != (long)i)
			return fail(p, "node type '%s' is defined twice", t->name);
		if (t->min_workers < 0 || t->max_workers < 0)
			return fail(p, "node type '%s': negative min_workers/max_workers",
				    t->name);
		if (t->min_workers > t->max_workers)
			return fail(p, "node type '%s': min_workers > max_workers",
				    t->name);
		if (isnan(t->idle_timeout_s))
			return fail(p, "node type '%s': idle_timeout_s is NaN", t->name);
		if ((err = check_resources(p, &t->resources, t->name)))
			return err;
	}
	if (!isfinite(in->upscaling_speed) || in->upscaling_speed < 0)
		return fail(p, "upscaling_speed must be finite and >= 0");
	if (isnan(in->idle_timeout_s))
		return fail(p, "idle_timeout_s is NaN");
	if (in->node_count && !in->nodes)
		return fail(p, "nodes is NULL");
	for (size_t i = 0; i < in->node_count; i++) {
		const struct planner_node *n = &in->nodes[i];
		if (!n->id || !n->id[0])
			return fail(p, "node #%zu has no id", i);
		if (!n->type || type_index(in, n->type) < 0)
			return fail(p, "node '%s' has an unknown type '%s'", n->id,
				    n->type ? n->type : "(null)");
		if (n->status != PLANNER_NODE_RUNNING && n->status != PLANNER_NODE_PENDING)
			return fail(p, "node '%s' has a bad status", n->id);
		if (n->have_resources) {
			if ((err = check_resources(p, &n->total, n->id)))
				return err;
			if ((err = check_resources(p, &n->available, n->id)))
				return err;
		}
	}
	if ((err = check_unique_ids(p)))
		return err;
	if ((in->shape_count && !in->shapes) || (in->pg_count && !in->pgs) ||
	    (in->request_count && !in->requests))
		return fail(p, "demand array is NULL");
	for (size_t i = 0; i < in->shape_count; i++) {
		if (in->shapes[i].count < 0 || in->shapes[i].count > PLANNER_MAX_COUNT)
			return fail(p, "demand shape #%zu: count out of range", i);
		if ((err = check_resources(p, &in->shapes[i].shape, "demand shape")))
			return err;
	}
	for (size_t i = 0; i < in->request_count; i++) {
		if (in->requests[i].count < 0 || in->requests[i].count > PLANNER_MAX_COUNT)
			return fail(p, "request_resources #%zu: count out of range", i);
		if ((err = check_resources(p, &in->requests[i].shape, "request_resources")))
			return err;
	}
	for (size_t i = 0; i < in->pg_count; i++) {
		const struct planner_pg_demand *g = &in->pgs[i];
		if (g->count < 0 || g->count > PLANNER_MAX_COUNT)
			return fail(p, "placement group #%zu: count out of range", i);
		if ((unsigned)g->strategy > PLANNER_PG_STRICT_SPREAD)
			return fail(p, "placement group #%zu: bad strategy", i);
		if (g->bundle_count && !g->bundles)
			return fail(p, "placement group #%zu: bundles is NULL", i);
		for (size_t b = 0; b < g->bundle_count; b++)
			if ((err = check_resources(p, &g->bundles[b], "placement group bundle")))
				return err;
	}
	return 0;
}

/* ---------------------------------------------------------------- shapes */

static int intern_rvec(struct planner *p, const struct planner_resources *r,
		       bool positive_only, struct rvec *dst)
{
	for (size_t i = 0; i < r->count; i++) {
		if (positive_only && !(r->items[i].value > 0))
			continue;
		int id = names_intern(&p->names, r->items[i].name);
		if (id < 0)
			return id;
		int err = rvec_push(dst, id, r->items[i].value);
		if (err)
			return err;
	}
	return 0;
}

struct name_sort {
	const struct planner *p;
	const struct shape *s;
};

static int cmp_by_name(const void *a, const void *b, void *arg)
{
	const struct name_sort *ns = arg;
	int ia = *(const int *)a, ib = *(const int *)b;
	return strcmp(ns->p->names.name[ns->s->res.ids[ia]],
		      ns->p->names.name[ns->s->res.ids[ib]]);
}

/* Takes ownership of nothing; returns a new shape built from `res`. */
static struct shape *shape_new(struct planner *p, struct rvec *res)
{
	struct shape *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->res = *res;
	memset(res, 0, sizeof(*res));
	s->sorted = malloc((size_t)(s->res.n ? s->res.n : 1) * sizeof(int));
	if (!s->sorted || VEC_PUSH(p->shapes, p->nshapes, p->capshapes, s)) {
		free(s->sorted);
		rvec_free(&s->res);
		free(s);
		return NULL;
	}
	for (int i = 0; i < s->res.n; i++)
		s->sorted[i] = i;
	struct name_sort ns = { p, s };
	qsort_r(s->sorted, (size_t)s->res.n, sizeof(int), cmp_by_name, &ns);
	s->sum = 0;
	for (int i = 0; i < s->res.n; i++) {
		s->sum += s->res.vals[s->sorted[i]];
		if (s->res.ids[i] == p->gpu_id)
			s->has_gpu = true;
	}
	return s;
}

static struct shape *shape_from(struct planner *p, const struct planner_resources *r)
{
	struct rvec v = { 0 };
	if (intern_rvec(p, r, true, &v)) {
		rvec_free(&v);
		return NULL;
	}
	return shape_new(p, &v);
}

/* STRICT_PACK: all bundles summed into one request, keys in first-seen order
 * (utils.py, combine_requests_with_affinity). */
static struct shape *shape_sum(struct planner *p, const struct planner_pg_demand *g)
{
	struct rvec v = { 0 };
	for (size_t b = 0; b < g->bundle_count; b++) {
		const struct planner_resources *r = &g->bundles[b];
		for (size_t i = 0; i < r->count; i++) {
			if (!(r->items[i].value > 0))
				continue;
			int id = names_intern(&p->names, r->items[i].name);
			if (id < 0)
				goto nomem;
			int at = rvec_find(&v, id);
			if (at >= 0)
				v.vals[at] += r->items[i].value;
			else if (rvec_push(&v, id, r->items[i].value))
				goto nomem;
		}
	}
	return shape_new(p, &v);
nomem:
	rvec_free(&v);
	return NULL;
}

/* Ray's _sort_resource_request key, descending; ties keep input order. */
static int cmp_runs(const void *a, const void *b, void *planner)
{
	const struct planner *p = planner;
	const struct run *x = a, *y = b;
	int cx = x->constraint != C_NONE, cy = y->constraint != C_NONE;
	if (cx != cy)
		return cy - cx;
	if (x->shape->res.n != y->shape->res.n)
		return y->shape->res.n - x->shape->res.n;
	if (x->shape->sum != y->shape->sum)
		return x->shape->sum < y->shape->sum ? 1 : -1;
	for (int i = 0; i < x->shape->res.n; i++) {
		int ix = x->shape->sorted[i], iy = y->shape->sorted[i];
		int c = strcmp(p->names.name[x->shape->res.ids[ix]],
			       p->names.name[y->shape->res.ids[iy]]);
		if (c)
			return -c;
		double vx = x->shape->res.vals[ix], vy = y->shape->res.vals[iy];
		if (vx != vy)
			return vx < vy ? 1 : -1;
	}
	return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

static bool same_request(const struct run *x, const struct run *y)
{
	if (x->constraint != y->constraint || x->label != y->label)
		return false;
	if (x->shape == y->shape)
		return true;
	if (x->shape->res.n != y->shape->res.n)
		return false;
	for (int i = 0; i < x->shape->res.n; i++) {
		int ix = x->shape->sorted[i], iy = y->shape->sorted[i];
		if (x->shape->res.ids[ix] != y->shape->res.ids[iy] ||
		    x->shape->res.vals[ix] != y->shape->res.vals[iy])
			return false;
	}
	return true;
}

/* Sorts runs in Ray's order and groups identical requests into segments. */
static int sort_runs(struct planner *p, struct run *runs, size_t n,
		     struct segment **segs_out, size_t *nsegs_out)
{
	for (size_t i = 0; i < n; i++)
		runs[i].pos = i;
	qsort_r(runs, n, sizeof(*runs), cmp_runs, p);
	struct segment *segs = malloc((n ? n : 1) * sizeof(*segs));
	if (!segs)
		return -ENOMEM;
	size_t nsegs = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || !same_request(&runs[i - 1], &runs[i])) {
			segs[nsegs].first = i;
			segs[nsegs].remaining = 0;
			nsegs++;
		}
		segs[nsegs - 1].end = i + 1;
		segs[nsegs - 1].remaining += runs[i].remaining;
		runs[i].seg = (int)(nsegs - 1);
	}
	*segs_out = segs;
	*nsegs_out = nsegs;
	return 0;
}

/* ------------------------------------------------------------ node basics */

static double lookup_avail(const struct planner *p, const struct rvec *avail, int id)
{
	int at = rvec_find(avail, id);
	if (at >= 0)
		return avail->vals[at];
	return p->names.implicit[id] ? 1.0 : 0.0;
}

/* _fits(): every requested amount <= available (implicit resources: 1). */
static bool fits(const struct planner *p, const struct rvec *avail, const struct shape *s)
{
	for (int i = 0; i < s->res.n; i++)
		if (s->res.vals[i] > lookup_avail(p, avail, s->res.ids[i]))
			return false;
	return true;
}

/* _inplace_subtract(), `times` copies at once. */
static int subtract(const struct planner *p, struct rvec *avail, const struct shape *s,
		    double times)
{
	for (int i = 0; i < s->res.n; i++) {
		int at = rvec_find(avail, s->res.ids[i]);
		if (at < 0) {
			int err = rvec_push(avail, s->res.ids[i],
					    p->names.implicit[s->res.ids[i]] ? 1.0 : 0.0);
			if (err)
				return err;
			at = avail->n - 1;
		}
		avail->vals[at] -= times == 1.0 ? s->res.vals[i] : s->res.vals[i] * times;
		if (avail->vals[at] < 0)
			avail->vals[at] = 0;
	}
	return 0;
}

/* How many more copies fit, by division (used only for bulk placement). */
static long fit_count(const struct planner *p, const struct rvec *avail, const struct shape *s)
{
	double k = 1e18;
	for (int i = 0; i < s->res.n; i++) {
		double q = floor(lookup_avail(p, avail, s->res.ids[i]) / s->res.vals[i]);
		if (q < k)
			k = q;
	}
	return k > (double)PLANNER_MAX_COUNT ? PLANNER_MAX_COUNT : (long)k;
}

static int node_init_from_type(struct planner *p, struct snode *n, size_t type)
{
	int err = rvec_copy(&n->total, &p->type_res[type]);
	for (int s = 0; s < SRC_N && !err; s++)
		err = rvec_copy(&n->avail[s], &n->total);
	return err;
}

static void node_free(struct snode *n)
{
	rvec_free(&n->total);
	for (int s = 0; s < SRC_N; s++) {
		rvec_free(&n->avail[s]);
		rvec_free(&n->reqd[s]);
	}
	free(n->reasons);
}

/* Adds a node; returns its index or -ENOMEM. */
static long add_node(struct planner *p, size_t type, size_t input, enum nstate state)
{
	struct snode n = { .type = type, .input = input, .state = state };
	n.head = p->in->node_types[type].is_head;
	if (VEC_PUSH(p->nodes, p->nnodes, p->capnodes, n))
		return -ENOMEM;
	struct snode *np = &p->nodes[p->nnodes - 1];
	const struct planner_node *src = input == NO_INDEX ? NULL : &p->in->nodes[input];
	int err;
	if (src && src->status == PLANNER_NODE_RUNNING && src->have_resources) {
		np->running_ray = true;
		np->exhaustible = true;
		np->idle_ms = src->idle_s > 0 ? src->idle_s * 1000.0 : 0;
		err = intern_rvec(p, &src->total, false, &np->total);
		if (!err)
			err = intern_rvec(p, &src->available, false, &np->avail[SRC_DEMAND]);
		if (!err)
			err = rvec_copy(&np->avail[SRC_CONSTRAINT], &np->total);
	} else {
		/* Pending, or running without a report (D3): the type's
		 * resources stand in, as for Ray's pending instances. */
		err = node_init_from_type(p, np, type);
	}
	return err ? err : (long)(p->nnodes - 1);
}

/* ----------------------------------------------------------------- trials */

static int trial_reset(struct trial *t, const struct snode *n, int src)
{
	t->nlabels = 0;
	t->nplaced = 0;
	t->gpu_req = n->gpu_req[src];
	int err = rvec_copy(&t->avail, &n->avail[src]);
	if (!err)
		err = rvec_copy(&t->reqd, &n->reqd[src]);
	return err;
}

static void trial_free(struct trial *t)
{
	rvec_free(&t->avail);
	rvec_free(&t->reqd);
	free(t->labels);
	free(t->placed_run);
	free(t->placed_k);
	memset(t, 0, sizeof(*t));
}

static int trial_note_request(struct trial *t, const struct shape *s)
{
	for (int i = 0; i < s->res.n; i++)
		if (rvec_find(&t->reqd, s->res.ids[i]) < 0 &&
		    rvec_push(&t->reqd, s->res.ids[i], 0))
			return -ENOMEM;
	/* Ray: any("GPU" in r.resources_bundle); zero amounts are dropped
	 * from shapes, as the GCS does. */
	if (s->has_gpu)
		t->gpu_req = true;
	return 0;
}

static int trial_record(struct trial *t, size_t run, long k)
{
	if (t->nplaced == t->capplaced) {
		size_t c = t->capplaced ? t->capplaced * 2 : 64;
		size_t *r = realloc(t->placed_run, c * sizeof(*r));
		if (!r)
			return -ENOMEM;
		t->placed_run = r;
		long *kk = realloc(t->placed_k, c * sizeof(*kk));
		if (!kk)
			return -ENOMEM;
		t->placed_k = kk;
		t->capplaced = c;
	}
	t->placed_run[t->nplaced] = run;
	t->placed_k[t->nplaced] = k;
	t->nplaced++;
	return 0;
}

static bool trial_has_label(const struct trial *t, int label)
{
	for (size_t i = 0; i < t->nlabels; i++)
		if (t->labels[i] == label)
			return true;
	return false;
}

/* Places copies of one run; returns copies placed or -ENOMEM. */
static long place_run(struct planner *p, struct trial *t, struct run *r, long budget)
{
	long k = 0;
	while (k < budget && fits(p, &t->avail, r->shape)) {
		if (k >= BULK_PLACE_AFTER) {	/* D8 */
			long more = fit_count(p, &t->avail, r->shape);
			if (more > budget - k)
				more = budget - k;
			if (more <= 0)
				break;
			if (subtract(p, &t->avail, r->shape, (double)more))
				return -ENOMEM;
			k += more;
			break;
		}
		if (subtract(p, &t->avail, r->shape, 1.0))
			return -ENOMEM;
		k++;
		if (r->constraint == C_ANTI)
			break;	/* the node now carries the label */
	}
	return k;
}

/* SchedulingNode._compute_score(). */
static void compute_score(const struct planner *p, const struct snode *n, struct trial *t)
{
	int matching = 0;
	for (int i = 0; i < t->reqd.n; i++)
		if (rvec_find(&n->total, t->reqd.ids[i]) >= 0)
			matching++;
	double minu = 0, sum = 0;
	int cnt = 0;
	for (int i = 0; i < n->total.n; i++) {
		double v = n->total.vals[i];
		if (v == 0)
			continue;
		int at = rvec_find(&t->avail, n->total.ids[i]);
		if (at < 0)
			continue;
		double util = (v - t->avail.vals[at]) / v;
		double u = v * pow(util, 3.0);
		if (cnt == 0 || u < minu)
			minu = u;
		sum += u;
		cnt++;
	}
	bool gpu_node = false;
	if (p->gpu_id >= 0) {
		int at = rvec_find(&n->total, p->gpu_id);
		gpu_node = at >= 0 && n->total.vals[at] > 0;
	}
	t->score.gpu_ok = !(gpu_node && !t->gpu_req);
	t->score.matching = matching;
	t->score.min_util = cnt ? minu : 0;
	t->score.mean_util = cnt ? sum / cnt : 0;
}

static int score_cmp(const struct score *a, const struct score *b)
{
	if (a->gpu_ok != b->gpu_ok)
		return a->gpu_ok - b->gpu_ok;
	if (a->matching != b->matching)
		return a->matching - b->matching;
	if (a->min_util != b->min_util)
		return a->min_util < b->min_util ? -1 : 1;
	if (a->mean_util != b->mean_util)
		return a->mean_util < b->mean_util ? -1 : 1;
	return 0;
}

struct reqs {
	struct run *runs;
	size_t nruns;
	struct segment *segs;
	size_t nsegs;
	long left;		/* copies not yet placed */
	int src;
};

/* SchedulingNode.try_schedule() on a scratch copy of node n.
 * Returns copies placed (0 = nothing fits) or -ENOMEM. */
static long try_node(struct planner *p, struct trial *t, const struct snode *n,
		     struct reqs *q)
{
	long total = 0;
	bool copied = false;	/* the scratch copy is made at the first fit */
	for (size_t si = 0; si < q->nsegs; si++) {
		struct segment *sg = &q->segs[si];
		if (sg->remaining == 0)
			continue;
		struct run *head = &q->runs[sg->first];
		if (copied && head->constraint == C_ANTI && trial_has_label(t, head->label))
			continue;
		if (!fits(p, copied ? &t->avail : &n->avail[q->src], head->shape))
			continue;
		if (!copied) {
			if (trial_reset(t, n, q->src))
				return -ENOMEM;
			copied = true;
		}
		for (size_t ri = sg->first; ri < sg->end; ri++) {
			struct run *r = &q->runs[ri];
			if (r->remaining == 0)
				continue;
			long k = place_run(p, t, r, r->remaining);
			if (k < 0)
				return k;
			if (k > 0) {
				if (trial_record(t, ri, k) || trial_note_request(t, r->shape))
					return -ENOMEM;
				total += k;
				if (r->constraint == C_ANTI) {
					if (VEC_PUSH(t->labels, t->nlabels, t->caplabels, r->label))
						return -ENOMEM;
					break;
				}
			}
			if (!fits(p, &t->avail, r->shape))
				break;
		}
	}
	if (total > 0)
		compute_score(p, n, t);
	return total;
}

/* Remembers a node's state before an all-or-nothing attempt changes it.
 * Nodes created by the attempt itself are simply dropped on rollback. */
static int journal_save(struct planner *p, size_t idx, int src)
{
	if (!p->journal || idx >= p->first_new_in_attempt)
		return 0;
	struct snode *n = &p->nodes[idx];
	struct saved s = { .node = idx, .gpu_req = n->gpu_req[src],
			   .needed = n->needed[src], .nreasons = n->nreasons };
	if (rvec_copy(&s.avail, &n->avail[src]) || rvec_copy(&s.reqd, &n->reqd[src]) ||
	    VEC_PUSH(p->saved, p->nsaved, p->capsaved, s)) {
		rvec_free(&s.avail);
		rvec_free(&s.reqd);
		return -ENOMEM;
	}
	return 0;
}

static int reason_add(struct snode *n, enum planner_cause cause, size_t index, long count)
{
	if (n->nreasons && n->reasons[n->nreasons - 1].cause == cause &&
	    n->reasons[n->nreasons - 1].index == index) {
		n->reasons[n->nreasons - 1].count += count;
		return 0;
	}
	struct planner_reason r = { .cause = cause, .index = index, .count = count };
	return VEC_PUSH(n->reasons, n->nreasons, n->capreasons, r);
}

/* Makes the best trial the node's state and consumes the placed requests. */
static int commit(struct planner *p, size_t idx, struct trial *t, struct reqs *q)
{
	int err = journal_save(p, idx, q->src);
	if (err)
		return err;
	struct snode *n = &p->nodes[idx];
	if (rvec_copy(&n->avail[q->src], &t->avail) || rvec_copy(&n->reqd[q->src], &t->reqd))
		return -ENOMEM;
	n->gpu_req[q->src] = t->gpu_req;
	n->needed[q->src] = true;
	for (size_t i = 0; i < t->nplaced; i++) {
		struct run *r = &q->runs[t->placed_run[i]];
		long k = t->placed_k[i];
		r->remaining -= k;
		q->segs[r->seg].remaining -= k;
		q->left -= k;
		if (n->state == N_TO_LAUNCH && reason_add(n, r->cause, r->index, k))
			return -ENOMEM;
	}
	return 0;
}

/* Restores nodes touched by a failed all-or-nothing attempt. */
static void rollback(struct planner *p, int src)
{
	for (size_t i = p->nsaved; i-- > 0;) {
		struct saved *s = &p->saved[i];
		struct snode *n = &p->nodes[s->node];
		struct rvec tmp = n->avail[src];
		n->avail[src] = s->avail;
		s->avail = tmp;
		tmp = n->reqd[src];
		n->reqd[src] = s->reqd;
		s->reqd = tmp;
		n->gpu_req[src] = s->gpu_req;
		n->needed[src] = s->needed;
		n->nreasons = s->nreasons;
	}
	while (p->nnodes > p->first_new_in_attempt)
		node_free(&p->nodes[--p->nnodes]);
}

static void journal_clear(struct planner *p)
{
	for (size_t i = 0; i < p->nsaved; i++) {
		rvec_free(&p->saved[i].avail);
		rvec_free(&p->saved[i].reqd);
	}
	p->nsaved = 0;
}

/* _sched_best_node(): tries every candidate, commits the best one and removes
 * it from `cand`.  Returns the chosen node index, -1 if none fits, or
 * -ENOMEM.  `dead[i]` marks candidates that placed nothing; they never will
 * again in this call (resources and requests only shrink), so they are
 * skipped but keep their place in the list. */
static long sched_best_node(struct planner *p, struct reqs *q, size_t *cand, size_t *ncand,
			    bool *dead)
{
	long best = -1;
	int cur = 0;
	for (size_t i = 0; i < *ncand; i++) {
		if (dead && dead[i])
			continue;
		struct snode *n = &p->nodes[cand[i]];
		long k = try_node(p, &p->trial[cur], n, q);
		if (k < 0)
			return k;
		if (k == 0) {
			if (dead)
				dead[i] = true;
			continue;
		}
		if (best < 0 || score_cmp(&p->trial[cur].score, &p->trial[1 - cur].score) > 0) {
			best = (long)i;
			cur = 1 - cur;	/* keep this trial as the best */
		}
	}
	if (best < 0)
		return -1;
	size_t idx = cand[best];
	int err = commit(p, idx, &p->trial[1 - cur], q);
	if (err)
		return err;
	memmove(&cand[best], &cand[best + 1], (*ncand - (size_t)best - 1) * sizeof(*cand));
	if (dead)
		memmove(&dead[best], &dead[best + 1], (*ncand - (size_t)best - 1) * sizeof(*dead));
	(*ncand)--;
	return (long)idx;
}

/* ------------------------------------------------------ context counting */

static int count_type(const struct planner *p, size_t type, bool skip_terminating)
{
	int c = 0;
	for (size_t i = 0; i < p->nctx; i++) {
		const struct snode *n = &p->nodes[p->ctx[i]];
		if (n->type == type && !(skip_terminating && n->state == N_TO_TERMINATE))
			c++;
	}
	return c;
}

/* Worker nodes in the context, including those being terminated (D5). */
static int count_workers(const struct planner *p)
{
	int c = 0;
	for (size_t i = 0; i < p->nctx; i++)
		if (!p->nodes[p->ctx[i]].head)
			c++;
	return c;
}

static bool can_fit_any(const struct planner *p, const struct rvec *avail, struct reqs *q)
{
	if (q->nsegs == 0)
		return true;
	for (size_t si = 0; si < q->nsegs; si++)
		if (fits(p, avail, q->runs[q->segs[si].first].shape))
			return true;
	return false;
}

/* ResourceDemandScheduler._try_schedule().  Updates the context order the
 * way Ray's ctx.update(target_nodes) does.  Returns 0 or -ENOMEM; q->left
 * says what did not fit. */
static int try_schedule(struct planner *p, struct reqs *q)
{
	size_t n = p->nctx;
	size_t *cand = malloc((n + 1) * sizeof(*cand));
	size_t *exhausted = malloc((n + 1) * sizeof(*exhausted));
	size_t *picked = malloc((n + 1) * sizeof(*picked));
	bool *dead = calloc(n + 1, sizeof(*dead));
	size_t *pool = NULL, *newn = NULL;
	size_t ncand = 0, nexh = 0, npicked = 0, npool = 0, nnew = 0, capnew = 0;
	size_t first_new = p->nnodes;
	int *avail_type = NULL;
	int err = -ENOMEM;
	if (!cand || !exhausted || !picked || !dead)
		goto out;

	/* Pre-filter: Ray-running nodes that cannot fit any shape. */
	for (size_t i = 0; i < n; i++) {
		struct snode *nd = &p->nodes[p->ctx[i]];
		if (nd->exhaustible && !can_fit_any(p, &nd->avail[q->src], q))
			exhausted[nexh++] = p->ctx[i];
		else
			cand[ncand++] = p->ctx[i];
	}
	for (size_t i = 0; i < ncand; i++)	/* D4 */
		dead[i] = p->nodes[cand[i]].state == N_TO_TERMINATE;

	while (q->left > 0 && ncand > 0) {
		long idx = sched_best_node(p, q, cand, &ncand, dead);
		if (idx == -1)
			break;
		if (idx < 0) {
			err = (int)idx;
			goto out;
		}
		picked[npicked++] = (size_t)idx;
	}

	/* New nodes: one template per type with quota, in node type order. */
	size_t T = p->in->node_type_count;
	avail_type = calloc(T ? T : 1, sizeof(*avail_type));
	pool = malloc((T ? T : 1) * sizeof(*pool));
	if (!avail_type || !pool)
		goto out;
	for (size_t t = 0; t < T; t++) {
		avail_type[t] = p->in->node_types[t].is_head ? 0 :
			p->type_max[t] - count_type(p, t, false);
	}
	int workers = count_workers(p);
	for (size_t t = 0; t < T && q->left > 0; t++) {
		if (avail_type[t] <= 0)
			continue;
		long idx = add_node(p, t, NO_INDEX, N_TO_LAUNCH);
		if (idx < 0)
			goto out;
		pool[npool++] = (size_t)idx;
	}
	while (q->left > 0 && npool > 0) {
		if (p->global_max >= 0 && workers >= p->global_max)
			break;
		long idx = sched_best_node(p, q, pool, &npool, NULL);
		if (idx == -1)
			break;
		if (idx < 0) {
			err = (int)idx;
			goto out;
		}
		if (VEC_PUSH(newn, nnew, capnew, (size_t)idx))
			goto out;
		workers++;
		size_t t = p->nodes[idx].type;
		if (--avail_type[t] > 0) {
			long tidx = add_node(p, t, NO_INDEX, N_TO_LAUNCH);
			if (tidx < 0)
				goto out;
			pool[npool++] = (size_t)tidx;
		}
	}

	/* Unused templates are dropped.  They are the newest nodes unless a
	 * later template was used; compact the node array accordingly. */
	{
		bool *keep = calloc(p->nnodes - first_new + 1, sizeof(*keep));
		if (!keep)
			goto out;
		for (size_t i = 0; i < nnew; i++)
			keep[newn[i] - first_new] = true;
		size_t w = first_new;
		size_t *remap = malloc((p->nnodes - w + 1) * sizeof(*remap));
		if (!remap) {
			free(keep);
			goto out;
		}
		for (size_t i = w; i < p->nnodes; i++) {
			if (keep[i - first_new]) {
				remap[i - first_new] = w;
				if (w != i)
					p->nodes[w] = p->nodes[i];
				w++;
			} else {
				node_free(&p->nodes[i]);
			}
		}
		p->nnodes = w;
		for (size_t i = 0; i < nnew; i++)
			newn[i] = remap[newn[i] - first_new];
		free(remap);
		free(keep);
	}

	/* Context order: picked, other candidates, exhausted, new nodes. */
	size_t total = npicked + ncand + nexh + nnew;
	if (total > p->capctx) {
		size_t *c = realloc(p->ctx, total * sizeof(*c));
		if (!c)
			goto out;
		p->ctx = c;
		p->capctx = total;
	}
	size_t w = 0;
	for (size_t i = 0; i < npicked; i++)
		p->ctx[w++] = picked[i];
	for (size_t i = 0; i < ncand; i++)
		p->ctx[w++] = cand[i];
	for (size_t i = 0; i < nexh; i++)
		p->ctx[w++] = exhausted[i];
	for (size_t i = 0; i < nnew; i++)
		p->ctx[w++] = newn[i];
	p->nctx = w;
	err = 0;
out:
	free(cand);
	free(exhausted);
	free(picked);
	free(dead);
	free(pool);
	free(newn);
	free(avail_type);
	return err;
}

/* An all-or-nothing attempt: schedule, and undo everything if any copy is
 * left over.  Returns 1 if placed, 0 if not, or -ENOMEM. */
static int try_schedule_atomic(struct planner *p, struct reqs *q)
{
	size_t *saved_ctx = malloc((p->nctx + 1) * sizeof(*saved_ctx));
	if (!saved_ctx)
		return -ENOMEM;
	memcpy(saved_ctx, p->ctx, p->nctx * sizeof(*saved_ctx));
	size_t saved_nctx = p->nctx;
	p->journal = true;
	p->first_new_in_attempt = p->nnodes;
	int err = try_schedule(p, q);
	p->journal = false;
	if (err) {
		free(saved_ctx);
		journal_clear(p);
		return err;
	}
	if (q->left > 0) {
		rollback(p, q->src);
		memcpy(p->ctx, saved_ctx, saved_nctx * sizeof(*saved_ctx));
		p->nctx = saved_nctx;
	}
	journal_clear(p);
	free(saved_ctx);
	return q->left == 0;
}

/* ------------------------------------------------------------ infeasible */

static bool shape_fits_somewhere(const struct planner *p, const struct shape *s)
{
	for (size_t t = 0; t < p->in->node_type_count; t++) {
		const struct planner_node_type *nt = &p->in->node_types[t];
		if (!nt->is_head && nt->max_workers > 0 && fits(p, &p->type_res[t], s))
			return true;
	}
	for (size_t i = 0; i < p->nnodes; i++)
		if (p->nodes[i].input != NO_INDEX && fits(p, &p->nodes[i].total, s))
			return true;
	return false;
}

static int add_infeasible(struct planner *p, enum planner_cause cause, size_t index,
			  long count, bool no_fit)
{
	struct planner_output *o = p->out;
	if (o->infeasible_count && o->infeasible[o->infeasible_count - 1].cause == cause &&
	    o->infeasible[o->infeasible_count - 1].index == index) {
		o->infeasible[o->infeasible_count - 1].count += count;
		return 0;
	}
	struct planner_infeasible f = {
		.cause = cause, .index = index, .count = count,
		.reason = no_fit ? PLANNER_INFEASIBLE_NO_FIT : PLANNER_INFEASIBLE_AT_MAX,
	};
	size_t cap = o->infeasible_count;	/* grown by doubling at powers of 2 */
	if (cap == 0 || (cap & (cap - 1)) == 0) {
		void *np = realloc(o->infeasible, (cap ? cap * 2 : 8) * sizeof(f));
		if (!np)
			return -ENOMEM;
		o->infeasible = np;
	}
	o->infeasible[o->infeasible_count++] = f;
	return 0;
}

/* --------------------------------------------------------------- phases */

static int phase_min_workers(struct planner *p)
{
	size_t T = p->in->node_type_count;
	size_t added = 0;
	size_t *fresh = NULL;
	size_t nfresh = 0, capfresh = 0;
	for (size_t t = 0; t < T; t++) {
		const struct planner_node_type *nt = &p->in->node_types[t];
		if (nt->is_head)
			continue;
		int have = count_type(p, t, true);
		for (int k = have; k < nt->min_workers && k < p->type_max[t]; k++) {
			long idx = add_node(p, t, NO_INDEX, N_TO_LAUNCH);
			if (idx < 0 || VEC_PUSH(fresh, nfresh, capfresh, (size_t)idx)) {
				free(fresh);
				return -ENOMEM;
			}
			if (reason_add(&p->nodes[idx], PLANNER_CAUSE_MIN_WORKERS, t, 1)) {
				free(fresh);
				return -ENOMEM;
			}
			added++;
		}
	}
	if (added) {	/* new_nodes + ctx.get_nodes() */
		size_t total = p->nctx + added;
		size_t *c = realloc(p->ctx, total * sizeof(*c));
		if (!c) {
			free(fresh);
			return -ENOMEM;
		}
		memmove(&c[added], c, p->nctx * sizeof(*c));
		memcpy(c, fresh, added * sizeof(*c));
		p->ctx = c;
		p->nctx = total;
		p->capctx = total;
	}
	free(fresh);
	return 0;
}

/* Resources all free: total == available for every resource (D2). */
static bool node_all_free(const struct planner_node *src)
{
	for (size_t i = 0; i < src->total.count; i++) {
		const struct planner_resource *t = &src->total.items[i];
		double a = -1;
		for (size_t j = 0; j < src->available.count; j++)
			if (strcmp(src->available.items[j].name, t->name) == 0)
				a = src->available.items[j].value;
		if (a < 0 && t->value == 0)
			continue;
		if (a < 0 || fabs(t->value - a) > 1e-9 * (t->value > 1 ? t->value : 1))
			return false;
	}
	return true;
}

static double type_timeout(const struct planner *p, size_t type)
{
	double t = p->in->node_types[type].idle_timeout_s;
	return t >= 0 ? t : p->in->idle_timeout_s;
}

/* D1/D2: may this existing node be removed without losing work? */
static int removable(const struct planner *p, const struct snode *n, double timeout,
		     enum planner_keep_reason *why)
{
	if (n->input == NO_INDEX)
		return 1;
	const struct planner_node *src = &p->in->nodes[n->input];
	if (src->status == PLANNER_NODE_PENDING)
		return 1;
	if (!src->have_resources || src->idle_s < 0) {
		*why = PLANNER_KEEP_NO_DATA;
		return 0;
	}
	if (!node_all_free(src)) {
		*why = PLANNER_KEEP_IN_USE;
		return 0;
	}
	if (src->busy_workers > 0 ||
	    (src->busy_age_s >= 0 && (timeout < 0 || src->busy_age_s <= timeout))) {
		*why = PLANNER_KEEP_AGENT_BUSY;
		return 0;
	}
	return 1;
}

static int add_kept(struct planner *p, size_t node_input, enum planner_keep_reason why)
{
	struct planner_output *o = p->out;
	for (size_t i = 0; i < o->kept_count; i++)
		if (o->kept[i].node_index == node_input)
			return 0;	/* first reason wins */
	size_t cap = o->kept_count;
	if (cap == 0 || (cap & (cap - 1)) == 0) {
		void *np = realloc(o->kept, (cap ? cap * 2 : 8) * sizeof(*o->kept));
		if (!np)
			return -ENOMEM;
		o->kept = np;
	}
	o->kept[o->kept_count++] = (struct planner_keep){ .node_index = node_input, .reason = why };
	return 0;
}

static int add_termination(struct planner *p, struct snode *n, enum planner_term_reason r,
			   double timeout)
{
	struct planner_output *o = p->out;
	n->state = N_TO_TERMINATE;
	if (n->input == NO_INDEX)
		return 0;	/* a planned node is simply not launched */
	const struct planner_node *src = &p->in->nodes[n->input];
	size_t cap = o->termination_count;
	if (cap == 0 || (cap & (cap - 1)) == 0) {
		void *np = realloc(o->terminations, (cap ? cap * 2 : 8) * sizeof(*o->terminations));
		if (!np)
			return -ENOMEM;
		o->terminations = np;
	}
	o->terminations[o->termination_count++] = (struct planner_termination){
		.node_index = n->input, .id = src->id, .type = src->type, .reason = r,
		.idle_s = src->status == PLANNER_NODE_RUNNING ? src->idle_s : -1,
		.timeout_s = timeout,
	};
	return 0;
}

/* _sort_nodes_for_termination key: (running_ray, -idle, avg util) asc. */
static double avg_util(const struct snode *n)
{
	double sum = 0;
	int cnt = 0;
	for (int i = 0; i < n->total.n; i++) {
		double t = n->total.vals[i];
		if (t <= 0)
			continue;
		int at = rvec_find(&n->avail[SRC_DEMAND], n->total.ids[i]);
		double a = at >= 0 ? n->avail[SRC_DEMAND].vals[at] : 0;
		sum += (t - a) / t;
		cnt++;
	}
	return cnt ? sum / cnt : 0;
}

static int cmp_termination(const struct planner *p, size_t a, size_t b)
{
	const struct snode *x = &p->nodes[a];
	const struct snode *y = &p->nodes[b];
	if (x->running_ray != y->running_ray)
		return x->running_ray - y->running_ray;
	if (x->idle_ms != y->idle_ms)
		return x->idle_ms > y->idle_ms ? -1 : 1;
	double ux = avg_util(x), uy = avg_util(y);
	if (ux != uy)
		return ux < uy ? -1 : 1;
	return 0;
}

/* Stable sort of node indexes by the termination key (insertion sort on
 * ties would be O(n^2); use a position tie-break instead). */
struct posnode {
	size_t node, pos;
};

static int cmp_posnode(const void *a, const void *b, void *planner)
{
	const struct posnode *x = a, *y = b;
	int c = cmp_termination(planner, x->node, y->node);
	if (c)
		return c;
	return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

static int sorted_for_termination(const struct planner *p, const size_t *nodes, size_t n,
				  size_t **out)
{
	struct posnode *pn = malloc((n ? n : 1) * sizeof(*pn));
	size_t *res = malloc((n ? n : 1) * sizeof(*res));
	if (!pn || !res) {
		free(pn);
		free(res);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		pn[i] = (struct posnode){ nodes[i], i };
	qsort_r(pn, n, sizeof(*pn), cmp_posnode, (void *)p);
	for (size_t i = 0; i < n; i++)
		res[i] = pn[i].node;
	free(pn);
	*out = res;
	return 0;
}

/* Terminates up to `extra` nodes out of `list` for a max constraint,
 * in Ray's order, skipping the head and, per D1, working nodes. */
static int terminate_extra(struct planner *p, const size_t *list, size_t n, int extra,
			   enum planner_term_reason reason)
{
	size_t *order;
	int err = sorted_for_termination(p, list, n, &order);
	if (err)
		return err;
	for (size_t i = 0; i < n && extra > 0; i++) {
		struct snode *nd = &p->nodes[order[i]];
		if (nd->head)
			continue;
		enum planner_keep_reason why = PLANNER_KEEP_IN_USE;
		if (!removable(p, nd, type_timeout(p, nd->type), &why)) {
			if ((err = add_kept(p, nd->input, why)))
				break;
			continue;
		}
		if ((err = add_termination(p, nd, reason, -1)))
			break;
		extra--;
	}
	free(order);
	return err;
}

static int phase_max_per_type(struct planner *p)
{
	size_t T = p->in->node_type_count;
	size_t *list = malloc((p->nctx + 1) * sizeof(*list));
	size_t *neworder = malloc((p->nctx + 1) * sizeof(*neworder));
	int err = 0;
	if (!list || !neworder) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t t = 0; t < T && !err; t++) {
		if (p->in->node_types[t].is_head)
			continue;
		size_t n = 0;
		for (size_t i = 0; i < p->nctx; i++) {
			struct snode *nd = &p->nodes[p->ctx[i]];
			if (nd->type == t && nd->state != N_TO_TERMINATE)
				list[n++] = p->ctx[i];
		}
		int extra = (int)n - p->type_max[t];
		if (extra > 0)
			err = terminate_extra(p, list, n, extra, PLANNER_TERM_MAX_PER_TYPE);
	}
	if (err)
		goto out;
	/* Ray's new order: terminating nodes, then the others grouped by type in
	 * order of first appearance. */
	size_t w = 0;
	for (size_t i = 0; i < p->nctx; i++)
		if (p->nodes[p->ctx[i]].state == N_TO_TERMINATE)
			neworder[w++] = p->ctx[i];
	bool *done = calloc(p->nctx + 1, sizeof(*done));
	if (!done) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->nctx; i++) {
		size_t ni = p->ctx[i];
		if (p->nodes[ni].state == N_TO_TERMINATE || done[i])
			continue;
		size_t type = p->nodes[ni].type;
		for (size_t j = i; j < p->nctx; j++) {
			struct snode *nd = &p->nodes[p->ctx[j]];
			if (!done[j] && nd->state != N_TO_TERMINATE && nd->type == type) {
				neworder[w++] = p->ctx[j];
				done[j] = true;
			}
		}
	}
	free(done);
	memcpy(p->ctx, neworder, w * sizeof(*neworder));
out:
	free(list);
	free(neworder);
	return err;
}

static int phase_max_global(struct planner *p)
{
	if (p->global_max < 0)
		return 0;
	size_t *list = malloc((p->nctx + 1) * sizeof(*list));
	if (!list)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < p->nctx; i++) {
		struct snode *nd = &p->nodes[p->ctx[i]];
		if (nd->state != N_TO_TERMINATE && !nd->head)
			list[n++] = p->ctx[i];
	}
	int extra = (int)n - p->global_max;
	int err = 0;
	if (extra > 0) {
		err = terminate_extra(p, list, n, extra, PLANNER_TERM_MAX_GLOBAL);
		if (!err) {	/* Ray: terminating + non-terminating */
			size_t w = 0;
			size_t *no = malloc((p->nctx + 1) * sizeof(*no));
			if (!no) {
				free(list);
				return -ENOMEM;
			}
			for (size_t i = 0; i < p->nctx; i++)
				if (p->nodes[p->ctx[i]].state == N_TO_TERMINATE)
					no[w++] = p->ctx[i];
			for (size_t i = 0; i < p->nctx; i++)
				if (p->nodes[p->ctx[i]].state != N_TO_TERMINATE)
					no[w++] = p->ctx[i];
			memcpy(p->ctx, no, w * sizeof(*no));
			free(no);
		}
	}
	free(list);
	return err;
}

static void reqs_free(struct reqs *q)
{
	free(q->runs);
	free(q->segs);
	memset(q, 0, sizeof(*q));
}

static int reqs_finish(struct planner *p, struct reqs *q)
{
	int err = sort_runs(p, q->runs, q->nruns, &q->segs, &q->nsegs);
	q->left = 0;
	for (size_t i = 0; i < q->nruns; i++)
		q->left += q->runs[i].remaining;
	return err;
}

static int push_run(struct reqs *q, size_t *cap, struct run r)
{
	return VEC_PUSH(q->runs, q->nruns, *cap, r);
}

static int phase_constraints(struct planner *p)
{
	const struct planner_input *in = p->in;
	struct reqs q = { .src = SRC_CONSTRAINT };
	size_t cap = 0;
	int err = 0;
	for (size_t i = 0; i < in->request_count && !err; i++) {
		if (in->requests[i].count == 0)
			continue;
		struct shape *s = shape_from(p, &in->requests[i].shape);
		if (!s)
			err = -ENOMEM;
		else
			err = push_run(&q, &cap, (struct run){
				.shape = s, .remaining = in->requests[i].count,
				.cause = PLANNER_CAUSE_REQUEST_RESOURCES, .index = i });
	}
	if (!err && q.nruns)
		err = reqs_finish(p, &q);
	if (!err && q.nruns) {
		int placed = try_schedule_atomic(p, &q);
		if (placed < 0)
			err = placed;
		for (size_t i = 0; placed == 0 && i < in->request_count && !err; i++) {
			if (in->requests[i].count == 0)
				continue;
			struct shape *s = NULL;
			for (size_t r = 0; r < q.nruns; r++)
				if (q.runs[r].index == i)
					s = q.runs[r].shape;
			err = add_infeasible(p, PLANNER_CAUSE_REQUEST_RESOURCES, i,
					     in->requests[i].count, !shape_fits_somewhere(p, s));
		}
	}
	reqs_free(&q);
	return err;
}

/* One pending placement group, as the GCS turns it into requests.  Labels
 * only matter inside one trial, so copies of a group can share one. */
static int pg_requests(struct planner *p, const struct planner_pg_demand *g, size_t index,
		       struct reqs *q)
{
	size_t cap = 0;
	int label = p->next_label++;
	if (g->strategy == PLANNER_PG_STRICT_PACK) {
		struct shape *s = shape_sum(p, g);
		if (!s)
			return -ENOMEM;
		if (g->bundle_count &&
		    push_run(q, &cap, (struct run){ .shape = s, .constraint = C_AFFINITY,
				.label = label, .remaining = 1,
				.cause = PLANNER_CAUSE_PLACEMENT_GROUP, .index = index }))
			return -ENOMEM;
	} else {
		enum constraint c = g->strategy == PLANNER_PG_STRICT_SPREAD ? C_ANTI : C_NONE;
		for (size_t b = 0; b < g->bundle_count; b++) {
			struct shape *s = shape_from(p, &g->bundles[b]);
			if (!s || push_run(q, &cap, (struct run){ .shape = s, .constraint = c,
					.label = label, .remaining = 1,
					.cause = PLANNER_CAUSE_PLACEMENT_GROUP, .index = index }))
				return -ENOMEM;
		}
	}
	return reqs_finish(p, q);
}

struct pg_order {
	size_t index;
	size_t constraints, requests;
};

static int cmp_pg_order(const void *a, const void *b)
{
	const struct pg_order *x = a, *y = b;
	if (x->constraints != y->constraints)
		return x->constraints > y->constraints ? -1 : 1;
	if (x->requests != y->requests)
		return x->requests > y->requests ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index);
}

static bool pg_fits_somewhere(struct planner *p, const struct planner_pg_demand *g)
{
	struct reqs q = { 0 };
	bool ok = true;
	if (pg_requests(p, g, 0, &q))
		ok = true;	/* out of memory: do not claim "no fit" */
	else
		for (size_t r = 0; r < q.nruns && ok; r++)
			ok = shape_fits_somewhere(p, q.runs[r].shape);
	reqs_free(&q);
	return ok;
}

static int phase_placement_groups(struct planner *p)
{
	const struct planner_input *in = p->in;
	struct pg_order *order = malloc((in->pg_count + 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < in->pg_count; i++) {
		const struct planner_pg_demand *g = &in->pgs[i];
		bool strict = g->strategy == PLANNER_PG_STRICT_PACK ||
			      g->strategy == PLANNER_PG_STRICT_SPREAD;
		order[i] = (struct pg_order){ i, strict ? g->bundle_count : 0, g->bundle_count };
	}
	qsort(order, in->pg_count, sizeof(*order), cmp_pg_order);
	int err = 0;
	for (size_t oi = 0; oi < in->pg_count && !err; oi++) {
		size_t i = order[oi].index;
		const struct planner_pg_demand *g = &in->pgs[i];
		long failed = 0;
		struct reqs q = { .src = SRC_DEMAND };
		err = pg_requests(p, g, i, &q);
		for (long c = 0; c < g->count && !err && q.nruns; c++) {
			for (size_t r = 0; r < q.nruns; r++)
				q.runs[r].remaining = 1;
			for (size_t s = 0; s < q.nsegs; s++)
				q.segs[s].remaining = (long)(q.segs[s].end - q.segs[s].first);
			q.left = (long)q.nruns;
			int placed = try_schedule_atomic(p, &q);
			if (placed < 0) {
				err = placed;
			} else if (!placed) {
				/* Nothing changed, so every identical copy
				 * left fails the same way. */
				failed = g->count - c;
				break;
			}
		}
		reqs_free(&q);
		if (!err && failed)
			err = add_infeasible(p, PLANNER_CAUSE_PLACEMENT_GROUP, i, failed,
					     !pg_fits_somewhere(p, g));
	}
	free(order);
	return err;
}

static int phase_shapes(struct planner *p)
{
	const struct planner_input *in = p->in;
	struct reqs q = { .src = SRC_DEMAND };
	size_t cap = 0;
	int err = 0;
	for (size_t i = 0; i < in->shape_count && !err; i++) {
		if (in->shapes[i].count == 0)
			continue;
		struct shape *s = shape_from(p, &in->shapes[i].shape);
		if (!s)
			err = -ENOMEM;
		else
			err = push_run(&q, &cap, (struct run){ .shape = s,
				.remaining = in->shapes[i].count,
				.cause = PLANNER_CAUSE_SHAPE, .index = i });
	}
	if (!err && q.nruns)
		err = reqs_finish(p, &q);
	if (!err && q.nruns)
		err = try_schedule(p, &q);
	/* Leftovers, reported per input entry in input order. */
	struct run **by_index = calloc(in->shape_count + 1, sizeof(*by_index));
	if (!by_index && !err)
		err = -ENOMEM;
	for (size_t r = 0; !err && r < q.nruns; r++)
		by_index[q.runs[r].index] = &q.runs[r];
	/* Identical shapes share a segment: decide "fits nowhere" once each. */
	signed char *no_fit = calloc(q.nsegs + 1, 1);	/* 0 unknown, 1 no, 2 yes */
	if (!no_fit && !err)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < in->shape_count; i++) {
		struct run *r = by_index[i];
		if (!r || r->remaining == 0)
			continue;
		if (!no_fit[r->seg])
			no_fit[r->seg] = shape_fits_somewhere(p, r->shape) ? 1 : 2;
		err = add_infeasible(p, PLANNER_CAUSE_SHAPE, i, r->remaining, no_fit[r->seg] == 2);
	}
	free(no_fit);
	free(by_index);
	reqs_free(&q);
	return err;
}

static int phase_idle(struct planner *p)
{
	size_t T = p->in->node_type_count;
	int *count = calloc(T ? T : 1, sizeof(*count));
	int *terminated = calloc(T ? T : 1, sizeof(*terminated));
	size_t *order = NULL;
	int err = -ENOMEM;
	if (!count || !terminated)
		goto out;
	for (size_t t = 0; t < T; t++)
		count[t] = count_type(p, t, true);
	if ((err = sorted_for_termination(p, p->ctx, p->nctx, &order)))
		goto out;
	for (size_t i = 0; i < p->nctx && !err; i++) {
		struct snode *n = &p->nodes[order[i]];
		if (n->state != N_SCHEDULABLE || n->head || n->input == NO_INDEX)
			continue;
		const struct planner_node *src = &p->in->nodes[n->input];
		if (src->status != PLANNER_NODE_RUNNING)
			continue;	/* pending: Ray's pending idle timeout is off */
		double timeout = type_timeout(p, n->type);
		if (timeout < 0)
			continue;
		if (!src->have_resources || src->idle_s < 0) {	/* D2 */
			err = add_kept(p, n->input, PLANNER_KEEP_NO_DATA);
			continue;
		}
		if (src->idle_s <= timeout)
			continue;
		if (n->needed[SRC_DEMAND] || n->needed[SRC_CONSTRAINT]) {
			err = add_kept(p, n->input, PLANNER_KEEP_NEEDED);
			continue;
		}
		enum planner_keep_reason why = PLANNER_KEEP_IN_USE;
		if (!removable(p, n, timeout, &why)) {
			err = add_kept(p, n->input, why);
			continue;
		}
		int min = p->in->node_types[n->type].min_workers;
		if (count[n->type] - terminated[n->type] <= min) {
			err = add_kept(p, n->input, PLANNER_KEEP_MIN_WORKERS);
			continue;
		}
		terminated[n->type]++;
		err = add_termination(p, n, PLANNER_TERM_IDLE, timeout);
	}
out:
	free(count);
	free(terminated);
	free(order);
	return err;
}

/* -------------------------------------------------------------- output */

/* The reconciler's launch limit, then the output arrays. */
static int build_launches(struct planner *p)
{
	const struct planner_input *in = p->in;
	struct planner_output *o = p->out;
	size_t T = in->node_type_count;
	o->launches = calloc(T ? T : 1, sizeof(*o->launches));
	if (!o->launches)
		return -ENOMEM;
	o->launch_count = T;
	for (size_t t = 0; t < T; t++)
		o->launches[t].type = in->node_types[t].name;

	size_t nnew = 0;
	for (size_t i = 0; i < p->nctx; i++)
		if (p->nodes[p->ctx[i]].state == N_TO_LAUNCH)
			nnew++;
	o->new_nodes = calloc(nnew ? nnew : 1, sizeof(*o->new_nodes));
	if (!o->new_nodes)
		return -ENOMEM;
	size_t nreasons = 0;
	for (size_t i = 0; i < p->nctx; i++) {
		struct snode *n = &p->nodes[p->ctx[i]];
		if (n->state != N_TO_LAUNCH)
			continue;
		o->new_nodes[o->new_node_count++] = (struct planner_new_node){
			.type_index = n->type, .reason_start = nreasons,
			.reason_count = n->nreasons };
		nreasons += n->nreasons;
		o->launches[n->type].desired++;
	}
	o->reasons = calloc(nreasons ? nreasons : 1, sizeof(*o->reasons));
	if (!o->reasons)
		return -ENOMEM;
	for (size_t i = 0; i < p->nctx; i++) {
		struct snode *n = &p->nodes[p->ctx[i]];
		if (n->state != N_TO_LAUNCH)
			continue;
		memcpy(&o->reasons[o->reason_count], n->reasons, n->nreasons * sizeof(*n->reasons));
		o->reason_count += n->nreasons;
	}

	/* _compute_to_launch: types in order of first appearance. */
	int max_conc = in->max_concurrent_launches > 0 ? in->max_concurrent_launches :
		PLANNER_DEFAULT_MAX_CONCURRENT_LAUNCHES;
	int in_flight = 0;
	int *running = calloc(T ? T : 1, sizeof(*running));
	bool *seen = calloc(T ? T : 1, sizeof(*seen));
	if (!running || !seen) {
		free(running);
		free(seen);
		return -ENOMEM;
	}
	for (size_t i = 0; i < in->node_count; i++) {
		size_t t = (size_t)type_index(in, in->nodes[i].type);
		if (in->nodes[i].status == PLANNER_NODE_RUNNING)
			running[t]++;
		else if (!p->in->node_types[t].is_head)
			in_flight++;	/* D6 */
	}
	for (size_t i = 0; i < o->new_node_count; i++) {
		size_t t = o->new_nodes[i].type_index;
		if (seen[t])
			continue;
		seen[t] = true;
		double want = ceil(in->upscaling_speed * (running[t] > 1 ? running[t] : 1));
		long desired = want < 1 ? 1 : (want > PLANNER_MAX_NODES ? PLANNER_MAX_NODES : (long)want);
		long n = max_conc - in_flight;
		if (desired < n)
			n = desired;
		if (n < 0)
			n = 0;
		if (n > o->launches[t].desired)
			n = o->launches[t].desired;
		o->launches[t].count = (int)n;
		in_flight += (int)n;
	}
	int *left = calloc(T ? T : 1, sizeof(*left));
	if (!left) {
		free(running);
		free(seen);
		return -ENOMEM;
	}
	for (size_t t = 0; t < T; t++)
		left[t] = o->launches[t].count;
	for (size_t i = 0; i < o->new_node_count; i++) {
		size_t t = o->new_nodes[i].type_index;
		o->new_nodes[i].deferred = left[t] <= 0;
		if (left[t] > 0)
			left[t]--;
	}
	free(left);
	free(running);
	free(seen);
	return 0;
}

/* ---------------------------------------------------------------- driver */

static void planner_free(struct planner *p)
{
	for (size_t i = 0; i < p->nnodes; i++)
		node_free(&p->nodes[i]);
	free(p->nodes);
	free(p->ctx);
	for (size_t i = 0; i < p->nshapes; i++) {
		rvec_free(&p->shapes[i]->res);
		free(p->shapes[i]->sorted);
		free(p->shapes[i]);
	}
	free(p->shapes);
	free(p->type_max);
	for (size_t t = 0; p->type_res && t < p->in->node_type_count; t++)
		rvec_free(&p->type_res[t]);
	free(p->type_res);
	trial_free(&p->trial[0]);
	trial_free(&p->trial[1]);
	journal_clear(p);
	free(p->saved);
	names_free(&p->names);
}

static int setup(struct planner *p)
{
	const struct planner_input *in = p->in;
	size_t T = in->node_type_count;
	p->gpu_id = names_intern(&p->names, "GPU");
	if (p->gpu_id < 0)
		return -ENOMEM;
	p->type_max = calloc(T ? T : 1, sizeof(*p->type_max));
	if (!p->type_max)
		return -ENOMEM;
	p->type_res = calloc(T ? T : 1, sizeof(*p->type_res));
	if (!p->type_res)
		return -ENOMEM;
	for (size_t t = 0; t < T; t++) {
		int m = in->node_types[t].max_workers;
		p->type_max[t] = m > PLANNER_MAX_NODES ? PLANNER_MAX_NODES : m;
		int err = intern_rvec(p, &in->node_types[t].resources, false, &p->type_res[t]);
		if (err)
			return err;
	}
	p->global_max = in->max_workers < 0 ? -1 :
		(in->max_workers > PLANNER_MAX_NODES ? PLANNER_MAX_NODES : in->max_workers);
	p->ctx = malloc((in->node_count + 1) * sizeof(*p->ctx));
	if (!p->ctx)
		return -ENOMEM;
	p->capctx = in->node_count + 1;
	for (size_t i = 0; i < in->node_count; i++) {
		long idx = add_node(p, (size_t)type_index(in, in->nodes[i].type), i, N_SCHEDULABLE);
		if (idx < 0)
			return (int)idx;
		p->ctx[p->nctx++] = (size_t)idx;
	}
	return 0;
}

int planner_plan(const struct planner_input *in, struct planner_output *out)
{
	struct planner p = { .in = in, .out = out };
	memset(out, 0, sizeof(*out));
	int err = validate(&p);
	if (err)
		return err;
	err = setup(&p);
	if (!err)
		err = phase_min_workers(&p);
	if (!err)
		err = phase_max_per_type(&p);
	if (!err)
		err = phase_max_global(&p);
	if (!err)
		err = phase_constraints(&p);
	if (!err)
		err = phase_placement_groups(&p);
	if (!err)
		err = phase_shapes(&p);
	if (!err)
		err = phase_idle(&p);
	if (!err)
		err = build_launches(&p);
	planner_free(&p);
	if (err) {
		char msg[sizeof(out->error)];
		memcpy(msg, out->error, sizeof(msg));
		planner_output_free(out);
		memcpy(out->error, msg, sizeof(msg));
		if (err == -ENOMEM && !out->error[0])
			snprintf(out->error, sizeof(out->error), "out of memory");
	}
	return err;
}

void planner_output_free(struct planner_output *out)
{
	free(out->launches);
	free(out->new_nodes);
	free(out->reasons);
	free(out->terminations);
	free(out->kept);
	free(out->infeasible);
	memset(out, 0, sizeof(*out));
}

const char *planner_term_reason_name(enum planner_term_reason r)
{
	switch (r) {
	case PLANNER_TERM_IDLE: return "idle";
	case PLANNER_TERM_MAX_PER_TYPE: return "max_workers_per_type";
	case PLANNER_TERM_MAX_GLOBAL: return "max_workers";
	}
	return "unknown";
}

const char *planner_keep_reason_name(enum planner_keep_reason r)
{
	switch (r) {
	case PLANNER_KEEP_MIN_WORKERS: return "min_workers";
	case PLANNER_KEEP_NEEDED: return "needed_by_demand";
	case PLANNER_KEEP_IN_USE: return "resources_in_use";
	case PLANNER_KEEP_AGENT_BUSY: return "agent_reports_busy";
	case PLANNER_KEEP_NO_DATA: return "missing_data";
	}
	return "unknown";
}

const char *planner_cause_name(enum planner_cause c)
{
	switch (c) {
	case PLANNER_CAUSE_MIN_WORKERS: return "min_workers";
	case PLANNER_CAUSE_REQUEST_RESOURCES: return "request_resources";
	case PLANNER_CAUSE_PLACEMENT_GROUP: return "placement_group";
	case PLANNER_CAUSE_SHAPE: return "demand";
	}
	return "unknown";
}

const char *planner_infeasible_reason_name(enum planner_infeasible_reason r)
{
	switch (r) {
	case PLANNER_INFEASIBLE_NO_FIT: return "no_node_type_fits";
	case PLANNER_INFEASIBLE_AT_MAX: return "at_max_workers";
	}
	return "unknown";
}

static const char *const strategy_names[] = { "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD" };

const char *planner_pg_strategy_name(enum planner_pg_strategy s)
{
	return (unsigned)s <= PLANNER_PG_STRICT_SPREAD ? strategy_names[s] : "unknown";
}

int planner_pg_strategy_parse(const char *s, enum planner_pg_strategy *out)
{
	for (int i = 0; i <= PLANNER_PG_STRICT_SPREAD; i++)
		if (s && strcmp(s, strategy_names[i]) == 0) {
			*out = (enum planner_pg_strategy)i;
			return 0;
		}
	return -EINVAL;
}
