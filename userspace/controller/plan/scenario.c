/* scenario.c -- parse the public scenario JSON into a planner input, and
 * render a plan as JSON (format documented in scenario.h).
 *
 * Parsing is strict: every value is type- and range-checked, unknown keys
 * are refused (they are usually typos that would silently change a plan),
 * and every error names its JSON path. */
#include "controller/plan/scenario.h"
#include "controller/plan/scenario_stream.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that keep a hostile scenario from exhausting memory or time. */
#define MAX_NODE_TYPES 1024
#define MAX_NODES 100000
#define MAX_ENTRIES 1000000	/* per demand list */
#define MAX_RESOURCES 128	/* per resource map (duplicates are checked pairwise) */
#define MAX_BUNDLES 10000	/* per placement group */
#define MAX_PG_COPIES 100000L	/* sum of placement group counts */
#define MAX_WORKERS_LIMIT 1000000

#define PATH_MAX_LEN 256

/* A resource map: {"CPU": 1, "memory": 1e9}; amounts finite and >= 0.
 * Identical maps share one interned copy (res_intern.h). */
static int parse_resources(struct scenario *s, const cJSON *obj, const char *path,
			   struct planner_resources *out, struct rs_json_error *err)
{
	struct planner_resource arr[MAX_RESOURCES];

	if (!cJSON_IsObject(obj)) {
		rs_json_set_error(err, "%s: expected an object of resource amounts", path);
		return -EINVAL;
	}
	int n = cJSON_GetArraySize(obj);
	if (n > MAX_RESOURCES) {
		rs_json_set_error(err, "%s: more than %d resources", path, MAX_RESOURCES);
		return -EINVAL;
	}
	size_t i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		if (!it->string || !it->string[0]) {
			rs_json_set_error(err, "%s: empty resource name", path);
			return -EINVAL;
		}
		if (!cJSON_IsNumber(it)) {
			rs_json_set_error(err, "%s.%s: expected a number", path, it->string);
			return -EINVAL;
		}
		if (!isfinite(it->valuedouble) || it->valuedouble < 0) {
			rs_json_set_error(err, "%s.%s: amount must be >= 0", path, it->string);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(arr[j].name, it->string) == 0) {
				rs_json_set_error(err, "%s.%s: resource appears twice", path,
						  it->string);
				return -EINVAL;
			}
		arr[i].name = it->string;
		arr[i].value = it->valuedouble;
		i++;
	}
	return res_intern_map(&s->maps, arr, i, out);
}

static long find_type(const struct scenario *s, const char *name)
{
	for (size_t i = 0; i < s->in.node_type_count; i++)
		if (strcmp(s->types[i].name, name) == 0)
			return (long)i;
	return -1;
}

static int parse_node_types(struct scenario *s, const cJSON *root, struct rs_json_error *err)
{
	static const char *const keys[] = { "resources", "min_workers", "max_workers",
					    "idle_timeout_s", NULL };
	const cJSON *types;
	const char *head = NULL;
	char path[PATH_MAX_LEN];
	int rc = rs_json_get_object(root, "$", "node_types", true, &types, err);
	if (rc)
		return rc;
	rc = rs_json_get_string(root, "$", "head_node_type", false, &head, err);
	if (rc && rc != -ENOENT)
		return rc;
	int n = cJSON_GetArraySize(types);
	if (n == 0 || n > MAX_NODE_TYPES) {
		rs_json_set_error(err, "$.node_types: expected 1 to %d node types", MAX_NODE_TYPES);
		return -EINVAL;
	}
	s->types = calloc((size_t)n, sizeof(*s->types));
	if (!s->types)
		return -ENOMEM;
	const cJSON *t;
	cJSON_ArrayForEach(t, types) {
		struct planner_node_type *nt = &s->types[s->in.node_type_count];
		snprintf(path, sizeof(path), "$.node_types.%s", t->string ? t->string : "");
		if (!t->string || !t->string[0]) {
			rs_json_set_error(err, "$.node_types: empty node type name");
			return -EINVAL;
		}
		if (!cJSON_IsObject(t)) {
			rs_json_set_error(err, "%s: expected an object", path);
			return -EINVAL;
		}
		if (find_type(s, t->string) >= 0) {
			rs_json_set_error(err, "%s: node type defined twice", path);
			return -EINVAL;
		}
		if ((rc = rs_json_check_keys(t, path, keys, err)))
			return rc;
		nt->name = t->string;
		nt->is_head = head && strcmp(head, t->string) == 0;
		const cJSON *res;
		if ((rc = rs_json_get_object(t, path, "resources", true, &res, err)))
			return rc;
		char rpath[PATH_MAX_LEN + 16];
		snprintf(rpath, sizeof(rpath), "%s.resources", path);
		if ((rc = parse_resources(s, res, rpath, &nt->resources, err)))
			return rc;
		long minw = 0, maxw = 0;
		if ((rc = rs_json_get_whole(t, path, "min_workers", false, 0, MAX_WORKERS_LIMIT, &minw, err)) ||
		    (rc = rs_json_get_whole(t, path, "max_workers", !nt->is_head, 0, MAX_WORKERS_LIMIT,
				  &maxw, err)))
			return rc;
		if (minw > maxw) {
			rs_json_set_error(err, "%s: min_workers (%ld) > max_workers (%ld)", path,
					  minw, maxw);
			return -EINVAL;
		}
		nt->min_workers = (int)minw;
		nt->max_workers = (int)maxw;
		nt->idle_timeout_s = -1;
		if ((rc = rs_json_get_nonneg(t, path, "idle_timeout_s", &nt->idle_timeout_s, err)))
			return rc;
		s->in.node_type_count++;
	}
	if (head && find_type(s, head) < 0) {
		rs_json_set_error(err, "$.head_node_type: unknown node type '%s'", head);
		return -EINVAL;
	}
	return 0;
}

static int parse_cluster(struct scenario *s, const cJSON *root, struct rs_json_error *err)
{
	long maxw = -1, conc = 0;
	int rc;
	s->in.upscaling_speed = 0.0;
	s->in.idle_timeout_s = 60.0;
	if ((rc = rs_json_get_whole(root, "$", "max_workers", false, 0, MAX_WORKERS_LIMIT, &maxw, err)) ||
	    (rc = rs_json_get_whole(root, "$", "max_concurrent_launches", false, 1, MAX_WORKERS_LIMIT,
			  &conc, err)) ||
	    (rc = rs_json_get_nonneg(root, "$", "upscaling_speed", &s->in.upscaling_speed, err)) ||
	    (rc = rs_json_get_nonneg(root, "$", "idle_timeout_s", &s->in.idle_timeout_s, err)))
		return rc;
	s->in.max_workers = (int)maxw;
	s->in.max_concurrent_launches = (int)conc;
	return 0;
}

static int parse_node(struct scenario *s, const cJSON *it, const char *path,
		      struct planner_node *n, struct rs_json_error *err)
{
	static const char *const keys[] = { "id", "type", "status", "total", "available",
					    "idle_s", "busy_workers", "busy_age_s", NULL };
	const char *status = "running";
	int rc;
	if (!cJSON_IsObject(it)) {
		rs_json_set_error(err, "%s: expected an object", path);
		return -EINVAL;
	}
	const char *id, *type;
	if ((rc = rs_json_check_keys(it, path, keys, err)) ||
	    (rc = rs_json_get_string(it, path, "id", true, &id, err)) ||
	    (rc = rs_json_get_string(it, path, "type", true, &type, err)))
		return rc;
	if (!id[0]) {
		rs_json_set_error(err, "%s.id: must not be empty", path);
		return -EINVAL;
	}
	/* The entry's JSON goes away: the id is copied, the type interned (it
	 * is checked against node_types once those are read, check_nodes). */
	n->id = strdup(id);
	n->type = res_intern_name(&s->maps, type);
	if (!n->id || !n->type)
		return -ENOMEM;
	rc = rs_json_get_string(it, path, "status", false, &status, err);
	if (rc && rc != -ENOENT)
		return rc;
	if (strcmp(status, "running") == 0) {
		n->status = PLANNER_NODE_RUNNING;
	} else if (strcmp(status, "pending") == 0) {
		n->status = PLANNER_NODE_PENDING;
	} else {
		rs_json_set_error(err, "%s.status: expected \"running\" or \"pending\", got \"%s\"",
				  path, status);
		return -EINVAL;
	}
	const cJSON *total = NULL, *avail = NULL;
	int rt = rs_json_get_object(it, path, "total", false, &total, err);
	int ra = rs_json_get_object(it, path, "available", false, &avail, err);
	if ((rt && rt != -ENOENT) || (ra && ra != -ENOENT))
		return -EINVAL;
	if ((total == NULL) != (avail == NULL)) {
		rs_json_set_error(err, "%s: 'total' and 'available' must be given together", path);
		return -EINVAL;
	}
	char rpath[PATH_MAX_LEN + 16];
	if (total) {
		snprintf(rpath, sizeof(rpath), "%s.total", path);
		if ((rc = parse_resources(s, total, rpath, &n->total, err)))
			return rc;
		snprintf(rpath, sizeof(rpath), "%s.available", path);
		if ((rc = parse_resources(s, avail, rpath, &n->available, err)))
			return rc;
		n->have_resources = true;
	}
	long busy = -1;
	n->idle_s = -1;
	n->busy_age_s = -1;
	if ((rc = rs_json_get_nonneg(it, path, "idle_s", &n->idle_s, err)) ||
	    (rc = rs_json_get_whole(it, path, "busy_workers", false, 0, 1000000, &busy, err)) ||
	    (rc = rs_json_get_nonneg(it, path, "busy_age_s", &n->busy_age_s, err)))
		return rc;
	n->busy_workers = (int)busy;
	return 0;
}

/* Node ids name terminations, so they must be unique.  O(n log n). */
static int check_unique_ids(struct scenario *s, struct rs_json_error *err)
{
	size_t a, b;
	int rc = planner_find_duplicate_id(s->nodes, s->in.node_count, &a, &b);

	if (rc < 0)
		return rc;
	if (rc) {
		rs_json_set_error(err, "$.nodes[%zu].id: '%s' also used by $.nodes[%zu]", b,
				  s->nodes[b].id, a);
		return -EINVAL;
	}
	return 0;
}

/* One entry of $.nodes, while streaming. */
static int on_node(struct scenario *s, size_t index, const cJSON *entry,
		   struct rs_json_error *err)
{
	char path[PATH_MAX_LEN];

	if (index >= MAX_NODES) {
		rs_json_set_error(err, "$.nodes: more than %d nodes", MAX_NODES);
		return -EINVAL;
	}
	if (s->in.node_count == s->node_cap) {
		size_t ncap = s->node_cap ? s->node_cap * 2 : 64;
		void *p = realloc(s->nodes, ncap * sizeof(*s->nodes));

		if (!p)
			return -ENOMEM;
		s->nodes = p;
		s->node_cap = ncap;
	}
	struct planner_node *n = &s->nodes[s->in.node_count];
	memset(n, 0, sizeof(*n));
	snprintf(path, sizeof(path), "$.nodes[%zu]", index);
	int rc = parse_node(s, entry, path, n, err);
	s->in.node_count++;	/* counted even when half read: its id is freed */
	return rc;
}

/* After the walk: $.nodes was an array (or absent), every node names a
 * known type, ids are unique. */
static int check_nodes(struct scenario *s, const cJSON *root, struct rs_json_error *err)
{
	const cJSON *arr;
	int rc = rs_json_get_array(root, "$", "nodes", false, &arr, err);
	if (rc && rc != -ENOENT)
		return rc;
	for (size_t i = 0; i < s->in.node_count; i++)
		if (find_type(s, s->nodes[i].type) < 0) {
			rs_json_set_error(err, "$.nodes[%zu].type: unknown node type '%s'", i,
					  s->nodes[i].type);
			return -EINVAL;
		}
	return check_unique_ids(s, err);
}

/* {"shape": {...}, "count": n}; with allow_bare, a bare bundle is the shape. */
static int parse_shape_entry(struct scenario *s, const cJSON *it, const char *path,
			     bool allow_bare, struct planner_shape_demand *d,
			     struct rs_json_error *err)
{
	static const char *const keys[] = { "shape", "count", NULL };
	char spath[PATH_MAX_LEN + 16];
	int rc;
	if (!cJSON_IsObject(it)) {
		rs_json_set_error(err, "%s: expected an object", path);
		return -EINVAL;
	}
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
	d->count = 1;
	if (allow_bare && !shape)	/* a bare bundle: {"CPU": 8} */
		return parse_resources(s, it, path, &d->shape, err);
	if ((rc = rs_json_check_keys(it, path, keys, err)))
		return rc;
	if (!shape) {
		rs_json_set_error(err, "%s.shape: required field is missing", path);
		return -EINVAL;
	}
	snprintf(spath, sizeof(spath), "%s.shape", path);
	if ((rc = parse_resources(s, shape, spath, &d->shape, err)))
		return rc;
	return rs_json_get_whole(it, path, "count", false, 0, PLANNER_MAX_COUNT, &d->count, err);
}

/* One entry of a streamed list (scenario_stream.h), appended to its array;
 * the entry's JSON is freed after the call, and nothing here borrows from
 * it. */
static int on_demand_entry(void *ctx, const char *list, size_t index, const cJSON *entry,
			   struct rs_json_error *err)
{
	struct scenario *s = ctx;
	struct planner_shape_demand **arr = &s->shapes;
	size_t *count = &s->in.shape_count, *cap = &s->shape_cap;
	enum planner_demand_kind kind = PLANNER_DEMAND_TASK;
	bool allow_bare = false;
	char path[PATH_MAX_LEN];

	if (strcmp(list, "$.nodes") == 0)
		return on_node(s, index, entry, err);
	if (strcmp(list, "$.demand.actors") == 0) {
		arr = &s->actors, count = &s->actor_count, cap = &s->actor_cap;
		kind = PLANNER_DEMAND_ACTOR;
	} else if (strcmp(list, "$.demand.request_resources") == 0) {
		arr = &s->requests, count = &s->in.request_count, cap = &s->request_cap;
		allow_bare = true;
	}
	/* index counts this list only; a list given twice fails the key check */
	if (index >= MAX_ENTRIES || *count >= MAX_ENTRIES) {
		rs_json_set_error(err, "%s: more than %d entries", list, MAX_ENTRIES);
		return -EINVAL;
	}
	if (*count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		void *p = realloc(*arr, ncap * sizeof(**arr));

		if (!p)
			return -ENOMEM;
		*arr = p;
		*cap = ncap;
	}
	struct planner_shape_demand *d = &(*arr)[*count];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	/* The path only shows in error messages, and formatting it for each of
	 * a million entries was a tenth of the parse: an entry that fails is
	 * read again (same result) with its path. */
	int rc = parse_shape_entry(s, entry, list, allow_bare, d, err);
	if (rc == -EINVAL) {
		snprintf(path, sizeof(path), "%s[%zu]", list, index);
		rc = parse_shape_entry(s, entry, path, allow_bare, d, err);
	}
	if (rc)
		return rc;
	(*count)++;
	return 0;
}

/* Tasks, then actors, in one array (the planner's order for equal keys). */
static int join_actors(struct scenario *s)
{
	size_t n = s->in.shape_count + s->actor_count;

	if (s->actor_count == 0)
		return 0;
	if (n > s->shape_cap) {
		void *p = realloc(s->shapes, n * sizeof(*s->shapes));

		if (!p)
			return -ENOMEM;
		s->shapes = p;
		s->shape_cap = n;
	}
	memcpy(s->shapes + s->in.shape_count, s->actors, s->actor_count * sizeof(*s->actors));
	s->in.shape_count = n;
	free(s->actors);
	s->actors = NULL;
	s->actor_count = s->actor_cap = 0;
	return 0;
}

static int parse_pgs(struct scenario *s, const cJSON *demand, struct rs_json_error *err)
{
	static const char *const keys[] = { "strategy", "bundles", "count", NULL };
	const cJSON *list;
	char path[PATH_MAX_LEN], bpath[PATH_MAX_LEN + 32];
	long copies = 0;
	int rc = rs_json_get_array(demand, "$.demand", "placement_groups", false, &list, err);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	int n = cJSON_GetArraySize(list);
	if (n > MAX_ENTRIES) {
		rs_json_set_error(err, "$.demand.placement_groups: more than %d entries",
				  MAX_ENTRIES);
		return -EINVAL;
	}
	s->pgs = calloc(n ? (size_t)n : 1, sizeof(*s->pgs));
	s->bundle_arrays = calloc(n ? (size_t)n : 1, sizeof(*s->bundle_arrays));
	if (!s->pgs || !s->bundle_arrays)
		return -ENOMEM;
	const cJSON *it;
	cJSON_ArrayForEach(it, list) {
		size_t i = s->in.pg_count;
		struct planner_pg_demand *g = &s->pgs[i];
		const char *strategy;
		const cJSON *bundles, *b;
		snprintf(path, sizeof(path), "$.demand.placement_groups[%zu]", i);
		if (!cJSON_IsObject(it)) {
			rs_json_set_error(err, "%s: expected an object", path);
			return -EINVAL;
		}
		if ((rc = rs_json_check_keys(it, path, keys, err)) ||
		    (rc = rs_json_get_string(it, path, "strategy", true, &strategy, err)) ||
		    (rc = rs_json_get_array(it, path, "bundles", true, &bundles, err)))
			return rc;
		if (planner_pg_strategy_parse(strategy, &g->strategy)) {
			rs_json_set_error(err, "%s.strategy: expected PACK, SPREAD, STRICT_PACK or "
					  "STRICT_SPREAD, got \"%s\"", path, strategy);
			return -EINVAL;
		}
		int nb = cJSON_GetArraySize(bundles);
		if (nb == 0 || nb > MAX_BUNDLES) {
			rs_json_set_error(err, "%s.bundles: expected 1 to %d bundles", path,
					  MAX_BUNDLES);
			return -EINVAL;
		}
		struct planner_resources *arr = calloc((size_t)nb, sizeof(*arr));
		if (!arr)
			return -ENOMEM;
		s->bundle_arrays[s->bundle_array_count++] = arr;
		size_t bi = 0;
		cJSON_ArrayForEach(b, bundles) {
			snprintf(bpath, sizeof(bpath), "%s.bundles[%zu]", path, bi);
			if ((rc = parse_resources(s, b, bpath, &arr[bi], err)))
				return rc;
			bi++;
		}
		g->bundles = arr;
		g->bundle_count = bi;
		g->count = 1;
		if ((rc = rs_json_get_whole(it, path, "count", false, 0, MAX_PG_COPIES, &g->count, err)))
			return rc;
		copies += g->count;
		if (copies > MAX_PG_COPIES) {
			rs_json_set_error(err, "%s.count: more than %ld placement groups in total",
					  path, MAX_PG_COPIES);
			return -EINVAL;
		}
		s->in.pg_count++;
	}
	return 0;
}

static int parse_demand(struct scenario *s, const cJSON *root, struct rs_json_error *err)
{
	static const char *const keys[] = { "tasks", "actors", "placement_groups",
					    "request_resources", NULL };
	const cJSON *demand, *list;
	int rc = rs_json_get_object(root, "$", "demand", false, &demand, err);
	if (rc == -ENOENT)
		return 0;
	if (rc || (rc = rs_json_check_keys(demand, "$.demand", keys, err)))
		return rc;
	/* The lists were read while streaming (on_demand_entry); what is left
	 * in the skeleton is an empty array, or a value of the wrong type. */
	for (size_t i = 0; keys[i]; i++) {
		rc = rs_json_get_array(demand, "$.demand", keys[i], false, &list, err);
		if (rc && rc != -ENOENT)
			return rc;
	}
	if ((rc = join_actors(s)) || (rc = parse_pgs(s, demand, err)))
		return rc;
	return 0;
}

int scenario_parse(const char *buf, size_t len, struct scenario *s, struct rs_json_error *err)
{
	static const char *const keys[] = { "node_types", "head_node_type", "max_workers",
					    "upscaling_speed", "idle_timeout_s",
					    "max_concurrent_launches", "nodes", "demand", NULL };
	int rc;
	memset(s, 0, sizeof(*s));
	if (len > SCENARIO_MAX_BYTES) {
		rs_json_set_error(err, "scenario is %zu bytes; the limit is %u", len,
				  SCENARIO_MAX_BYTES);
		return -EFBIG;
	}
	rc = scenario_stream_read(buf, len, on_demand_entry, s, &s->doc, err);
	if (rc)
		goto fail;
	if (!cJSON_IsObject(s->doc)) {
		rs_json_set_error(err, "$: expected an object");
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = rs_json_check_keys(s->doc, "$", keys, err)) ||
	    (rc = parse_node_types(s, s->doc, err)) ||
	    (rc = parse_cluster(s, s->doc, err)) ||
	    (rc = check_nodes(s, s->doc, err)) ||
	    (rc = parse_demand(s, s->doc, err)))
		goto fail;
	s->in.node_types = s->types;
	s->in.nodes = s->nodes;
	s->in.shapes = s->shapes;
	s->in.pgs = s->pgs;
	s->in.requests = s->requests;
	return 0;
fail:
	if (rc == -ENOMEM)
		rs_json_set_error(err, "out of memory");
	scenario_free(s);
	return rc;
}

void scenario_free(struct scenario *s)
{
	res_intern_free(&s->maps);
	for (size_t i = 0; i < s->bundle_array_count; i++)
		free(s->bundle_arrays[i]);
	free(s->bundle_arrays);
	free(s->types);
	for (size_t i = 0; s->nodes && i < s->in.node_count; i++)
		free((char *)s->nodes[i].id);
	free(s->nodes);
	free(s->shapes);
	free(s->actors);
	free(s->pgs);
	free(s->requests);
	cJSON_Delete(s->doc);
	memset(s, 0, sizeof(*s));
}
