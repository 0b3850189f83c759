/* res_intern.h -- one owned copy per distinct resource map, for parsers of
 * big inputs: a million task entries over a thousand shapes hold a thousand
 * maps, not a million, and no entry borrows from the parsed JSON (so a
 * parser can free each entry's JSON as soon as it is read). */
#ifndef RAYSENSE_RES_INTERN_H
#define RAYSENSE_RES_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "common/str_index.h"
#include "controller/plan/planner_types.h"

struct res_intern_slot {
	uint64_t hash;
	struct planner_resources map;	/* items owned, names interned */
};

struct res_intern {
	struct str_index names;		/* the interned names are its keys */
	struct res_intern_slot *maps;	/* open addressing, map.items NULL = empty */
	size_t map_count, map_slots;
};

/* The interned copy of items[0..n) (same names, amounts and order: maps that
 * differ only in order are distinct).  0 or -ENOMEM; *out stays valid until
 * res_intern_free().  Zero-initialize the table before the first call. */
int res_intern_map(struct res_intern *t, const struct planner_resource *items, size_t n,
		   struct planner_resources *out);
/* The interned copy of a name (node types, resource names); NULL = out of
 * memory. */
const char *res_intern_name(struct res_intern *t, const char *name);
void res_intern_free(struct res_intern *t);

#endif
