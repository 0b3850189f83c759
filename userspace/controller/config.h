/* config.h -- the controller's worker groups (node types) and cluster-wide
 * scaling settings, from a JSON file (--config, docs/controller-config.md)
 * and/or --worker-group flags ("name:CPU=1,GPU=0,custom=2,min=0,max=4,idle=60"). */
#ifndef RAYSENSE_CONTROLLER_CONFIG_H
#define RAYSENSE_CONTROLLER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/plan/resmap.h"

#define CONFIG_NAME_MAX 48

/* Where a group's nodes run: the tag of its startup model.  Set per group
 * in the JSON config ("platform"); else the provider's: local for the
 * local provider, eci or ecs from a KubeRay group's pod template
 * (kuberay_groups.h). */
enum group_platform {
	PLATFORM_UNSET,
	PLATFORM_LOCAL,
	PLATFORM_ECS,
	PLATFORM_ECI,
	PLATFORM_COUNT,
};

struct worker_group {
	char name[CONFIG_NAME_MAX + 1];
	struct resmap resources;	/* logical resources one node declares */
	int min_workers;
	int max_workers;
	double idle_timeout_s;		/* < 0 = the cluster default */
	enum group_platform platform;
};

struct controller_config {
	struct worker_group *groups;
	size_t group_count;
	int max_workers;		/* global cap on workers; < 0 = none */
	double upscaling_speed;		/* Ray's upscaling_speed */
	double idle_timeout_s;		/* default idle timeout */
	int max_concurrent_launches;	/* <= 0 = planner default */
	/* --provider kuberay: the groups only narrow the RayCluster's
	 * (kuberay_groups.h), so a group's min/max and the cluster's idle
	 * timeout and upscaling speed stay < 0 ("not set") unless given, and
	 * a group may name no resources.  Set before parsing. */
	bool narrowing;
};

void config_init(struct controller_config *cfg);
void config_free(struct controller_config *cfg);
/* Parse a JSON config document; errors name the JSON path.  0 or -EINVAL. */
int config_parse_json(struct controller_config *cfg, const char *buf, size_t len, char *err,
		      size_t err_size);
int config_load_file(struct controller_config *cfg, const char *path, char *err, size_t err_size);
/* Add one --worker-group spec.  0 or -EINVAL. */
int config_add_group_spec(struct controller_config *cfg, const char *spec, char *err,
			  size_t err_size);
/* Final checks (at least one group with resources unless narrowing, unique
 * names, min <= max).  0 or -EINVAL. */
int config_validate(const struct controller_config *cfg, char *err, size_t err_size);
/* Same groups (names, order, resources, min, max, idle, platform) and settings. */
bool config_equal(const struct controller_config *a, const struct controller_config *b);
/* map[i] = index in `from` of the group named as to->groups[i], or -1: how
 * per-group state (counters, last launch times) follows a new group set. */
void config_group_map(const struct controller_config *from, const struct controller_config *to,
		      int *map);
/* "local", "ecs", "eci"; "unset". */
const char *config_platform_name(enum group_platform p);
/* The platform named so (one of the three), or PLATFORM_UNSET. */
enum group_platform config_platform_from_name(const char *name);
/* Every group with no platform gets p. */
void config_default_platform(struct controller_config *cfg, enum group_platform p);
const struct worker_group *config_find_group(const struct controller_config *cfg,
					     const char *name);

#endif
