/* gzip.h -- gzip (RFC 1952) compression and decompression with zlib, for HTTP
 * bodies: agent responses, pushed snapshots and the controller's intake. */
#ifndef RAYSENSE_GZIP_H
#define RAYSENSE_GZIP_H

#include <stdbool.h>
#include <stddef.h>

/* Compress `in` into a malloc'd buffer. Returns 0 or -errno. */
int rs_gzip_compress(const void *in, size_t in_len, char **out, size_t *out_len);
/* Decompress gzip `in`; fails with -EFBIG once the output passes max_out
 * (a zip bomb costs at most max_out bytes). Returns 0, -EINVAL on corrupt or
 * truncated data, -EFBIG, or -ENOMEM. Output is NUL-terminated. */
int rs_gzip_decompress(const void *in, size_t in_len, size_t max_out,
		       char **out, size_t *out_len);
/* True when an Accept-Encoding header value admits gzip (q>0). */
bool rs_accepts_gzip(const char *accept_encoding);

#endif
