/* fuzz_kube.c -- libFuzzer targets for Kubernetes objects: the RayCluster
 * (worker groups and their Ray node types) and PodList of kuberay_types.c,
 * and the coordination Lease of leader.c. */
#include "fuzz.h"

#include "controller/provider/leader.h"
#include "controller/provider/provider_kuberay.h"

#include <stdlib.h>

#define BODY(data) ((const char *)(data))

void fuzz_kuberay_raycluster(const uint8_t *data, size_t size)
{
	struct kuberay_group *gs = NULL;
	char err[256];
	size_t n = 0;

	if (!kuberay_parse_raycluster(BODY(data), size, &gs, &n, err, sizeof(err)))
		kuberay_groups_free(gs, n);
}

void fuzz_kuberay_pods(const uint8_t *data, size_t size)
{
	struct kuberay_pod *pods = NULL;
	char err[256];
	size_t n = 0;

	if (!kuberay_parse_pods(BODY(data), size, &pods, &n, err, sizeof(err)))
		free(pods);
}

/* Decode, and encode what was decoded (the renewal path). */
void fuzz_lease(const uint8_t *data, size_t size)
{
	struct lease_record r;
	char rv[64], err[KUBE_ERR_LEN];

	if (!lease_record_decode(BODY(data), size, &r, rv, sizeof(rv), err))
		free(lease_record_encode(&r, "ns", "lease", rv));
}
