/* gzip.c -- zlib wrappers for gzip HTTP bodies (see gzip.h). */
#include "common/gzip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define GZIP_WINDOW_BITS (15 + 16) /* 15-bit window, gzip header */

int rs_gzip_compress(const void *in, size_t in_len, char **out, size_t *out_len)
{
	z_stream zs;
	uLong bound;
	char *buf;
	int ret;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS,
			 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&zs, (uLong)in_len);
	buf = malloc(bound);
	if (!buf) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len;
	zs.next_out = (Bytef *)buf;
	zs.avail_out = (uInt)bound;
	ret = deflate(&zs, Z_FINISH);
	if (ret != Z_STREAM_END) {
		deflateEnd(&zs);
		free(buf);
		return -EIO;
	}
	*out_len = zs.total_out;
	*out = buf;
	deflateEnd(&zs);
	return 0;
}

int rs_gzip_decompress(const void *in, size_t in_len, size_t max_out,
		       char **out, size_t *out_len)
{
	z_stream zs;
	size_t cap = in_len * 4 + 1024;
	char *buf;
	int ret, err = 0;

	if (cap > max_out + 1)
		cap = max_out + 1;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, GZIP_WINDOW_BITS) != Z_OK)
		return -ENOMEM;
	buf = malloc(cap + 1);
	if (!buf) {
		inflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len;
	for (;;) {
		zs.next_out = (Bytef *)buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		ret = inflate(&zs, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			break;
		if (zs.total_out > max_out) {
			err = -EFBIG;
			break;
		}
		if (ret == Z_BUF_ERROR && zs.avail_in == 0) {
			err = -EINVAL; /* truncated */
			break;
		}
		if (ret != Z_OK && ret != Z_BUF_ERROR) {
			err = -EINVAL;
			break;
		}
		if (zs.avail_out == 0) {
			char *nbuf;

			if (cap > max_out) {
				err = -EFBIG;
				break;
			}
			cap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
			nbuf = realloc(buf, cap + 1);
			if (!nbuf) {
				err = -ENOMEM;
				break;
			}
			buf = nbuf;
		}
	}
	if (!err && zs.total_out > max_out)
		err = -EFBIG;
	inflateEnd(&zs);
	if (err) {
		free(buf);
		return err;
	}
	buf[zs.total_out] = '\0';
	*out = buf;
	*out_len = zs.total_out;
	return 0;
}

bool rs_accepts_gzip(const char *accept_encoding)
{
	const char *p = accept_encoding;

	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *tok = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ')
			p++;
		size_t len = (size_t)(p - tok);
		bool is_gzip = (len == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
			       (len == 1 && tok[0] == '*');
		/* parameters, e.g. ";q=0" */
		while (*p == ' ')
			p++;
		bool q_zero = false;
		while (*p == ';') {
			p++;
			while (*p == ' ')
				p++;
			if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
				q_zero = strtod(p + 2, NULL) <= 0.0;
			while (*p && *p != ',' && *p != ';')
				p++;
		}
		if (is_gzip && !q_zero)
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}
