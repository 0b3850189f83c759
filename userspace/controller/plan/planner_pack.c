/* planner_pack.c -- the planner's bin-packing engine: Ray 2.60's
 * ResourceDemandScheduler._try_schedule, _sched_best_node and
 * SchedulingNode.try_schedule / _compute_score, over interned sparse
 * resource vectors (see the comment at the top of planner.c for the rules).
 *
 * Requests are runs of identical copies, sorted in Ray's order and grouped
 * into segments of identical requests (Ray's per-shape "unschedulable"
 * cache), so a node's trial costs one fit check per distinct request, not
 * per copy.  A trial works on a scratch copy of the node; only the winner is
 * committed.  All-or-nothing attempts (placement groups, request_resources)
 * journal what they change and roll back on failure. */
#include "controller/plan/planner_pack.h"

#include "common/fnv.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arrays */

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

void pack_rvec_free(struct rvec *v)
{
	free(v->ids);
	free(v->vals);
	memset(v, 0, sizeof(*v));
}

int pack_rvec_find(const struct rvec *v, int id)
{
	for (int i = 0; i < v->n; i++)
		if (v->ids[i] == id)
			return i;
	return -1;
}

/* pack_rvec_find() starting where the last lookup in the same loop ended
 * (*hint).  Loops walk vectors built from the same resource maps, usually
 * in the same order, so a lookup costs one probe instead of a scan: with
 * 128 resources that is the difference between O(n) and O(n^2) per fit. */
static int rvec_seek(const struct rvec *v, int id, int *hint)
{
	int n = v->n, h = *hint < n ? *hint : 0;
	for (int k = 0; k < n; k++) {
		int i = h + k < n ? h + k : h + k - n;
		if (v->ids[i] == id) {
			*hint = i + 1;
			return i;
		}
	}
	return -1;
}


/* ------------------------------------------------------ resource interning */

static uint64_t hash_str(const char *s)
{
	return rs_fnv1a_str(RS_FNV1A_INIT, s);
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
int pack_names_intern(struct names *t, const char *name)
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

void pack_names_free(struct names *t)
{
	free(t->name);
	free(t->implicit);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* ---------------------------------------------------------------- shapes */

int pack_intern(struct planner *p, const struct planner_resources *r,
		       bool positive_only, struct rvec *dst)
{
	for (size_t i = 0; i < r->count; i++) {
		if (positive_only && !(r->items[i].value > 0))
			continue;
		int id = pack_names_intern(&p->names, r->items[i].name);
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
		pack_rvec_free(&s->res);
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

/* splitmix64's finalizer: every input bit reaches the low bits (the
 * table's index), which a double's zero low mantissa bits would not. */
static uint64_t mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t hash_rvec(const struct rvec *v)
{
	uint64_t h = mix64((uint64_t)v->n);
	for (int i = 0; i < v->n; i++) {
		uint64_t bits;
		memcpy(&bits, &v->vals[i], sizeof(bits));
		h = mix64(h ^ (uint64_t)(unsigned)v->ids[i]);
		h = mix64(h ^ bits);
	}
	return h;
}

/* Same resources in the same order, amounts bit for bit. */
static bool rvec_same(const struct rvec *a, const struct rvec *b)
{
	return a->n == b->n && (a->n == 0 ||
		(memcmp(a->ids, b->ids, (size_t)a->n * sizeof(int)) == 0 &&
		 memcmp(a->vals, b->vals, (size_t)a->n * sizeof(double)) == 0));
}

static int shape_slots_grow(struct planner *p)
{
	size_t nslots = p->shape_nslots ? p->shape_nslots * 2 : 64;
	struct shape **slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < p->shape_nslots; i++) {
		struct shape *s = p->shape_slots[i];
		if (!s)
			continue;
		size_t at = hash_rvec(&s->res) & (nslots - 1);
		while (slots[at])
			at = (at + 1) & (nslots - 1);
		slots[at] = s;
	}
	free(p->shape_slots);
	p->shape_slots = slots;
	p->shape_nslots = nslots;
	return 0;
}

/* The shared shape with exactly these resources, created if new.  Sharing
 * changes nothing in the plan: shapes are never modified after creation. */
struct shape *pack_shape_from(struct planner *p, const struct planner_resources *r)
{
	struct rvec v = { 0 };
	if (pack_intern(p, r, true, &v) ||
	    ((p->nshapes + 1) * 2 > p->shape_nslots && shape_slots_grow(p))) {
		pack_rvec_free(&v);
		return NULL;
	}
	pack_spend(p, (uint64_t)v.n + 1);
	size_t at = hash_rvec(&v) & (p->shape_nslots - 1);
	for (; p->shape_slots[at]; at = (at + 1) & (p->shape_nslots - 1))
		if (rvec_same(&p->shape_slots[at]->res, &v)) {
			pack_rvec_free(&v);
			return p->shape_slots[at];
		}
	struct shape *s = shape_new(p, &v);
	if (s)
		p->shape_slots[at] = s;
	return s;
}

/* STRICT_PACK: all bundles summed into one request, keys in first-seen order
 * (utils.py, combine_requests_with_affinity). */
struct shape *pack_shape_sum(struct planner *p, const struct planner_pg_demand *g)
{
	struct rvec v = { 0 };
	for (size_t b = 0; b < g->bundle_count; b++) {
		const struct planner_resources *r = &g->bundles[b];
		for (size_t i = 0; i < r->count; i++) {
			if (!(r->items[i].value > 0))
				continue;
			int id = pack_names_intern(&p->names, r->items[i].name);
			if (id < 0)
				goto nomem;
			int at = pack_rvec_find(&v, id);
			if (at >= 0)
				v.vals[at] += r->items[i].value;
			else if (rvec_push(&v, id, r->items[i].value))
				goto nomem;
		}
	}
	return shape_new(p, &v);
nomem:
	pack_rvec_free(&v);
	return NULL;
}

/* Ray's _sort_resource_request key of the shape alone, descending. */
static int cmp_shapes(const struct planner *p, const struct shape *x, const struct shape *y)
{
	if (x == y)
		return 0;
	if (x->res.n != y->res.n)
		return y->res.n - x->res.n;
	if (x->sum != y->sum)
		return x->sum < y->sum ? 1 : -1;
	for (int i = 0; i < x->res.n; i++) {
		int ix = x->sorted[i], iy = y->sorted[i];
		int c = strcmp(p->names.name[x->res.ids[ix]], p->names.name[y->res.ids[iy]]);
		if (c)
			return -c;
		double vx = x->res.vals[ix], vy = y->res.vals[iy];
		if (vx != vy)
			return vx < vy ? 1 : -1;
	}
	return 0;
}

static int cmp_shape_ptrs(const void *a, const void *b, void *planner)
{
	return cmp_shapes(planner, *(struct shape *const *)a, *(struct shape *const *)b);
}

/* Ranks the distinct shapes of `runs` in Ray's order; returns how many
 * ranks, or -ENOMEM. */
static long rank_shapes(struct planner *p, const struct run *runs, size_t n)
{
	struct shape **u = malloc((n ? n : 1) * sizeof(*u));
	size_t nu = 0;
	if (!u)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!runs[i].shape->seen) {
			runs[i].shape->seen = true;
			u[nu++] = runs[i].shape;
		}
	pack_spend(p, n + nu * 8);
	qsort_r(u, nu, sizeof(*u), cmp_shape_ptrs, p);
	long rank = -1;
	for (size_t i = 0; i < nu; i++) {
		if (i == 0 || cmp_shapes(p, u[i - 1], u[i]) != 0)
			rank++;
		u[i]->rank = (size_t)rank;
		u[i]->seen = false;
	}
	free(u);
	return rank + 1;
}

/* Sort key of a run: constrained requests first, then the shape's rank. */
static size_t run_key(const struct run *r, size_t nranks)
{
	return (r->constraint == C_NONE ? nranks : 0) + r->shape->rank;
}

/* Ray's order, descending by (#placement constraints, shape key), ties in
 * input order: a stable counting sort on ranks (a comparison sort of a
 * million runs spent most of a plan moving them). */
static int sort_runs(struct planner *p, struct run *runs, size_t n)
{
	long nranks = rank_shapes(p, runs, n);
	if (nranks < 0)
		return (int)nranks;
	size_t nkeys = 2 * (size_t)nranks;
	size_t *start = calloc(nkeys + 1, sizeof(*start));
	struct run *tmp = malloc((n ? n : 1) * sizeof(*tmp));
	if (!start || !tmp) {
		free(start);
		free(tmp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		start[run_key(&runs[i], (size_t)nranks) + 1]++;
	for (size_t k = 0; k < nkeys; k++)
		start[k + 1] += start[k];
	for (size_t i = 0; i < n; i++)
		tmp[start[run_key(&runs[i], (size_t)nranks)]++] = runs[i];
	memcpy(runs, tmp, n * sizeof(*runs));
	free(start);
	free(tmp);
	return 0;
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
int pack_sort_runs(struct planner *p, struct run *runs, size_t n,
		     struct segment **segs_out, size_t *nsegs_out)
{
	for (size_t i = 0; i < n; i++)
		runs[i].pos = i;
	int err = sort_runs(p, runs, n);
	if (err)
		return err;
	struct segment *segs = malloc((n ? n : 1) * sizeof(*segs));
	if (!segs)
		return -ENOMEM;
	size_t nsegs = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || !same_request(&runs[i - 1], &runs[i])) {
			segs[nsegs].first = i;
			segs[nsegs].next = i;
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

static double lookup_avail(const struct planner *p, const struct rvec *avail, int id,
			   int *hint)
{
	int at = rvec_seek(avail, id, hint);
	if (at >= 0)
		return avail->vals[at];
	return p->names.implicit[id] ? 1.0 : 0.0;
}

/* _fits(): every requested amount <= available (implicit resources: 1). */
bool pack_fits(struct planner *p, const struct rvec *avail, const struct shape *s)
{
	pack_spend(p, (uint64_t)s->res.n + 1);
	int hint = 0;
	for (int i = 0; i < s->res.n; i++)
		if (s->res.vals[i] > lookup_avail(p, avail, s->res.ids[i], &hint))
			return false;
	return true;
}

/* _inplace_subtract(), `times` copies at once. */
static int subtract(struct planner *p, struct rvec *avail, const struct shape *s,
		    double times)
{
	pack_spend(p, (uint64_t)s->res.n + 1);
	int hint = 0;
	for (int i = 0; i < s->res.n; i++) {
		int at = rvec_seek(avail, s->res.ids[i], &hint);
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
static long fit_count(struct planner *p, const struct rvec *avail, const struct shape *s)
{
	double k = 1e18;
	int hint = 0;
	for (int i = 0; i < s->res.n; i++) {
		double q = floor(lookup_avail(p, avail, s->res.ids[i], &hint) / s->res.vals[i]);
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

void pack_node_free(struct snode *n)
{
	pack_rvec_free(&n->total);
	for (int s = 0; s < SRC_N; s++) {
		pack_rvec_free(&n->avail[s]);
		pack_rvec_free(&n->reqd[s]);
	}
	free(n->reasons);
}

/* Adds a node; returns its index or -ENOMEM. */
long pack_add_node(struct planner *p, size_t type, size_t input, enum nstate state)
{
	struct snode n = { .type = type, .input = input, .state = state };
	pack_spend(p, (uint64_t)p->type_res[type].n + 1);
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
		err = pack_intern(p, &src->total, false, &np->total);
		if (!err)
			err = pack_intern(p, &src->available, false, &np->avail[SRC_DEMAND]);
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

static int trial_reset(struct planner *p, struct trial *t, const struct snode *n, int src)
{
	pack_spend(p, (uint64_t)n->avail[src].n + (uint64_t)n->reqd[src].n + 1);
	t->nlabels = 0;
	t->nplaced = 0;
	t->gpu_req = n->gpu_req[src];
	int err = rvec_copy(&t->avail, &n->avail[src]);
	if (!err)
		err = rvec_copy(&t->reqd, &n->reqd[src]);
	return err;
}

void pack_trial_free(struct trial *t)
{
	pack_rvec_free(&t->avail);
	pack_rvec_free(&t->reqd);
	free(t->labels);
	free(t->placed_run);
	free(t->placed_k);
	memset(t, 0, sizeof(*t));
}

static int trial_note_request(struct trial *t, const struct shape *s)
{
	int hint = 0;
	for (int i = 0; i < s->res.n; i++)
		if (rvec_seek(&t->reqd, s->res.ids[i], &hint) < 0 &&
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
	while (k < budget && pack_fits(p, &t->avail, r->shape)) {
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
static void compute_score(struct planner *p, const struct snode *n, struct trial *t)
{
	pack_spend(p, (uint64_t)n->total.n + (uint64_t)t->reqd.n + 1);
	int matching = 0, hint = 0;
	for (int i = 0; i < t->reqd.n; i++)
		if (rvec_seek(&n->total, t->reqd.ids[i], &hint) >= 0)
			matching++;
	hint = 0;
	double minu = 0, sum = 0;
	int cnt = 0;
	for (int i = 0; i < n->total.n; i++) {
		double v = n->total.vals[i];
		if (v == 0)
			continue;
		int at = rvec_seek(&t->avail, n->total.ids[i], &hint);
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
		int at = pack_rvec_find(&n->total, p->gpu_id);
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

/* SchedulingNode.pack_try_schedule() on a scratch copy of node n.
 * Returns copies placed (0 = nothing fits) or -ENOMEM. */
static long try_node(struct planner *p, struct trial *t, const struct snode *n,
		     struct reqs *q)
{
	long total = 0;
	bool copied = false;	/* the scratch copy is made at the first fit */
	pack_spend(p, q->nsegs);
	for (size_t si = 0; si < q->nsegs; si++) {
		struct segment *sg = &q->segs[si];
		if (sg->remaining == 0)
			continue;
		struct run *head = &q->runs[sg->first];
		if (copied && head->constraint == C_ANTI && trial_has_label(t, head->label))
			continue;
		if (!pack_fits(p, copied ? &t->avail : &n->avail[q->src], head->shape))
			continue;
		if (!copied) {
			if (trial_reset(p, t, n, q->src))
				return -ENOMEM;
			copied = true;
		}
		for (size_t ri = sg->next; ri < sg->end; ri++) {
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
			if (!pack_fits(p, &t->avail, r->shape))
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
		pack_rvec_free(&s.avail);
		pack_rvec_free(&s.reqd);
		return -ENOMEM;
	}
	return 0;
}

int pack_reason_add(struct snode *n, enum planner_cause cause, size_t index, long count)
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
	n->hash_ok[q->src] = false;
	for (size_t i = 0; i < t->nplaced; i++) {
		struct run *r = &q->runs[t->placed_run[i]];
		long k = t->placed_k[i];
		r->remaining -= k;
		struct segment *sg = &q->segs[r->seg];
		sg->remaining -= k;
		while (sg->next < sg->end && q->runs[sg->next].remaining == 0)
			sg->next++;
		q->left -= k;
		if (n->state == N_TO_LAUNCH && pack_reason_add(n, r->cause, r->index, k))
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
		n->hash_ok[src] = false;
		n->needed[src] = s->needed;
		n->nreasons = s->nreasons;
	}
	while (p->nnodes > p->first_new_in_attempt)
		pack_node_free(&p->nodes[--p->nnodes]);
}

void pack_journal_clear(struct planner *p)
{
	for (size_t i = 0; i < p->nsaved; i++) {
		pack_rvec_free(&p->saved[i].avail);
		pack_rvec_free(&p->saved[i].reqd);
	}
	p->nsaved = 0;
}

/* _sched_best_node(): tries every candidate, commits the best one and removes
 * it from `cand`.  Returns the chosen node index, -1 if none fits, or
 * -ENOMEM.  `dead[i]` marks candidates that placed nothing; they never will
 * again in this call (resources and requests only shrink), so they are
 * skipped but keep their place in the list. */
static void probe_reset(struct probe *pr)
{
	for (size_t i = 0; i < pr->ntouched; i++)
		pr->segk[pr->touched[i]] = 0;
	pr->ntouched = 0;
	pr->tie = pr->bulk = false;
}

/* The copies trial t placed from one segment, starting at placement *i
 * (placements are contiguous per segment, in segment order): returns them,
 * sets *seg and moves *i past them. */
static long trial_seg_take(const struct trial *t, const struct reqs *q, size_t *i, size_t *seg)
{
	long k = 0;

	*seg = (size_t)q->runs[t->placed_run[*i]].seg;
	for (; *i < t->nplaced && (size_t)q->runs[t->placed_run[*i]].seg == *seg; (*i)++)
		k += t->placed_k[*i];
	return k;
}

/* Notes a trial's placements per segment; with `winner`, keeps them as the
 * winner's. */
static int probe_note(struct probe *pr, const struct trial *t, const struct reqs *q,
		      bool winner)
{
	if (winner)
		pr->nwin = 0;
	for (size_t i = 0; i < t->nplaced;) {
		size_t seg;
		long k = trial_seg_take(t, q, &i, &seg);
		if (k > BULK_PLACE_AFTER)
			pr->bulk = true;
		if (!pr->segk[seg])
			pr->touched[pr->ntouched++] = seg;
		if (k > pr->segk[seg])
			pr->segk[seg] = k;
		if (winner && VEC_PUSH(pr->win, pr->nwin, pr->capwin,
				       ((struct segtake){ .seg = seg, .k = k })))
			return -ENOMEM;
	}
	return 0;
}

/* Records a trial that placed something in the probe: ties with the best so
 * far (a later better trial clears them: nothing before it can tie it). */
static int probe_trial(struct probe *pr, const struct trial *t, const struct reqs *q,
		       bool first)
{
	int c = first ? 1 : score_cmp(&t->score, &pr->best);
	if (c > 0) {
		pr->best = t->score;
		pr->tie = false;
	} else if (c == 0) {
		pr->tie = true;
	}
	return probe_note(pr, t, q, c > 0);
}

static long sched_best_node(struct planner *p, struct reqs *q, size_t *cand, size_t *ncand,
			    bool *dead, struct probe *pr)
{
	long best = -1;
	int cur = 0;
	pack_spend(p, *ncand);	/* the scan itself, dead candidates included */
	if (pr)
		probe_reset(pr);
	for (size_t i = 0; i < *ncand; i++) {
		if (p->cut)
			return -1;	/* nothing is committed from a cut round */
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
		if (pr && probe_trial(pr, &p->trial[cur], q, best < 0))
			return -ENOMEM;
		if (best < 0 || score_cmp(&p->trial[cur].score, &p->trial[1 - cur].score) > 0) {
			best = (long)i;
			cur = 1 - cur;	/* keep this trial as the best */
		}
	}
	if (best < 0)
		return -1;
	size_t idx = cand[best];
	if (pr)
		pr->winner = 1 - cur;
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

int pack_count_type(const struct planner *p, size_t type, bool skip_terminating)
{
	int c = 0;
	for (size_t i = 0; i < p->nctx; i++) {
		const struct snode *n = &p->nodes[p->ctx[i]];
		if (n->type == type && !(skip_terminating && n->state == N_TO_TERMINATE))
			c++;
	}
	return c;
}

long pack_count_new(const struct planner *p)
{
	long c = 0;
	for (size_t i = 0; i < p->nctx; i++)
		c += p->nodes[p->ctx[i]].state == N_TO_LAUNCH;
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

static bool can_fit_any(struct planner *p, const struct rvec *avail, struct reqs *q)
{
	if (q->nsegs == 0)
		return true;
	for (size_t si = 0; si < q->nsegs; si++)
		if (pack_fits(p, avail, q->runs[q->segs[si].first].shape))
			return true;
	return false;
}

/* Every segment a trial drew from still has at least as many copies as
 * that trial took.  A trial depends on nothing else of the requests (the
 * entries a segment's copies come from change, not what is placed), so
 * every trial of the last pick would come out the same. */
static bool probe_segments_hold(const struct probe *pr, const struct reqs *q)
{
	for (size_t i = 0; i < pr->ntouched; i++)
		if (q->segs[pr->touched[i]].remaining < pr->segk[pr->touched[i]])
			return false;
	return true;
}

/* Whether the next pick among fresh templates would see exactly what the
 * last one saw, so that it may be made without trying every template again.
 * A template's trial depends only on the requests; the pool order (picked
 * templates go to the end) matters only for ties.  So: the winner beat
 * every other template strictly, no trial took the bulk path (its rounding
 * depends on how copies split over entries), and the segments hold. */
static bool probe_repeats(const struct probe *pr, const struct reqs *q)
{
	return !pr->tie && !pr->bulk && pr->nwin > 0 && probe_segments_hold(pr, q);
}

/* Commits trial w again on node `idx` (in the state w started from): the
 * same resources taken, `take` copies per segment split over the entries
 * each segment has left, in entry order (what try_node would record). */
static int commit_takes(struct planner *p, struct reqs *q, const struct trial *w,
			const struct segtake *take, size_t ntake, size_t idx)
{
	struct trial *t = &p->rep;
	uint64_t walked = 0;
	if (rvec_copy(&t->avail, &w->avail) || rvec_copy(&t->reqd, &w->reqd))
		return -ENOMEM;
	t->gpu_req = w->gpu_req;
	t->nplaced = 0;
	for (size_t i = 0; i < ntake; i++) {
		const struct segment *sg = &q->segs[take[i].seg];
		long k = take[i].k;
		for (size_t ri = sg->next; ri < sg->end && k > 0; ri++, walked++) {
			long n = q->runs[ri].remaining < k ? q->runs[ri].remaining : k;
			if (n > 0 && trial_record(t, ri, n))
				return -ENOMEM;
			k -= n;
		}
	}
	pack_spend(p, walked + (uint64_t)t->avail.n + (uint64_t)t->reqd.n + 1);
	return commit(p, idx, t, q);
}

/* The last winning template's trial again, on template `idx`. */
static int repeat_pick(struct planner *p, struct reqs *q, const struct probe *pr, size_t idx)
{
	return commit_takes(p, q, &p->trial[pr->winner], pr->win, pr->nwin, idx);
}

/* ------------------------------------------------ existing nodes by class
 *
 * A trial depends on the node only through its total, available and
 * requested resources and its GPU flag, so candidates in identical state
 * (a class) get identical trials: one trial per class stands for all its
 * members, and the pick among existing nodes is the best class, its
 * earliest member (what trying every candidate in order and keeping the
 * first best gives).  Picked nodes leave the candidates and the others do
 * not change, so classes hold for the whole _try_schedule call, and a
 * class's trial holds while every segment it drew from still has at least
 * what it took (probe_segments_hold's rule); only then is it tried again.
 * A trial that took the bulk path (D8) is tried again for each pick, on the
 * member it is committed to. */
static uint64_t node_state_hash(struct snode *n, int src)
{
	if (!n->hash_ok[src]) {
		n->state_hash[src] = mix64(hash_rvec(&n->total) ^ mix64(hash_rvec(&n->avail[src])) ^
					   mix64(hash_rvec(&n->reqd[src]) + (uint64_t)n->gpu_req[src]));
		n->hash_ok[src] = true;
	}
	return n->state_hash[src];
}

static bool same_node_state(const struct snode *a, const struct snode *b, int src)
{
	return a->gpu_req[src] == b->gpu_req[src] && rvec_same(&a->total, &b->total) &&
	       rvec_same(&a->avail[src], &b->avail[src]) &&
	       rvec_same(&a->reqd[src], &b->reqd[src]);
}

void pack_classes_free(struct classes *cl)
{
	for (size_t i = 0; i < cl->cap; i++) {
		free(cl->c[i].members);
		free(cl->c[i].take);
		pack_trial_free(&cl->c[i].t);
	}
	free(cl->c);
	free(cl->slots);
	memset(cl, 0, sizeof(*cl));
}

/* Empties the classes, keeping their buffers; costs the classes, not the
 * table. */
static void classes_reset(struct classes *cl)
{
	for (size_t i = 0; i < cl->n; i++) {
		cl->slots[cl->c[i].slot] = 0;
		cl->c[i].nmembers = cl->c[i].head = 0;
	}
	cl->n = 0;
	cl->picks = 0;
}

static int classes_grow(struct classes *cl)
{
	size_t nslots = cl->nslots ? cl->nslots * 2 : 64;
	size_t *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < cl->n; i++) {
		size_t s = cl->c[i].hash & (nslots - 1);
		while (slots[s])
			s = (s + 1) & (nslots - 1);
		slots[s] = i + 1;
		cl->c[i].slot = s;
	}
	free(cl->slots);
	cl->slots = slots;
	cl->nslots = nslots;
	return 0;
}

/* The class of node idx (created if new); its index, or -ENOMEM. */
static long class_of(struct planner *p, struct classes *cl, size_t idx, int src)
{
	struct snode *n = &p->nodes[idx];
	bool term = n->state == N_TO_TERMINATE;
	if ((cl->n + 1) * 2 > cl->nslots && classes_grow(cl))
		return -ENOMEM;
	uint64_t h = mix64(node_state_hash(n, src) + (uint64_t)n->exhaustible * 2 + term);
	size_t s = h & (cl->nslots - 1);
	/* Measured, not counted: a lookup reads the node and its vectors from
	 * all over the heap, about 16 packing steps' time (a placement-group
	 * stage classes the whole context once per group copy). */
	pack_spend(p, 16);
	for (; cl->slots[s]; s = (s + 1) & (cl->nslots - 1)) {
		struct nclass *c = &cl->c[cl->slots[s] - 1];
		if (c->hash != h || c->exhaustible != n->exhaustible || c->terminating != term)
			continue;
		pack_spend(p, (uint64_t)(n->total.n + n->avail[src].n + n->reqd[src].n) + 1);
		if (same_node_state(&p->nodes[c->rep], n, src))
			return (long)(cl->slots[s] - 1);
	}
	if (cl->n == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 16;
		struct nclass *c = realloc(cl->c, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		memset(c + cl->cap, 0, (cap - cl->cap) * sizeof(*c));
		cl->c = c;
		cl->cap = cap;
	}
	struct nclass *c = &cl->c[cl->n];
	c->hash = h;
	c->slot = s;
	c->rep = idx;
	c->exhaustible = n->exhaustible;
	c->terminating = term;
	c->dead = term;	/* D4 */
	c->cached = false;
	cl->slots[s] = ++cl->n;
	return (long)(cl->n - 1);
}

/* The pre-filter of _try_schedule by class: the context split into
 * candidates (cand, in context order, each a member of its class) and
 * Ray-running nodes that cannot fit any shape (exhausted).  `cls` is
 * scratch of nctx entries.  0 or -ENOMEM. */
static int classes_build(struct planner *p, struct reqs *q, size_t *cand, size_t *ncand,
			 size_t *exhausted, size_t *nexh, size_t *cls)
{
	struct classes *cl = &p->cls;
	classes_reset(cl);
	for (size_t i = 0; i < p->nctx; i++) {
		long c = class_of(p, cl, p->ctx[i], q->src);
		if (c < 0)
			return (int)c;
		cls[i] = (size_t)c;
	}
	for (size_t i = 0; i < cl->n; i++) {
		struct nclass *c = &cl->c[i];
		c->exhausted = c->exhaustible &&
			!can_fit_any(p, &p->nodes[c->rep].avail[q->src], q);
	}
	for (size_t i = 0; i < p->nctx; i++) {
		struct nclass *c = &cl->c[cls[i]];
		if (c->exhausted) {
			exhausted[(*nexh)++] = p->ctx[i];
			continue;
		}
		if (!c->dead && VEC_PUSH(c->members, c->nmembers, c->capmembers, *ncand))
			return -ENOMEM;
		cand[(*ncand)++] = p->ctx[i];
	}
	return 0;
}

static bool class_holds(const struct nclass *c, const struct reqs *q)
{
	for (size_t i = 0; i < c->ntake; i++)
		if (q->segs[c->take[i].seg].remaining < c->take[i].k)
			return false;
	return true;
}

/* Tries class c on its head member; 0 (c->dead when nothing fits) or -ENOMEM. */
static int class_try(struct planner *p, struct classes *cl, struct nclass *c,
		     const size_t *cand, struct reqs *q)
{
	long k = try_node(p, &c->t, &p->nodes[cand[c->members[c->head]]], q);
	if (k < 0)
		return (int)k;
	c->cached = k > 0;
	c->dead = k == 0;
	c->tried_at = cl->picks;
	c->bulk = false;
	c->ntake = 0;
	for (size_t i = 0; i < c->t.nplaced;) {
		size_t seg;
		long n = trial_seg_take(&c->t, q, &i, &seg);
		if (n > BULK_PLACE_AFTER)
			c->bulk = true;
		if (VEC_PUSH(c->take, c->ntake, c->captake,
			     ((struct segtake){ .seg = seg, .k = n })))
			return -ENOMEM;
	}
	return 0;
}

/* One pick among the existing candidates (sched_best_node, by class):
 * commits it and marks its place in cand NO_INDEX.  Returns the node index,
 * -1 if nothing fits or the round is cut, or -ENOMEM. */
static long class_pick(struct planner *p, struct reqs *q, struct classes *cl, size_t *cand)
{
	struct nclass *best = NULL;
	pack_spend(p, cl->n);
	for (size_t i = 0; i < cl->n; i++) {
		struct nclass *c = &cl->c[i];
		if (p->cut)
			return -1;	/* nothing is committed from a cut round */
		if (c->dead || c->head == c->nmembers)
			continue;
		pack_spend(p, c->ntake + 1);
		if (!c->cached || c->bulk || !class_holds(c, q)) {
			int err = class_try(p, cl, c, cand, q);
			if (err)
				return err;
			if (c->dead)
				continue;
		}
		int cmp = best ? score_cmp(&c->t.score, &best->t.score) : 1;
		if (cmp > 0 || (cmp == 0 && c->members[c->head] < best->members[best->head]))
			best = c;
	}
	if (!best)
		return -1;
	size_t pos = best->members[best->head++];
	size_t idx = cand[pos];
	/* Tried on this very node for this pick: its placements are current. */
	int err = best->tried_at == cl->picks ? commit(p, idx, &best->t, q) :
		  commit_takes(p, q, &best->t, best->take, best->ntake, idx);
	if (err)
		return err;
	cand[pos] = NO_INDEX;
	cl->picks++;
	return (long)idx;
}

/* The existing-node half of _try_schedule: picks until nothing fits, then
 * drops the picked nodes from cand.  0 or -ENOMEM. */
static int existing_schedule(struct planner *p, struct reqs *q, size_t *cand, size_t *ncand,
			     size_t *picked, size_t *npicked)
{
	int err = 0;
	while (q->left > 0 && !p->cut) {
		long idx = class_pick(p, q, &p->cls, cand);
		if (idx == -1)
			break;
		if (idx < 0) {
			err = (int)idx;
			break;
		}
		picked[(*npicked)++] = (size_t)idx;
	}
	if (*npicked == 0)
		return err;
	size_t w = 0;
	for (size_t i = 0; i < *ncand; i++)
		if (cand[i] != NO_INDEX)
			cand[w++] = cand[i];
	pack_spend(p, *ncand);
	*ncand = w;
	return err;
}

/* The new-node half of _try_schedule: the template pool and its limits. */
struct fresh {
	size_t *pool, npool;
	size_t *newn, nnew, capnew;
	int *avail_type;
	int workers;
	long room_new;	/* the cap on new nodes, in total */
	struct probe pr;
};

static bool fresh_room(const struct planner *p, const struct fresh *f)
{
	return !(p->global_max >= 0 && f->workers >= p->global_max) && f->room_new > 0;
}

/* Node `idx` (of type t) was picked: count it, and put a fresh template of
 * its type at the end of the pool while the type has quota.  1 when a
 * template was added, 0 when not, -ENOMEM. */
static int fresh_picked(struct planner *p, struct fresh *f, size_t idx)
{
	if (VEC_PUSH(f->newn, f->nnew, f->capnew, idx))
		return -ENOMEM;
	f->workers++;
	f->room_new--;
	if (p->release_picked) {
		struct snode *n = &p->nodes[idx];
		pack_rvec_free(&n->total);
		for (int s = 0; s < SRC_N; s++) {
			pack_rvec_free(&n->avail[s]);
			pack_rvec_free(&n->reqd[s]);
			n->hash_ok[s] = false;
		}
	}
	size_t t = p->nodes[idx].type;
	if (--f->avail_type[t] <= 0)
		return 0;
	long tidx = pack_add_node(p, t, NO_INDEX, N_TO_LAUNCH);
	if (tidx < 0)
		return (int)tidx;
	f->pool[f->npool++] = (size_t)tidx;
	return 1;
}

/* New nodes, one pick at a time (_sched_best_node over the templates);
 * picks that would repeat the last one exactly are made as a count
 * (probe_repeats), each on the template its type just got. */
static int fresh_schedule(struct planner *p, struct reqs *q, struct fresh *f)
{
	while (q->left > 0 && f->npool > 0 && fresh_room(p, f)) {
		long idx = sched_best_node(p, q, f->pool, &f->npool, NULL, &f->pr);
		if (idx == -1)
			break;
		if (idx < 0)
			return (int)idx;
		int added = fresh_picked(p, f, (size_t)idx);
		while (added > 0 && !p->in->exact_picks && !p->cut && q->left > 0 && fresh_room(p, f) &&
		       probe_repeats(&f->pr, q)) {
			size_t tidx = f->pool[--f->npool];
			int err = repeat_pick(p, q, &f->pr, tidx);
			if (err)
				return err;
			added = fresh_picked(p, f, tidx);
		}
		if (added < 0)
			return added;
	}
	return 0;
}

static void fresh_free(struct fresh *f)
{
	free(f->pool);
	free(f->newn);
	free(f->avail_type);
	free(f->pr.segk);
	free(f->pr.touched);
	free(f->pr.win);
}

/* ResourceDemandScheduler._try_schedule().  Updates the context order the
 * way Ray's ctx.update(target_nodes) does.  Returns 0 or -ENOMEM; q->left
 * says what did not fit. */
int pack_try_schedule(struct planner *p, struct reqs *q)
{
	size_t n = p->nctx;
	size_t *cand = malloc((n + 1) * sizeof(*cand));
	size_t *exhausted = malloc((n + 1) * sizeof(*exhausted));
	size_t *picked = malloc((n + 1) * sizeof(*picked));
	/* exact_picks: per candidate, placed nothing; else: class per context node */
	bool *dead = calloc(n + 1, sizeof(*dead));
	bool by_class = !p->in->exact_picks;
	size_t *cls = by_class ? malloc((n + 1) * sizeof(*cls)) : NULL;
	struct fresh f = { 0 };
	size_t ncand = 0, nexh = 0, npicked = 0;
	size_t first_new = p->nnodes;
	int err = -ENOMEM;
	if (!cand || !exhausted || !picked || !dead || (by_class && !cls))
		goto out;
	/* The passes over the whole context below (filter, counts, order). */
	pack_spend(p, 4 * (uint64_t)n + p->in->node_type_count);

	/* Pre-filter: Ray-running nodes that cannot fit any shape. */
	for (size_t i = 0; !by_class && i < n; i++) {
		struct snode *nd = &p->nodes[p->ctx[i]];
		if (nd->exhaustible && !can_fit_any(p, &nd->avail[q->src], q))
			exhausted[nexh++] = p->ctx[i];
		else
			cand[ncand++] = p->ctx[i];
	}
	for (size_t i = 0; i < ncand; i++)	/* D4 */
		dead[i] = p->nodes[cand[i]].state == N_TO_TERMINATE;
	if (by_class &&
	    (err = classes_build(p, q, cand, &ncand, exhausted, &nexh, cls)))
		goto out;
	err = -ENOMEM;

	f.pr.segk = calloc(q->nsegs + 1, sizeof(*f.pr.segk));
	f.pr.touched = malloc((q->nsegs + 1) * sizeof(*f.pr.touched));
	if (!f.pr.segk || !f.pr.touched)
		goto out;
	/* exact_picks (testing): every candidate tried for every pick. */
	while (!by_class && q->left > 0 && ncand > 0) {
		long idx = sched_best_node(p, q, cand, &ncand, dead, NULL);
		if (idx == -1)
			break;
		if (idx < 0) {
			err = (int)idx;
			goto out;
		}
		picked[npicked++] = (size_t)idx;
	}
	if (by_class && q->left > 0 && ncand > 0 &&
	    (err = existing_schedule(p, q, cand, &ncand, picked, &npicked)))
		goto out;
	err = -ENOMEM;

	/* New nodes: one template per type with quota, in node type order. */
	size_t T = p->in->node_type_count;
	f.avail_type = calloc(T ? T : 1, sizeof(*f.avail_type));
	f.pool = malloc((T ? T : 1) * sizeof(*f.pool));
	if (!f.avail_type || !f.pool)
		goto out;
	for (size_t i = 0; i < p->nctx; i++)	/* one pass, not one per type */
		f.avail_type[p->nodes[p->ctx[i]].type]--;
	for (size_t t = 0; t < T; t++)
		f.avail_type[t] = p->in->node_types[t].is_head ? 0 :
			p->type_max[t] + f.avail_type[t];
	f.workers = count_workers(p);
	/* The cap on new nodes applies to the total too, not only per type. */
	f.room_new = PLANNER_MAX_NODES - pack_count_new(p);
	for (size_t k = 0; k < T && q->left > 0; k++) {
		/* Ties go to the earlier template: node type order, or the
		 * caller's preference (raysense fusion: faster groups first). */
		size_t t = p->in->type_order ? p->in->type_order[k] : k;
		if (f.avail_type[t] <= 0)
			continue;
		long idx = pack_add_node(p, t, NO_INDEX, N_TO_LAUNCH);
		if (idx < 0)
			goto out;
		f.pool[f.npool++] = (size_t)idx;
	}
	if ((err = fresh_schedule(p, q, &f)))
		goto out;
	err = -ENOMEM;
	size_t *newn = f.newn, nnew = f.nnew;

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
				pack_node_free(&p->nodes[i]);
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
	free(cls);
	fresh_free(&f);
	return err;
}

/* An all-or-nothing attempt: schedule, and undo everything if any copy is
 * left over.  Returns 1 if placed, 0 if not, or -ENOMEM. */
int pack_try_schedule_atomic(struct planner *p, struct reqs *q)
{
	size_t *saved_ctx = malloc((p->nctx + 1) * sizeof(*saved_ctx));
	if (!saved_ctx)
		return -ENOMEM;
	memcpy(saved_ctx, p->ctx, p->nctx * sizeof(*saved_ctx));
	size_t saved_nctx = p->nctx;
	p->journal = true;
	p->first_new_in_attempt = p->nnodes;
	int err = pack_try_schedule(p, q);
	p->journal = false;
	if (err) {
		free(saved_ctx);
		pack_journal_clear(p);
		return err;
	}
	if (q->left > 0) {
		rollback(p, q->src);
		memcpy(p->ctx, saved_ctx, saved_nctx * sizeof(*saved_ctx));
		p->nctx = saved_nctx;
	}
	pack_journal_clear(p);
	free(saved_ctx);
	return q->left == 0;
}
