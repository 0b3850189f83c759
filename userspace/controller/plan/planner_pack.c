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
 * member it is committed to.
 *
 * Across the calls of one stage the classes are kept, not rebuilt: a call
 * changes the state of the nodes it picks and adds new ones, nothing else
 * (a failed all-or-nothing call changes nothing).  The context order is a
 * key per node: the picked nodes get keys below every other, in pick
 * order; the exhausted ones (Ray's pre-filter) keys above every other, in
 * their order; the new nodes keys above those.  That is the order Ray's
 * ctx.update() gives, and costs the nodes that moved, not the context. */
static uint64_t node_state_hash(struct snode *n, int src)
{
	if (!n->hash_ok[src]) {
		n->state_hash[src] = mix64(hash_rvec(&n->total) ^ mix64(hash_rvec(&n->avail[src])) ^
					   mix64(hash_rvec(&n->reqd[src]) + (uint64_t)n->gpu_req[src]));
		n->hash_ok[src] = true;
	}
	return n->state_hash[src];
}

static bool class_matches(const struct nclass *c, const struct snode *n, int src)
{
	return c->gpu_req == n->gpu_req[src] && rvec_same(&c->total, &n->total) &&
	       rvec_same(&c->avail, &n->avail[src]) && rvec_same(&c->reqd, &n->reqd[src]);
}

void pack_classes_free(struct classes *cl)
{
	for (size_t i = 0; i < cl->cap; i++) {
		struct nclass *c = &cl->c[i];
		free(c->members);
		free(c->take);
		pack_rvec_free(&c->total);
		pack_rvec_free(&c->avail);
		pack_rvec_free(&c->reqd);
		pack_trial_free(&c->t);
	}
	free(cl->c);
	free(cl->slots);
	free(cl->freed);
	free(cl->active);
	free(cl->exh);
	free(cl->scratch);
	free(cl->type_count);
	memset(cl, 0, sizeof(*cl));
}

/* Empties the classes, keeping their buffers. */
static void classes_clear(struct classes *cl)
{
	for (size_t i = 0; i < cl->n; i++)
		cl->c[i].off = cl->c[i].nmembers = cl->c[i].head = 0;
	if (cl->slots)
		memset(cl->slots, 0, cl->nslots * sizeof(*cl->slots));
	cl->n = cl->nlive = cl->nfreed = 0;
	cl->picks = 0;
	cl->live = false;
}

static int classes_grow(struct classes *cl)
{
	size_t nslots = cl->nslots ? cl->nslots * 2 : 64;
	size_t *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < cl->n; i++) {
		if (cl->c[i].unused)
			continue;
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

/* Takes empty class ci out of the table (backward-shift deletion: linear
 * probing stays valid) and puts it on the free list. */
static int class_release(struct classes *cl, size_t ci)
{
	size_t mask = cl->nslots - 1, i = cl->c[ci].slot, j = i;
	cl->slots[i] = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (!cl->slots[j])
			break;
		size_t home = cl->c[cl->slots[j] - 1].hash & mask;
		/* The entry at j may move to i unless its home lies in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		cl->slots[i] = cl->slots[j];
		cl->c[cl->slots[i] - 1].slot = i;
		cl->slots[j] = 0;
		i = j;
	}
	cl->c[ci].unused = true;
	cl->c[ci].off = cl->c[ci].nmembers = 0;
	cl->nlive--;
	return VEC_PUSH(cl->freed, cl->nfreed, cl->capfreed, ci);
}

/* The class of node idx in its current state (created if new); its index,
 * or -ENOMEM. */
static long class_of(struct planner *p, struct classes *cl, size_t idx, int src)
{
	struct snode *n = &p->nodes[idx];
	bool term = n->state == N_TO_TERMINATE;
	if ((cl->nlive + 1) * 2 > cl->nslots && classes_grow(cl))
		return -ENOMEM;
	uint64_t h = mix64(node_state_hash(n, src) + (uint64_t)n->exhaustible * 2 + term);
	size_t s = h & (cl->nslots - 1);
	/* Measured, not counted: a lookup reads the node and its vectors from
	 * all over the heap, about 16 packing steps' time. */
	pack_spend(p, 16);
	for (; cl->slots[s]; s = (s + 1) & (cl->nslots - 1)) {
		struct nclass *c = &cl->c[cl->slots[s] - 1];
		if (c->hash != h || c->exhaustible != n->exhaustible || c->terminating != term)
			continue;
		pack_spend(p, (uint64_t)(n->total.n + n->avail[src].n + n->reqd[src].n) + 1);
		if (class_matches(c, n, src))
			return (long)(cl->slots[s] - 1);
	}
	size_t ci;
	if (cl->nfreed) {
		ci = cl->freed[--cl->nfreed];
	} else {
		if (cl->n == cl->cap) {
			size_t cap = cl->cap ? cl->cap * 2 : 16;
			struct nclass *c = realloc(cl->c, cap * sizeof(*c));
			if (!c)
				return -ENOMEM;
			memset(c + cl->cap, 0, (cap - cl->cap) * sizeof(*c));
			cl->c = c;
			cl->cap = cap;
		}
		ci = cl->n++;
	}
	struct nclass *c = &cl->c[ci];
	pack_spend(p, (uint64_t)(n->total.n + n->avail[src].n + n->reqd[src].n) + 1);
	if (rvec_copy(&c->total, &n->total) || rvec_copy(&c->avail, &n->avail[src]) ||
	    rvec_copy(&c->reqd, &n->reqd[src]))
		return -ENOMEM;
	c->hash = h;
	c->slot = s;
	c->gpu_req = n->gpu_req[src];
	c->exhaustible = n->exhaustible;
	c->terminating = term;
	c->unused = false;
	c->off = c->nmembers = c->head = 0;
	c->cached = false;
	cl->slots[s] = ci + 1;
	cl->nlive++;
	return (long)ci;
}

/* Room for one more member at the front or the back of c->members. */
static int class_room(struct nclass *c, bool front)
{
	if (front ? c->off > 0 : c->off + c->nmembers < c->capmembers)
		return 0;
	size_t cap = 2 * c->nmembers + 16, off = (cap - c->nmembers) / 2;
	size_t *m = malloc(cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (c->nmembers)
		memcpy(m + off, c->members + c->off, c->nmembers * sizeof(*m));
	free(c->members);
	c->members = m;
	c->off = off;
	c->capmembers = cap;
	return 0;
}

/* Node idx joins the class of its state: first (its key is below every
 * member's) or last (above).  0 or -ENOMEM. */
static int class_join(struct planner *p, size_t idx, bool front)
{
	struct classes *cl = &p->cls;
	long ci = class_of(p, cl, idx, cl->src);
	if (ci < 0)
		return (int)ci;
	struct nclass *c = &cl->c[ci];
	if (class_room(c, front))
		return -ENOMEM;
	if (front)
		c->members[--c->off] = idx;
	else
		c->members[c->off + c->nmembers] = idx;
	c->nmembers++;
	p->nodes[idx].cls = (size_t)ci;
	return 0;
}

/* Node idx enters the context last (counts included). */
static int class_add_last(struct planner *p, size_t idx)
{
	struct classes *cl = &p->cls;
	struct snode *n = &p->nodes[idx];
	n->key = cl->hi++;
	cl->type_count[n->type]++;
	cl->workers += !n->head;
	cl->nnew += n->state == N_TO_LAUNCH;
	return class_join(p, idx, false);
}

/* The classes of the context, keys in context order.  0 or -ENOMEM. */
static int classes_build(struct planner *p, int src)
{
	struct classes *cl = &p->cls;
	size_t T = p->in->node_type_count;
	classes_clear(cl);
	free(cl->type_count);
	cl->type_count = calloc(T ? T : 1, sizeof(*cl->type_count));
	if (!cl->type_count)
		return -ENOMEM;
	cl->workers = cl->nnew = 0;
	cl->src = src;
	cl->lo = cl->hi = cl->gap_lo = cl->gap_hi = 0;
	cl->live = true;
	for (size_t i = 0; i < p->nctx; i++) {
		int err = class_add_last(p, p->ctx[i]);
		if (err)
			return err;
	}
	return 0;
}

/* The pre-filter of _try_schedule by class, for requests q: each class
 * with members is a candidate (active) or exhausted (Ray-running nodes
 * that cannot fit any shape).  0 or -ENOMEM. */
static int classes_prepare(struct planner *p, struct reqs *q)
{
	struct classes *cl = &p->cls;
	int err;
	if (cl->live && cl->src != q->src && (err = pack_ctx_sync(p)))
		return err;
	if (!cl->live && (err = classes_build(p, q->src)))
		return err;
	cl->nactive = cl->nexh = 0;
	cl->picks = 0;
	pack_spend(p, cl->n + p->in->node_type_count);
	for (size_t i = 0; i < cl->n; i++) {
		struct nclass *c = &cl->c[i];
		if (c->unused || c->nmembers == 0)
			continue;
		c->head = 0;
		c->cached = false;
		c->dead = c->terminating;	/* D4 */
		c->exhausted = c->exhaustible && !can_fit_any(p, &c->avail, q);
		if (c->exhausted ? VEC_PUSH(cl->exh, cl->nexh, cl->capexh, i) :
				   VEC_PUSH(cl->active, cl->nactive, cl->capactive, i))
			return -ENOMEM;
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

/* The first member not yet picked in this call. */
static size_t class_head(const struct nclass *c)
{
	return c->members[c->off + c->head];
}

/* Tries class c on its head member; 0 (c->dead when nothing fits) or -ENOMEM. */
static int class_try(struct planner *p, struct classes *cl, struct nclass *c, struct reqs *q)
{
	long k = try_node(p, &c->t, &p->nodes[class_head(c)], q);
	if (k < 0)
		return (int)k;
	c->cached = k > 0;
	c->dead = k == 0;
	c->tried_at = cl->picks;
	c->bulk = false;
	c->ntake = 0;
	/* Nothing placed: t holds an earlier trial's placements, maybe of
	 * other requests. */
	for (size_t i = 0; k > 0 && i < c->t.nplaced;) {
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
 * commits it; it stays a member of its class, in the picked prefix.
 * Returns the node index, -1 if nothing fits or the round is cut, or
 * -ENOMEM. */
static long class_pick(struct planner *p, struct reqs *q, struct classes *cl)
{
	struct nclass *best = NULL;
	pack_spend(p, cl->nactive);
	for (size_t i = 0; i < cl->nactive; i++) {
		struct nclass *c = &cl->c[cl->active[i]];
		if (p->cut)
			return -1;	/* nothing is committed from a cut round */
		if (c->dead || c->head == c->nmembers)
			continue;
		pack_spend(p, c->ntake + 1);
		if (!c->cached || c->bulk || !class_holds(c, q)) {
			int err = class_try(p, cl, c, q);
			if (err)
				return err;
			if (c->dead)
				continue;
		}
		int cmp = best ? score_cmp(&c->t.score, &best->t.score) : 1;
		if (cmp > 0 ||
		    (cmp == 0 && p->nodes[class_head(c)].key < p->nodes[class_head(best)].key))
			best = c;
	}
	if (!best)
		return -1;
	size_t idx = class_head(best);
	best->head++;
	/* Tried on this very node for this pick: its placements are current. */
	int err = best->tried_at == cl->picks ? commit(p, idx, &best->t, q) :
		  commit_takes(p, q, &best->t, best->take, best->ntake, idx);
	if (err)
		return err;
	cl->picks++;
	return (long)idx;
}

static int cmp_node_key(const void *a, const void *b, void *planner)
{
	const struct planner *p = planner;
	int64_t x = p->nodes[*(const size_t *)a].key, y = p->nodes[*(const size_t *)b].key;
	return x < y ? -1 : x > y;
}

/* Room for `need` entries in an array of node indexes.  0 or -ENOMEM. */
static int reserve_indexes(size_t **arr, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t *a = realloc(*arr, need * sizeof(*a));
	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = need;
	return 0;
}

/* The first of c's members from position `from` on whose key is above
 * `above` (members are in key order). */
static size_t first_above(const struct planner *p, const struct nclass *c, size_t from,
			  int64_t above)
{
	size_t lo = from, hi = c->nmembers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->nodes[c->members[c->off + mid]].key > above)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The members of the classes listed in idx[0..n) with a key in
 * (above, below) (with `unpicked`, only those after the class's picked
 * prefix), in context order, into cl->scratch; returns how many, or
 * -ENOMEM. */
static long classes_members_sorted(struct planner *p, const size_t *idx, size_t n,
				   bool unpicked, int64_t above, int64_t below)
{
	struct classes *cl = &p->cls;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += cl->c[idx[i]].nmembers;
	if (reserve_indexes(&cl->scratch, &cl->capscratch, total))
		return -ENOMEM;
	size_t w = 0, from_classes = 0;
	for (size_t i = 0; i < n; i++) {
		const struct nclass *c = &cl->c[idx[i]];
		size_t k0 = first_above(p, c, unpicked ? c->head : 0, above);
		size_t k1 = first_above(p, c, k0, below - 1);
		if (k1 > k0)
			memcpy(cl->scratch + w, c->members + c->off + k0, (k1 - k0) * sizeof(size_t));
		w += k1 - k0;
		from_classes += k1 > k0;
	}
	pack_spend(p, 2 * (uint64_t)w + 8 * n);
	if (from_classes > 1) {
		/* A comparison per element and level, each reading two nodes. */
		uint64_t levels = 1;
		while (((size_t)1 << levels) < w)
			levels++;
		pack_spend(p, 2 * levels * w);
		qsort_r(cl->scratch, w, sizeof(size_t), cmp_node_key, p);
	}
	return (long)w;
}

/* The free keys left in front of the exhausted nodes when they move to
 * the end (struct classes, gap_lo and gap_hi). */
#define KEY_GAP ((int64_t)1 << 32)

/* Puts this call's exhausted nodes after every candidate, each set in its
 * order.  No key lies in the free interval [gap_lo, gap_hi), so only the
 * candidates above it and the exhausted nodes below it are out of place
 * (typically the last call's new nodes and nodes it picked); they move
 * into the interval, candidates first, when it has room.  Otherwise the
 * exhausted nodes move to the end, KEY_GAP past the last key: the keys
 * skipped are the new interval.  0 or -ENOMEM. */
static int classes_order_exhausted(struct planner *p)
{
	struct classes *cl = &p->cls;
	int64_t gap_lo = cl->gap_lo, gap_hi = cl->gap_hi;
	size_t nlate = 0, nearly = 0;
	if (cl->nexh == 0)
		return 0;
	for (size_t i = 0; i < cl->nactive; i++) {
		const struct nclass *c = &cl->c[cl->active[i]];
		nlate += c->nmembers - first_above(p, c, c->head, gap_hi - 1);
	}
	for (size_t i = 0; i < cl->nexh; i++)
		nearly += first_above(p, &cl->c[cl->exh[i]], 0, gap_lo - 1);
	pack_spend(p, 8 * (uint64_t)(cl->nexh + cl->nactive));
	if (nlate == 0 && nearly == 0)
		return 0;
	if (gap_hi - gap_lo < (int64_t)(nlate + nearly)) {
		long n = classes_members_sorted(p, cl->exh, cl->nexh, false, INT64_MIN, INT64_MAX);
		if (n < 0)
			return (int)n;
		cl->gap_lo = cl->hi;
		cl->gap_hi = cl->hi = cl->hi + KEY_GAP;
		for (long i = 0; i < n; i++)
			p->nodes[cl->scratch[i]].key = cl->hi++;
		return 0;
	}
	long n = classes_members_sorted(p, cl->active, cl->nactive, true, gap_hi - 1, INT64_MAX);
	if (n < 0)
		return (int)n;
	for (long i = 0; i < n; i++)
		p->nodes[cl->scratch[i]].key = cl->gap_lo++;
	n = classes_members_sorted(p, cl->exh, cl->nexh, false, INT64_MIN, gap_lo);
	if (n < 0)
		return (int)n;
	for (long i = 0; i < n; i++)
		p->nodes[cl->scratch[i]].key = cl->gap_lo++;
	return 0;
}

/* The context order after a call, as Ray's ctx.update() leaves it: picked
 * nodes (pick order), the other candidates, the exhausted nodes, the new
 * nodes.  Picked nodes change class.  With `sync` (nothing packs after
 * this call) p->ctx is written at once and the new nodes are not classed:
 * their resources may have been released.  0 or -ENOMEM. */
static int classes_finish(struct planner *p, const size_t *picked, size_t npicked,
			  const size_t *newn, size_t nnew, bool sync)
{
	struct classes *cl = &p->cls;
	int err = classes_order_exhausted(p);
	if (err)
		return err;
	for (size_t i = 0; i < cl->nactive; i++) {
		struct nclass *c = &cl->c[cl->active[i]];
		c->off += c->head;
		c->nmembers -= c->head;
		c->head = 0;
		if (c->nmembers == 0 && class_release(cl, cl->active[i]))
			return -ENOMEM;
	}
	cl->nactive = cl->nexh = 0;	/* released classes may be reused */
	cl->lo -= (int64_t)npicked;
	for (size_t i = npicked; i-- > 0;) {
		p->nodes[picked[i]].key = cl->lo + (int64_t)i;
		int err = class_join(p, picked[i], true);
		if (err)
			return err;
	}
	if (sync) {
		int err = pack_ctx_sync(p);
		if (err)
			return err;
		size_t total = p->nctx + nnew;
		if (reserve_indexes(&p->ctx, &p->capctx, total))
			return -ENOMEM;
		if (nnew)
			memcpy(p->ctx + p->nctx, newn, nnew * sizeof(*newn));
		p->nctx = total;
		return 0;
	}
	for (size_t i = 0; i < nnew; i++) {
		int err = class_add_last(p, newn[i]);
		if (err)
			return err;
	}
	return 0;
}

int pack_ctx_sync(struct planner *p)
{
	struct classes *cl = &p->cls;
	if (!cl->live)
		return 0;
	size_t *all = malloc((cl->n + 1) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < cl->n; i++)
		if (!cl->c[i].unused && cl->c[i].nmembers)
			all[n++] = i;
	long w = classes_members_sorted(p, all, n, false, INT64_MIN, INT64_MAX);
	free(all);
	if (w < 0)
		return (int)w;
	if (reserve_indexes(&p->ctx, &p->capctx, (size_t)w))
		return -ENOMEM;
	if (w)
		memcpy(p->ctx, cl->scratch, (size_t)w * sizeof(*p->ctx));
	p->nctx = (size_t)w;
	classes_clear(cl);
	return 0;
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

/* Drops the templates of this call that were not picked (the newest nodes
 * unless a later template was used) and renumbers newn accordingly. */
static int drop_unused_templates(struct planner *p, size_t first_new, size_t *newn, size_t nnew)
{
	bool *keep = calloc(p->nnodes - first_new + 1, sizeof(*keep));
	size_t *remap = malloc((p->nnodes - first_new + 1) * sizeof(*remap));
	if (!keep || !remap) {
		free(keep);
		free(remap);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nnew; i++)
		keep[newn[i] - first_new] = true;
	size_t w = first_new;
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
	return 0;
}

/* The new-node half: one template per type with quota, in node type order
 * (or the caller's), then picks.  avail_type[t] holds the context's nodes
 * of type t, negated, on entry.  0 or -ENOMEM. */
static int fresh_run(struct planner *p, struct reqs *q, struct fresh *f, long workers,
		     long nnew_in_ctx)
{
	size_t T = p->in->node_type_count;
	f->pr.segk = calloc(q->nsegs + 1, sizeof(*f->pr.segk));
	f->pr.touched = malloc((q->nsegs + 1) * sizeof(*f->pr.touched));
	f->pool = malloc((T ? T : 1) * sizeof(*f->pool));
	if (!f->pr.segk || !f->pr.touched || !f->pool)
		return -ENOMEM;
	for (size_t t = 0; t < T; t++)
		f->avail_type[t] = p->in->node_types[t].is_head ? 0 :
			p->type_max[t] + f->avail_type[t];
	f->workers = (int)workers;
	/* The cap on new nodes applies to the total too, not only per type. */
	f->room_new = PLANNER_MAX_NODES - nnew_in_ctx;
	for (size_t k = 0; k < T && q->left > 0; k++) {
		/* Ties go to the earlier template: node type order, or the
		 * caller's preference (raysense fusion: faster groups first). */
		size_t t = p->in->type_order ? p->in->type_order[k] : k;
		if (f->avail_type[t] <= 0)
			continue;
		long idx = pack_add_node(p, t, NO_INDEX, N_TO_LAUNCH);
		if (idx < 0)
			return (int)idx;
		f->pool[f->npool++] = (size_t)idx;
	}
	return fresh_schedule(p, q, f);
}

/* _try_schedule with every candidate tried for every pick (exact_picks,
 * testing) on the context array.  0 or -ENOMEM. */
static int try_schedule_exact(struct planner *p, struct reqs *q)
{
	size_t n = p->nctx;
	size_t *cand = malloc((n + 1) * sizeof(*cand));
	size_t *exhausted = malloc((n + 1) * sizeof(*exhausted));
	size_t *picked = malloc((n + 1) * sizeof(*picked));
	bool *dead = calloc(n + 1, sizeof(*dead));	/* per candidate: placed nothing */
	size_t T = p->in->node_type_count;
	struct fresh f = { .avail_type = calloc(T ? T : 1, sizeof(int)) };
	size_t ncand = 0, nexh = 0, npicked = 0;
	size_t first_new = p->nnodes;
	int err = -ENOMEM;
	if (!cand || !exhausted || !picked || !dead || !f.avail_type)
		goto out;
	pack_spend(p, 4 * (uint64_t)n + T);
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
		long idx = sched_best_node(p, q, cand, &ncand, dead, NULL);
		if (idx == -1)
			break;
		if (idx < 0) {
			err = (int)idx;
			goto out;
		}
		picked[npicked++] = (size_t)idx;
	}
	for (size_t i = 0; i < p->nctx; i++)	/* one pass, not one per type */
		f.avail_type[p->nodes[p->ctx[i]].type]--;
	if ((err = fresh_run(p, q, &f, count_workers(p), pack_count_new(p))) ||
	    (err = drop_unused_templates(p, first_new, f.newn, f.nnew)))
		goto out;
	err = -ENOMEM;
	/* Context order: picked, other candidates, exhausted, new nodes. */
	if (reserve_indexes(&p->ctx, &p->capctx, npicked + ncand + nexh + f.nnew))
		goto out;
	size_t w = 0;
	for (size_t i = 0; i < npicked; i++)
		p->ctx[w++] = picked[i];
	for (size_t i = 0; i < ncand; i++)
		p->ctx[w++] = cand[i];
	for (size_t i = 0; i < nexh; i++)
		p->ctx[w++] = exhausted[i];
	for (size_t i = 0; i < f.nnew; i++)
		p->ctx[w++] = f.newn[i];
	p->nctx = w;
	err = 0;
out:
	free(cand);
	free(exhausted);
	free(picked);
	free(dead);
	fresh_free(&f);
	return err;
}

/* _try_schedule by class.  An all-or-nothing call that leaves copies
 * unplaced changes neither the classes nor the order (the caller rolls
 * the nodes back).  0 or -ENOMEM. */
static int try_schedule_classes(struct planner *p, struct reqs *q, bool atomic)
{
	struct classes *cl = &p->cls;
	size_t T = p->in->node_type_count;
	struct fresh f = { .avail_type = calloc(T ? T : 1, sizeof(int)) };
	size_t *picked = NULL, npicked = 0, cappicked = 0;
	size_t first_new = p->nnodes;
	int err = f.avail_type ? classes_prepare(p, q) : -ENOMEM;
	while (!err && q->left > 0 && !p->cut) {
		long idx = class_pick(p, q, cl);
		if (idx == -1)
			break;
		err = idx < 0 ? (int)idx : VEC_PUSH(picked, npicked, cappicked, (size_t)idx);
	}
	for (size_t t = 0; !err && t < T; t++)
		f.avail_type[t] = -cl->type_count[t];
	if (!err)
		err = fresh_run(p, q, &f, cl->workers, cl->nnew);
	if (!err)
		err = drop_unused_templates(p, first_new, f.newn, f.nnew);
	/* A failed all-or-nothing call changes nothing once rolled back: its
	 * picks are undone (the next call resets every class's picked
	 * prefix), its new nodes dropped. */
	if (!err && !(atomic && q->left > 0))
		err = classes_finish(p, picked, npicked, f.newn, f.nnew, p->release_picked);
	free(picked);
	fresh_free(&f);
	return err;
}

static int try_schedule(struct planner *p, struct reqs *q, bool atomic)
{
	return p->in->exact_picks ? try_schedule_exact(p, q) :
				    try_schedule_classes(p, q, atomic);
}

/* ResourceDemandScheduler._try_schedule().  Updates the context order the
 * way Ray's ctx.update(target_nodes) does.  Returns 0 or -ENOMEM; q->left
 * says what did not fit. */
int pack_try_schedule(struct planner *p, struct reqs *q)
{
	return try_schedule(p, q, false);
}

/* An all-or-nothing attempt: schedule, and undo everything if any copy is
 * left over.  Returns 1 if placed, 0 if not, or -ENOMEM. */
int pack_try_schedule_atomic(struct planner *p, struct reqs *q)
{
	/* The context array is kept only without classes. */
	bool exact = p->in->exact_picks;
	size_t *saved_ctx = exact ? malloc((p->nctx + 1) * sizeof(*saved_ctx)) : NULL;
	if (exact && !saved_ctx)
		return -ENOMEM;
	if (exact)
		memcpy(saved_ctx, p->ctx, p->nctx * sizeof(*saved_ctx));
	size_t saved_nctx = p->nctx;
	p->journal = true;
	p->first_new_in_attempt = p->nnodes;
	int err = try_schedule(p, q, true);
	p->journal = false;
	if (err) {
		free(saved_ctx);
		pack_journal_clear(p);
		return err;
	}
	if (q->left > 0) {
		rollback(p, q->src);
		if (exact) {
			memcpy(p->ctx, saved_ctx, saved_nctx * sizeof(*saved_ctx));
			p->nctx = saved_nctx;
		}
	}
	pack_journal_clear(p);
	free(saved_ctx);
	return q->left == 0;
}
