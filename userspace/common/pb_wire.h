/* pb_wire.h -- a reader of the protocol-buffers wire format, for the few
 * gRPC answers raysense reads from Ray's GCS (controller/source/gcs_load.c).
 * Not a protobuf library: it walks the fields of one message, bounds-checked,
 * and leaves the schema (field numbers and types) to the caller, which skips
 * what it does not know.  Pure: no allocation, no I/O. */
#ifndef RAYSENSE_PB_WIRE_H
#define RAYSENSE_PB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pb_wire_type {
	PB_VARINT = 0,
	PB_FIXED64 = 1,
	PB_LEN = 2,		/* strings, bytes, sub-messages, packed arrays */
	PB_FIXED32 = 5,
};

struct pb_reader {
	const uint8_t *p, *end;
};

struct pb_field {
	uint32_t number;
	enum pb_wire_type type;
	uint64_t u64;		/* PB_VARINT, PB_FIXED64, PB_FIXED32 */
	const uint8_t *data;	/* PB_LEN */
	size_t len;
};

void pb_reader_init(struct pb_reader *r, const void *data, size_t len);
/* The next field into f: 1, 0 at the end of the message, or -EBADMSG when
 * the bytes are not the wire format (truncated, bad tag, group types). */
int pb_next(struct pb_reader *r, struct pb_field *f);
/* A PB_LEN field's bytes as a message of their own. */
void pb_reader_sub(struct pb_reader *sub, const struct pb_field *f);
/* A PB_FIXED64 field as a double. */
double pb_double(const struct pb_field *f);

#endif
