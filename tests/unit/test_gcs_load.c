/* test_gcs_load.c -- the GCS resource-load decoder (gcs_load.c) and the
 * protobuf wire reader under it (common/pb_wire.c): answers recorded from a
 * real Ray 2.60.0 GCS (tests/fixtures/gcs/: an idle head, and 300 {CPU:1} +
 * 200 {CPU:2} + 100 {CPU:1, memory:1 GiB} pending tasks on a --num-cpus=0
 * head) and a 2.41.0 one (30 {CPU:1} + 20 {CPU:2}), then hand-built messages for every way an answer can be wrong, and
 * a call to an address where nothing listens. */
#include "check.h"
#include "dashboard_fixture.h"
#include "common/pb_wire.h"
#include "controller/source/gcs_load.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define GIB 1073741824.0
/* The heads' node ids in the recordings (hex, as the dashboard lists them). */
#define HEAD_2_60 "60aeb4697dbe8af81d9695157b5ba280ec1d65bd83f006fd75f06b2d"
#define HEAD_2_41 "b0edc3d3c8f2dcace8bce31b7baa4ef793dce7b27e766c6db801f726"

/* ------------------------------------------------------- message builder */

struct buf {
	uint8_t b[1 << 16];
	size_t n;
};

static void put_varint(struct buf *o, uint64_t v)
{
	do {
		o->b[o->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void put_tag(struct buf *o, uint32_t number, int type)
{
	put_varint(o, (uint64_t)number << 3 | (uint64_t)type);
}

static void put_len(struct buf *o, uint32_t number, const struct buf *sub)
{
	put_tag(o, number, PB_LEN);
	put_varint(o, sub->n);
	memcpy(o->b + o->n, sub->b, sub->n);
	o->n += sub->n;
}

static void put_double(struct buf *o, uint32_t number, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	put_tag(o, number, PB_FIXED64);
	for (int i = 0; i < 8; i++)
		o->b[o->n++] = (uint8_t)(u >> (8 * i));
}

static void put_entry(struct buf *demand, const char *key, double value)
{
	struct buf e = { .n = 0 };

	put_tag(&e, 1, PB_LEN);
	put_varint(&e, strlen(key));
	memcpy(e.b + e.n, key, strlen(key));
	e.n += strlen(key);
	put_double(&e, 2, value);
	put_len(demand, 1, &e);
}

/* ResourceDemand {shape, ready, infeasible, backlog}. */
static void put_demand(struct buf *load, const char *key, double value, uint64_t ready,
		       uint64_t infeasible, int64_t backlog)
{
	struct buf d = { .n = 0 };

	put_entry(&d, key, value);
	put_tag(&d, 2, PB_VARINT);
	put_varint(&d, ready);
	put_tag(&d, 3, PB_VARINT);
	put_varint(&d, infeasible);
	put_tag(&d, 4, PB_VARINT);
	put_varint(&d, (uint64_t)backlog);
	put_len(load, 1, &d);
}

/* Reply { status?, resource_usage_data { resource_load_by_shape = load } },
 * framed as gRPC sends it. */
static void frame_reply(struct buf *out, const struct buf *load, int64_t status)
{
	struct buf batch = { .n = 0 }, reply = { .n = 0 }, st = { .n = 0 };

	if (status) {
		put_tag(&st, 1, PB_VARINT);
		put_varint(&st, (uint64_t)status);
		put_len(&reply, 1, &st);
	}
	put_len(&batch, 2, load);
	put_len(&reply, 2, &batch);
	out->n = 0;
	out->b[out->n++] = 0;
	for (int i = 3; i >= 0; i--)
		out->b[out->n++] = (uint8_t)(reply.n >> (8 * i));
	memcpy(out->b + out->n, reply.b, reply.n);
	out->n += reply.n;
}

static long count_of(const struct dash_shape *s, size_t n, const char *res, double v,
		     double mem)
{
	for (size_t i = 0; i < n; i++)
		if (resmap_get(&s[i].shape, res, 0) == v && resmap_get(&s[i].shape, "memory", 0) == mem &&
		    s[i].shape.count == (mem > 0 ? 2u : 1u))
			return s[i].count;
	return -1;
}

/* ---------------------------------------------------------------- fixtures */

static void test_recorded(void)
{
	struct gcs_load l;
	struct dash_shape *s;
	size_t len, n;
	char err[DASH_ERR_LEN];
	char *body = load("../gcs/resource_usage_3shapes.grpc", &len);

	CHECK(gcs_parse_load(body, len, &l, err) == 0, "recorded answer: %s", err);
	s = l.shapes;
	n = l.count;
	CHECK(!strcmp(l.node_id, HEAD_2_60), "the head's node id: '%s'", l.node_id);
	CHECK(n == 3, "three shapes, got %zu", n);
	CHECK(count_of(s, n, "CPU", 1, 0) == 300, "{CPU:1}: 10 infeasible + 290 backlog");
	CHECK(count_of(s, n, "CPU", 2, 0) == 200, "{CPU:2}: 200");
	CHECK(count_of(s, n, "CPU", 1, GIB) == 100, "{CPU:1, memory:1 GiB}: 100");
	for (size_t i = 0; i < n; i++)
		CHECK(s[i].kind == PLANNER_DEMAND_TASK, "task demand");
	/* Sorted by names and amounts, not in the GCS's hash order. */
	CHECK(n == 3 && s[0].count == 300 && s[1].count == 100 && s[2].count == 200,
	      "order {CPU:1}, {CPU:1, memory}, {CPU:2}");
	gcs_load_free(&l);
	/* Every shorter prefix is refused, never read past. */
	for (size_t cut = 0; cut < len; cut++) {
		int rc = gcs_parse_load(body, cut, &l, err);

		CHECK(rc == -EBADMSG && !l.shapes && l.count == 0 && err[0],
		      "prefix of %zu bytes: rc %d", cut, rc);
	}
	free(body);

	/* Ray 2.41.0's GCS (the oldest Ray the project supports): 30 {CPU:1}
	 * and 20 {CPU:2} pending. */
	body = load("../gcs/resource_usage_2.41.0.grpc", &len);
	CHECK(gcs_parse_load(body, len, &l, err) == 0 && l.count == 2 &&
	      count_of(l.shapes, l.count, "CPU", 1, 0) == 30 &&
	      count_of(l.shapes, l.count, "CPU", 2, 0) == 20 && !strcmp(l.node_id, HEAD_2_41),
	      "Ray 2.41.0 answer: %zu shapes, node '%s' (%s)", l.count, l.node_id, err);
	gcs_load_free(&l);
	free(body);

	body = load("../gcs/resource_usage_idle.grpc", &len);
	CHECK(gcs_parse_load(body, len, &l, err) == 0 && l.count == 0 && !l.shapes &&
	      !strcmp(l.node_id, HEAD_2_60), "idle head: no demand (%s)", err);
	free(body);
}

/* ------------------------------------------------------------ built cases */

static int parse(const struct buf *b, struct dash_shape **s, size_t *n, char *err)
{
	struct gcs_load l;
	int rc = gcs_parse_load(b->b, b->n, &l, err);

	*s = l.shapes;
	*n = l.count;
	return rc;
}

static void test_built(void)
{
	struct buf load = { .n = 0 }, out;
	struct dash_shape *s;
	size_t n;
	char err[DASH_ERR_LEN];

	/* Counts add up; duplicates merge; a zero count and a zero amount are
	 * not demand; unknown fields are skipped. */
	put_demand(&load, "CPU", 4, 1, 2, 3);
	put_demand(&load, "CPU", 4, 0, 0, 4);
	put_demand(&load, "GPU", 1, 0, 0, 0);
	put_tag(&load, 9, PB_VARINT);
	put_varint(&load, 77);
	frame_reply(&out, &load, 0);
	CHECK(parse(&out, &s, &n, err) == 0, "built: %s", err);
	CHECK(n == 1 && count_of(s, n, "CPU", 4, 0) == 10, "{CPU:4} x 10, got %zu shapes", n);
	dash_shapes_free(s, n);

	/* A status other than OK fails the answer. */
	load.n = 0;
	put_demand(&load, "CPU", 1, 0, 0, 5);
	frame_reply(&out, &load, 14);
	CHECK(parse(&out, &s, &n, err) == -EIO && strstr(err, "status 14"),
	      "status 14: %s", err);

	/* Out of range: a negative backlog, a count past the planner's bound. */
	load.n = 0;
	put_demand(&load, "CPU", 1, 0, 0, -1);
	frame_reply(&out, &load, 0);
	CHECK(parse(&out, &s, &n, err) == -ERANGE, "negative backlog: %s", err);
	load.n = 0;
	put_demand(&load, "CPU", 1, (uint64_t)PLANNER_MAX_COUNT, 1, 0);
	frame_reply(&out, &load, 0);
	CHECK(parse(&out, &s, &n, err) == -ERANGE, "count overflow: %s", err);

	/* Bad amounts and names. */
	static const struct {
		const char *key;
		double value;
	} bad_entries[] = { { "CPU", NAN }, { "CPU", -1 }, { "CPU", INFINITY }, { "", 1 } };
	for (size_t i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
		load.n = 0;
		put_demand(&load, bad_entries[i].key, bad_entries[i].value, 0, 1, 0);
		frame_reply(&out, &load, 0);
		CHECK(parse(&out, &s, &n, err) == -EBADMSG && !s,
		      "entry %zu refused: %s", i, err);
	}

	/* More distinct shapes than GCS_LOAD_MAX_SHAPES. */
	load.n = 0;
	for (int i = 0; i <= GCS_LOAD_MAX_SHAPES; i++)
		put_demand(&load, "CPU", i + 1, 0, 1, 0);
	frame_reply(&out, &load, 0);
	CHECK(parse(&out, &s, &n, err) == -ERANGE && !s, "too many shapes: %s",
	      err);

	/* Framing: compressed flag, length not the body's. */
	load.n = 0;
	put_demand(&load, "CPU", 1, 0, 1, 0);
	frame_reply(&out, &load, 0);
	out.b[0] = 1;
	CHECK(parse(&out, &s, &n, err) == -EBADMSG, "compressed: %s", err);
	out.b[0] = 0;
	CHECK((out.n++, parse(&out, &s, &n, err)) == -EBADMSG, "trailing byte: %s", err);

	/* A node id past GCS_NODE_ID_MAX bytes. */
	{
		struct buf node = { .n = 0 }, batch = { .n = 0 }, reply = { .n = 0 };
		struct gcs_load l;

		put_tag(&node, 1, PB_LEN);
		put_varint(&node, GCS_NODE_ID_MAX + 1);
		memset(node.b + node.n, 0xab, GCS_NODE_ID_MAX + 1);
		node.n += GCS_NODE_ID_MAX + 1;
		put_len(&batch, 1, &node);
		put_len(&reply, 2, &batch);
		out.n = 0;
		out.b[out.n++] = 0;
		for (int i = 3; i >= 0; i--)
			out.b[out.n++] = (uint8_t)(reply.n >> (8 * i));
		memcpy(out.b + out.n, reply.b, reply.n);
		out.n += reply.n;
		CHECK(gcs_parse_load(out.b, out.n, &l, err) == -EBADMSG && strstr(err, "node id"),
		      "65-byte node id: %s", err);
	}

	/* Wrong wire types where a message is expected. */
	load.n = 0;
	put_tag(&load, 1, PB_VARINT);
	put_varint(&load, 3);
	frame_reply(&out, &load, 0);
	CHECK(parse(&out, &s, &n, err) == -EBADMSG, "demand as varint: %s", err);
}

static void test_wire(void)
{
	static const struct {
		const char *name;
		uint8_t in[12];
		size_t len;
		int rc;
	} cases[] = {
		{ "varint", { 0x08, 0x96, 0x01 }, 3, 1 },
		{ "11-byte varint", { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				      0xff, 0x01 }, 12, -EBADMSG },
		{ "65-bit varint", { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				     0x02 }, 11, -EBADMSG },
		{ "field 0", { 0x00, 0x01 }, 2, -EBADMSG },
		{ "group", { 0x0b }, 1, -EBADMSG },
		{ "wire type 7", { 0x0f }, 1, -EBADMSG },
		{ "length past end", { 0x0a, 0x05, 'a' }, 3, -EBADMSG },
		{ "fixed32 short", { 0x0d, 0x01, 0x02 }, 3, -EBADMSG },
		{ "empty", { 0 }, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pb_reader r;
		struct pb_field f;
		int rc;

		pb_reader_init(&r, cases[i].in, cases[i].len);
		rc = pb_next(&r, &f);
		CHECK(rc == cases[i].rc, "%s: rc %d, want %d", cases[i].name, rc, cases[i].rc);
		if (rc == 1)
			CHECK(f.number == 1 && f.type == PB_VARINT && f.u64 == 150, "%s: 150",
			      cases[i].name);
	}
}

/* Nothing listens: the call fails with a clear error, no shapes. */
static void test_refused(void)
{
	struct gcs_client c = { .address = "127.0.0.1:1", .timeout_ms = 500 };
	struct gcs_load l = { .count = 1 };
	char err[DASH_ERR_LEN];
	int rc = gcs_fetch_load(&c, 0, &l, err);

	CHECK(rc < 0 && !l.shapes && l.count == 0 && strstr(err, "127.0.0.1:1"), "refused: %d %s",
	      rc, err);
}

int main(void)
{
	test_wire();
	test_recorded();
	test_built();
	test_refused();
	CHECK_EXIT();
}
