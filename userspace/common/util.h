/* util.h -- small helpers every module needs: formatting an error into a
 * caller's fixed-size buffer, reading the clocks as seconds, and writing a
 * UNIX time as ISO 8601. */
#ifndef RAYSENSE_UTIL_H
#define RAYSENSE_UTIL_H

#include <stddef.h>

/* vsnprintf into err[len]; does nothing when err is NULL. */
void rs_errf(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wall clock (UNIX time) and monotonic clock, in seconds. */
double rs_now_unix(void);
double rs_now_mono(void);

/* UNIX time t as "2026-12-04T16:19:37.123Z" (UTC, milliseconds). */
void rs_iso_time(double t, char *out, size_t size);

#endif
