/* gcs_load.h -- the pending demand per resource shape, read straight from
 * Ray's GCS: NodeResourceInfoGcsService.GetAllResourceUsage, the aggregate
 * that Ray's v1 monitor reads (GcsResourceManager::FillAggregateLoad: every
 * raylet's ready, infeasible and backlogged requests per shape).  The v1
 * monitor's report that the dashboard serves keeps only the first shapes of
 * it once it passes AUTOSCALER_MAX_RESOURCE_DEMAND_VECTOR_SIZE entries, and
 * is written every 5 s; this read is complete and live, and costs the GCS
 * about a millisecond at 100,000 pending tasks (docs/demand-at-scale.md).
 *
 * One unary gRPC call over HTTP/2 cleartext (libcurl), its answer decoded
 * with common/pb_wire.h; field numbers checked against the generated
 * descriptors of Ray 2.41.0 and 2.60.0 (docs/demand-at-scale.md, 6). */
#ifndef RAYSENSE_CONTROLLER_GCS_LOAD_H
#define RAYSENSE_CONTROLLER_GCS_LOAD_H

#include <stddef.h>

#include "controller/source/demand.h"

/* Distinct shapes one answer may hold; more is refused (the report is used). */
#define GCS_LOAD_MAX_SHAPES 1000
/* Ray's NodeID is 28 bytes; longer ids are refused. */
#define GCS_NODE_ID_MAX 64

struct gcs_client {
	const char *address;		/* host:port of the GCS, e.g. 127.0.0.1:6379 */
	const char *token;		/* Ray token auth; NULL = none */
	long timeout_ms;		/* default 1000 */
	size_t max_response;		/* default 4 MiB */
};

struct gcs_load {
	struct dash_shape *shapes;	/* one task shape per resource shape */
	size_t count;
	/* The first node the answer lists (ResourcesData.node_id, as hex): the
	 * caller checks that the dashboard lists it too, so that a GCS address
	 * pointing at another Ray cluster is never taken for this one's. */
	char node_id[2 * GCS_NODE_ID_MAX + 1];
};

/* A gRPC answer body (5-byte frame + GetAllResourceUsageReply) into out:
 * one task shape per resource shape, count = ready + infeasible + backlog.
 * Shapes of tasks inside placement groups are kept (the caller drops them,
 * as for the report).  Sorted by resource names and amounts, so the same
 * demand gives the same array whatever order the GCS lists it in.
 * 0, -EBADMSG / -ERANGE / -EIO (err says why) or -ENOMEM; on error out
 * holds nothing. */
int gcs_parse_load(const void *body, size_t len, struct gcs_load *out, char *err);
/* The call.  timeout_ms caps the client's own timeout when > 0 (the tick's
 * budget left).  0 or -errno with err. */
int gcs_fetch_load(const struct gcs_client *c, long timeout_ms, struct gcs_load *out, char *err);
void gcs_load_free(struct gcs_load *l);

#endif
