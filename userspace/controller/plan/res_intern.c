/* res_intern.c -- interned resource maps and names (res_intern.h). */
#include "controller/plan/res_intern.h"

#include "common/fnv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *res_intern_name(struct res_intern *t, const char *name)
{
	const char *copy = str_index_key(&t->names, name);

	if (copy || str_index_put(&t->names, name, 0))
		return copy;
	return str_index_key(&t->names, name);
}

static uint64_t hash_map(const struct planner_resource *items, size_t n)
{
	uint64_t h = rs_fnv1a(RS_FNV1A_INIT, &n, sizeof(n));

	for (size_t i = 0; i < n; i++) {
		h = rs_fnv1a(h, items[i].name, strlen(items[i].name) + 1);
		h = rs_fnv1a(h, &items[i].value, sizeof(items[i].value));
	}
	return h;
}

static bool same_map(const struct planner_resources *a, const struct planner_resource *items,
		     size_t n)
{
	if (a->count != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a->items[i].name, items[i].name) ||
		    memcmp(&a->items[i].value, &items[i].value, sizeof(items[i].value)))
			return false;
	return true;
}

static int maps_grow(struct res_intern *t)
{
	size_t nslots = t->map_slots ? t->map_slots * 2 : 64;
	struct res_intern_slot *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->map_slots; i++) {
		if (!t->maps[i].map.items)
			continue;
		size_t s = t->maps[i].hash & (nslots - 1);
		while (slots[s].map.items)
			s = (s + 1) & (nslots - 1);
		slots[s] = t->maps[i];
	}
	free(t->maps);
	t->maps = slots;
	t->map_slots = nslots;
	return 0;
}

int res_intern_map(struct res_intern *t, const struct planner_resource *items, size_t n,
		   struct planner_resources *out)
{
	if ((t->map_count + 1) * 2 > t->map_slots && maps_grow(t))
		return -ENOMEM;
	uint64_t h = hash_map(items, n);
	size_t s = h & (t->map_slots - 1);
	while (t->maps[s].map.items) {
		if (t->maps[s].hash == h && same_map(&t->maps[s].map, items, n)) {
			*out = t->maps[s].map;
			return 0;
		}
		s = (s + 1) & (t->map_slots - 1);
	}
	/* An empty map still gets an array, so a used slot is never NULL. */
	struct planner_resource *copy = calloc(n ? n : 1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		copy[i].name = res_intern_name(t, items[i].name);
		copy[i].value = items[i].value;
		if (!copy[i].name) {
			free(copy);
			return -ENOMEM;
		}
	}
	t->maps[s] = (struct res_intern_slot){ h, { copy, n } };
	t->map_count++;
	*out = t->maps[s].map;
	return 0;
}

void res_intern_free(struct res_intern *t)
{
	for (size_t i = 0; i < t->map_slots; i++)
		free((void *)t->maps[i].map.items);
	str_index_free(&t->names);
	free(t->maps);
	memset(t, 0, sizeof(*t));
}
