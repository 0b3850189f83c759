/* str_index.h -- a string-keyed hash index (key -> size_t), for tables that
 * must find an entry by name in O(1) at 10,000 entries: the controller's
 * agent table by node name and by Ray node id (controller/source/signals.c).
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones, so a table with churn never degrades); it grows to keep the
 * load at most 1/2.  Keys are copied.  Not thread-safe: the owner locks. */
#ifndef RAYSENSE_STR_INDEX_H
#define RAYSENSE_STR_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct str_index_slot {
	char *key;		/* NULL = empty */
	uint64_t hash;
	size_t value;
};

struct str_index {
	struct str_index_slot *slots;
	size_t nslots;		/* 0 or a power of two */
	size_t count;
};

/* A zeroed struct str_index is an empty index. */
void str_index_free(struct str_index *ix);
/* Map key to value (replacing its value if present).  0, or -ENOMEM with
 * the index unchanged. */
int str_index_put(struct str_index *ix, const char *key, size_t value);
/* True with *value when key is present. */
bool str_index_get(const struct str_index *ix, const char *key, size_t *value);
/* The index's own copy of key (valid until key is removed or the index
 * freed), or NULL when absent: lets an index double as a string interner. */
const char *str_index_key(const struct str_index *ix, const char *key);
/* Remove key, but only while it maps to `value` (another owner may have
 * taken it since).  True when removed. */
bool str_index_del_if(struct str_index *ix, const char *key, size_t value);

#endif
