/* dashboard_fixture.h -- load an answer recorded from a real Ray dashboard
 * (tests/fixtures/dashboard/NAME, under $RAYSENSE_SOURCE_DIR) for the unit
 * tests of the dashboard client's parsers; exits when it is missing. */
#ifndef RAYSENSE_TEST_DASHBOARD_FIXTURE_H
#define RAYSENSE_TEST_DASHBOARD_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "common/cli.h"

static char *load(const char *name, size_t *len)
{
	const char *src = getenv("RAYSENSE_SOURCE_DIR");
	char path[1024];
	char *buf = NULL;

	snprintf(path, sizeof(path), "%s/tests/fixtures/dashboard/%s", src ? src : ".", name);
	if (rs_read_file(path, 16u << 20, &buf, len)) {
		fprintf(stderr, "cannot read fixture %s\n", path);
		exit(1);
	}
	return buf;
}

#endif
