/* fuzz_dashboard.c -- libFuzzer targets for the Ray dashboard answers
 * (dashboard.c) and the autoscaler-v2 text formats (ray_text.c). */
#include "fuzz.h"

#include "controller/source/dashboard.h"
#include "controller/source/gcs_load.h"
#include "controller/source/ray_text.h"

#include <string.h>

#define BODY(data) ((const char *)(data))

void fuzz_dash_version(const uint8_t *data, size_t size)
{
	char v[64], err[DASH_ERR_LEN];

	dash_parse_version(BODY(data), size, v, sizeof(v), err);
}

void fuzz_dash_nodes(const uint8_t *data, size_t size)
{
	struct dash_snapshot s;
	char err[DASH_ERR_LEN];

	memset(&s, 0, sizeof(s));
	if (!dash_parse_nodes(BODY(data), size, &s, err))
		dash_attach_usage(&s);
	dash_snapshot_free(&s);
}

void fuzz_dash_pending(const uint8_t *data, size_t size)
{
	struct dash_snapshot s;
	char err[DASH_ERR_LEN];

	memset(&s, 0, sizeof(s));
	if (!dash_parse_pending(BODY(data), size, &s, err))
		dash_merge_demand(&s, false);
	dash_snapshot_free(&s);
}

void fuzz_dash_cluster_status(const uint8_t *data, size_t size)
{
	struct dash_snapshot s;
	char err[DASH_ERR_LEN];

	memset(&s, 0, sizeof(s));
	if (!dash_parse_cluster_status(BODY(data), size, &s.cs, err))
		dash_merge_demand(&s, true);
	dash_snapshot_free(&s);
}

void fuzz_dash_api_pgs(const uint8_t *data, size_t size)
{
	struct dash_api_pg *pgs = NULL;
	char err[DASH_ERR_LEN];
	size_t n = 0;

	if (!dash_parse_api_pgs(BODY(data), size, &pgs, &n, err))
		dash_api_pgs_free(pgs, n);
}

void fuzz_dash_node_summary(const uint8_t *data, size_t size)
{
	struct dash_cluster_status cs;
	char err[DASH_ERR_LEN], warn[DASH_ERR_LEN];

	memset(&cs, 0, sizeof(cs));
	dash_parse_node_summary(BODY(data), size, &cs, warn, err);
	dash_cluster_status_free(&cs);
}

/* The /api/cluster_status?format=1 envelope, then the v2 status built from it. */
void fuzz_dash_status_text(const uint8_t *data, size_t size)
{
	struct dash_cluster_status cs;
	struct rtext_status st;
	char err[DASH_ERR_LEN];

	memset(&cs, 0, sizeof(cs));
	if (dash_parse_status_text(BODY(data), size, &st, err))
		return;
	dash_v2_status_build(&cs, &st, NULL, 0, 0);	/* takes st over, even on error */
	dash_cluster_status_free(&cs);
}

void fuzz_rtext_pydict(const uint8_t *data, size_t size)
{
	struct resmap m = { 0 };
	char err[DASH_ERR_LEN];
	size_t used;

	rtext_parse_pydict(BODY(data), size, &used, &m, err);
	resmap_free(&m);
}

void fuzz_rtext_status(const uint8_t *data, size_t size)
{
	struct rtext_status st;
	char err[DASH_ERR_LEN];

	if (!rtext_parse_status(BODY(data), size, &st, err))
		rtext_status_free(&st);
}

void fuzz_rtext_node_usage(const uint8_t *data, size_t size)
{
	struct resmap used = { 0 }, total = { 0 };
	char err[DASH_ERR_LEN];

	rtext_parse_node_usage(BODY(data), size, &used, &total, err);
	resmap_free(&used);
	resmap_free(&total);
}

/* A GCS GetAllResourceUsage answer (gRPC frame + protobuf), then the merge
 * the dashboard client does with it. */
void fuzz_gcs_load(const uint8_t *data, size_t size)
{
	struct dash_snapshot snap;
	struct gcs_load load;
	char err[DASH_ERR_LEN];

	if (gcs_parse_load(data, size, &load, err))
		return;
	memset(&snap, 0, sizeof(snap));
	snap.cs.demand = load.shapes;
	snap.cs.demand_count = load.count;
	snap.cs.present = true;
	snap.cs.demand_from_gcs = true;
	dash_merge_demand(&snap, true);
	dash_snapshot_free(&snap);
}
