/* kuberay_groups.h -- what a RayCluster says about scaling, read the way
 * Ray's KubeRay integration reads it
 * (python/ray/autoscaler/_private/kuberay/autoscaling_config.py), and how
 * the operator's own worker-group config may narrow it.
 *
 *  - each worker group becomes a controller worker group: min/max =
 *    minReplicas/maxReplicas x numOfHosts (64-bit, int32 fields checked,
 *    clamped to PLANNER_MAX_NODES), the node type of kuberay_node_type()
 *    (rayStartParams, else containers[0] limits/requests), idleTimeoutSeconds;
 *  - autoscalerOptions.idleTimeoutSeconds (default 60) and upscalingMode
 *    (Conservative -> upscaling speed 1, anything else 1000);
 *  - spec.enableInTreeAutoscaling (another autoscaler owns the cluster);
 *  - each group's platform, eci or ecs (kuberay_group_platform).
 *
 * A group that cannot be read is left out, with a note.  Notes (clamps,
 * skipped groups, conflicts with the controller config) come back as text,
 * one line each: no I/O here; the provider logs each line once. */
#ifndef RAYSENSE_CONTROLLER_KUBERAY_GROUPS_H
#define RAYSENSE_CONTROLLER_KUBERAY_GROUPS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "controller/config.h"

#define KUBERAY_NOTES_MAX 4096

struct kuberay_spec {
	struct controller_config cfg;	/* groups, idle timeout, upscaling speed */
	bool in_tree_autoscaling;	/* spec.enableInTreeAutoscaling */
	char notes[KUBERAY_NOTES_MAX];	/* "\n"-terminated lines */
};

/* The platform of a workerGroupSpecs entry, from its pod template the way
 * ACK marks ECI pods: PLATFORM_ECI when template.metadata.labels has
 * alibabacloud.com/eci: "true", or template.spec requires the virtual node
 * (nodeSelector type: virtual-kubelet; a required node affinity term with
 * key type, operator In, values holding virtual-kubelet) or tolerates its
 * taint (a toleration with key virtual-kubelet.io/provider); PLATFORM_ECS
 * otherwise (also for values of the wrong JSON type). */
enum group_platform kuberay_group_platform(const cJSON *group);

/* Parse a RayCluster document.  0, -EINVAL (not a RayCluster: err says
 * why) or -ENOMEM.  Free with kuberay_spec_free() in every case. */
int kuberay_spec_parse(const char *body, size_t len, struct kuberay_spec *out, char *err,
		       size_t err_size);
void kuberay_spec_free(struct kuberay_spec *s);

/* out = the RayCluster's config narrowed by the operator's (user; may have
 * no groups).  The user config may only narrow: a lower max, a higher min,
 * a longer idle timeout, a lower upscaling speed, a global max_workers,
 * a group's platform (a tag: the user's wins, with a note if it differs); a
 * value that would widen, a different node type, or a group the RayCluster
 * lacks is a conflict: the RayCluster's value is used and a note (with both
 * values) is appended to notes.  In the user config, a negative min/max/
 * idle_timeout_s/upscaling_speed means "not set".  0 or -ENOMEM. */
int kuberay_spec_merge(const struct controller_config *rc, const struct controller_config *user,
		       struct controller_config *out, char *notes, size_t notes_size);

#endif
