/* group_set.h -- the worker groups the loop plans with when the provider
 * gives them (provider_ops.groups: kuberay reads them from the RayCluster
 * every tick).  Double-buffered and swapped only at a tick boundary, when
 * they changed; the per-group state of the metrics and the actuator follows
 * group names across the swap (config_group_map). */
#ifndef RAYSENSE_CONTROLLER_GROUP_SET_H
#define RAYSENSE_CONTROLLER_GROUP_SET_H

#include "controller/act/actuator.h"
#include "controller/config.h"
#include "controller/fusion_loop.h"
#include "controller/metrics.h"
#include "controller/provider/provider.h"

struct group_set {
	struct controller_config cfgs[2];
	int cur;			/* index of the active set; -1 = none yet */
};

/* Whoever keeps per-group state: re-indexed by name on a swap. */
struct group_followers {
	struct controller_metrics *metrics;
	struct actuator *act;
	struct fusion_loop *fusion;	/* NULL = none */
	double **group_timeouts;	/* [group] scratch, resized; NULL = none */
};

void group_set_init(struct group_set *gs);
void group_set_free(struct group_set *gs);
/* Ask the provider for its groups; when they differ from *active, make the
 * new set active for the followers and *active (the old one is freed).  0 (also when the provider has no such op, or keeps failing after
 * a first set), or -errno while no set was ever taken (-EAGAIN: the provider
 * does not know them yet). */
int group_set_sync(struct group_set *gs, struct provider *p, const struct group_followers *f,
		   const struct controller_config **active);

#endif
