/* families.c -- the registry of probe families the agent runs (probe.h).
 * Order matters only for logs: main.c attaches them in this order and
 * detaches them in reverse. */
#include "agent/lifecycle.h"
#include "agent/raylet.h"

const struct rs_probe_family *const rs_probe_families[] = {
	&rs_raylet_family,
	&rs_lifecycle_family,
	NULL,
};
