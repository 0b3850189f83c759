/* str_index.c -- string-keyed open-addressing hash index (see str_index.h). */
#include "common/str_index.h"

#include "common/fnv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 64

static uint64_t hash_key(const char *s)
{
	return rs_fnv1a_str(RS_FNV1A_INIT, s);
}

void str_index_free(struct str_index *ix)
{
	for (size_t i = 0; i < ix->nslots; i++)
		free(ix->slots[i].key);
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/* Slot holding key, or the empty slot where it would go. */
static size_t probe(const struct str_index *ix, const char *key, uint64_t h)
{
	size_t mask = ix->nslots - 1, i = (size_t)h & mask;

	while (ix->slots[i].key &&
	       (ix->slots[i].hash != h || strcmp(ix->slots[i].key, key)))
		i = (i + 1) & mask;
	return i;
}

static int grow(struct str_index *ix)
{
	size_t n = ix->nslots ? ix->nslots * 2 : MIN_SLOTS;
	struct str_index old = *ix;
	struct str_index_slot *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	ix->slots = slots;
	ix->nslots = n;
	for (size_t i = 0; i < old.nslots; i++)
		if (old.slots[i].key)
			ix->slots[probe(ix, old.slots[i].key, old.slots[i].hash)] = old.slots[i];
	free(old.slots);
	return 0;
}

int str_index_put(struct str_index *ix, const char *key, size_t value)
{
	uint64_t h = hash_key(key);
	size_t i;
	char *copy;

	if ((ix->count + 1) * 2 > ix->nslots && grow(ix))
		return -ENOMEM;
	i = probe(ix, key, h);
	if (ix->slots[i].key) {
		ix->slots[i].value = value;
		return 0;
	}
	if (!(copy = strdup(key)))
		return -ENOMEM;
	ix->slots[i] = (struct str_index_slot){ .key = copy, .hash = h, .value = value };
	ix->count++;
	return 0;
}

bool str_index_get(const struct str_index *ix, const char *key, size_t *value)
{
	size_t i;

	if (!ix->count)
		return false;
	i = probe(ix, key, hash_key(key));
	if (!ix->slots[i].key)
		return false;
	*value = ix->slots[i].value;
	return true;
}

const char *str_index_key(const struct str_index *ix, const char *key)
{
	return ix->count ? ix->slots[probe(ix, key, hash_key(key))].key : NULL;
}

/* Backward-shift deletion: move later members of the probe run into the
 * hole when their home slot does not lie strictly after it, so lookups
 * never meet a gap inside a run. */
static void remove_at(struct str_index *ix, size_t hole)
{
	size_t mask = ix->nslots - 1, i = hole;

	free(ix->slots[hole].key);
	ix->slots[hole].key = NULL;
	ix->count--;
	for (;;) {
		i = (i + 1) & mask;
		if (!ix->slots[i].key)
			return;
		size_t home = (size_t)ix->slots[i].hash & mask;
		/* Stays when home is in (hole, i], cyclically. */
		if (hole <= i ? (hole < home && home <= i) : (hole < home || home <= i))
			continue;
		ix->slots[hole] = ix->slots[i];
		ix->slots[i].key = NULL;
		hole = i;
	}
}

bool str_index_del_if(struct str_index *ix, const char *key, size_t value)
{
	size_t i;

	if (!ix->count)
		return false;
	i = probe(ix, key, hash_key(key));
	if (!ix->slots[i].key || ix->slots[i].value != value)
		return false;
	remove_at(ix, i);
	return true;
}
