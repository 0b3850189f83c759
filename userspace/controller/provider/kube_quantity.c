/* kube_quantity.c -- parse Kubernetes resource quantities (see the header
 * for the grammar).  Strict: a malformed value is an error, never 0. */
#include "controller/provider/kube_quantity.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct suffix {
	const char *text;
	double factor;
};

/* Longest match first does not matter: no suffix is a prefix of another
 * except "" which is tried last. */
static const struct suffix suffixes[] = {
	{ "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 },
	{ "Ti", 1099511627776.0 }, { "Pi", 1125899906842624.0 },
	{ "Ei", 1152921504606846976.0 },
	{ "n", 1e-9 }, { "u", 1e-6 }, { "m", 1e-3 }, { "k", 1e3 }, { "M", 1e6 },
	{ "G", 1e9 }, { "T", 1e12 }, { "P", 1e15 }, { "E", 1e18 }, { "", 1.0 },
};

/* Scan <sign><digits>[.<digits>]; returns the characters consumed, 0 if none. */
static size_t scan_number(const char *s, double *out)
{
	size_t i = 0, digits = 0;
	char buf[64];

	if (s[i] == '+' || s[i] == '-')
		i++;
	while (isdigit((unsigned char)s[i]))
		i++, digits++;
	if (s[i] == '.') {
		i++;
		while (isdigit((unsigned char)s[i]))
			i++, digits++;
	}
	if (!digits || i >= sizeof(buf))
		return 0;
	memcpy(buf, s, i);
	buf[i] = '\0';
	*out = strtod(buf, NULL);
	return i;
}

static int parse_exponent(const char *s, double *factor)
{
	char *end;
	long e;

	if (!*s)
		return -EINVAL;
	errno = 0;
	e = strtol(s, &end, 10);
	if (errno || *end || e < -30 || e > 30 || isspace((unsigned char)*s))
		return -EINVAL;
	*factor = pow(10.0, (double)e);
	return 0;
}

int kube_quantity_parse(const char *s, double *out, char *err, unsigned long err_size)
{
	double number, factor = 0;
	const char *rest;
	size_t n;

	if (!s || !*s) {
		snprintf(err, err_size, "empty quantity");
		return -EINVAL;
	}
	n = scan_number(s, &number);
	if (!n) {
		snprintf(err, err_size, "quantity '%.40s' does not start with a number", s);
		return -EINVAL;
	}
	rest = s + n;
	if (*rest == 'e' || *rest == 'E') {
		if (parse_exponent(rest + 1, &factor)) {
			snprintf(err, err_size, "quantity '%.40s' has a bad exponent", s);
			return -EINVAL;
		}
	} else {
		for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
			if (!strcmp(rest, suffixes[i].text)) {
				factor = suffixes[i].factor;
				break;
			}
		}
		if (factor == 0) {
			snprintf(err, err_size,
				 "quantity '%.40s' has an unknown suffix '%.16s' (want Ki..Ei, n..E or e<N>)",
				 s, rest);
			return -EINVAL;
		}
	}
	*out = number * factor;
	if (!isfinite(*out)) {
		snprintf(err, err_size, "quantity '%.40s' is out of range", s);
		return -EINVAL;
	}
	return 0;
}

double kube_quantity_ceil(double v)
{
	double r = round(v);

	if (fabs(v - r) < 1e-9 * (fabs(v) > 1 ? fabs(v) : 1))
		return r;
	return ceil(v);
}
