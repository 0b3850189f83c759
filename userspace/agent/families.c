/* families.c -- the registry of probe families the agent runs (probe.h),
 * and rs_snapshot_collect() (snapshot.h), which reads every family's pinned
 * maps into one snapshot.  Order matters only for logs: main.c attaches
 * them in this order and detaches them in reverse. */
#include "agent/lifecycle.h"
#include "agent/raylet.h"
#include "agent/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const struct rs_probe_family *const rs_probe_families[] = {
	&rs_raylet_family,
	&rs_lifecycle_family,
	NULL,
};

int rs_snapshot_collect(const char *pin_dir, struct rs_snapshot *snap)
{
	struct timespec ts;
	const char *node = getenv("NODE_NAME");
	int found = 0;

	memset(snap, 0, sizeof(*snap));
	clock_gettime(CLOCK_REALTIME, &ts);
	snap->taken_unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	if (gethostname(snap->hostname, sizeof(snap->hostname) - 1))
		strcpy(snap->hostname, "unknown");
	snprintf(snap->node_name, sizeof(snap->node_name), "%s",
		 node && *node ? node : snap->hostname);
	for (const struct rs_probe_family *const *f = rs_probe_families; *f; f++) {
		int err;

		if (!(*f)->collect)
			continue;
		err = (*f)->collect(pin_dir, snap);
		if (err == -ENOENT)
			continue;   /* this family has never run here */
		if (err) {
			rs_snapshot_free(snap);
			return err;
		}
		found++;
	}
	return found ? 0 : -ENOENT;
}
