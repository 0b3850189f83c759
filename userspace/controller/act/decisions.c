/* decisions.c -- the decision ring and its per-action counts (decisions.h). */
#include "controller/act/decisions.h"

#include "common/log.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CAPACITY 500

static const char *const action_names[DECISION_ACTION_COUNT] = {
	[DECISION_LAUNCH] = "launch",
	[DECISION_TERMINATE] = "terminate",
	[DECISION_KEEP] = "keep",
	[DECISION_HOLD] = "hold",
	[DECISION_RESUME] = "resume",
	[DECISION_INFEASIBLE] = "infeasible",
	[DECISION_FALLBACK] = "fallback",
	[DECISION_LAUNCH_FAILED] = "launch_failed",
};

struct decision_log {
	pthread_mutex_t lock;
	cJSON **ring;
	size_t cap, head, count;
	unsigned long total[DECISION_ACTION_COUNT];
	bool dry_run;
};

const char *decision_action_name(enum decision_action a)
{
	return (unsigned)a < DECISION_ACTION_COUNT ? action_names[a] : "unknown";
}

static enum decision_action action_of(const cJSON *d)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "action");

	for (int i = 0; cJSON_IsString(a) && i < DECISION_ACTION_COUNT; i++)
		if (!strcmp(a->valuestring, action_names[i]))
			return (enum decision_action)i;
	return DECISION_ACTION_COUNT;
}

struct decision_log *decision_log_new(size_t capacity, bool dry_run)
{
	struct decision_log *log = calloc(1, sizeof(*log));

	if (!log)
		return NULL;
	log->cap = capacity ? capacity : DEFAULT_CAPACITY;
	log->ring = calloc(log->cap, sizeof(*log->ring));
	if (!log->ring) {
		free(log);
		return NULL;
	}
	log->dry_run = dry_run;
	pthread_mutex_init(&log->lock, NULL);
	return log;
}

void decision_log_free(struct decision_log *log)
{
	if (!log)
		return;
	for (size_t i = 0; i < log->count; i++)
		cJSON_Delete(log->ring[(log->head + i) % log->cap]);
	free(log->ring);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

cJSON *decision_new(enum decision_action a)
{
	cJSON *d = cJSON_CreateObject();

	if (d && !cJSON_AddStringToObject(d, "action", decision_action_name(a))) {
		cJSON_Delete(d);
		return NULL;
	}
	return d;
}

static void keep(struct decision_log *log, cJSON *d)
{
	enum decision_action a = action_of(d);

	pthread_mutex_lock(&log->lock);
	if (log->count == log->cap) {
		cJSON_Delete(log->ring[log->head]);
		log->ring[log->head] = d;
		log->head = (log->head + 1) % log->cap;
	} else {
		log->ring[(log->head + log->count++) % log->cap] = d;
	}
	if (a < DECISION_ACTION_COUNT)
		log->total[a]++;
	pthread_mutex_unlock(&log->lock);
}

void decision_record(struct decision_log *log, cJSON *d, const char *msg, double now)
{
	char ts[40];

	if (!d)
		return;
	rs_iso_time(now, ts, sizeof(ts));
	cJSON_AddStringToObject(d, "time", ts);
	cJSON_AddNumberToObject(d, "time_unix", now);
	cJSON_AddStringToObject(d, "message", msg);
	if (log->dry_run)
		cJSON_AddBoolToObject(d, "dry_run", true);
	rs_log_fields(RS_LOG_INFO, msg, cJSON_Duplicate(d, true));
	keep(log, d);
}

cJSON *decision_log_json(struct decision_log *log, size_t limit)
{
	cJSON *arr = cJSON_CreateArray();
	size_t start;

	pthread_mutex_lock(&log->lock);
	start = limit && limit < log->count ? log->count - limit : 0;
	for (size_t i = start; arr && i < log->count; i++)
		cJSON_AddItemToArray(arr, cJSON_Duplicate(log->ring[(log->head + i) % log->cap],
							  true));
	pthread_mutex_unlock(&log->lock);
	return arr;
}

void decision_log_counts(struct decision_log *log, unsigned long out[DECISION_ACTION_COUNT])
{
	pthread_mutex_lock(&log->lock);
	memcpy(out, log->total, sizeof(log->total));
	pthread_mutex_unlock(&log->lock);
}
