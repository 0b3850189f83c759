/* fuzz_kube.c -- libFuzzer targets for Kubernetes objects: the RayCluster
 * (worker groups and their Ray node types) and PodList of kuberay_types.c,
 * the coordination Lease of leader.c, the TokenReview answer (and a JWT's
 * exp claim) of auth/token_review.c, and the PodList of auth/node_map.c. */
#include "fuzz.h"

#include "controller/auth/node_map.h"
#include "controller/auth/token_review.h"
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

/* The API server's answer; the same bytes as a token for the exp claim. */
void fuzz_token_review(const uint8_t *data, size_t size)
{
	struct token_review_result r;
	char err[256], *s;
	double exp;

	if (!token_review_parse(BODY(data), size, "raysense", &r, err, sizeof(err)) &&
	    r.ok && !r.node[0])
		abort();	/* a good answer always names a node */
	s = fuzz_cstring(data, size);
	if (s)
		(void)token_review_jwt_exp(s, &exp);
	free(s);
}

void fuzz_node_pods(const uint8_t *data, size_t size)
{
	struct node_map_pod *pods = NULL;
	struct node_map *m;
	char err[256], node[256];
	size_t n = 0;

	if (node_map_parse_pods(BODY(data), size, &pods, &n, err, sizeof(err)))
		return;
	m = node_map_new();
	if (!m) {
		free(pods);
		return;
	}
	node_map_set_pods(m, pods, n);
	(void)node_map_where(m, "x", node, sizeof(node));
	node_map_free(m);
}
