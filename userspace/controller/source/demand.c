/* demand.c -- release and small pure helpers of the cluster snapshot types
 * (demand.h). */
#include "controller/source/demand.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *dash_cs_source_name(enum dash_cs_source s)
{
	switch (s) {
	case DASH_CS_STRUCTURED:
		return "structured";
	case DASH_CS_V2_TEXT:
		return "v2_text";
	default:
		return "state_api_only";
	}
}

static void node_free(struct dash_node *n)
{
	free(n->node_id);
	free(n->node_name);
	free(n->node_ip);
	free(n->label_node);
	resmap_free(&n->total);
	resmap_free(&n->available);
}

void dash_api_pg_clear(struct dash_api_pg *pg)
{
	free(pg->id);
	free(pg->state);
	dash_bundles_free(pg->bundles, pg->bundle_count);
	memset(pg, 0, sizeof(*pg));
}

void dash_api_pgs_free(struct dash_api_pg *pgs, size_t count)
{
	for (size_t i = 0; i < count; i++)
		dash_api_pg_clear(&pgs[i]);
	free(pgs);
}

const struct dash_node *dash_find_node(const struct dash_snapshot *snap, const char *node_id)
{
	for (size_t i = 0; i < snap->node_count; i++)
		if (strcmp(snap->nodes[i].node_id, node_id) == 0)
			return &snap->nodes[i];
	return NULL;
}

int dash_bundles_append(struct resmap **bundles, size_t *count, const struct resmap *b, long n)
{
	struct resmap *grown;

	if (n <= 0)
		return 0;
	grown = realloc(*bundles, (*count + (size_t)n) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	*bundles = grown;
	for (long k = 0; k < n; k++) {
		memset(&grown[*count], 0, sizeof(*grown));
		if (resmap_copy(&grown[(*count)++], b))
			return -ENOMEM;	/* the partial copy is counted: freed with the rest */
	}
	return 0;
}

void dash_bundles_free(struct resmap *bundles, size_t count)
{
	for (size_t b = 0; b < count; b++)
		resmap_free(&bundles[b]);
	free(bundles);
}

void dash_shapes_free(struct dash_shape *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		resmap_free(&s[i].shape);
	free(s);
}

void dash_cluster_status_free(struct dash_cluster_status *cs)
{
	dash_shapes_free(cs->demand, cs->demand_count);
	dash_shapes_free(cs->requests, cs->request_count);
	for (size_t i = 0; i < cs->pg_count; i++)
		dash_bundles_free(cs->pgs[i].bundles, cs->pgs[i].bundle_count);
	free(cs->pgs);
	for (size_t i = 0; i < cs->usage_count; i++) {
		free(cs->usage[i].key);
		resmap_free(&cs->usage[i].used);
		resmap_free(&cs->usage[i].total);
	}
	free(cs->usage);
	dash_api_pgs_free(cs->held, cs->held_count);
	memset(cs, 0, sizeof(*cs));
}

static void pending_free(struct dash_snapshot *s)
{
	for (size_t i = 0; i < s->pending_count; i++)
		resmap_free(&s->pending[i].shape);
	free(s->pending);
	s->pending = NULL;
	s->pending_count = 0;
}

void dash_snapshot_free(struct dash_snapshot *snap)
{
	for (size_t i = 0; i < snap->node_count; i++)
		node_free(&snap->nodes[i]);
	free(snap->nodes);
	dash_shapes_free(snap->shapes, snap->shape_count);
	pending_free(snap);
	dash_cluster_status_free(&snap->cs);
	memset(snap, 0, sizeof(*snap));
}

int dash_pending_copy(struct dash_snapshot *dst, const struct dash_snapshot *src)
{
	dst->pending = calloc(src->pending_count + 1, sizeof(*dst->pending));
	if (!dst->pending)
		return -ENOMEM;
	for (size_t i = 0; i < src->pending_count; i++) {
		dst->pending[i] = src->pending[i];
		memset(&dst->pending[i].shape, 0, sizeof(dst->pending[i].shape));
		dst->pending_count++;
		if (resmap_copy(&dst->pending[i].shape, &src->pending[i].shape)) {
			pending_free(dst);
			return -ENOMEM;
		}
	}
	dst->pending_tasks = src->pending_tasks;
	dst->pending_actors = src->pending_actors;
	return 0;
}

bool dash_pending_complete(const struct dash_snapshot *s)
{
	/* The GCS's aggregate, read this tick, is the whole pending demand:
	 * what the list would add is already in it. */
	if (s->cs.demand_from_gcs)
		return true;
	/* A truncated report means a backlog the list cannot hold either. */
	if (s->pending_error[0] || s->pending_read_at <= 0 || s->cs.demand_truncated)
		return false;
	return !s->cs.present || s->pending_read_at >= s->cs.time;
}

int dash_shapes_add(struct dash_shape **arr, size_t *count, enum planner_demand_kind kind,
		      const struct resmap *shape, long units)
{
	struct dash_shape *grown;

	for (size_t i = 0; i < *count; i++) {
		if ((*arr)[i].kind == kind && resmap_equal(&(*arr)[i].shape, shape)) {
			(*arr)[i].count += units;
			return 0;
		}
	}
	grown = realloc(*arr, (*count + 1) * sizeof(**arr));
	if (!grown)
		return -ENOMEM;
	*arr = grown;
	memset(&grown[*count], 0, sizeof(grown[*count]));
	grown[*count].kind = kind;
	grown[*count].count = units;
	if (resmap_copy(&grown[*count].shape, shape)) {
		resmap_free(&grown[*count].shape);
		return -ENOMEM;
	}
	(*count)++;
	return 0;
}
