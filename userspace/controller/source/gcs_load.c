/* gcs_load.c -- the GCS's aggregate resource load per shape (gcs_load.h):
 * one gRPC call and the decoder of its answer.
 *
 * The messages read (ray/src/ray/protobuf, package ray.rpc):
 *   GetAllResourceUsageReply { GcsStatus status = 1;
 *                              ResourceUsageBatchData resource_usage_data = 2; }
 *   GcsStatus                { int32 code = 1; string message = 2; }
 *   ResourceUsageBatchData   { repeated ResourcesData batch = 1;
 *                              ResourceLoad resource_load_by_shape = 2; ... }
 *   ResourcesData            { bytes node_id = 1; ... }
 *   ResourceLoad             { repeated ResourceDemand resource_demands = 1; }
 *   ResourceDemand           { map<string, double> shape = 1;
 *                              uint64 num_ready_requests_queued = 2;
 *                              uint64 num_infeasible_requests_queued = 3;
 *                              int64 backlog_size = 4; ... }
 * Every other field is skipped.  Counts are summed as Ray's v1 monitor does
 * (parse_resource_demands: ready + infeasible + backlog per shape). */
#include "controller/source/gcs_load.h"

#include "common/http_client.h"
#include "common/pb_wire.h"
#include "common/util.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define seterr(err, ...) rs_errf(err, DASH_ERR_LEN, __VA_ARGS__)

#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_MAX_RESPONSE (4u << 20)
#define MAX_NAME 255
#define GRPC_PATH "/ray.rpc.NodeResourceInfoGcsService/GetAllResourceUsage"


static int bad(char *err, const char *what)
{
	seterr(err, "GCS resource usage: %s", what);
	return -EBADMSG;
}

/* ShapeEntry { string key = 1; double value = 2; } into shape. */
static int parse_shape_entry(const struct pb_field *f, struct resmap *shape, char *err)
{
	char name[MAX_NAME + 1] = "";
	double value = 0;
	struct pb_reader r;
	struct pb_field e;
	int rc;

	pb_reader_sub(&r, f);
	while ((rc = pb_next(&r, &e)) > 0) {
		if (e.number == 1 && e.type == PB_LEN) {
			if (e.len == 0 || e.len > MAX_NAME || memchr(e.data, '\0', e.len))
				return bad(err, "a resource name is empty, too long or has a NUL");
			memcpy(name, e.data, e.len);
			name[e.len] = '\0';
		} else if (e.number == 2 && e.type == PB_FIXED64) {
			value = pb_double(&e);
		} else if (e.number <= 2) {
			return bad(err, "a shape entry field has the wrong wire type");
		}
	}
	if (rc < 0)
		return bad(err, "a shape entry is not protobuf");
	if (!name[0])
		return bad(err, "a shape entry has no resource name");
	if (!isfinite(value) || value < 0)
		return bad(err, "a resource amount is not a finite number >= 0");
	if (value == 0)
		return 0;	/* as the report: zero amounts are not demand */
	return resmap_set(shape, name, value) ? -ENOMEM : 0;
}

static int add_count(long *sum, uint64_t v, char *err)
{
	if (v > (uint64_t)PLANNER_MAX_COUNT || *sum + (long)v > PLANNER_MAX_COUNT) {
		seterr(err, "GCS resource usage: a shape's request count is over %ld",
		       PLANNER_MAX_COUNT);
		return -ERANGE;
	}
	*sum += (long)v;
	return 0;
}

static int parse_demand(const struct pb_field *f, struct gcs_load *out, char *err)
{
	struct resmap shape = { 0 };
	struct pb_reader r;
	struct pb_field e;
	long count = 0;
	int rc;

	pb_reader_sub(&r, f);
	while ((rc = pb_next(&r, &e)) > 0) {
		if (e.number == 1 && e.type == PB_LEN)
			rc = parse_shape_entry(&e, &shape, err);
		else if (e.number >= 2 && e.number <= 4 && e.type == PB_VARINT)
			/* backlog_size is an int64: a negative one is out of range */
			rc = add_count(&count, e.u64, err);
		else if (e.number <= 4)
			rc = bad(err, "a demand field has the wrong wire type");
		if (rc < 0)
			goto out;
	}
	if (rc < 0) {
		rc = bad(err, "a resource demand is not protobuf");
		goto out;
	}
	if (count > 0 && out->count >= GCS_LOAD_MAX_SHAPES) {
		seterr(err, "GCS resource usage: more than %d shapes", GCS_LOAD_MAX_SHAPES);
		rc = -ERANGE;
		goto out;
	}
	if (count > 0)
		rc = dash_shapes_add(&out->shapes, &out->count, PLANNER_DEMAND_TASK, &shape, count);
out:
	resmap_free(&shape);
	return rc;
}

/* Walk one message, calling fn for each PB_LEN field numbered `number`. */
static int each_sub(const struct pb_field *msg, uint32_t number,
		    int (*fn)(const struct pb_field *, struct gcs_load *, char *),
		    struct gcs_load *out, char *err)
{
	struct pb_reader r;
	struct pb_field f;
	int rc;

	pb_reader_sub(&r, msg);
	while ((rc = pb_next(&r, &f)) > 0) {
		if (f.number != number)
			continue;
		if (f.type != PB_LEN)
			return bad(err, "a message field has the wrong wire type");
		if ((rc = fn(&f, out, err)))
			return rc;
	}
	return rc < 0 ? bad(err, "not protobuf") : 0;
}

static int parse_load(const struct pb_field *f, struct gcs_load *out, char *err)
{
	return each_sub(f, 1, parse_demand, out, err);
}

/* The first node's id, as hex. */
static int parse_node(const struct pb_field *f, struct gcs_load *out, char *err)
{
	struct pb_reader r;
	struct pb_field e;
	int rc;

	if (out->node_id[0])
		return 0;
	pb_reader_sub(&r, f);
	while ((rc = pb_next(&r, &e)) > 0) {
		if (e.number != 1)
			continue;
		if (e.type != PB_LEN || e.len == 0 || e.len > GCS_NODE_ID_MAX)
			return bad(err, "a node id is not 1..64 bytes");
		for (size_t i = 0; i < e.len; i++)
			snprintf(out->node_id + 2 * i, 3, "%02x", e.data[i]);
		return 0;
	}
	return rc < 0 ? bad(err, "a node's data is not protobuf") : 0;
}

static int parse_batch(const struct pb_field *f, struct gcs_load *out, char *err)
{
	int rc = each_sub(f, 1, parse_node, out, err);

	return rc ? rc : each_sub(f, 2, parse_load, out, err);
}

/* GcsStatus: a code other than 0 (OK) fails the answer. */
static int check_status(const struct pb_field *f, char *err)
{
	char msg[128] = "";
	int64_t code = 0;
	struct pb_reader r;
	struct pb_field e;
	int rc;

	pb_reader_sub(&r, f);
	while ((rc = pb_next(&r, &e)) > 0) {
		if (e.number == 1 && e.type == PB_VARINT)
			code = (int64_t)e.u64;
		else if (e.number == 2 && e.type == PB_LEN)
			snprintf(msg, sizeof(msg), "%.*s", (int)(e.len < 120 ? e.len : 120),
				 (const char *)e.data);
	}
	if (rc < 0)
		return bad(err, "its status is not protobuf");
	if (code != 0) {
		seterr(err, "GCS resource usage: status %lld: %s", (long long)code, msg);
		return -EIO;
	}
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct planner_resource *)a)->name,
		      ((const struct planner_resource *)b)->name);
}

/* Shapes by their sorted (name, amount) lists: the GCS lists them in its
 * hash map's order, which may change between answers, and the planner
 * serves demand in the order given. */
static int cmp_shape(const void *a, const void *b)
{
	const struct resmap *x = &((const struct dash_shape *)a)->shape;
	const struct resmap *y = &((const struct dash_shape *)b)->shape;

	for (size_t i = 0; i < x->count && i < y->count; i++) {
		int c = strcmp(x->items[i].name, y->items[i].name);

		if (c)
			return c;
		if (x->items[i].value != y->items[i].value)
			return x->items[i].value < y->items[i].value ? -1 : 1;
	}
	return (x->count > y->count) - (x->count < y->count);
}

static void sort_shapes(struct dash_shape *shapes, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (shapes[i].shape.count > 1)
			qsort(shapes[i].shape.items, shapes[i].shape.count,
			      sizeof(shapes[i].shape.items[0]), cmp_item);
	if (count > 1)
		qsort(shapes, count, sizeof(*shapes), cmp_shape);
}

void gcs_load_free(struct gcs_load *l)
{
	dash_shapes_free(l->shapes, l->count);
	memset(l, 0, sizeof(*l));
}

int gcs_parse_load(const void *body, size_t len, struct gcs_load *out, char *err)
{
	const uint8_t *b = body;
	struct pb_field msg = { 0 }, f;
	struct pb_reader r;
	uint32_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (len < 5)
		return bad(err, "shorter than a gRPC frame");
	if (b[0] != 0)
		return bad(err, "a compressed gRPC message (none was asked for)");
	n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
	if ((size_t)n != len - 5)
		return bad(err, "the gRPC frame's length is not the body's");
	msg.type = PB_LEN;
	msg.data = b + 5;
	msg.len = n;
	pb_reader_sub(&r, &msg);
	while ((rc = pb_next(&r, &f)) > 0) {
		if (f.number > 2)
			continue;
		if (f.type != PB_LEN)
			rc = bad(err, "a reply field has the wrong wire type");
		else if (f.number == 1)
			rc = check_status(&f, err);
		else
			rc = parse_batch(&f, out, err);
		if (rc)
			break;
	}
	if (rc < 0 && !err[0])
		bad(err, "not protobuf");
	if (rc) {
		gcs_load_free(out);
		return rc;
	}
	sort_shapes(out->shapes, out->count);
	return 0;
}

int gcs_fetch_load(const struct gcs_client *c, long timeout_ms, struct gcs_load *out, char *err)
{
	static const uint8_t empty_request[5] = { 0 };	/* uncompressed, length 0 */
	static const char *const headers[] = { "TE: trailers", NULL };
	struct rs_http_client_request req = {
		.method = "POST",
		.headers = headers,
		.bearer_token = c->token,
		.body = empty_request,
		.body_len = sizeof(empty_request),
		.content_type = "application/grpc",
		.timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS,
		.max_response = c->max_response ? c->max_response : DEFAULT_MAX_RESPONSE,
		.http2_prior_knowledge = true,
		.capture = { "grpc-status", "grpc-message" },
	};
	struct rs_http_client_response resp;
	char url[512];
	int rc;

	memset(out, 0, sizeof(*out));
	if (timeout_ms > 0 && timeout_ms < req.timeout_ms)
		req.timeout_ms = timeout_ms;
	if ((size_t)snprintf(url, sizeof(url), "http://%s" GRPC_PATH, c->address) >= sizeof(url)) {
		seterr(err, "GCS address too long");
		return -ENAMETOOLONG;
	}
	req.url = url;
	rc = rs_http_do(&req, &resp);
	if (rc) {
		seterr(err, "GCS %s: %s", c->address, resp.error[0] ? resp.error : strerror(-rc));
	} else if (resp.status != 200) {
		seterr(err, "GCS %s: HTTP %ld (not a gRPC server?)", c->address, resp.status);
		rc = -EIO;
	} else if (strcmp(resp.captured[0], "0")) {
		seterr(err, "GCS %s: gRPC status %s: %.200s", c->address,
		       resp.captured[0][0] ? resp.captured[0] : "missing", resp.captured[1]);
		rc = -EIO;
	} else {
		rc = gcs_parse_load(resp.body, resp.body_len, out, err);
	}
	rs_http_response_free(&resp);
	return rc;
}
