/* test_timeline_ids.c -- the remembered Ray node ids of startup timelines
 * (userspace/agent/timeline_ids.c): a live id is remembered per key and given
 * back once the raylet is gone; a new live id replaces it; the table replaces
 * its oldest entry when full. */
#include "check.h"
#include "agent/timeline_ids.h"

#include <stdio.h>
#include <string.h>

static void resolve(uint64_t key, const char *live, char out[64])
{
	snprintf(out, 64, "%s", live);
	rs_timeline_id_resolve(key, out, 64);
}

int main(void)
{
	char id[64];

	resolve(1, "", id);
	CHECK(!strcmp(id, ""), "unknown key, no live id: '%s'", id);
	resolve(1, "aaaa", id);
	CHECK(!strcmp(id, "aaaa"), "live id kept: '%s'", id);
	resolve(1, "", id);
	CHECK(!strcmp(id, "aaaa"), "remembered after the raylet exits: '%s'", id);
	resolve(2, "", id);
	CHECK(!strcmp(id, ""), "another key has none: '%s'", id);
	resolve(1, "bbbb", id);
	resolve(1, "", id);
	CHECK(!strcmp(id, "bbbb"), "a new live id replaces the old: '%s'", id);

	/* Fill the table: key 1 is the oldest entry and goes first. */
	for (uint64_t k = 100; k < 100 + RS_TIMELINE_IDS - 1; k++)
		resolve(k, "cccc", id);
	resolve(1, "", id);
	CHECK(!strcmp(id, "bbbb"), "still there with the table full: '%s'", id);
	resolve(5000, "dddd", id);
	resolve(1, "", id);
	CHECK(!strcmp(id, ""), "oldest replaced: '%s'", id);
	resolve(100, "", id);
	CHECK(!strcmp(id, "cccc"), "the others kept: '%s'", id);
	CHECK_EXIT();
}
