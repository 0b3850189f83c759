/* provider_kuberay.h -- the `kuberay` provider: scales the worker groups of
 * one KubeRay RayCluster by JSON-patching it, the way Ray's own KubeRay
 * autoscaler does (reference: ray-dashboard-and-autoscaler.md §3), with the
 * guards it lacks:
 *
 *  - every patch starts with `test` ops on the group's groupName and on the
 *    replicas value it was computed from, so a concurrent writer (another
 *    controller, kubectl, a reordered workerGroupSpecs) makes it fail with
 *    422 instead of overwriting; we then re-read and recompute;
 *  - scale-down lowers replicas and names the victims in
 *    scaleStrategy.workersToDelete in ONE patch (the operator would otherwise
 *    delete arbitrary pods); replicas are never lowered without victims;
 *  - the operator never clears workersToDelete; we clear it once every named
 *    pod is gone, and make no other change to that group until then;
 *  - a patch whose outcome is unknown (timeout, 5xx, connection dropped) is
 *    remembered; the next fresh read tells whether it landed, so a restarted
 *    or flapping API server never causes a duplicate scale-up;
 *  - errors back off exponentially (0.5 s .. 30 s) and always re-read.
 *
 * Provider ids are what the controller matches with Ray's node name: the pod
 * IP (Ray's default node name inside a pod) once the pod has one, else the
 * pod name; terminate() takes either.  launch() queues +1 for the group and
 * returns a placeholder id "<group>/pending-<n>"; list() shows real pods plus one
 * placeholder per replica not yet backed by a pod, so the controller counts
 * unmaterialised replicas (and pending ECI pods) as in-flight capacity.
 * terminate(pod) queues the pod as a victim; refresh() sends the patches. */
#ifndef RAYSENSE_CONTROLLER_PROVIDER_KUBERAY_H
#define RAYSENSE_CONTROLLER_PROVIDER_KUBERAY_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "controller/config.h"
#include "controller/provider/kube_client.h"
#include "controller/provider/provider.h"
#include "controller/plan/resmap.h"

#define KUBERAY_ECI_LABEL "alibabacloud.com/eci"
#define KUBERAY_MAX_VICTIMS 256

struct provider_kuberay_config {
	struct kube_client *kube;	/* borrowed; outlives the provider */
	const char *ns;			/* NULL = kube->ns */
	const char *raycluster;
	double backoff_min_s;		/* default 0.5 */
	double backoff_max_s;		/* default 30 */
	/* The operator's worker-group config, which may only narrow the
	 * RayCluster's (kuberay_groups.h); NULL = none.  Borrowed. */
	const struct controller_config *overrides;
	/* Act even when spec.enableInTreeAutoscaling is true (tests). */
	bool ignore_in_tree_autoscaler;
};

/* A worker pod as the API shows it. */
struct kuberay_pod {
	char name[PROVIDER_ID_MAX];
	char group[CONFIG_NAME_MAX + 1];
	char ip[64];			/* status.podIP */
	char host_ip[64];		/* status.hostIP */
	char phase[16];
	bool deleting;			/* metadata.deletionTimestamp set */
	/* Startup timeline, UNIX seconds (0 = not yet). */
	double created, scheduled, ready, ray_alive;
	/* Not scheduled, PodScheduled False/Unschedulable (provider_node). */
	double unschedulable_since;
	char unschedulable[PROVIDER_WHY_MAX];
};

/* One workerGroupSpecs entry as last read, plus our queued intent. */
struct kuberay_group {
	char name[CONFIG_NAME_MAX + 1];
	int index;			/* position in spec.workerGroupSpecs */
	int replicas, min_replicas, max_replicas, num_of_hosts;
	bool replicas_present;		/* spec has a replicas field */
	bool eci;			/* pod template label alibabacloud.com/eci=true */
	bool type_ok;			/* node type derived without error */
	char type_error[200];
	struct resmap node_type;	/* Ray resources of one worker */
	char **workers_to_delete;	/* spec.scaleStrategy.workersToDelete */
	size_t wtd_count;
	/* intent */
	int queued_launches;
	char **victims;			/* queued terminate() pod names */
	size_t victim_count;
	/* A scale patch whose outcome we do not know (timeout, 5xx): its
	 * intent stays here until a fresh read shows whether it landed. */
	bool inflight;
	int inflight_base, inflight_target, inflight_launches;
	char **inflight_victims;
	size_t inflight_victim_count;
};

/* ---- pure helpers, exposed for tests ---- */


/* JSON Patch document for group index i: tests on groupName and replicas
 * (== base), replace replicas with target, and when victims != NULL (may be
 * an empty list, which clears) replace scaleStrategy with
 * {"workersToDelete": victims}.  Caller frees. */
char *kuberay_patch_document(int index, const char *group, int base, int target,
			     const char *const *victims, size_t victim_count, bool set_victims);

/* Parse a RayCluster into groups (intent fields zeroed).  0 or -EINVAL. */
int kuberay_parse_raycluster(const char *body, size_t len, struct kuberay_group **groups,
			     size_t *count, char *err, size_t err_size);
/* Parse a PodList; only pods with label ray.io/node-type=worker.  0 or -EINVAL. */
int kuberay_parse_pods(const char *body, size_t len, struct kuberay_pod **pods, size_t *count,
		       char *err, size_t err_size);
void kuberay_groups_free(struct kuberay_group *groups, size_t count);

/* ---- the provider ---- */

int provider_kuberay_create(const struct provider_kuberay_config *cfg, struct provider *out,
			    char *err);
/* Status (groups, pods, pending deletes, ECI marks, timings, counters). */
cJSON *provider_kuberay_status_json(struct provider *p);
/* Prometheus text: patch counters and pod startup phase sums/counts. */
char *provider_kuberay_metrics_text(struct provider *p);

#endif
