/* resmap.h -- owned resource maps ("CPU" -> 1, "custom_x" -> 2 ...) for the
 * controller's own data (dashboard snapshots, node types, provider state).
 *
 * The layout matches struct planner_resources (planner.h), so a map can be
 * handed to the planner without copying: resmap_view(). */
#ifndef RAYSENSE_CONTROLLER_RESMAP_H
#define RAYSENSE_CONTROLLER_RESMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "common/json_util.h"
#include "controller/plan/planner.h"

struct resmap {
	struct planner_resource *items;	/* names are malloc'd */
	size_t count;
	size_t cap;
};

/* Set name to value (replaces an existing entry).  0, -EINVAL (name NULL)
 * or -ENOMEM. */
int resmap_set(struct resmap *m, const char *name, double value);
/* Add value to name (creates it).  0, -EINVAL (name NULL) or -ENOMEM. */
int resmap_add(struct resmap *m, const char *name, double value);
/* Value of name, or `dflt` when absent. */
double resmap_get(const struct resmap *m, const char *name, double dflt);
const struct planner_resource *resmap_find(const struct resmap *m, const char *name);
int resmap_copy(struct resmap *dst, const struct resmap *src);
/* Same names and values (order-insensitive). */
bool resmap_equal(const struct resmap *a, const struct resmap *b);
void resmap_free(struct resmap *m);

static inline struct planner_resources resmap_view(const struct resmap *m)
{
	struct planner_resources r = { m->items, m->count };
	return r;
}

/* Parse {"CPU": 1, ...}: every value a finite number >= 0.  Zero amounts are
 * kept only when keep_zero.  0 or -EINVAL (err names the path) / -ENOMEM. */
int resmap_from_json(struct resmap *m, const cJSON *obj, const char *path,
		     bool keep_zero, struct rs_json_error *err);
cJSON *resmap_to_json(const struct resmap *m);
cJSON *resources_to_json(const struct planner_resources *r);

/* The Ray dashboard's key mangling (ray/dashboard/utils.py to_camel_case):
 * split on '_', keep the first part, Python-str.title() the others.
 * "object_store_memory" -> "objectStoreMemory",
 * "node:__internal_head__" -> "node:InternalHead".  Writes at most size bytes. */
void ray_camel_case(const char *name, char *out, size_t size);

#endif
