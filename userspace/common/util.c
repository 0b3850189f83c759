/* util.c -- error formatting, clocks and ISO time (see util.h). */
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

void rs_iso_time(double t, char *out, size_t size)
{
	time_t s = (time_t)t;
	struct tm tm;
	int ms = (int)((t - (double)s) * 1000);

	gmtime_r(&s, &tm);
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (ms < 0 ? 0 : ms) % 1000);
}
