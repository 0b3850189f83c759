/* cli.c -- flag helpers shared by the raysense binaries (see cli.h). */
#include "common/cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rs_cli_print_version(const char *prog)
{
	printf("%s %s\n", prog, RAYSENSE_VERSION);
}

void rs_cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	exit(RS_EXIT_USAGE);
}

int rs_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0' || end == s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int rs_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0' || end == s || isnan(v))
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int rs_parse_listen_addr(const char *s, const char *default_host,
			 char *host_out, int *port_out)
{
	const char *colon;
	const char *port_str;
	long port;
	size_t host_len;

	if (!s || !*s)
		return -EINVAL;
	colon = strrchr(s, ':');
	if (colon) {
		host_len = (size_t)(colon - s);
		port_str = colon + 1;
	} else {
		host_len = 0;
		port_str = s;
	}
	if (host_len >= 256)
		return -EINVAL;
	if (host_len == 0) {
		snprintf(host_out, 256, "%s", default_host);
	} else {
		/* strip [] around IPv6 literals */
		if (s[0] == '[' && host_len >= 2 && s[host_len - 1] == ']') {
			memcpy(host_out, s + 1, host_len - 2);
			host_out[host_len - 2] = '\0';
		} else {
			memcpy(host_out, s, host_len);
			host_out[host_len] = '\0';
		}
	}
	if (rs_parse_long(port_str, 0, 65535, &port))
		return -EINVAL;
	*port_out = (int)port;
	return 0;
}

int rs_read_file(const char *path, size_t max_len, char **out, size_t *len_out)
{
	FILE *f;
	char *buf;
	size_t cap = 4096, len = 0;
	int err = 0;

	f = fopen(path, "rb");
	if (!f)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	for (;;) {
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (len > max_len) {
			err = -EFBIG;
			break;
		}
		if (n == 0) {
			if (ferror(f))
				err = -EIO;
			break;
		}
		if (len == cap) {
			char *nbuf;

			cap *= 2;
			nbuf = realloc(buf, cap + 1);
			if (!nbuf) {
				err = -ENOMEM;
				break;
			}
			buf = nbuf;
		}
	}
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	if (len_out)
		*len_out = len;
	return 0;
}

int rs_read_file_trimmed(const char *path, size_t max_len, char **out)
{
	size_t len;
	int err = rs_read_file(path, max_len, out, &len);

	if (err)
		return err;
	while (len > 0 && isspace((unsigned char)(*out)[len - 1]))
		(*out)[--len] = '\0';
	return 0;
}
