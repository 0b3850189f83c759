/* push_queue.h -- the bounded queue of encoded snapshots waiting to be pushed
 * to the controller.
 *
 * Bounded in items and in bytes. When a new snapshot does not fit, the OLDEST
 * ones are dropped (the controller wants fresh data more than old data) and
 * counted, so an unreachable controller costs the agent bounded memory. One
 * producer/consumer thread (push.c) uses it; the mutex only protects the
 * counters that the HTTP threads read for raysense_agent_push_* metrics. */
#ifndef RAYSENSE_AGENT_PUSH_QUEUE_H
#define RAYSENSE_AGENT_PUSH_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rs_push_item {
	char *data;     /* malloc'd, owned by the queue */
	size_t len;
	uint64_t seq;
};

struct rs_push_queue {
	struct rs_push_item *items;  /* ring of cap slots */
	size_t cap, head, len;
	size_t bytes, max_bytes;
	uint64_t dropped;            /* snapshots dropped, oldest first */
	pthread_mutex_t lock;
};

/* cap >= 1 items, max_bytes >= 1. Returns 0 or -ENOMEM/-EINVAL. */
int rs_push_queue_init(struct rs_push_queue *q, size_t cap, size_t max_bytes);
void rs_push_queue_destroy(struct rs_push_queue *q);
/* Append, taking ownership of data (freed here on every path). Drops the
 * oldest items until the new one fits; an item larger than max_bytes on its
 * own is dropped itself. Returns how many items were dropped. */
size_t rs_push_queue_put(struct rs_push_queue *q, char *data, size_t len, uint64_t seq);
/* The oldest item (still owned by the queue), or false when empty. */
bool rs_push_queue_front(struct rs_push_queue *q, struct rs_push_item *out);
/* Remove and free the oldest item. `dropped` counts it as a drop (e.g. the
 * controller rejected it for good) rather than a delivery. */
void rs_push_queue_pop(struct rs_push_queue *q, bool dropped);

struct rs_push_queue_stats {
	size_t len, bytes;
	uint64_t dropped;
};
void rs_push_queue_stats(struct rs_push_queue *q, struct rs_push_queue_stats *out);

#endif
