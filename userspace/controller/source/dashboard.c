/* dashboard.c -- Ray dashboard client: fetches and strict parsers (see
 * dashboard.h for the sources and why each is used). */
#include "common/util.h"
#include "controller/source/dashboard.h"
#include "controller/source/gcs_load.h"

#include "common/http_client.h"
#include "common/json_util.h"
#include "controller/source/pg_match.h"
#include "controller/source/ray_text.h"
#include "controller/source/task_rounds.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define seterr(err, ...) rs_errf(err, DASH_ERR_LEN, __VA_ARGS__)

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_MAX_RESPONSE (16u << 20)
#define DEFAULT_LIST_LIMIT 10000
#define DEFAULT_TASKS_TIMEOUT_MS 30000
#define DEFAULT_TICK_BUDGET_MS 800
#define DEFAULT_DEMAND_VECTOR_MAX 1000	/* Ray's AUTOSCALER_MAX_RESOURCE_DEMAND_VECTOR_SIZE */

static const char *const source_names[DASH_SRC_COUNT] = {
	[DASH_SRC_HEALTHZ] = "gcs_healthz",
	[DASH_SRC_NODES] = "nodes",
	[DASH_SRC_TASKS] = "tasks",
	[DASH_SRC_CLUSTER_STATUS] = "cluster_status",
	[DASH_SRC_VERSION] = "version",
};

const char *dash_source_name(enum dash_source s)
{
	return s < DASH_SRC_COUNT ? source_names[s] : "unknown";
}

/* ---------------------------------------------------------------- parsing */

static int parse_doc(const char *body, size_t len, cJSON **root, char *err)
{
	struct rs_json_error jerr = { { 0 } };

	if (rs_json_parse(body, len, root, &jerr)) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	return 0;
}

/* {"result": true, "msg": ..., "data": {...}} -> data. */
static int parse_envelope(const char *body, size_t len, cJSON **root, const cJSON **data,
			  char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const char *msg = NULL;
	bool ok;

	if (parse_doc(body, len, root, err))
		return -EINVAL;
	if (rs_json_get_bool(*root, "$", "result", true, &ok, &jerr) ||
	    rs_json_get_object(*root, "$", "data", !ok ? false : true, data, &jerr) < -ENOENT) {
		seterr(err, "%s", jerr.msg);
		goto fail;
	}
	if (!ok) {
		(void)rs_json_get_string(*root, "$", "msg", false, &msg, &jerr);
		seterr(err, "dashboard answered result=false: %.300s", msg ? msg : "(no msg)");
		goto fail;
	}
	return 0;
fail:
	cJSON_Delete(*root);
	*root = NULL;
	return -EINVAL;
}

/* State API: data.result.result (array), failing on partial failures. */
static int parse_state_list(const char *body, size_t len, cJSON **root, const cJSON **list,
			    char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *data, *res;
	const char *partial = NULL;

	if (parse_envelope(body, len, root, &data, err))
		return -EINVAL;
	if (rs_json_get_object(data, "$.data", "result", true, &res, &jerr) ||
	    rs_json_get_array(res, "$.data.result", "result", true, list, &jerr) ||
	    rs_json_get_string(res, "$.data.result", "partial_failure_warning", false,
			       &partial, &jerr) < -ENOENT) {
		seterr(err, "%s", jerr.msg);
		goto fail;
	}
	if (partial && partial[0]) {
		seterr(err, "state API partial failure: %.300s", partial);
		goto fail;
	}
	return 0;
fail:
	cJSON_Delete(*root);
	*root = NULL;
	return -EINVAL;
}

int dash_parse_version(const char *body, size_t len, char *ray_version, size_t size,
		       char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const char *v;
	cJSON *root;

	if (parse_doc(body, len, &root, err))
		return -EINVAL;
	if (rs_json_get_string(root, "$", "ray_version", true, &v, &jerr)) {
		seterr(err, "%s", jerr.msg);
		cJSON_Delete(root);
		return -EINVAL;
	}
	snprintf(ray_version, size, "%s", v);
	cJSON_Delete(root);
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int parse_node(const cJSON *item, size_t i, struct dash_node *n, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const char *id, *state, *name = NULL, *ip = NULL, *label = NULL;
	const cJSON *total, *labels = NULL;
	bool head = false;
	char path[64];

	snprintf(path, sizeof(path), "$.data.result.result[%zu]", i);
	if (rs_json_get_string(item, path, "node_id", true, &id, &jerr) ||
	    rs_json_get_string(item, path, "state", true, &state, &jerr) ||
	    rs_json_get_object(item, path, "resources_total", true, &total, &jerr) ||
	    rs_json_get_string(item, path, "node_name", false, &name, &jerr) < -ENOENT ||
	    rs_json_get_string(item, path, "node_ip", false, &ip, &jerr) < -ENOENT ||
	    rs_json_get_bool(item, path, "is_head_node", false, &head, &jerr) < -ENOENT ||
	    rs_json_get_object(item, path, "labels", false, &labels, &jerr) < -ENOENT) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	if (labels && rs_json_get_string(labels, path, DASH_LABEL_NODE, false, &label,
					 &jerr) < -ENOENT) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	n->node_id = strdup(id);
	n->node_name = dup_or_null(name);
	n->node_ip = dup_or_null(ip);
	n->label_node = dup_or_null(label);
	n->is_head = head;
	n->alive = strcmp(state, "ALIVE") == 0;
	if (!n->node_id || (name && !n->node_name) || (ip && !n->node_ip) ||
	    (label && !n->label_node))
		return -ENOMEM;
	strncat(path, ".resources_total", sizeof(path) - strlen(path) - 1);
	if (resmap_from_json(&n->total, total, path, false, &jerr)) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	return 0;
}

int dash_parse_nodes(const char *body, size_t len, struct dash_snapshot *snap, char *err)
{
	const cJSON *list, *item;
	cJSON *root;
	size_t n, i = 0;
	int rc = 0;

	if (parse_state_list(body, len, &root, &list, err))
		return -EINVAL;
	n = (size_t)cJSON_GetArraySize(list);
	snap->nodes = calloc(n ? n : 1, sizeof(*snap->nodes));
	if (!snap->nodes) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(item, list) {
		rc = parse_node(item, i, &snap->nodes[i], err);
		snap->node_count = ++i;
		if (rc)
			break;
	}
	cJSON_Delete(root);
	return rc;
}

static double pending_since(const cJSON *item)
{
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(item, "events"), *e;
	const cJSON *ct = cJSON_GetObjectItemCaseSensitive(item, "creation_time_ms");

	cJSON_ArrayForEach(e, events) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "state");
		const cJSON *ms = cJSON_GetObjectItemCaseSensitive(e, "created_ms");

		if (cJSON_IsString(st) && !strcmp(st->valuestring, "PENDING_NODE_ASSIGNMENT") &&
		    cJSON_IsNumber(ms))
			return ms->valuedouble;
	}
	return cJSON_IsNumber(ct) ? ct->valuedouble : 0;
}

/* One pending task.  Those inside a placement group are skipped: their
 * demand is the group's, counted from pgDemand. */
static int parse_pending_item(const cJSON *item, size_t i, struct dash_snapshot *snap, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const char *pg = NULL, *type;
	const cJSON *req;
	struct dash_pending *grown, *p;
	char path[80];
	int rc;

	snprintf(path, sizeof(path), "$.data.result.result[%zu]", i);
	if (rs_json_get_string(item, path, "type", true, &type, &jerr) ||
	    rs_json_get_string(item, path, "placement_group_id", false, &pg, &jerr) < -ENOENT ||
	    rs_json_get_object(item, path, "required_resources", true, &req, &jerr)) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	if ((pg && pg[0]) || (strcmp(type, "NORMAL_TASK") && strcmp(type, "ACTOR_CREATION_TASK")))
		return 0;
	grown = realloc(snap->pending, (snap->pending_count + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	snap->pending = grown;
	p = &grown[snap->pending_count];
	memset(p, 0, sizeof(*p));
	strncat(path, ".required_resources", sizeof(path) - strlen(path) - 1);
	rc = resmap_from_json(&p->shape, req, path, false, &jerr);
	if (rc) {
		if (rc == -EINVAL)
			seterr(err, "%s", jerr.msg);
		resmap_free(&p->shape);
		return rc;
	}
	if (!p->shape.count) {		/* needs nothing: no node for it */
		resmap_free(&p->shape);
		return 0;
	}
	p->kind = strcmp(type, "NORMAL_TASK") ? PLANNER_DEMAND_ACTOR : PLANNER_DEMAND_TASK;
	p->pending_since_ms = pending_since(item);
	snap->pending_count++;
	if (p->kind == PLANNER_DEMAND_TASK)
		snap->pending_tasks++;
	else
		snap->pending_actors++;
	return 0;
}

int dash_parse_pending(const char *body, size_t len, struct dash_snapshot *snap, char *err)
{
	const cJSON *list, *item;
	cJSON *root;
	size_t i = 0;
	int rc = 0;

	if (parse_state_list(body, len, &root, &list, err))
		return -EINVAL;
	cJSON_ArrayForEach(item, list) {
		rc = parse_pending_item(item, i++, snap, err);
		if (rc)
			break;
	}
	cJSON_Delete(root);
	return rc;
}

static long count_of(const cJSON *o, const char *key, long dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (long)v->valuedouble : dflt;
}

int dash_parse_pending_round(const char *body, size_t len, struct task_round *r, char *err)
{
	const cJSON *list, *item, *res;
	cJSON *root;
	size_t i = 0;
	int rc = 0;

	if (parse_state_list(body, len, &root, &list, err))
		return -EINVAL;
	res = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "data"),
					       "result");
	r->returned = count_of(res, "num_after_truncation", cJSON_GetArraySize(list));
	r->total = count_of(res, "total", r->returned);
	cJSON_ArrayForEach(item, list) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");

		if (cJSON_IsString(name) && name->valuestring[0] &&
		    (rc = task_round_add_name(r, name->valuestring)))
			break;
		if ((rc = parse_pending_item(item, i++, &r->snap, err)))
			break;
	}
	cJSON_Delete(root);
	return rc;
}

/* Shapes that only a placement group's node can hold ("CPU_group_<id>") and
 * the PG's "bundle" marker: Ray's autoscaler neither launches nor warns for
 * them; the group itself is the demand. */
static bool pg_shape(const struct resmap *m)
{
	for (size_t i = 0; i < m->count; i++)
		if (strstr(m->items[i].name, "_group_") || !strcmp(m->items[i].name, "bundle"))
			return true;
	return false;
}

/* A shape the (truncated) report lists. */
static bool in_report(const struct dash_cluster_status *cs, const struct resmap *shape)
{
	for (size_t i = 0; i < cs->demand_count; i++)
		if (resmap_equal(&cs->demand[i].shape, shape))
			return true;
	return false;
}

int dash_merge_demand(struct dash_snapshot *snap, bool use_report)
{
	double cutoff_ms = snap->cs.time * 1000.0;
	int rc = 0;

	dash_shapes_free(snap->shapes, snap->shape_count);
	snap->shapes = NULL;
	snap->shape_count = 0;
	snap->new_since_report = 0;
	use_report = use_report && snap->cs.present;
	for (size_t i = 0; use_report && !rc && i < snap->cs.demand_count; i++)
		if (!pg_shape(&snap->cs.demand[i].shape))
			rc = dash_shapes_add(&snap->shapes, &snap->shape_count, PLANNER_DEMAND_TASK,
					&snap->cs.demand[i].shape, snap->cs.demand[i].count);
	for (size_t i = 0; !rc && i < snap->pending_count; i++) {
		const struct dash_pending *p = &snap->pending[i];

		if (use_report && !(p->pending_since_ms > cutoff_ms) &&
		    !(snap->cs.demand_truncated && !in_report(&snap->cs, &p->shape)))
			continue;	/* in the report already: demand or usage */
		rc = dash_shapes_add(&snap->shapes, &snap->shape_count, p->kind, &p->shape, 1);
		snap->new_since_report++;
	}
	return rc;
}

/* [ {shape}, count ] as the monitor writes it (tuples become lists). */
static int parse_pair(const cJSON *pair, const char *path, const cJSON **first, long *count,
		      char *err)
{
	const cJSON *n;

	if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2) {
		seterr(err, "%s: expected a [value, count] pair", path);
		return -EINVAL;
	}
	*first = cJSON_GetArrayItem(pair, 0);
	n = cJSON_GetArrayItem(pair, 1);
	if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > PLANNER_MAX_COUNT ||
	    n->valuedouble != floor(n->valuedouble)) {
		seterr(err, "%s[1]: expected a count (integer 0..%ld)", path, PLANNER_MAX_COUNT);
		return -EINVAL;
	}
	*count = (long)n->valuedouble;
	return 0;
}

static int parse_shape_pairs(const cJSON *arr, const char *path, enum planner_demand_kind kind,
			     struct dash_shape **out, size_t *count, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *pair;
	size_t i = 0;

	if (!cJSON_IsArray(arr)) {
		seterr(err, "%s: expected an array", path);
		return -EINVAL;
	}
	cJSON_ArrayForEach(pair, arr) {
		struct resmap shape = { 0 };
		const cJSON *obj;
		char p[96];
		long n;
		int rc;

		snprintf(p, sizeof(p), "%s[%zu]", path, i++);
		if (parse_pair(pair, p, &obj, &n, err))
			return -EINVAL;
		strncat(p, "[0]", sizeof(p) - strlen(p) - 1);
		rc = resmap_from_json(&shape, obj, p, false, &jerr);
		if (rc == -EINVAL)
			seterr(err, "%s", jerr.msg);
		if (!rc && shape.count)
			rc = dash_shapes_add(out, count, kind, &shape, n);
		resmap_free(&shape);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_pg(const cJSON *pair, const char *path, struct dash_pg *pg, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *obj, *bundles, *b;
	const char *strategy;
	char p[128];
	size_t i = 0;

	if (parse_pair(pair, path, &obj, &pg->count, err))
		return -EINVAL;
	snprintf(p, sizeof(p), "%s[0]", path);
	if (rs_json_get_string(obj, p, "strategy", true, &strategy, &jerr) ||
	    rs_json_get_array(obj, p, "bundles", true, &bundles, &jerr)) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	if (planner_pg_strategy_parse(strategy, &pg->strategy)) {
		seterr(err, "%s.strategy: unknown placement strategy '%.40s'", p, strategy);
		return -EINVAL;
	}
	cJSON_ArrayForEach(b, bundles) {
		const cJSON *shape_obj;
		struct resmap shape = { 0 };
		char bp[160];
		long n;
		int rc;

		snprintf(bp, sizeof(bp), "%s.bundles[%zu]", p, i++);
		if (parse_pair(b, bp, &shape_obj, &n, err))
			return -EINVAL;
		if (n > 1000) {
			seterr(err, "%s[1]: %ld bundles in one group is beyond the limit 1000", bp, n);
			return -EINVAL;
		}
		rc = resmap_from_json(&shape, shape_obj, bp, false, &jerr);
		if (rc == -EINVAL)
			seterr(err, "%s", jerr.msg);
		if (!rc)
			rc = dash_bundles_append(&pg->bundles, &pg->bundle_count, &shape, n);
		resmap_free(&shape);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_usage_by_node(const cJSON *obj, struct dash_cluster_status *cs, char *err)
{
	const cJSON *node;
	size_t n = (size_t)cJSON_GetArraySize(obj);

	cs->usage = calloc(n ? n : 1, sizeof(*cs->usage));
	if (!cs->usage)
		return -ENOMEM;
	cJSON_ArrayForEach(node, obj) {
		struct dash_usage *u = &cs->usage[cs->usage_count++];
		const cJSON *res;

		u->key = strdup(node->string ? node->string : "");
		if (!u->key)
			return -ENOMEM;
		if (!cJSON_IsObject(node)) {
			seterr(err, "$.data.clusterStatus.loadMetricsReport.usageByNode.%.80s: "
			       "expected an object", u->key);
			return -EINVAL;
		}
		cJSON_ArrayForEach(res, node) {
			const cJSON *used = cJSON_GetArrayItem(res, 0);
			const cJSON *total = cJSON_GetArrayItem(res, 1);

			if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) != 2 ||
			    !cJSON_IsNumber(used) || !cJSON_IsNumber(total) ||
			    !isfinite(used->valuedouble) || !isfinite(total->valuedouble)) {
				seterr(err, "$.data.clusterStatus.loadMetricsReport.usageByNode."
				       "%.80s.%.80s: expected [used, total]", u->key, res->string);
				return -EINVAL;
			}
			if (resmap_set(&u->used, res->string, used->valuedouble) ||
			    resmap_set(&u->total, res->string, total->valuedouble))
				return -ENOMEM;
		}
	}
	return 0;
}

static int parse_load_metrics(const cJSON *lm, struct dash_cluster_status *cs, char *err)
{
	static const char *base = "$.data.clusterStatus.loadMetricsReport";
	struct rs_json_error jerr = { { 0 } };
	const cJSON *demand, *pgs, *requests, *usage = NULL, *pair;
	size_t i = 0;
	int rc;

	if (rs_json_get_array(lm, base, "resourceDemand", true, &demand, &jerr) ||
	    rs_json_get_array(lm, base, "pgDemand", true, &pgs, &jerr) ||
	    rs_json_get_array(lm, base, "requestDemand", true, &requests, &jerr) ||
	    rs_json_get_object(lm, base, "usageByNode", false, &usage, &jerr) < -ENOENT) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	rc = parse_shape_pairs(demand, "$.data.clusterStatus.loadMetricsReport.resourceDemand",
			       PLANNER_DEMAND_TASK, &cs->demand, &cs->demand_count, err);
	if (!rc)
		rc = parse_shape_pairs(requests,
				       "$.data.clusterStatus.loadMetricsReport.requestDemand",
				       PLANNER_DEMAND_TASK, &cs->requests, &cs->request_count, err);
	if (rc)
		return rc;
	cs->pgs = calloc((size_t)cJSON_GetArraySize(pgs) + 1, sizeof(*cs->pgs));
	if (!cs->pgs)
		return -ENOMEM;
	cJSON_ArrayForEach(pair, pgs) {
		char p[96];

		snprintf(p, sizeof(p), "%s.pgDemand[%zu]", base, i++);
		rc = parse_pg(pair, p, &cs->pgs[cs->pg_count++], err);
		if (rc)
			return rc;
	}
	return usage ? parse_usage_by_node(usage, cs, err) : 0;
}

int dash_parse_cluster_status(const char *body, size_t len, struct dash_cluster_status *cs,
			      char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *data, *st = NULL, *lm;
	cJSON *root;
	int rc;

	memset(cs, 0, sizeof(*cs));
	if (parse_envelope(body, len, &root, &data, err))
		return -EINVAL;
	rc = rs_json_get_object(data, "$.data", "clusterStatus", false, &st, &jerr);
	if (rc == -ENOENT) {	/* autoscaler v2, or no monitor: nothing structured */
		cJSON_Delete(root);
		return 0;
	}
	if (rc || rs_json_get_number(st, "$.data.clusterStatus", "time", true, &cs->time, &jerr) ||
	    rs_json_get_object(st, "$.data.clusterStatus", "loadMetricsReport", true, &lm, &jerr)) {
		seterr(err, "%s", jerr.msg);
		cJSON_Delete(root);
		return -EINVAL;
	}
	cs->present = true;
	cs->source = DASH_CS_STRUCTURED;
	rc = parse_load_metrics(lm, cs, err);
	cJSON_Delete(root);
	if (rc)
		dash_cluster_status_free(cs);
	return rc;
}

/* ---------------------------------------------------------------- autoscaler v2 */

int dash_parse_status_text(const char *body, size_t len, struct rtext_status *st, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *data;
	const char *text;
	cJSON *root;
	int rc;

	memset(st, 0, sizeof(*st));
	if (parse_envelope(body, len, &root, &data, err))
		return -EINVAL;
	rc = rs_json_get_string(data, "$.data", "clusterStatus", true, &text, &jerr);
	if (rc)
		seterr(err, "%s", jerr.msg);
	else
		rc = rtext_parse_status(text, strlen(text), st, err);
	cJSON_Delete(root);
	return rc;
}

/* One bundle: kept when not placed yet (node_id absent, null or ""). */
static int parse_api_bundle(const cJSON *b, const char *path, struct dash_api_pg *pg, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *unit, *node = cJSON_GetObjectItemCaseSensitive(b, "node_id");
	struct resmap *grown;
	int rc;

	if (rs_json_get_object(b, path, "unit_resources", true, &unit, &jerr)) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	if (node && !cJSON_IsNull(node) && !cJSON_IsString(node)) {
		seterr(err, "%s.node_id: expected a string or null", path);
		return -EINVAL;
	}
	if (cJSON_IsString(node) && node->valuestring[0])
		return 0;	/* placed */
	if (pg->bundle_count >= 1000) {
		seterr(err, "%s: more than 1000 bundles in one group", path);
		return -EINVAL;
	}
	grown = realloc(pg->bundles, (pg->bundle_count + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	pg->bundles = grown;
	memset(&grown[pg->bundle_count], 0, sizeof(*grown));
	rc = resmap_from_json(&grown[pg->bundle_count++], unit, path, false, &jerr);
	if (rc == -EINVAL)
		seterr(err, "%s", jerr.msg);
	return rc;
}

static int parse_api_pg(const cJSON *item, size_t i, struct dash_api_pg *pg, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const char *id, *state;
	const cJSON *bundles, *b;
	char path[96], bp[128];
	size_t k = 0;
	int rc = 0;

	snprintf(path, sizeof(path), "$.data.result.result[%zu]", i);
	if (rs_json_get_string(item, path, "placement_group_id", true, &id, &jerr) ||
	    rs_json_get_string(item, path, "state", true, &state, &jerr) ||
	    rs_json_get_array(item, path, "bundles", true, &bundles, &jerr)) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	pg->id = strdup(id);
	pg->state = strdup(state);
	if (!pg->id || !pg->state)
		return -ENOMEM;
	cJSON_ArrayForEach(b, bundles) {
		snprintf(bp, sizeof(bp), "%s.bundles[%zu]", path, k++);
		if ((rc = parse_api_bundle(b, bp, pg, err)))
			break;
	}
	return rc;
}

int dash_parse_api_pgs(const char *body, size_t len, struct dash_api_pg **out, size_t *count,
		       char *err)
{
	const cJSON *list, *item;
	struct dash_api_pg *pgs;
	cJSON *root;
	size_t n = 0, i = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	if (parse_state_list(body, len, &root, &list, err))
		return -EINVAL;
	pgs = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*pgs));
	if (!pgs) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(item, list) {
		struct dash_api_pg *pg = &pgs[n++];

		rc = parse_api_pg(item, i++, pg, err);
		if (rc)
			break;
		/* Only groups still waiting for bundles are demand. */
		if ((strcmp(pg->state, "PENDING") && strcmp(pg->state, "RESCHEDULING")) ||
		    !pg->bundle_count) {
			dash_api_pg_clear(pg);
			n--;
		}
	}
	cJSON_Delete(root);
	if (rc) {
		dash_api_pgs_free(pgs, n);
		return rc;
	}
	*out = pgs;
	*count = n;
	return 0;
}

int dash_parse_node_summary(const char *body, size_t len, struct dash_cluster_status *cs,
			    char *warn, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *data, *map, *node;
	cJSON *root;
	int rc = 0;

	warn[0] = '\0';
	if (parse_envelope(body, len, &root, &data, err))
		return -EINVAL;
	if (rs_json_get_object(data, "$.data", "nodeLogicalResources", true, &map, &jerr)) {
		seterr(err, "%s", jerr.msg);
		cJSON_Delete(root);
		return -EINVAL;
	}
	cs->usage = calloc((size_t)cJSON_GetArraySize(map) + 1, sizeof(*cs->usage));
	if (!cs->usage) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(node, map) {
		struct dash_usage *u = &cs->usage[cs->usage_count];
		char perr[DASH_ERR_LEN];

		if (!cJSON_IsString(node)) {
			seterr(warn, "nodeLogicalResources.%.80s: not a string (node left out)",
			       node->string);
			continue;
		}
		rc = rtext_parse_node_usage(node->valuestring, strlen(node->valuestring),
					    &u->used, &u->total, perr);
		if (rc == 0 && !(u->key = strdup(node->string)))
			rc = -ENOMEM;
		if (rc) {
			resmap_free(&u->used);
			resmap_free(&u->total);
			if (rc != -EINVAL)
				break;
			seterr(warn, "nodeLogicalResources.%.80s: %s (node left out)",
			       node->string, perr);
			rc = 0;
			continue;
		}
		cs->usage_count++;
	}
	cJSON_Delete(root);
	return rc;
}

int dash_v2_status_build(struct dash_cluster_status *cs, struct rtext_status *st,
			 struct dash_api_pg *pgs, size_t np, double time)
{
	size_t nk = 0;

	cs->pgs = calloc(np + 1, sizeof(*cs->pgs));
	cs->held = calloc(np + 1, sizeof(*cs->held));
	if (!cs->pgs || !cs->held) {
		dash_api_pgs_free(pgs, np);
		rtext_status_free(st);
		return -ENOMEM;
	}
	/* -EINVAL (the sources disagree) leaves every group unknown: held. */
	(void)pg_match_strategies(st->pg_lines, st->pg_line_count, pgs, np, cs->held_why,
				  sizeof(cs->held_why));
	for (size_t i = 0; i < np; i++) {
		if (!pgs[i].known) {
			cs->held[cs->held_count++] = pgs[i];
			continue;
		}
		nk++;
		cs->pgs[cs->pg_count++] = (struct dash_pg){ .strategy = pgs[i].strategy,
			.bundles = pgs[i].bundles, .bundle_count = pgs[i].bundle_count,
			.count = 1 };
		free(pgs[i].id);
		free(pgs[i].state);
	}
	free(pgs);
	if (cs->held_count && !cs->held_why[0])
		snprintf(cs->held_why, sizeof(cs->held_why), "strategy not determined: several "
			 "strategies are pending and the status text shows one example group "
			 "per strategy (%zu of %zu groups matched)", nk, np);
	cs->demand = st->tasks;
	cs->demand_count = st->task_count;
	cs->requests = st->requests;
	cs->request_count = st->request_count;
	st->tasks = NULL;
	st->task_count = 0;
	st->requests = NULL;
	st->request_count = 0;
	rtext_status_free(st);
	cs->present = true;
	cs->source = DASH_CS_V2_TEXT;
	cs->time = time;
	return 0;
}

static const struct dash_usage *usage_for(const struct dash_snapshot *snap,
					  const struct dash_node *n)
{
	const struct dash_usage *by_ip = NULL;
	size_t ip_matches = 0;

	for (size_t i = 0; i < snap->cs.usage_count; i++) {
		const struct dash_usage *u = &snap->cs.usage[i];

		if (strcmp(u->key, n->node_id) == 0)
			return u;
		if (n->node_ip && strcmp(u->key, n->node_ip) == 0) {
			by_ip = u;
			ip_matches++;
		}
	}
	/* IP keys (a real autoscaler config) are only usable when the IP is
	 * unique among alive nodes. */
	for (size_t i = 0; by_ip && i < snap->node_count; i++) {
		const struct dash_node *o = &snap->nodes[i];

		if (o != n && o->alive && o->node_ip && n->node_ip &&
		    strcmp(o->node_ip, n->node_ip) == 0)
			return NULL;
	}
	return ip_matches == 1 ? by_ip : NULL;
}

static int attach_one(struct dash_node *n, const struct dash_usage *u)
{
	for (size_t k = 0; k < n->total.count; k++) {
		const struct planner_resource *r = &n->total.items[k];
		char mangled[256];
		double used;

		ray_camel_case(r->name, mangled, sizeof(mangled));
		used = resmap_get(&u->used, mangled, resmap_get(&u->used, r->name, 0));
		if (used > 0 && strncmp(r->name, "node:", 5) != 0)
			n->busy = true;
		if (resmap_set(&n->available, r->name, used < r->value ? r->value - used : 0))
			return -ENOMEM;
	}
	return 0;
}

void dash_attach_usage(struct dash_snapshot *snap)
{
	for (size_t i = 0; i < snap->node_count; i++) {
		struct dash_node *n = &snap->nodes[i];
		const struct dash_usage *u;

		resmap_free(&n->available);
		n->have_usage = false;
		n->busy = false;
		if (!n->alive || !(u = usage_for(snap, n)))
			continue;
		if (attach_one(n, u) == 0)
			n->have_usage = true;
		else
			resmap_free(&n->available);
	}
}

/* ---------------------------------------------------------------- fetching */

/* GET base_url+path; 0 with the answer in *resp when HTTP 200. */
static int get(const struct dash_client *c, const char *path, struct rs_http_client_response *resp,
	       char *err)
{
	char url[8192], auth[1024];	/* task-list rounds carry up to 64 excluded names */
	const char *headers[2] = { NULL, NULL };
	struct rs_http_client_request req = {
		.method = "GET",
		.url = url,
		.headers = headers,
		.timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS,
		.max_response = c->max_response ? c->max_response : DEFAULT_MAX_RESPONSE,
	};
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (c->deadline > 0) {
		long left = (long)((c->deadline - rs_now_unix()) * 1000);

		if (left <= 0) {
			seterr(err, "GET %s: not sent: the tick's read budget is spent", path);
			return -ETIMEDOUT;
		}
		if (left < req.timeout_ms)
			req.timeout_ms = left;
	}
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base_url, path) >= sizeof(url)) {
		seterr(err, "URL too long");
		return -ENAMETOOLONG;
	}
	/* Ray >= 2.52 token auth reads "authorization", then this fallback
	 * header (the one KubeRay sends); either works on 2.60.0. */
	if (c->token) {
		snprintf(auth, sizeof(auth), "x-ray-authorization: Bearer %s", c->token);
		headers[0] = auth;
	}
	rc = rs_http_do(&req, resp);
	if (rc) {
		seterr(err, "GET %s: %s", path, resp->error[0] ? resp->error : strerror(-rc));
		return rc;
	}
	if (resp->status != 200) {
		seterr(err, "GET %s: HTTP %ld: %.200s", path, resp->status,
		       resp->body ? resp->body : "");
		return -EIO;
	}
	return 0;
}

static int fetch_healthz(const struct dash_client *c, char *err)
{
	struct rs_http_client_response resp;
	int rc = get(c, "/api/gcs_healthz", &resp, err);

	if (!rc && (!resp.body || strncmp(resp.body, "success", 7) != 0)) {
		seterr(err, "GET /api/gcs_healthz: unexpected body '%.80s'", resp.body ? resp.body : "");
		rc = -EIO;
	}
	rs_http_response_free(&resp);
	return rc;
}

typedef int (*parse_fn)(const char *body, size_t len, void *ctx, char *err);

static int fetch_parse(const struct dash_client *c, const char *path, parse_fn fn, void *ctx,
		       char *err)
{
	struct rs_http_client_response resp;
	char perr[DASH_ERR_LEN];
	int rc = get(c, path, &resp, err);

	if (!rc) {
		rc = fn(resp.body, resp.body_len, ctx, perr);
		if (rc)
			seterr(err, "GET %s: %s", path, perr);
	}
	rs_http_response_free(&resp);
	return rc;
}

static int nodes_cb(const char *b, size_t l, void *ctx, char *err)
{
	return dash_parse_nodes(b, l, ctx, err);
}

static int tasks_cb(const char *b, size_t l, void *ctx, char *err)
{
	return dash_parse_pending(b, l, ctx, err);
}

static int cs_cb(const char *b, size_t l, void *ctx, char *err)
{
	struct dash_snapshot *s = ctx;

	return dash_parse_cluster_status(b, l, &s->cs, err);
}

#define STATE_FILTER "&filter_keys=state&filter_predicates=%%3D&filter_values="
#define NOT_STATE "&filter_keys=state&filter_predicates=%%21%%3D&filter_values="

static int text_cb(const char *b, size_t l, void *ctx, char *err)
{
	return dash_parse_status_text(b, l, ctx, err);
}

struct pgs_ctx {
	struct dash_api_pg *pgs;
	size_t count;
};

static int pgs_cb(const char *b, size_t l, void *ctx, char *err)
{
	struct pgs_ctx *p = ctx;

	return dash_parse_api_pgs(b, l, &p->pgs, &p->count, err);
}

struct summary_ctx {
	struct dash_cluster_status *cs;
	char *warn;
};

static int summary_cb(const char *b, size_t l, void *ctx, char *err)
{
	struct summary_ctx *s = ctx;

	return dash_parse_node_summary(b, l, s->cs, s->warn, err);
}

/* Autoscaler v2: clusterStatus is null; read the live views instead (see
 * dashboard.h).  Never fails the snapshot: what cannot be read is missing
 * (v2_error says why), and missing data only holds.
 * Order matters for the demand merge: usage first, then the cut-off time,
 * then the text.  A task pending after the cut-off cannot be in that usage
 * (no double count); one granted between the usage and the text is in
 * neither (counted next tick: too few, never too many). */
static void fetch_v2(const struct dash_client *c, struct dash_snapshot *snap, long limit)
{
	struct dash_cluster_status *cs = &snap->cs, usage = { 0 };
	struct summary_ctx sc = { &usage, NULL };
	struct pgs_ctx pc = { 0 };
	struct rtext_status st;
	char path[256], err[DASH_ERR_LEN], warn[DASH_ERR_LEN] = "", usage_err[DASH_ERR_LEN] = "";
	double t;

	snprintf(path, sizeof(path), "/api/v0/placement_groups?limit=%ld&detail=true"
		 NOT_STATE "CREATED" NOT_STATE "REMOVED", limit);
	sc.warn = warn;
	if (fetch_parse(c, "/nodes?view=summary&nocache=1", summary_cb, &sc, err)) {
		dash_cluster_status_free(&usage);	/* no usage: never idle */
		seterr(usage_err, "node usage: %s", err);
	} else if (warn[0]) {
		seterr(usage_err, "node usage: %s", warn);
	}
	t = rs_now_unix();
	if (fetch_parse(c, "/api/cluster_status?format=1", text_cb, &st, err)) {
		dash_cluster_status_free(&usage);
		seterr(snap->v2_error, "status text: %s", err);
		return;
	}
	/* No pending group in the text: nothing to match, so no state-API read
	 * (the common case, every tick).  A group that became pending since
	 * the text was read is seen next tick; read now, it would make the
	 * counts disagree and be held anyway. */
	if (st.pg_line_count && fetch_parse(c, path, pgs_cb, &pc, err)) {
		rtext_status_free(&st);
		dash_cluster_status_free(&usage);
		seterr(snap->v2_error, "placement groups: %s", err);
		return;
	}
	if (dash_v2_status_build(cs, &st, pc.pgs, pc.count, t)) {
		dash_cluster_status_free(cs);
		dash_cluster_status_free(&usage);
		seterr(snap->v2_error, "out of memory");
		return;
	}
	cs->usage = usage.usage;
	cs->usage_count = usage.usage_count;
	snprintf(snap->v2_error, sizeof(snap->v2_error), "%s", usage_err);
}

/* The v1 report lists whole shapes until its vector passes max entries. */
static void mark_truncated(struct dash_cluster_status *cs, long max)
{
	long n = 0;

	for (size_t i = 0; i < cs->demand_count; i++)
		n += cs->demand[i].count;
	cs->demand_truncated = cs->source == DASH_CS_STRUCTURED && n > max;
}

/* The v1 report's demand replaced by the GCS's live aggregate (gcs_load.h):
 * complete where the report is truncated, and current where the report is
 * up to 5 s old.  Only when the GCS lists a node the dashboard lists too:
 * a GCS address that reaches another Ray cluster must not lend it its
 * demand.  On failure the report's demand stays and gcs_error says why. */
static void read_gcs_demand(const struct dash_client *c, struct dash_snapshot *snap)
{
	struct gcs_client gc = { .address = c->gcs_address, .token = c->token,
				 .timeout_ms = c->timeout_ms };
	struct dash_cluster_status *cs = &snap->cs;
	double t = rs_now_unix();
	long left = c->deadline > 0 ? (long)((c->deadline - t) * 1000) : 0;
	struct gcs_load load;

	if (c->deadline > 0 && left <= 0) {
		seterr(snap->gcs_error, "not read: the tick's read budget is spent");
		return;
	}
	if (gcs_fetch_load(&gc, left, &load, snap->gcs_error))
		return;
	if (!dash_find_node(snap, load.node_id)) {
		seterr(snap->gcs_error, "the GCS at %s lists node '%s', which the dashboard does "
		       "not: not this cluster's GCS (set --gcs-address)", c->gcs_address,
		       load.node_id);
		gcs_load_free(&load);
		return;
	}
	dash_shapes_free(cs->demand, cs->demand_count);
	cs->demand = load.shapes;
	cs->demand_count = load.count;
	cs->demand_truncated = false;
	cs->demand_from_gcs = true;
}

double dash_tick_budget_s(const struct dash_client *c)
{
	return (double)(c->tick_budget_ms > 0 ? c->tick_budget_ms : DEFAULT_TICK_BUDGET_MS) / 1000.0;
}

int dash_fetch_cluster(const struct dash_client *client, struct dash_snapshot *snap,
		       enum dash_source *failed, char *err)
{
	long limit = client->list_limit > 0 ? client->list_limit : DEFAULT_LIST_LIMIT;
	long budget = client->tick_budget_ms > 0 ? client->tick_budget_ms : DEFAULT_TICK_BUDGET_MS;
	struct dash_client timed = *client;
	const struct dash_client *c = &timed;
	char nodes[128];
	int rc;

	timed.deadline = rs_now_unix() + (double)budget / 1000.0;
	memset(snap, 0, sizeof(*snap));
	snprintf(nodes, sizeof(nodes), "/api/v0/nodes?limit=%ld&detail=true", limit);
	*failed = DASH_SRC_HEALTHZ;
	if ((rc = fetch_healthz(c, err)))
		goto out;
	*failed = DASH_SRC_NODES;
	if ((rc = fetch_parse(c, nodes, nodes_cb, snap, err)))
		goto out;
	*failed = DASH_SRC_CLUSTER_STATUS;
	if ((rc = fetch_parse(c, "/api/cluster_status", cs_cb, snap, err)))
		goto out;
	if (!snap->cs.present) {
		fetch_v2(c, snap, limit);
	} else {
		mark_truncated(&snap->cs, client->demand_vector_max > 0 ? client->demand_vector_max :
			       DEFAULT_DEMAND_VECTOR_MAX);
		if (client->gcs_address)
			read_gcs_demand(c, snap);
	}
	dash_attach_usage(snap);
	snap->fetched_at = rs_now_unix();
out:
	if (rc)
		dash_snapshot_free(snap);
	return rc;
}

int dash_fetch_pending(const struct dash_client *c, struct dash_snapshot *snap, char *err)
{
	long limit = c->tasks_limit > 0 ? c->tasks_limit :
		     c->list_limit > 0 ? c->list_limit : DEFAULT_LIST_LIMIT;
	struct dash_client slow = *c;
	char tasks[256];
	int rc;

	memset(snap, 0, sizeof(*snap));
	slow.timeout_ms = c->tasks_timeout_ms > 0 ? c->tasks_timeout_ms : DEFAULT_TASKS_TIMEOUT_MS;
	snprintf(tasks, sizeof(tasks), "/api/v0/tasks?limit=%ld&detail=true" STATE_FILTER
		 "PENDING_NODE_ASSIGNMENT", limit);
	rc = fetch_parse(&slow, tasks, tasks_cb, snap, err);
	if (rc)
		dash_snapshot_free(snap);
	return rc;
}

static int round_cb(const char *b, size_t l, void *ctx, char *err)
{
	return dash_parse_pending_round(b, l, ctx, err);
}

/* Percent-encode s (all but RFC 3986 unreserved) at out+w; the new end,
 * or size when it does not fit. */
static size_t url_escape(char *out, size_t size, size_t w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s && w + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			out[w++] = (char)ch;
		} else {
			out[w++] = '%';
			out[w++] = hex[ch >> 4];
			out[w++] = hex[ch & 15];
		}
	}
	out[w < size ? w : size - 1] = '\0';
	return *s ? size : w;
}

int dash_fetch_pending_round(const struct dash_client *c, const char *const *exclude,
			     size_t exclude_count, struct task_round *r, char *err)
{
	long limit = c->list_limit > 0 ? c->list_limit : DEFAULT_LIST_LIMIT;
	struct dash_client slow = *c;
	char path[7168];
	size_t w;
	int rc;

	memset(r, 0, sizeof(*r));
	slow.timeout_ms = c->tasks_timeout_ms > 0 ? c->tasks_timeout_ms : DEFAULT_TASKS_TIMEOUT_MS;
	w = (size_t)snprintf(path, sizeof(path), "/api/v0/tasks?limit=%ld&detail=true"
			     STATE_FILTER "PENDING_NODE_ASSIGNMENT", limit);
	for (size_t i = 0; i < exclude_count && w < sizeof(path); i++) {
		w += (size_t)snprintf(path + w, sizeof(path) - w, "&filter_keys=name"
				      "&filter_predicates=%%21%%3D&filter_values=");
		if (w < sizeof(path))
			w = url_escape(path, sizeof(path), w, exclude[i]);
	}
	if (w >= sizeof(path)) {
		seterr(err, "task list: %zu excluded names do not fit in a URL", exclude_count);
		return -ENAMETOOLONG;
	}
	rc = fetch_parse(&slow, path, round_cb, r, err);
	if (rc)
		task_round_free(r);
	return rc;
}

struct version_ctx {
	char *out;
	size_t size;
};

static int version_cb(const char *b, size_t l, void *ctx, char *err)
{
	struct version_ctx *v = ctx;

	return dash_parse_version(b, l, v->out, v->size, err);
}

int dash_fetch_version(const struct dash_client *c, char *ray_version, size_t size, char *err)
{
	struct version_ctx v = { ray_version, size };

	return fetch_parse(c, "/api/version", version_cb, &v, err);
}

static int count_cb(const char *b, size_t l, void *ctx, char *err)
{
	const cJSON *list;
	cJSON *root;

	if (parse_state_list(b, l, &root, &list, err))
		return -EINVAL;
	*(int *)ctx = cJSON_GetArraySize(list);
	cJSON_Delete(root);
	return 0;
}

int dash_node_has_work(const struct dash_client *c, const char *node_id, bool *busy, char *err)
{
	char path[512];
	int tasks = 0, actors = 0, rc;

	if (strspn(node_id, "0123456789abcdef") != strlen(node_id)) {
		seterr(err, "bad node id '%.80s'", node_id);
		return -EINVAL;
	}
	snprintf(path, sizeof(path),
		 "/api/v0/tasks?limit=10&filter_keys=node_id&filter_predicates=%%3D&filter_values=%s"
		 "&filter_keys=state&filter_predicates=%%21%%3D&filter_values=FINISHED"
		 "&filter_keys=state&filter_predicates=%%21%%3D&filter_values=FAILED", node_id);
	rc = fetch_parse(c, path, count_cb, &tasks, err);
	if (rc)
		return rc;
	snprintf(path, sizeof(path),
		 "/api/v0/actors?limit=10&filter_keys=node_id&filter_predicates=%%3D&filter_values=%s"
		 STATE_FILTER "ALIVE", node_id);
	rc = fetch_parse(c, path, count_cb, &actors, err);
	if (rc)
		return rc;
	*busy = tasks > 0 || actors > 0;
	return 0;
}
