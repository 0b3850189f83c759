/* http_deadline.c -- per-connection request deadlines and their sweeper
 * thread (see http_deadline.h). */
#include "common/http_deadline.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct rs_deadline_entry {
	struct rs_deadline_entry *prev, *next;
	int fd;
	double deadline_s;
	double expires;             /* rs_now_mono() seconds */
	enum rs_deadline_phase phase;
	bool expired;               /* the expire hook ran */
};

struct rs_deadline_watch {
	pthread_mutex_t lock;
	pthread_cond_t wake;        /* signalled on destroy */
	struct rs_deadline_entry head; /* circular list sentinel */
	rs_deadline_expire_fn expire;
	void *arg;
	unsigned period_ms;
	bool stop, has_thread;
	pthread_t thread;
};

static void shutdown_fd(int fd, enum rs_deadline_phase phase, void *arg)
{
	(void)phase;
	(void)arg;
	(void)shutdown(fd, SHUT_RDWR); /* the peer may be gone already */
}

static void *sweeper(void *arg)
{
	struct rs_deadline_watch *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)(w->period_ms % 1000) * 1000000L;
		ts.tv_sec += w->period_ms / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->lock);
		rs_deadline_sweep(w, rs_now_mono());
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int init_sync(struct rs_deadline_watch *w)
{
	pthread_condattr_t ca;
	int err;

	err = pthread_mutex_init(&w->lock, NULL);
	if (err)
		return -err;
	err = pthread_condattr_init(&ca);
	if (!err) {
		err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (!err)
			err = pthread_cond_init(&w->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (err)
		pthread_mutex_destroy(&w->lock);
	return -err;
}

int rs_deadline_watch_create(unsigned period_ms, rs_deadline_expire_fn expire, void *arg,
			     struct rs_deadline_watch **out)
{
	struct rs_deadline_watch *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	err = init_sync(w);
	if (err) {
		free(w);
		return err;
	}
	w->head.next = w->head.prev = &w->head;
	w->expire = expire ? expire : shutdown_fd;
	w->arg = arg;
	w->period_ms = period_ms;
	if (period_ms) {
		err = -pthread_create(&w->thread, NULL, sweeper, w);
		if (err) {
			pthread_cond_destroy(&w->wake);
			pthread_mutex_destroy(&w->lock);
			free(w);
			return err;
		}
		w->has_thread = true;
	}
	*out = w;
	return 0;
}

void rs_deadline_watch_destroy(struct rs_deadline_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	if (w->has_thread)
		pthread_join(w->thread, NULL);
	while (w->head.next != &w->head)
		rs_deadline_remove(w, w->head.next);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

struct rs_deadline_entry *rs_deadline_add(struct rs_deadline_watch *w, int fd,
					  double deadline_s, double now)
{
	struct rs_deadline_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->fd = fd;
	e->deadline_s = deadline_s;
	e->expires = now + deadline_s;
	pthread_mutex_lock(&w->lock);
	e->next = &w->head;
	e->prev = w->head.prev;
	w->head.prev->next = e;
	w->head.prev = e;
	pthread_mutex_unlock(&w->lock);
	return e;
}

void rs_deadline_restart(struct rs_deadline_watch *w, struct rs_deadline_entry *e, double now)
{
	if (!e)
		return;
	pthread_mutex_lock(&w->lock);
	e->expires = now + e->deadline_s;
	e->phase = RS_DEADLINE_HEADERS;
	pthread_mutex_unlock(&w->lock);
}

/* Expire `e` if it is past its deadline and was not yet; lock held. */
static bool expire_locked(struct rs_deadline_watch *w, struct rs_deadline_entry *e, double now)
{
	if (e->expired || now <= e->expires)
		return false;
	e->expired = true;
	w->expire(e->fd, e->phase, w->arg);
	return true;
}

bool rs_deadline_enter(struct rs_deadline_watch *w, struct rs_deadline_entry *e,
		       enum rs_deadline_phase phase, double now)
{
	bool ok;

	if (!e)
		return true;
	pthread_mutex_lock(&w->lock);
	expire_locked(w, e, now);
	ok = !e->expired;
	if (ok)
		e->phase = phase;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

void rs_deadline_remove(struct rs_deadline_watch *w, struct rs_deadline_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&w->lock);
	e->prev->next = e->next;
	e->next->prev = e->prev;
	pthread_mutex_unlock(&w->lock);
	free(e);
}

size_t rs_deadline_sweep(struct rs_deadline_watch *w, double now)
{
	size_t n = 0;

	pthread_mutex_lock(&w->lock);
	for (struct rs_deadline_entry *e = w->head.next; e != &w->head; e = e->next)
		n += expire_locked(w, e, now);
	pthread_mutex_unlock(&w->lock);
	return n;
}
