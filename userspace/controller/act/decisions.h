/* decisions.h -- the controller's decision log: every launch, termination,
 * keep, hold, resume, infeasible-demand note, stuck-group fallback and failed launch, kept in a bounded ring for
 * GET /api/v1/decisions, counted per action for /metrics, and written to the
 * log as one JSON line each.  Thread-safe: the loop records, HTTP threads
 * read. */
#ifndef RAYSENSE_CONTROLLER_DECISIONS_H
#define RAYSENSE_CONTROLLER_DECISIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

enum decision_action {
	DECISION_LAUNCH = 0,
	DECISION_TERMINATE,
	DECISION_KEEP,
	DECISION_HOLD,
	DECISION_RESUME,
	DECISION_INFEASIBLE,
	DECISION_FALLBACK,		/* fusion: a stuck group backed off */
	DECISION_LAUNCH_FAILED,		/* a launch exited before it was ALIVE */
	DECISION_ACTION_COUNT,
};

const char *decision_action_name(enum decision_action a);

struct decision_log;

/* capacity 0 = 500.  NULL on allocation failure. */
struct decision_log *decision_log_new(size_t capacity, bool dry_run);
void decision_log_free(struct decision_log *log);

/* A new decision object with its "action" set (NULL when out of memory;
 * decision_record accepts NULL and then records nothing). */
cJSON *decision_new(enum decision_action a);
/* Stamp d with time, message (and dry_run), log it and keep it; takes
 * ownership of d. */
void decision_record(struct decision_log *log, cJSON *d, const char *msg, double now);
/* The latest `limit` decisions (0 = all kept), oldest first; caller owns it. */
cJSON *decision_log_json(struct decision_log *log, size_t limit);
/* Decisions recorded since start, per action. */
void decision_log_counts(struct decision_log *log, unsigned long out[DECISION_ACTION_COUNT]);

#endif
