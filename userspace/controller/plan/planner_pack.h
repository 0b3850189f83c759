/* planner_pack.h -- internal to the planner: the bin-packing engine shared
 * by planner.c (phases, validation, output) and planner_pack.c (Ray's
 * _try_schedule: requests, scratch trials, scoring, all-or-nothing attempts).
 * Not a public interface; see planner.h. */
#ifndef RAYSENSE_PLANNER_PACK_H
#define RAYSENSE_PLANNER_PACK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "controller/plan/planner_types.h"

#define IMPLICIT_PREFIX "node:__internal_implicit_resource_"
#define BULK_PLACE_AFTER 1024
#define NO_INDEX ((size_t)-1)

/* Ray's ResourceRequestSource: demand packs on available resources,
 * request_resources on total resources. */
enum src { SRC_DEMAND = 0, SRC_CONSTRAINT = 1, SRC_N = 2 };
enum nstate { N_SCHEDULABLE, N_TO_LAUNCH, N_TO_TERMINATE };
enum constraint { C_NONE = 0, C_AFFINITY = 1, C_ANTI = 2 };

/* A sparse resource vector: interned resource ids and amounts, in order. */
struct rvec {
	int n, cap;
	int *ids;
	double *vals;
};

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

/* Interned resource names: ids are dense, names borrowed from the input. */
struct names {
	const char **name;	/* by id */
	bool *implicit;		/* by id */
	int n, cap;
	int *slots;		/* open addressing, -1 = empty */
	size_t nslots;
};

/* ------------------------------------------------------------- requests */

/* A resource request shape, positive amounts only, plus the sort key. */
struct shape {
	struct rvec res;	/* in request order */
	int *sorted;		/* indexes into res, by resource name */
	double sum;		/* of amounts, in name order */
	bool has_gpu;
	/* Scratch of pack_sort_runs: position in Ray's order among the
	 * distinct shapes being sorted (equal keys, equal ranks). */
	size_t rank;
	bool seen;
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
	/* First run with copies left: runs of a segment are identical, so they
	 * are consumed in order and the spent ones need no second look. */
	size_t next;
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
	/* Hash of (total, avail, reqd, gpu_req) per source for the classes
	 * of pack_try_schedule; valid while hash_ok (cleared on every change). */
	uint64_t state_hash[SRC_N];
	bool hash_ok[SRC_N];
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

/* Copies of one segment a trial placed. */
struct segtake {
	size_t seg;
	long k;
};

/* What one pick of a new node saw (pack_try_schedule), so that the picks
 * after it that would see exactly the same are made without trying every
 * template again: identical fresh nodes launched as a count.  (Existing
 * nodes get the same from their classes, planner_pack.c.) */
struct probe {
	bool tie;	/* another template scored as well as the winner */
	bool bulk;	/* a trial placed > BULK_PLACE_AFTER copies of a segment */
	int winner;	/* planner.trial[] slot of the winner */
	long *segk;	/* per segment: most copies any template's trial placed */
	size_t *touched;	/* segments with segk > 0 */
	size_t ntouched;
	struct segtake *win;	/* the winner's placements per segment */
	size_t nwin, capwin;
	struct score best;
};

/* Context nodes in identical state (planner_pack.c, "existing nodes by
 * class"): one trial stands for every member. */
struct nclass {
	uint64_t hash;
	size_t slot;		/* in classes.slots */
	size_t rep;		/* a member's node index (its state is the class's) */
	bool exhaustible, terminating;
	bool exhausted;		/* pre-filter: exhaustible and fits no shape */
	size_t *members;	/* positions in cand, increasing */
	size_t nmembers, capmembers, head;	/* head: first not yet picked */
	bool dead;		/* placed nothing: never will in this call */
	bool cached;		/* t, take and bulk hold the class's trial */
	uint64_t tried_at;	/* pick number when t was tried on the head */
	bool bulk;
	struct trial t;
	struct segtake *take;
	size_t ntake, captake;
};

/* Kept across pack_try_schedule calls (reset, not freed, between them):
 * a placement-group stage makes one call per group copy. */
struct classes {
	struct nclass *c;
	size_t n, cap;
	size_t *slots;		/* class index + 1, 0 = empty */
	size_t nslots;
	uint64_t picks;
};

/* One planning call's state. */
struct planner {
	const struct planner_input *in;
	struct planner_output *out;
	struct names names;
	int gpu_id;
	struct shape **shapes;
	size_t nshapes, capshapes;
	/* Shapes by content (open addressing, NULL = empty): identical
	 * resource maps share one shape, so a million entries of a few shapes
	 * cost a few shapes and sort by pointer. */
	struct shape **shape_slots;
	size_t shape_nslots;
	struct snode *nodes;	/* all nodes ever created (existing first) */
	size_t nnodes, capnodes;
	size_t *ctx;		/* Ray's context order: node indexes */
	size_t nctx, capctx;
	int *type_max;		/* clamped max per type */
	struct rvec *type_res;	/* interned resources per type */
	int global_max;		/* -1 = none */
	/* Per type: running nodes that Ray's scheduler takes out of RAY_RUNNING
	 * this round.  Ray's reconciler no longer counts them as running when
	 * it limits launches (reconciler.py, _compute_to_launch). */
	int *stopping;
	/* Per input node: already in planner_output.kept (one check, not a
	 * walk of the list: 100,000 kept nodes were 5 * 10^9 compares). */
	bool *kept_input;
	int next_label;
	struct trial trial[2];	/* current attempt and best so far */
	struct trial rep;	/* a repeated pick (struct probe) */
	struct classes cls;	/* context nodes by state (pack_try_schedule) */
	struct saved *saved;
	size_t nsaved, capsaved;
	bool journal;		/* record saves (all-or-nothing attempts) */
	size_t first_new_in_attempt;
	/* Basic steps spent and allowed; `cut` once the budget is spent: every
	 * loop that places demand or adds nodes stops at its next check. */
	uint64_t work, budget;
	bool cut;
	/* The last packing stage (tasks and actors): a new node picked there
	 * is never read again but for its type and reasons, so its resource
	 * vectors are released at once (100,000 nodes of 128 resources were
	 * 660 MiB). */
	bool release_picked;
};

/* Spends `units` basic steps; true once the round is cut. */
static inline bool pack_spend(struct planner *p, uint64_t units)
{
	p->work += units;
	if (p->work > p->budget)
		p->cut = true;
	return p->cut;
}

/* The requests of one _try_schedule call, sorted and segmented. */
struct reqs {
	struct run *runs;
	size_t nruns;
	struct segment *segs;
	size_t nsegs;
	long left;		/* copies not yet placed */
	int src;
};

void pack_rvec_free(struct rvec *v);
void pack_classes_free(struct classes *cl);
int pack_rvec_find(const struct rvec *v, int id);
/* Id of `name` (added if new), or -ENOMEM. */
int pack_names_intern(struct names *t, const char *name);
void pack_names_free(struct names *t);
/* Appends a resource map to `dst`, interning names; positive_only drops
 * zero amounts (demand shapes). */
int pack_intern(struct planner *p, const struct planner_resources *r, bool positive_only,
		struct rvec *dst);
/* Shapes are owned by the planner and freed with it; NULL = out of memory. */
struct shape *pack_shape_from(struct planner *p, const struct planner_resources *r);
struct shape *pack_shape_sum(struct planner *p, const struct planner_pg_demand *g);
/* Sorts runs in Ray's order and groups identical requests into segments. */
int pack_sort_runs(struct planner *p, struct run *runs, size_t n, struct segment **segs_out,
		   size_t *nsegs_out);
/* Ray's _fits(): every amount available (implicit resources count as 1). */
bool pack_fits(struct planner *p, const struct rvec *avail, const struct shape *s);
/* Adds an existing (input index) or new (NO_INDEX) node; index or -ENOMEM. */
long pack_add_node(struct planner *p, size_t type, size_t input, enum nstate state);
void pack_node_free(struct snode *n);
void pack_trial_free(struct trial *t);
/* Records on a new node that `count` units of a demand were placed there. */
int pack_reason_add(struct snode *n, enum planner_cause cause, size_t index, long count);
void pack_journal_clear(struct planner *p);
/* New nodes (to launch) in the context. */
long pack_count_new(const struct planner *p);
/* Nodes of `type` in the context, optionally without those terminating. */
int pack_count_type(const struct planner *p, size_t type, bool skip_terminating);
/* Ray's _try_schedule: existing nodes first, then new nodes; updates the
 * context order like ctx.update().  0 or -ENOMEM; q->left = not placed. */
int pack_try_schedule(struct planner *p, struct reqs *q);
/* The same, all or nothing: 1 placed, 0 not (nothing changed), -ENOMEM. */
int pack_try_schedule_atomic(struct planner *p, struct reqs *q);

#endif
