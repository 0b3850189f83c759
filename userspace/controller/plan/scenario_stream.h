/* scenario_stream.h -- read a scenario document (scenario.h) without ever
 * holding its big lists as one cJSON tree.
 *
 * cJSON holds a parsed document at about four objects per task entry: a
 * 30 MB scenario of a million entries took 530 MiB before planning.  The
 * reader walks the root object and its "demand" object member by member,
 * hands each entry of the streamed lists ($.nodes, $.demand.tasks,
 * .actors, .request_resources) to a callback as soon as cJSON has parsed it, frees
 * it, and keeps everything else in a skeleton tree where each streamed list
 * is an empty array, so key and type checks work as on the full tree.  Only
 * one entry is ever parsed at a time.  Syntax and string errors are those
 * of rs_json_parse (same messages, byte offsets in the document). */
#ifndef RAYSENSE_SCENARIO_STREAM_H
#define RAYSENSE_SCENARIO_STREAM_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "common/json_util.h"

/* Called for entry `index` of `list` ("$.nodes", "$.demand.tasks" ...), in
 * document order; entry is freed after the call.  Returns 0, or an error that stops the reading. */
typedef int (*scenario_entry_fn)(void *ctx, const char *list, size_t index,
				 const cJSON *entry, struct rs_json_error *err);

/* 0 (*skeleton set, owned by the caller), -EINVAL (err says why), -ENOMEM,
 * or the callback's error. */
int scenario_stream_read(const char *buf, size_t len, scenario_entry_fn fn, void *ctx,
			 cJSON **skeleton, struct rs_json_error *err);

#endif
