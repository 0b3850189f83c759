/* check.h -- the unit tests' one assertion macro. CHECK records a failure with
 * file, line, the condition and a printf-style message, and carries on, so a
 * run reports every broken case; CHECK_EXIT() ends main with the verdict. */
#ifndef RAYSENSE_TEST_CHECK_H
#define RAYSENSE_TEST_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			check_failures++;                                      \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
		}                                                              \
	} while (0)

#define CHECK_EXIT()                                                           \
	do {                                                                   \
		if (check_failures)                                            \
			fprintf(stderr, "%d check(s) failed\n", check_failures); \
		return check_failures ? 1 : 0;                                 \
	} while (0)

#endif
