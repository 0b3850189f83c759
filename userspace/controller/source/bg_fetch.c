/* bg_fetch.c -- one thread per slow source, paced by its own cost
 * (bg_fetch.h). */
#include "controller/source/bg_fetch.h"

#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_DUTY 0.05
#define DEFAULT_BURST_S 10.0
#define DEFAULT_MAX_INTERVAL_S 5.0

struct bg_fetch {
	struct bg_fetch_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* the thread: kick or stop */
	pthread_cond_t done;		/* waiters: a read ended */
	bool stop, kicked;
	void *answer;
	struct bg_fetch_info info;
	unsigned long reads;		/* reads ended, good or not */
	double tokens;			/* read-seconds left in the bucket (may go below 0) */
	double tokens_at;		/* clock of the last refill */
	double last_end;
};

static double clock_now(const struct bg_fetch *b)
{
	return b->cfg.clock ? b->cfg.clock() : rs_now_unix();
}

/* pthread_cond_timedwait takes CLOCK_REALTIME; the waits here are short
 * sleeps, so a clock step only makes one of them shorter or longer. */
static void deadline_in(double seconds, struct timespec *ts)
{
	double t = rs_now_unix() + (seconds > 0 ? seconds : 0);

	ts->tv_sec = (time_t)t;
	ts->tv_nsec = (long)((t - floor(t)) * 1e9);
}

static void keep_result(struct bg_fetch *b, int rc, void *answer, const char *err,
			double start, double end)
{
	pthread_mutex_lock(&b->lock);
	b->info.last_duration_s = end - start;
	if (rc == 0) {
		if (b->answer)
			b->cfg.free_answer(b->answer);
		b->answer = answer;
		b->info.generation++;
		b->info.answer_started_at = start;
		b->info.last_error[0] = '\0';
	} else {
		b->info.failures++;
		snprintf(b->info.last_error, sizeof(b->info.last_error), "%s", err);
	}
	b->reads++;
	b->last_end = end;
	b->tokens -= end - start;
	pthread_cond_broadcast(&b->done);
	pthread_mutex_unlock(&b->lock);
}

static void read_once(struct bg_fetch *b)
{
	char err[BG_ERR_LEN] = "";
	void *answer = NULL;
	double start = clock_now(b), end;
	int rc = b->cfg.fetch(b->cfg.ctx, &answer, err);

	end = clock_now(b);
	if (rc) {
		if (answer)
			b->cfg.free_answer(answer);
		rs_debug("%s: read failed after %.2f s: %s", b->cfg.name, end - start, err);
	}
	keep_result(b, rc, answer, err, start, end);
}

static void refill(struct bg_fetch *b, double now)
{
	if (now > b->tokens_at)
		b->tokens = fmin(b->cfg.burst_s, b->tokens + (now - b->tokens_at) * b->cfg.duty);
	b->tokens_at = now;
}

/* Seconds until the next read may start; 0 = now.  Under the lock. */
static double wait_needed(struct bg_fetch *b)
{
	double now = clock_now(b), due = b->last_end + b->cfg.max_interval_s, paced;

	refill(b, now);
	paced = b->tokens > 0 ? 0 : -b->tokens / b->cfg.duty + 1e-3;
	if (b->kicked || (now >= due && !b->cfg.kick_only))
		return paced;
	if (b->cfg.kick_only)
		return 3600;	/* until kicked (a kick wakes the thread) */
	return fmax(due - now, paced);
}

static void *loop(void *arg)
{
	struct bg_fetch *b = arg;

	for (;;) {
		struct timespec ts;
		double w;

		pthread_mutex_lock(&b->lock);
		while (!b->stop && (w = wait_needed(b)) > 0) {
			deadline_in(fmin(w, 0.5), &ts);
			pthread_cond_timedwait(&b->wake, &b->lock, &ts);
		}
		b->kicked = false;
		if (b->stop) {
			pthread_mutex_unlock(&b->lock);
			return NULL;
		}
		pthread_mutex_unlock(&b->lock);
		read_once(b);
	}
}

int bg_fetch_start(const struct bg_fetch_config *cfg, struct bg_fetch **out)
{
	struct bg_fetch *b = calloc(1, sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	if (b->cfg.duty <= 0 || b->cfg.duty > 1)
		b->cfg.duty = DEFAULT_DUTY;
	if (b->cfg.burst_s <= 0)
		b->cfg.burst_s = DEFAULT_BURST_S;
	b->tokens = b->cfg.burst_s;
	b->tokens_at = clock_now(b);
	if (b->cfg.max_interval_s <= 0)
		b->cfg.max_interval_s = DEFAULT_MAX_INTERVAL_S;
	b->kicked = !b->cfg.kick_only;	/* the first read at once */
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->wake, NULL);
	pthread_cond_init(&b->done, NULL);
	rc = pthread_create(&b->thread, NULL, loop, b);
	if (rc) {
		pthread_cond_destroy(&b->wake);
		pthread_cond_destroy(&b->done);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return -rc;
	}
	*out = b;
	return 0;
}

void bg_fetch_stop(struct bg_fetch *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	if (b->answer)
		b->cfg.free_answer(b->answer);
	pthread_cond_destroy(&b->wake);
	pthread_cond_destroy(&b->done);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void bg_fetch_publish(struct bg_fetch *b, void *answer, double started_at)
{
	pthread_mutex_lock(&b->lock);
	if (b->answer)
		b->cfg.free_answer(b->answer);
	b->answer = answer;
	b->info.generation++;
	b->info.answer_started_at = started_at;
	pthread_mutex_unlock(&b->lock);
}

void bg_fetch_kick(struct bg_fetch *b)
{
	pthread_mutex_lock(&b->lock);
	b->kicked = true;
	pthread_cond_broadcast(&b->wake);
	pthread_mutex_unlock(&b->lock);
}

bool bg_fetch_wait(struct bg_fetch *b, unsigned long after, double timeout_s)
{
	double end = rs_now_unix() + timeout_s;
	struct timespec ts;
	bool got;

	pthread_mutex_lock(&b->lock);
	while (b->reads <= after && rs_now_unix() < end) {
		deadline_in(end - rs_now_unix(), &ts);
		pthread_cond_timedwait(&b->done, &b->lock, &ts);
	}
	got = b->reads > after;
	pthread_mutex_unlock(&b->lock);
	return got;
}

unsigned long bg_fetch_generation(struct bg_fetch *b)
{
	unsigned long g;

	pthread_mutex_lock(&b->lock);
	g = b->reads;
	pthread_mutex_unlock(&b->lock);
	return g;
}

void bg_fetch_with(struct bg_fetch *b, void (*use)(const void *answer,
						   const struct bg_fetch_info *info, void *ctx),
		   void *ctx)
{
	pthread_mutex_lock(&b->lock);
	use(b->answer, &b->info, ctx);
	pthread_mutex_unlock(&b->lock);
}
