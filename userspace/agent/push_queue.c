/* push_queue.c -- bounded drop-oldest queue of encoded snapshots (see push_queue.h). */
#include "agent/push_queue.h"

#include <errno.h>
#include <stdlib.h>

int rs_push_queue_init(struct rs_push_queue *q, size_t cap, size_t max_bytes)
{
	if (!cap || !max_bytes)
		return -EINVAL;
	q->items = calloc(cap, sizeof(*q->items));
	if (!q->items)
		return -ENOMEM;
	q->cap = cap;
	q->head = q->len = q->bytes = 0;
	q->max_bytes = max_bytes;
	q->dropped = 0;
	if (pthread_mutex_init(&q->lock, NULL)) {
		free(q->items);
		return -ENOMEM;
	}
	return 0;
}

void rs_push_queue_destroy(struct rs_push_queue *q)
{
	while (q->len)
		rs_push_queue_pop(q, false);
	free(q->items);
	q->items = NULL;
	pthread_mutex_destroy(&q->lock);
}

/* Remove the head; caller holds the lock. */
static void pop_locked(struct rs_push_queue *q, bool dropped)
{
	struct rs_push_item *it = &q->items[q->head];

	q->bytes -= it->len;
	free(it->data);
	it->data = NULL;
	q->head = (q->head + 1) % q->cap;
	q->len--;
	if (dropped)
		q->dropped++;
}

size_t rs_push_queue_put(struct rs_push_queue *q, char *data, size_t len, uint64_t seq)
{
	size_t dropped = 0;
	struct rs_push_item *it;

	pthread_mutex_lock(&q->lock);
	if (len > q->max_bytes) {
		free(data);
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		return 1;
	}
	while (q->len && (q->len == q->cap || q->bytes + len > q->max_bytes)) {
		pop_locked(q, true);
		dropped++;
	}
	it = &q->items[(q->head + q->len) % q->cap];
	it->data = data;
	it->len = len;
	it->seq = seq;
	q->len++;
	q->bytes += len;
	pthread_mutex_unlock(&q->lock);
	return dropped;
}

bool rs_push_queue_front(struct rs_push_queue *q, struct rs_push_item *out)
{
	bool any;

	pthread_mutex_lock(&q->lock);
	any = q->len > 0;
	if (any)
		*out = q->items[q->head];
	pthread_mutex_unlock(&q->lock);
	return any;
}

void rs_push_queue_pop(struct rs_push_queue *q, bool dropped)
{
	pthread_mutex_lock(&q->lock);
	if (q->len)
		pop_locked(q, dropped);
	pthread_mutex_unlock(&q->lock);
}

void rs_push_queue_stats(struct rs_push_queue *q, struct rs_push_queue_stats *out)
{
	pthread_mutex_lock(&q->lock);
	out->len = q->len;
	out->bytes = q->bytes;
	out->dropped = q->dropped;
	pthread_mutex_unlock(&q->lock);
}
