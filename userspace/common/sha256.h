/* sha256.h -- SHA-256 (FIPS 180-4), for keys that must not keep a secret
 * (the controller's token-review cache is keyed by the token's digest, so it
 * never holds the tokens themselves).  Pure; no dependency. */
#ifndef RAYSENSE_SHA256_H
#define RAYSENSE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define RS_SHA256_LEN 32

void rs_sha256(const void *data, size_t len, uint8_t out[RS_SHA256_LEN]);

#endif
