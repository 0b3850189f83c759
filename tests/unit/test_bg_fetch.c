/* test_bg_fetch.c -- the background reader (bg_fetch.h) on a fake clock:
 * the first read starts at once; a caller never blocks longer than it asks
 * (a read that takes "5 s" leaves the answer missing, not the caller
 * waiting); reads are paced by their cost through a bucket of
 * read-seconds (a kick before the bucket allows is remembered, not run); a failed read keeps the last good answer and
 * says why; stop waits for a read in progress. */
#include "check.h"
#include "controller/source/bg_fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static double g_clock = 1000;
static int g_reads;
static int g_fail;		/* fail the next reads */
static double g_cost = 1;	/* fake seconds one read takes */
static pthread_mutex_t g_gate = PTHREAD_MUTEX_INITIALIZER;	/* held = reads block */

static double fake_clock(void)
{
	double t;

	pthread_mutex_lock(&g_lock);
	t = g_clock;
	pthread_mutex_unlock(&g_lock);
	return t;
}

static void advance(double s)
{
	pthread_mutex_lock(&g_lock);
	g_clock += s;
	pthread_mutex_unlock(&g_lock);
}

static int fake_read(void *ctx, void **answer, char *err)
{
	int *n;

	(void)ctx;
	pthread_mutex_lock(&g_gate);	/* a slow read: the test holds the gate */
	pthread_mutex_unlock(&g_gate);
	advance(g_cost);
	pthread_mutex_lock(&g_lock);
	g_reads++;
	if (g_fail) {
		g_fail--;
		pthread_mutex_unlock(&g_lock);
		snprintf(err, BG_ERR_LEN, "HTTP 500");
		return -EIO;
	}
	n = malloc(sizeof(*n));
	*n = g_reads;
	pthread_mutex_unlock(&g_lock);
	*answer = n;
	return 0;
}

struct seen {
	int answer;		/* -1 = none */
	struct bg_fetch_info info;
};

static void look(const void *answer, const struct bg_fetch_info *info, void *ctx)
{
	struct seen *s = ctx;

	s->answer = answer ? *(const int *)answer : -1;
	s->info = *info;
}

static struct seen peek(struct bg_fetch *b)
{
	struct seen s;

	bg_fetch_with(b, look, &s);
	return s;
}

int main(void)
{
	struct bg_fetch_config cfg = {
		.name = "test", .fetch = fake_read, .free_answer = free, .duty = 0.2, .burst_s = 0.5,
		.max_interval_s = 1e6, .clock = fake_clock,
	};
	struct bg_fetch *b = NULL;
	struct seen s;
	unsigned long gen;

	/* A slow first read: the caller's wait ends at its own timeout. */
	pthread_mutex_lock(&g_gate);
	CHECK(bg_fetch_start(&cfg, &b) == 0, "start");
	CHECK(!bg_fetch_wait(b, 0, 0.2), "a read still in progress is not waited for");
	s = peek(b);
	CHECK(s.answer == -1 && s.info.generation == 0, "no answer yet");
	pthread_mutex_unlock(&g_gate);
	CHECK(bg_fetch_wait(b, 0, 10), "the read ends");
	s = peek(b);
	CHECK(s.answer == 1 && s.info.answer_started_at == 1000 && s.info.last_duration_s == 1,
	      "answer 1 read at 1000 in 1 s: %d %g %g", s.answer, s.info.answer_started_at,
	      s.info.last_duration_s);

	/* Paced: the first read took 1 s of a 0.5 s bucket; at 0.2 s/s it is
	 * positive again 2.5 s after the read ended (1003.5). */
	gen = bg_fetch_generation(b);
	bg_fetch_kick(b);
	CHECK(!bg_fetch_wait(b, gen, 0.7), "a kick before the pace allows does not read");
	advance(3);
	CHECK(bg_fetch_wait(b, gen, 10), "the remembered kick reads once the pace allows");
	CHECK(peek(b).answer == 2, "answer 2");

	/* A failed read keeps the last good answer and says why. */
	g_fail = 1;
	advance(10);
	gen = bg_fetch_generation(b);
	bg_fetch_kick(b);
	CHECK(bg_fetch_wait(b, gen, 10), "the failed read ends");
	s = peek(b);
	CHECK(s.answer == 2 && s.info.failures == 1 && !strcmp(s.info.last_error, "HTTP 500"),
	      "kept answer 2 after a failure: %d %lu '%s'", s.answer, s.info.failures,
	      s.info.last_error);
	advance(10);
	gen = bg_fetch_generation(b);
	bg_fetch_kick(b);
	CHECK(bg_fetch_wait(b, gen, 10), "the next read ends");
	s = peek(b);
	CHECK(s.answer == 4 && s.info.last_error[0] == '\0', "answer 4, error cleared");

	/* Stop during a read: it waits for the read, then frees the answer. */
	pthread_mutex_lock(&g_gate);
	advance(100);
	bg_fetch_kick(b);
	usleep(100000);
	pthread_mutex_unlock(&g_gate);
	bg_fetch_stop(b);
	CHECK(g_reads >= 4, "reads: %d", g_reads);
	CHECK_EXIT();
}
