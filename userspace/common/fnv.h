/* fnv.h -- FNV-1a, 64 bits: the one string/byte hash of the project (hash
 * indexes, interned maps, plan signatures).  Not for anything an attacker
 * must not be able to collide: callers compare keys, never trust a hash. */
#ifndef RAYSENSE_FNV_H
#define RAYSENSE_FNV_H

#include <stddef.h>
#include <stdint.h>

#define RS_FNV1A_INIT 1469598103934665603ULL

/* h continued over n bytes (start from RS_FNV1A_INIT). */
static inline uint64_t rs_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* h continued over the bytes of s (not its NUL). */
static inline uint64_t rs_fnv1a_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

#endif
