/* probe.h -- the interface every probe family of the agent implements.
 *
 * A family = one bpf/<name>.bpf.c + one userspace loader <name>.c. main.c
 * attaches every family, polls them (for work such as rescanning raylets),
 * and detaches them on SIGTERM. Families never talk to each other; what they
 * measure is read back through their pinned maps (collect), so that
 * raysensectl can decode the same maps with no agent running. */
#ifndef RAYSENSE_AGENT_PROBE_H
#define RAYSENSE_AGENT_PROBE_H

#include <stdbool.h>
#include "agent/lease_window.h"
#include "agent/snapshot.h"

#define RS_DEFAULT_PIN_DIR "/sys/fs/bpf/raysense"

struct rs_probe_ctx {
	const char *pin_dir;        /* maps are pinned at <pin_dir>/<map name> */
	bool verbose;               /* libbpf debug output */
	/* Optional: restrict to raylets whose binary path matches (tests). */
	const char *raylet_path_filter;
	/* Opt-in per-lease phase uprobes (queue, worker pop, grant): each
	 * uprobe hit costs ~19 us here, so by default only 4 fire per lease
	 * (request, reply, and the reply's outcome pair; see
	 * raysense/raylet.h), and only inside the lease_mode windows. */
	bool lease_phases;
	/* Which lease probes, and for what share of the time (--lease-probes). */
	struct rs_lease_mode lease_mode;
};

struct rs_probe_family {
	const char *name;
	/* Load, pin (reusing compatible pins), attach. Returns 0 or -errno; a
	 * family that fails must leave nothing attached. *state is private. */
	int (*attach)(const struct rs_probe_ctx *ctx, void **state);
	/* Periodic work (about once a second). May be NULL. */
	int (*poll)(void *state);
	/* Detach and free; pinned maps stay (they hold the histograms). */
	void (*detach)(void *state);
	/* Append this family's series to *snap from the maps pinned in pin_dir.
	 * -ENOENT when this family's maps are not pinned. */
	int (*collect)(const char *pin_dir, struct rs_snapshot *snap);
};

/* Appenders for collect(); return 0 or -ENOMEM. labels: key/value pairs,
 * NULL-terminated, e.g. (const char *[]){"raylet_pid", "42", NULL}. */
int rs_snapshot_add_hist(struct rs_snapshot *snap, const char *family,
			 const char *const *labels, const struct rs_hist *hist);
int rs_snapshot_add_value(struct rs_snapshot *snap, const char *family,
			  enum rs_value_kind kind, const char *const *labels, double value);
int rs_snapshot_add_timeline(struct rs_snapshot *snap, const struct rs_timeline *t);
int rs_snapshot_add_worker(struct rs_snapshot *snap, const struct rs_worker_activity *w);

/* All families, NULL-terminated (families.c). */
extern const struct rs_probe_family *const rs_probe_families[];

#endif
