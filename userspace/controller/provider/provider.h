/* provider.h -- how the controller starts and stops worker nodes.
 *
 * A provider owns the nodes it launched, each under a provider id that is
 * also the Ray node name (ray start --node-name) and the label
 * raysense.io/node, so the controller maps Ray's node ids back to provider
 * nodes through /api/v0/nodes.  The embedded provider is `local`
 * (provider_local.c: one `ray start --block` process group per node); a
 * `kuberay` provider can implement the same operations by patching the
 * RayCluster.  All calls come from the control-loop thread. */
#ifndef RAYSENSE_CONTROLLER_PROVIDER_H
#define RAYSENSE_CONTROLLER_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "controller/config.h"

#define PROVIDER_ID_MAX 96
#define PROVIDER_ERR_LEN 256
#define PROVIDER_WHY_MAX 160

struct provider_node {
	char id[PROVIDER_ID_MAX];	/* == Ray node name */
	char type[CONFIG_NAME_MAX + 1];	/* worker group */
	int pid;			/* local: the `ray start` process group leader */
	double launched_at;		/* UNIX time */
	/* When the node's machine started running (local: the process; kuberay:
	 * the pod was scheduled); 0 = not yet.  Ray's startup follows. */
	double started_at;
	double stop_requested_at;	/* UNIX time; 0 = not stopping */
	/* Since when the machine cannot be placed (kuberay: the pod's
	 * PodScheduled condition is False with reason Unschedulable, from its
	 * lastTransitionTime; not while a preemption is under way for it),
	 * UNIX time; 0 = not known to be unplaceable.  `unschedulable` is the
	 * scheduler's message, cut short.  Fusion's early stuck signal. */
	double unschedulable_since;
	char unschedulable[PROVIDER_WHY_MAX];
	/* When node_alive was first called for it, UNIX time; 0 = not yet
	 * (kept by providers that implement failed_launches). */
	double alive_at;
};

struct provider;

struct provider_ops {
	const char *name;
	/* Start one node of group g; its id goes to id_out.  0 or -errno. */
	int (*launch)(struct provider *p, const struct worker_group *g, char *id_out, char *err);
	/* Begin a graceful stop of node id (idempotent).  0 or -errno. */
	int (*terminate)(struct provider *p, const char *id, char *err);
	/* Housekeeping once per tick: reap exited nodes, escalate stops past
	 * their grace period, persist state.  Returns 0 or -errno. */
	int (*refresh)(struct provider *p, double now);
	/* Current nodes (launching, running or stopping).  *out stays valid
	 * until the next launch, refresh or list call (the array may move);
	 * terminate only edits entries in place (controller.c relies on it
	 * when it expires pending nodes while walking the list). */
	size_t (*list)(struct provider *p, const struct provider_node **out);
	void (*destroy)(struct provider *p);
	/* Optional (NULL when not provided), called from the control-loop
	 * thread: provider-specific status for /api/v1/status, and "the Ray
	 * node of provider node id was first seen ALIVE at unix_s" (kuberay uses
	 * it for the pod startup timeline). */
	cJSON *(*status_json)(struct provider *p);
	void (*node_alive)(struct provider *p, const char *id, double unix_s);
	/* Optional: Prometheus text appended to /metrics (malloc'd). */
	char *(*metrics_text)(struct provider *p);
	/* Optional: the worker groups as the provider knows them (kuberay: the
	 * RayCluster's, narrowed by the configured ones), into *out (the caller
	 * config_free()s it).  The loop calls it at the start of each tick, after
	 * refresh, and swaps its config when the answer changed.  0, -EAGAIN (not
	 * known yet) or -ENOMEM. */
	int (*groups)(struct provider *p, struct controller_config *out);
	/* Optional: why the controller must not act now (another autoscaler owns
	 * the cluster), or NULL.  Valid until the next refresh. */
	const char *(*blocked)(struct provider *p);
	/* Optional: the Ray version the dashboard reported (e.g. "2.41.0"),
	 * called from the control-loop thread once it is known and before the
	 * first launch that follows; the local provider picks `ray start`'s
	 * argument syntax by it. */
	void (*ray_version)(struct provider *p, const char *version);
	/* Optional: the launches that ended on their own (not stopped) before
	 * node_alive was called for them, found by the last refresh; *out stays
	 * valid until the next refresh.  The actuator backs the group off. */
	size_t (*failed_launches)(struct provider *p, const struct provider_node **out);
};

struct provider {
	const struct provider_ops *ops;
	void *impl;
};

struct provider_local_config {
	const char *ray_bin;		/* path of `ray` (default "ray") */
	const char *address;		/* GCS address for ray start --address */
	const char *state_dir;		/* state file + node logs */
	const char *const *extra_args;	/* extra `ray start` arguments, NULL-terminated */
	double stop_grace_s;		/* SIGTERM -> SIGKILL; default 15 */
	/* Each node gets its own Ray temp dir <node_temp_root>/<id>: raylets
	 * started at the same moment in one shared temp dir race for the same
	 * plasma socket name ("bind: Address already in use", seen on 2.60.0).
	 * Keep it short: Unix socket paths are limited to 107 bytes.
	 * Default /tmp/raysense-nodes.  Removed when the node is gone. */
	const char *node_temp_root;
};

/* Create the local provider; re-adopts the nodes of a previous run found in
 * <state_dir>/local-provider.json whose processes are still alive.
 * 0 or -errno (err says why). */
int provider_local_create(const struct provider_local_config *cfg, struct provider *out,
			  char *err);

/* Does `ray start` of this Ray version take --labels as JSON (before 2.45)?
 * Exposed for tests. */
bool provider_local_labels_json(const char *version);

/* Must `ray start` of this Ray version wait until the previous node
 * registered (before 2.50, whose workers share the head's session dir)?
 * Exposed for tests. */
bool provider_local_serial_start(const char *version);

/* State-file helpers, exposed for tests: serialise and parse the node list. */
char *provider_local_state_encode(const struct provider_node *nodes, size_t n,
				  unsigned long next_seq);
int provider_local_state_decode(const char *buf, size_t len, struct provider_node **nodes,
				size_t *n, unsigned long *next_seq, char *err);

#endif
