/* node_map.h -- on which Kubernetes node each Ray node runs, so that an
 * agent authenticated as "a pod on node X" may report only about raylets on
 * X (agent_auth.h).  The rule, the simplest one the controller can check
 * with what it already reads:
 *
 *     Ray node id --(dashboard /api/v0/nodes: node_ip)--> IP
 *     IP --(the pods of --namespace: status.podIP)--> pod.spec.nodeName
 *
 * A raylet's node IP is its pod's IP on Kubernetes (KubeRay starts Ray with
 * the pod IP; hostNetwork pods have the node's IP, still on that node).  An
 * IP two running pods on different nodes claim is ambiguous and maps to
 * nothing; pods that are Succeeded or Failed hold no IP.  The loop sets the
 * Ray nodes each tick, a refresher sets the pods every few seconds; the
 * HTTP threads look up.  Thread-safe. */
#ifndef RAYSENSE_CONTROLLER_NODE_MAP_H
#define RAYSENSE_CONTROLLER_NODE_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/source/demand.h"

struct node_map;

/* One pod as the map needs it. */
struct node_map_pod {
	char ip[64];
	char node[254];
};

struct node_map *node_map_new(void);
void node_map_free(struct node_map *m);
/* The Ray nodes (id -> IP) of a dashboard snapshot.  0 or -ENOMEM (the
 * previous set is kept). */
int node_map_set_ray_nodes(struct node_map *m, const struct dash_snapshot *snap);
/* The pods (IP -> node); takes ownership of `pods` (malloc'd). */
void node_map_set_pods(struct node_map *m, struct node_map_pod *pods, size_t n);
/* Parse a PodList into pods that hold an IP and are scheduled (pure).
 * 0, -EINVAL (err says why) or -ENOMEM. */
int node_map_parse_pods(const char *body, size_t len, struct node_map_pod **pods, size_t *n,
			char *err, size_t err_size);
/* The Kubernetes node of Ray node ray_node_id into node[size]: true, or
 * false when the map cannot tell (Ray node or its pod unknown, IP
 * ambiguous). */
bool node_map_where(struct node_map *m, const char *ray_node_id, char *node, size_t size);
/* Whether pods were ever set (the map is not of use before). */
bool node_map_has_pods(struct node_map *m);

#endif
