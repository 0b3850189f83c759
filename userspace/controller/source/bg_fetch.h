/* bg_fetch.h -- a slow source read on its own thread, so that the control
 * loop never waits on it longer than it chooses to: the loop takes the last
 * good answer and its age.  Reads are paced by their own cost with a token
 * bucket of read-seconds: it refills at `duty` seconds per second (5 % by
 * default) up to `burst_s`, each read spends its duration, and a read starts
 * only while the bucket is not empty.  So over time at most `duty` of the
 * wall clock is spent reading (an expensive call, such as the state API's
 * task list at 20,000 pending tasks, cannot keep the Ray head busy), a
 * cheap one still runs every tick, and one slow read (a transient hang)
 * does not stall the next ones.  Thread-safe. */
#ifndef RAYSENSE_CONTROLLER_BG_FETCH_H
#define RAYSENSE_CONTROLLER_BG_FETCH_H

#include <stdbool.h>

#define BG_ERR_LEN 512

/* Read one answer into *answer (malloc'd, freed with free_fn).  0 or
 * -errno with err (BG_ERR_LEN) saying why.  Runs on the fetch thread. */
typedef int (*bg_fetch_fn)(void *ctx, void **answer, char *err);
typedef void (*bg_free_fn)(void *answer);
/* Wall clock in UNIX seconds (tests pass their own; NULL = the real one). */
typedef double (*bg_clock_fn)(void);

struct bg_fetch_config {
	const char *name;		/* for log lines */
	bg_fetch_fn fetch;
	bg_free_fn free_answer;
	void *ctx;
	double duty;			/* share of the wall clock spent reading; default 0.05 */
	double burst_s;			/* read-seconds the bucket holds; default 10 */
	double max_interval_s;		/* read at least this often, unasked (pace allowing); default 5 */
	bool kick_only;			/* read only when kicked (not at start, not unasked) */
	bg_clock_fn clock;
};

/* What is known about the last reads. */
struct bg_fetch_info {
	unsigned long generation;	/* answers kept so far */
	double answer_started_at;	/* when the kept answer's read began; 0 = none */
	double last_duration_s;		/* of the last read, good or not */
	unsigned long failures;		/* reads that failed */
	char last_error[BG_ERR_LEN];	/* of the newest read; "" when it succeeded */
};

struct bg_fetch;

/* Starts the thread, which reads once at once unless kick_only.  0 or -errno. */
int bg_fetch_start(const struct bg_fetch_config *cfg, struct bg_fetch **out);
/* Stops the thread (waits for a read in progress) and frees everything. */
void bg_fetch_stop(struct bg_fetch *b);

/* From inside fetch (the fetch thread): keep answer now, a part of what the
 * read in progress will return (it replaces the kept answer, which is
 * freed; started_at = when that read began).  The read still ends as
 * usual; its pace is charged then. */
void bg_fetch_publish(struct bg_fetch *b, void *answer, double started_at);
/* Ask for a fresh read now (it still waits for its pace). */
void bg_fetch_kick(struct bg_fetch *b);
/* Wait up to timeout_s for an answer newer than generation `after` (or a
 * failed read after it).  True when one came. */
bool bg_fetch_wait(struct bg_fetch *b, unsigned long after, double timeout_s);
/* Call use() with the kept answer (NULL when none yet) and the info, under
 * the lock: use() must copy what it keeps and must not call back. */
void bg_fetch_with(struct bg_fetch *b, void (*use)(const void *answer,
						   const struct bg_fetch_info *info, void *ctx),
		   void *ctx);
unsigned long bg_fetch_generation(struct bg_fetch *b);

#endif
