/* util.h -- two small helpers every module needs: formatting an error into a
 * caller's fixed-size buffer, and reading the clocks as seconds. */
#ifndef RAYSENSE_UTIL_H
#define RAYSENSE_UTIL_H

#include <stddef.h>

/* vsnprintf into err[len]; does nothing when err is NULL. */
void rs_errf(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wall clock (UNIX time) and monotonic clock, in seconds. */
double rs_now_unix(void);
double rs_now_mono(void);

#endif
