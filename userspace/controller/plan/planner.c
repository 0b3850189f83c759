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
 * in flight cluster-wide.  running_of_type counts RAY_RUNNING instances
 * only, after Ray has applied this round's terminations (_step_next runs
 * _scale_cluster first, which moves them to RAY_STOP_REQUESTED): a node
 * that this round stops (idle, over max) does not count, nor does a pending
 * one.  For idle nodes the count follows Ray's own rule even where the D2
 * guards keep the node; nodes kept by D1 may count, but their type (or the
 * whole cluster) is at max then, so nothing of it is launched anyway.
 *
 * Bin-packing (planner_pack.c: _try_schedule, _sched_best_node,
 * SchedulingNode.try_schedule):
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
#include "controller/plan/planner.h"
#include "controller/plan/planner_pack.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	const size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(n[x].id, n[y].id);
	return c ? c : (x < y ? -1 : x > y);
}

int planner_find_duplicate_id(const struct planner_node *nodes, size_t n, size_t *first,
			      size_t *second)
{
	size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
	int found = 0;

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_node_id, (void *)nodes);
	for (size_t i = 1; i < n && !found; i++)
		if (strcmp(nodes[idx[i - 1]].id, nodes[idx[i]].id) == 0) {
			*first = idx[i - 1];
			*second = idx[i];
			found = 1;
		}
	free(idx);
	return found;
}

/* Node ids must be unique (they name terminations). */
static int check_unique_ids(struct planner *p)
{
	size_t a, b;
	int rc = planner_find_duplicate_id(p->in->nodes, p->in->node_count, &a, &b);

	if (rc < 0)
		return rc;
	return rc ? fail(p, "node id '%s' appears twice", p->in->nodes[b].id) : 0;
}

/* type_order, when given, names every node type exactly once. */
static int check_type_order(struct planner *p)
{
	const struct planner_input *in = p->in;
	bool *seen;
	int err = 0;

	if (!in->type_order)
		return 0;
	seen = calloc(in->node_type_count + 1, sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	for (size_t k = 0; k < in->node_type_count && !err; k++) {
		size_t t = in->type_order[k];

		if (t >= in->node_type_count || seen[t])
			err = fail(p, "type_order is not a permutation of the node types");
		else
			seen[t] = true;
	}
	free(seen);
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
	if ((err = check_type_order(p)))
		return err;
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

/* ------------------------------------------------------------ infeasible */

static bool shape_fits_somewhere(struct planner *p, const struct shape *s)
{
	for (size_t t = 0; t < p->in->node_type_count; t++) {
		const struct planner_node_type *nt = &p->in->node_types[t];
		if (!nt->is_head && nt->max_workers > 0 && pack_fits(p, &p->type_res[t], s))
			return true;
	}
	for (size_t i = 0; i < p->nnodes; i++)
		if (p->nodes[i].input != NO_INDEX && pack_fits(p, &p->nodes[i].total, s))
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
	for (size_t t = 0; t < T && !p->cut; t++) {
		const struct planner_node_type *nt = &p->in->node_types[t];
		if (nt->is_head)
			continue;
		int have = pack_count_type(p, t, true);
		for (int k = have; k < nt->min_workers && k < p->type_max[t] &&
		     added < PLANNER_MAX_NODES && !p->cut; k++) {
			long idx = pack_add_node(p, t, NO_INDEX, N_TO_LAUNCH);
			if (idx < 0 || VEC_PUSH(fresh, nfresh, capfresh, (size_t)idx)) {
				free(fresh);
				return -ENOMEM;
			}
			if (pack_reason_add(&p->nodes[idx], PLANNER_CAUSE_MIN_WORKERS, t, 1)) {
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
	if (p->kept_input[node_input])
		return 0;	/* first reason wins */
	p->kept_input[node_input] = true;
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
	/* Idle stops are counted by Ray's own rule in phase_idle. */
	if (r != PLANNER_TERM_IDLE && src->status == PLANNER_NODE_RUNNING)
		p->stopping[n->type]++;
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
		int at = pack_rvec_find(&n->avail[SRC_DEMAND], n->total.ids[i]);
		double a = at >= 0 ? n->avail[SRC_DEMAND].vals[at] : 0;
		sum += (t - a) / t;
		cnt++;
	}
	return cnt ? sum / cnt : 0;
}

/* A node and its termination key, computed once (the average utilization
 * costs a pass over the node's resources). */
struct posnode {
	size_t node, pos;
	bool running_ray;
	double idle_ms, util;
};

static int cmp_posnode(const void *a, const void *b)
{
	const struct posnode *x = a, *y = b;
	if (x->running_ray != y->running_ray)
		return x->running_ray - y->running_ray;
	if (x->idle_ms != y->idle_ms)
		return x->idle_ms > y->idle_ms ? -1 : 1;
	if (x->util != y->util)
		return x->util < y->util ? -1 : 1;
	return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* `nodes` sorted by the termination key, ties in list order (a stable
 * sort by position tie-break). */
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
	for (size_t i = 0; i < n; i++) {
		const struct snode *nd = &p->nodes[nodes[i]];
		pn[i] = (struct posnode){ .node = nodes[i], .pos = i, .running_ray = nd->running_ray,
					  .idle_ms = nd->idle_ms, .util = avg_util(nd) };
	}
	qsort(pn, n, sizeof(*pn), cmp_posnode);
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
	int err = pack_sort_runs(p, q->runs, q->nruns, &q->segs, &q->nsegs);
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
		struct shape *s = pack_shape_from(p, &in->requests[i].shape);
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
		int placed = pack_try_schedule_atomic(p, &q);
		if (placed < 0)
			err = placed;
		for (size_t i = 0; placed == 0 && !p->cut && i < in->request_count && !err; i++) {
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
		struct shape *s = pack_shape_sum(p, g);
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
			struct shape *s = pack_shape_from(p, &g->bundles[b]);
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
		for (long c = 0; c < g->count && !err && q.nruns && !p->cut; c++) {
			for (size_t r = 0; r < q.nruns; r++)
				q.runs[r].remaining = 1;
			for (size_t s = 0; s < q.nsegs; s++) {
				q.segs[s].remaining = (long)(q.segs[s].end - q.segs[s].first);
				q.segs[s].next = q.segs[s].first;
			}
			q.left = (long)q.nruns;
			int placed = pack_try_schedule_atomic(p, &q);
			if (placed < 0) {
				err = placed;
			} else if (!placed && !p->cut) {
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
		struct shape *s = pack_shape_from(p, &in->shapes[i].shape);
		if (!s)
			err = -ENOMEM;
		else
			err = push_run(&q, &cap, (struct run){ .shape = s,
				.remaining = in->shapes[i].count,
				.cause = PLANNER_CAUSE_SHAPE, .index = i });
	}
	if (!err && q.nruns)
		err = reqs_finish(p, &q);
	p->release_picked = true;	/* no stage after this one packs */
	if (!err && q.nruns)
		err = pack_try_schedule(p, &q);
	p->release_picked = false;
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
	for (size_t i = 0; !err && !p->cut && i < in->shape_count; i++) {
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

/* The nodes idle termination looks at, in Ray's termination order: running
 * existing workers that nothing else stops.  Filtering before sorting keeps
 * their order (ties by context position) and leaves out the new nodes. */
static int idle_candidates(const struct planner *p, size_t **order, size_t *n)
{
	size_t *list = calloc(p->nctx + 1, sizeof(*list));
	size_t k = 0;
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < p->nctx; i++) {
		const struct snode *nd = &p->nodes[p->ctx[i]];
		/* pending: Ray's pending idle timeout is off */
		if (nd->state == N_SCHEDULABLE && !nd->head && nd->input != NO_INDEX &&
		    p->in->nodes[nd->input].status == PLANNER_NODE_RUNNING)
			list[k++] = p->ctx[i];
	}
	int err = sorted_for_termination(p, list, k, order);
	free(list);
	*n = k;
	return err;
}

static int phase_idle(struct planner *p)
{
	size_t T = p->in->node_type_count;
	int *count = calloc(T ? T : 1, sizeof(*count));
	int *terminated = calloc(T ? T : 1, sizeof(*terminated));
	int *ray_stops = calloc(T ? T : 1, sizeof(*ray_stops));
	size_t *order = NULL;
	int err = -ENOMEM;
	if (!count || !terminated || !ray_stops)
		goto out;
	for (size_t t = 0; t < T; t++)
		count[t] = pack_count_type(p, t, true);
	size_t nrun;
	if ((err = idle_candidates(p, &order, &nrun)))
		goto out;
	for (size_t i = 0; i < nrun && !err; i++) {
		struct snode *n = &p->nodes[order[i]];
		const struct planner_node *src = &p->in->nodes[n->input];
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
		/* Ray stops this node unless min_workers keeps it, whatever
		 * the D2 guards below decide: the launch limit follows Ray. */
		int min = p->in->node_types[n->type].min_workers;
		if (count[n->type] - ray_stops[n->type] > min)
			ray_stops[n->type]++;
		enum planner_keep_reason why = PLANNER_KEEP_IN_USE;
		if (!removable(p, n, timeout, &why)) {
			err = add_kept(p, n->input, why);
			continue;
		}
		if (count[n->type] - terminated[n->type] <= min) {
			err = add_kept(p, n->input, PLANNER_KEEP_MIN_WORKERS);
			continue;
		}
		terminated[n->type]++;
		err = add_termination(p, n, PLANNER_TERM_IDLE, timeout);
	}
	for (size_t t = 0; t < T && !err; t++)
		p->stopping[t] += ray_stops[t];
out:
	free(count);
	free(terminated);
	free(ray_stops);
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
		else if (!p->in->node_types[t].is_head && !in->nodes[i].started)
			in_flight++;	/* D6; a started node only with fusion */
	}
	/* Ray applies this round's terminations before the limit
	 * (reconciler.py, _step_next), so stopping nodes are not running. */
	for (size_t t = 0; t < T; t++)
		running[t] -= p->stopping[t];
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
		pack_node_free(&p->nodes[i]);
	free(p->nodes);
	free(p->ctx);
	for (size_t i = 0; i < p->nshapes; i++) {
		pack_rvec_free(&p->shapes[i]->res);
		free(p->shapes[i]->sorted);
		free(p->shapes[i]);
	}
	free(p->shapes);
	free(p->shape_slots);
	free(p->type_max);
	free(p->stopping);
	free(p->kept_input);
	for (size_t t = 0; p->type_res && t < p->in->node_type_count; t++)
		pack_rvec_free(&p->type_res[t]);
	free(p->type_res);
	pack_trial_free(&p->trial[0]);
	pack_trial_free(&p->trial[1]);
	pack_trial_free(&p->rep);
	pack_classes_free(&p->cls);
	pack_journal_clear(p);
	free(p->saved);
	pack_names_free(&p->names);
}

static int setup(struct planner *p)
{
	const struct planner_input *in = p->in;
	size_t T = in->node_type_count;
	p->gpu_id = pack_names_intern(&p->names, "GPU");
	if (p->gpu_id < 0)
		return -ENOMEM;
	p->type_max = calloc(T ? T : 1, sizeof(*p->type_max));
	p->stopping = calloc(T ? T : 1, sizeof(*p->stopping));
	p->kept_input = calloc(in->node_count + 1, sizeof(*p->kept_input));
	if (!p->type_max || !p->stopping || !p->kept_input)
		return -ENOMEM;
	p->type_res = calloc(T ? T : 1, sizeof(*p->type_res));
	if (!p->type_res)
		return -ENOMEM;
	for (size_t t = 0; t < T; t++) {
		int m = in->node_types[t].max_workers;
		p->type_max[t] = m > PLANNER_MAX_NODES ? PLANNER_MAX_NODES : m;
		int err = pack_intern(p, &in->node_types[t].resources, false, &p->type_res[t]);
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
		long idx = pack_add_node(p, (size_t)type_index(in, in->nodes[i].type), i, N_SCHEDULABLE);
		if (idx < 0)
			return (int)idx;
		p->ctx[p->nctx++] = (size_t)idx;
	}
	return 0;
}

static int phase_max_workers(struct planner *p)
{
	int err = phase_max_per_type(p);
	return err ? err : phase_max_global(p);
}

/* Ray's stages in order, until one fails or the budget runs out.  A cut
 * round terminates nothing: what it decided to stop was decided on a plan
 * that did not see all the demand. */
static int run_stages(struct planner *p)
{
	static int (*const stage_fn[])(struct planner *) = {
		[PLANNER_STAGE_MIN_WORKERS] = phase_min_workers,
		[PLANNER_STAGE_MAX_WORKERS] = phase_max_workers,
		[PLANNER_STAGE_REQUEST_RESOURCES] = phase_constraints,
		[PLANNER_STAGE_PLACEMENT_GROUPS] = phase_placement_groups,
		[PLANNER_STAGE_DEMAND] = phase_shapes,
		[PLANNER_STAGE_IDLE] = phase_idle,
	};
	int err = 0;
	for (int s = PLANNER_STAGE_MIN_WORKERS; s <= PLANNER_STAGE_IDLE && !err; s++) {
		err = stage_fn[s](p);
		if (!err && p->cut) {
			p->out->cut = true;
			p->out->cut_stage = (enum planner_stage)s;
			p->out->termination_count = 0;
			break;
		}
	}
	return err;
}

int planner_plan(const struct planner_input *in, struct planner_output *out)
{
	struct planner p = { .in = in, .out = out };
	memset(out, 0, sizeof(*out));
	int err = validate(&p);
	if (err)
		return err;
	p.budget = in->work_budget ? in->work_budget : PLANNER_DEFAULT_WORK_BUDGET;
	err = setup(&p);
	if (!err)
		err = run_stages(&p);
	if (!err)
		err = build_launches(&p);
	out->work = p.work;
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

const char *planner_stage_name(enum planner_stage s)
{
	switch (s) {
	case PLANNER_STAGE_NONE: return "none";
	case PLANNER_STAGE_MIN_WORKERS: return "min_workers";
	case PLANNER_STAGE_MAX_WORKERS: return "max_workers";
	case PLANNER_STAGE_REQUEST_RESOURCES: return "request_resources";
	case PLANNER_STAGE_PLACEMENT_GROUPS: return "placement_groups";
	case PLANNER_STAGE_DEMAND: return "demand";
	case PLANNER_STAGE_IDLE: return "idle";
	}
	return "unknown";
}

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
