/* kuberay_node_type.h -- the Ray logical resources one node of a KubeRay
 * worker group declares, read from the group's spec the way Ray's KubeRay
 * integration does.  Pure; its own module so that both the RayCluster
 * parser (kuberay_types.c) and the group reader (kuberay_groups.c) use it
 * without depending on the provider. */
#ifndef RAYSENSE_CONTROLLER_KUBERAY_NODE_TYPE_H
#define RAYSENSE_CONTROLLER_KUBERAY_NODE_TYPE_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "controller/plan/resmap.h"

/* Ray's node type of a worker group (or the head group) object:
 * rayStartParams first, then containers[0] limits, then requests, for CPU,
 * GPU, memory; custom resources from rayStartParams.resources ('"{\"x\": 1}"'
 * quoting as Ray expects) and the group's top-level `resources` map, which
 * overrides everything (KubeRay >= 1.5).  0 or -EINVAL (err says why). */
int kuberay_node_type(const cJSON *group, struct resmap *out, char *err, size_t err_size);

#endif
