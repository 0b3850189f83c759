/* push.h -- push snapshots to the controller.
 *
 * Every interval the push thread collects a snapshot from the pinned maps
 * (userspace reads only: the BPF side is never blocked), encodes it as compact
 * JSON (by default the compact push document, schema_version 2,
 * push_compact.h; with RS_PUSH_FULL the full snapshot, schema_version 1,
 * docs/snapshot-schema.json), gzips it and queues
 * it; the same thread POSTs the queue, oldest first, to the controller with
 * `Authorization: Bearer <token>` read from a file that is re-read whenever it
 * changes. Failures retry with exponential backoff; the queue is bounded and
 * drops the oldest snapshot, counting the drops. */
#ifndef RAYSENSE_AGENT_PUSH_H
#define RAYSENSE_AGENT_PUSH_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "agent/snapshot.h"

#define RS_SNAPSHOT_SCHEMA_VERSION 1

/* The controller may ask for a longer push interval in its answer
 * ({"push_interval_s": S}, docs/agent-load.md); the agent then pushes every
 * max(its own interval, S) seconds, S bounded by this, so that no answer can
 * make its data older than the controller's 30 s signal max age. */
#define RS_PUSH_MAX_REQUESTED_INTERVAL_S 30.0

/* What the agent pushes.  The zero value is the default. */
enum rs_push_format {
	RS_PUSH_COMPACT,            /* schema_version 2: what the controller reads */
	RS_PUSH_FULL,               /* schema_version 1: the whole snapshot */
};

struct rs_push_config {
	const char *url;            /* controller intake, e.g. http://ctl:9650/v1/snapshots */
	const char *token_file;     /* bearer token file, or NULL for none */
	double interval_s;          /* default 5 */
	const char *pin_dir;
	size_t queue_items;         /* default 64 */
	size_t queue_bytes;         /* default 8 MiB */
	long timeout_ms;            /* per POST; default min(5000, interval) */
	double max_backoff_s;       /* default 30 */
	enum rs_push_format format; /* default RS_PUSH_COMPACT */
	/* How to read a snapshot (rs_snapshot_collect / rs_snapshot_free in the
	 * agent; injectable for tests). */
	int (*collect)(const char *pin_dir, struct rs_snapshot *snap);
	void (*free_snapshot)(struct rs_snapshot *snap);
};

struct rs_push_stats {
	uint64_t sent;
	uint64_t failures;
	uint64_t dropped;
	uint64_t produced;
	size_t queued;
	size_t queued_bytes;
	double interval_s;          /* pushing every: own, or the controller's ask */
};

struct rs_push;

/* Start the push thread. Returns 0 or -errno (-EINVAL for a bad config). */
int rs_push_start(const struct rs_push_config *cfg, struct rs_push **out);
/* Stop and join the thread (bounded by one POST timeout); frees everything. */
void rs_push_stop(struct rs_push *p);
/* Thread-safe; p may be NULL (all zero). */
void rs_push_get_stats(struct rs_push *p, struct rs_push_stats *out);

/* Previous histogram totals, to compute per-interval deltas. */
struct rs_push_prev {
	struct rs_hist_series *hists;
	size_t n_hists;
	bool valid;                 /* false before the first snapshot */
};

/* The snapshot document (schema_version 1). Updates *prev to snap's hists.
 * Returns NULL on allocation failure. */
cJSON *rs_push_build_snapshot(const struct rs_snapshot *snap, struct rs_push_prev *prev,
			      uint64_t seq, double interval_s, uint64_t dropped_total);
void rs_push_prev_free(struct rs_push_prev *prev);

#endif
