/* review_cache.c -- bounded, set-associative cache of token reviews
 * (see review_cache.h). */
#include "controller/auth/review_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int review_cache_init(struct review_cache *c, size_t sets)
{
	memset(c, 0, sizeof(*c));
	if (!sets)
		return -EINVAL;
	c->e = calloc(sets * REVIEW_CACHE_WAYS, sizeof(*c->e));
	if (!c->e)
		return -ENOMEM;
	c->sets = sets;
	return 0;
}

void review_cache_free(struct review_cache *c)
{
	free(c->e);
	memset(c, 0, sizeof(*c));
}

void review_cache_key(const char *token, uint8_t key[RS_SHA256_LEN])
{
	rs_sha256(token, strlen(token), key);
}

static struct review_cache_entry *set_of(struct review_cache *c, const uint8_t *key)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));	/* a digest: any 8 bytes are uniform */
	return &c->e[(h % c->sets) * REVIEW_CACHE_WAYS];
}

const struct review_cache_entry *review_cache_get(struct review_cache *c,
						  const uint8_t key[RS_SHA256_LEN], double now)
{
	struct review_cache_entry *set = set_of(c, key);

	for (int i = 0; i < REVIEW_CACHE_WAYS; i++) {
		if (set[i].expires > now && !memcmp(set[i].key, key, RS_SHA256_LEN)) {
			c->hits++;
			return &set[i];
		}
	}
	c->misses++;
	return NULL;
}

void review_cache_put(struct review_cache *c, const uint8_t key[RS_SHA256_LEN], double now,
		      double expires, bool ok, enum token_review_why why, const char *node)
{
	struct review_cache_entry *set = set_of(c, key), *slot = NULL;

	if (!(expires > now))
		return;
	for (int i = 0; i < REVIEW_CACHE_WAYS && !slot; i++)
		if (set[i].expires > 0 && !memcmp(set[i].key, key, RS_SHA256_LEN))
			slot = &set[i];	/* the same token again */
	for (int i = 0; i < REVIEW_CACHE_WAYS && !slot; i++)
		if (set[i].expires <= now)
			slot = &set[i];	/* free or expired */
	if (!slot) {
		slot = &set[0];
		for (int i = 1; i < REVIEW_CACHE_WAYS; i++)
			if (set[i].expires < slot->expires)
				slot = &set[i];
		c->evictions++;
	}
	memcpy(slot->key, key, RS_SHA256_LEN);
	slot->expires = expires;
	slot->ok = ok;
	slot->why = why;
	snprintf(slot->node, sizeof(slot->node), "%s", ok && node ? node : "");
}

size_t review_cache_live(const struct review_cache *c, double now)
{
	size_t n = 0;

	for (size_t i = 0; i < c->sets * REVIEW_CACHE_WAYS; i++)
		n += c->e[i].expires > now;
	return n;
}
