/* pb_wire.c -- the protocol-buffers wire format, read field by field
 * (pb_wire.h).  Tags and varints follow the encoding guide
 * (protobuf.dev/programming-guides/encoding): a tag is (number << 3) | type,
 * a varint at most 10 bytes; group types (3, 4) are refused, as no message
 * raysense reads has them. */
#include "common/pb_wire.h"

#include <errno.h>
#include <string.h>

#define PB_MAX_FIELD ((1u << 29) - 1)

void pb_reader_init(struct pb_reader *r, const void *data, size_t len)
{
	r->p = data;
	r->end = r->p + len;
}

static int read_varint(struct pb_reader *r, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t b;

		if (r->p >= r->end)
			return -EBADMSG;
		b = *r->p++;
		if (shift == 63 && b > 1)
			return -EBADMSG;	/* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EBADMSG;
}

static int read_fixed(struct pb_reader *r, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);	/* little-endian on the wire */
	r->p += n;
	*out = v;
	return 0;
}

int pb_next(struct pb_reader *r, struct pb_field *f)
{
	uint64_t tag, len;

	if (r->p >= r->end)
		return 0;
	memset(f, 0, sizeof(*f));
	if (read_varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > PB_MAX_FIELD)
		return -EBADMSG;
	f->number = (uint32_t)(tag >> 3);
	f->type = (enum pb_wire_type)(tag & 7);
	switch (f->type) {
	case PB_VARINT:
		return read_varint(r, &f->u64) ? -EBADMSG : 1;
	case PB_FIXED64:
		return read_fixed(r, 8, &f->u64) ? -EBADMSG : 1;
	case PB_FIXED32:
		return read_fixed(r, 4, &f->u64) ? -EBADMSG : 1;
	case PB_LEN:
		if (read_varint(r, &len) || len > (uint64_t)(r->end - r->p))
			return -EBADMSG;
		f->data = r->p;
		f->len = (size_t)len;
		r->p += len;
		return 1;
	}
	return -EBADMSG;
}

void pb_reader_sub(struct pb_reader *sub, const struct pb_field *f)
{
	pb_reader_init(sub, f->data, f->len);
}

double pb_double(const struct pb_field *f)
{
	double d;

	memcpy(&d, &f->u64, sizeof(d));
	return d;
}
