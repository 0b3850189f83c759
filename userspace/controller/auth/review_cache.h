/* review_cache.h -- the token reviews the controller already made, so that
 * an agent pushing every second costs the API server one TokenReview per
 * token per TTL, not one per push.  Keyed by the SHA-256 of the token (the
 * cache never holds a token); bounded: `sets` x REVIEW_CACHE_WAYS entries,
 * a full set replaces the entry that expires first.  An entry lives until
 * its own deadline (the caller picks it: a good answer at most until the
 * token expires, a refusal briefly).  Not thread-safe (agent_auth.c locks);
 * the clock is the caller's (monotonic seconds). */
#ifndef RAYSENSE_CONTROLLER_REVIEW_CACHE_H
#define RAYSENSE_CONTROLLER_REVIEW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sha256.h"
#include "controller/auth/token_review.h"

#define REVIEW_CACHE_WAYS 4

struct review_cache_entry {
	uint8_t key[RS_SHA256_LEN];
	double expires;			/* 0 = free */
	bool ok;
	enum token_review_why why;
	char node[TOKEN_REVIEW_NAME_MAX];
};

struct review_cache {
	struct review_cache_entry *e;	/* sets * REVIEW_CACHE_WAYS */
	size_t sets;
	unsigned long long hits, misses, evictions;
};

/* 0 or -ENOMEM/-EINVAL (sets 0). */
int review_cache_init(struct review_cache *c, size_t sets);
void review_cache_free(struct review_cache *c);
void review_cache_key(const char *token, uint8_t key[RS_SHA256_LEN]);
/* The live entry for key at time now, or NULL (counted as a hit or miss). */
const struct review_cache_entry *review_cache_get(struct review_cache *c,
						  const uint8_t key[RS_SHA256_LEN], double now);
/* Keep (ok, why, node) for key until `expires` (> now, or nothing is kept). */
void review_cache_put(struct review_cache *c, const uint8_t key[RS_SHA256_LEN], double now,
		      double expires, bool ok, enum token_review_why why, const char *node);
size_t review_cache_live(const struct review_cache *c, double now);

#endif
