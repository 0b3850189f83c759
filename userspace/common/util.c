/* util.c -- error formatting and clocks (see util.h). */
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void rs_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static double clock_seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double rs_now_unix(void) { return clock_seconds(CLOCK_REALTIME); }
double rs_now_mono(void) { return clock_seconds(CLOCK_MONOTONIC); }
