/* signals.c -- agent snapshot intake and busy hints (see signals.h). */
#include "common/util.h"
#include "controller/source/signals.h"

#include "common/json_util.h"
#include "common/str_index.h"
#include "controller/source/lease_report.h"
#include "controller/source/startup_report.h"
#include "common/log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* seq is a counter: a whole number a double holds exactly. */
#define SEQ_MAX 9007199254740992LL
#define WORKERS_MAX 1000000
/* At most one "table full" warning per this many seconds. */
#define FULL_LOG_EVERY_S 60.0

struct worker_hint {
	char ray_node_id[64];
	int busy_workers;
	int idle_workers;
	double seconds_since_busy;	/* < 0 = never */
};

struct agent {
	char node_name[128];
	char hostname[128];
	double seq;
	double taken_unix_ms;
	double received_at;
	struct worker_hint *workers;
	size_t worker_count;
	double interval_s;		/* the agent's push interval */
	struct lease_report leases;
	struct startup_report startup;	/* startup seconds per Ray node */
};

/* The agents are found by name (on every push) and by Ray node id (for
 * every Ray node on every tick) through two indexes, so neither costs
 * O(agents) at 10,000 agents.  Both map to a slot of `agents`; a lookup
 * checks the slot still holds the key.  by_ray maps each Ray node id (in
 * $.workers, the lease families or the timelines) to the agent that reported
 * it most recently, which is also the freshest such report. */
/* The ids compared are raylet_leases.ray_node_id: the same size. */
#define CLUSTER_ID_MAX sizeof(((struct raylet_leases *)0)->ray_node_id)

struct signals {
	pthread_mutex_t lock;
	struct agent *agents;
	size_t count, allocated;
	struct str_index by_name, by_ray;
	size_t capacity;
	double max_age_s;
	unsigned long long evicted, rejected_full;
	double full_logged_at;		/* -1: never */
	unsigned long long full_unlogged;	/* rejections since that warning */
	void (*on_queueing)(void *ctx);
	void *queueing_ctx;
	size_t live;			/* signals_live_count, counted at live_at */
	double live_at;			/* -1: never */
	/* The controller's own cluster's Ray node ids, sorted (by
	 * signals_set_cluster_nodes); NULL until the loop first says. */
	char (*cluster)[CLUSTER_ID_MAX];
	size_t ncluster;
};

/* Format the error (common/util.h) and return -EINVAL. */
#define fail(err, size, ...) (rs_errf(err, size, __VA_ARGS__), -EINVAL)

struct signals *signals_new(void)
{
	struct signals *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->capacity = SIGNALS_DEFAULT_CAPACITY;
	s->max_age_s = SIGNALS_DEFAULT_MAX_AGE_S;
	s->full_logged_at = -1;
	s->live_at = -1;
	return s;
}

int signals_configure(struct signals *s, size_t capacity, double max_age_s)
{
	int rc = 0;

	if (!capacity || !(max_age_s >= 0))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (capacity < s->count) {
		rc = -EINVAL;
	} else {
		s->capacity = capacity;
		s->max_age_s = max_age_s;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void signals_stats(struct signals *s, struct signals_stats *out)
{
	pthread_mutex_lock(&s->lock);
	out->capacity = s->capacity;
	out->entries = s->count;
	out->evicted_total = s->evicted;
	out->rejected_full_total = s->rejected_full;
	pthread_mutex_unlock(&s->lock);
}

void signals_free(struct signals *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++)
		free(s->agents[i].workers);
	free(s->agents);
	str_index_free(&s->by_name);
	str_index_free(&s->by_ray);
	free(s->cluster);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int parse_worker(const cJSON *o, size_t i, struct worker_hint *w, char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const char *id;
	int64_t busy, idle = 0;
	double since = -1;
	char path[48];
	int rc;

	snprintf(path, sizeof(path), "$.workers[%zu]", i);
	if (rs_json_get_str(o, path, "ray_node_id", true, sizeof(w->ray_node_id) - 1, &id, &jerr) ||
	    rs_json_get_int(o, path, "busy_workers", true, 0, WORKERS_MAX, &busy, &jerr) ||
	    rs_json_get_int(o, path, "idle_workers", false, 0, WORKERS_MAX, &idle, &jerr) < -ENOENT)
		return fail(err, size, "%s", jerr.msg);
	rc = rs_json_get_number(o, path, "seconds_since_busy", false, &since, &jerr);
	if (rc < -ENOENT)
		return fail(err, size, "%s", jerr.msg);
	if (rc == -ENOENT)
		since = -1;
	snprintf(w->ray_node_id, sizeof(w->ray_node_id), "%s", id);
	w->busy_workers = (int)busy;
	w->idle_workers = (int)idle;
	w->seconds_since_busy = since;
	return 0;
}

static int parse_doc(const cJSON *root, struct agent *a, char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *node, *workers, *w;
	const char *name, *host = "";
	int64_t version, seq;
	size_t i = 0;

	if (rs_json_check_unique_keys(root, &jerr) ||
	    rs_json_get_int(root, "$", "schema_version", true, INT32_MIN, INT32_MAX, &version,
			    &jerr))
		return fail(err, size, "%s", jerr.msg);
	if (version != SIGNALS_SCHEMA_FULL && version != SIGNALS_SCHEMA_COMPACT)
		return fail(err, size, "$.schema_version: %lld is not a version this controller "
			    "reads (%d: full snapshot, %d: compact push)", (long long)version,
			    SIGNALS_SCHEMA_FULL, SIGNALS_SCHEMA_COMPACT);
	if (rs_json_get_int(root, "$", "seq", true, 0, SEQ_MAX, &seq, &jerr) ||
	    rs_json_get_number(root, "$", "taken_unix_ms", true, &a->taken_unix_ms, &jerr) ||
	    rs_json_get_object(root, "$", "node", true, &node, &jerr) ||
	    rs_json_get_str(node, "$.node", "node_name", true, sizeof(a->node_name) - 1, &name,
			    &jerr) ||
	    rs_json_get_str(node, "$.node", "hostname", false, sizeof(a->hostname) - 1, &host,
			    &jerr) < -ENOENT ||
	    rs_json_get_array(root, "$", "workers", true, &workers, &jerr))
		return fail(err, size, "%s", jerr.msg);
	if (!name[0])
		return fail(err, size, "$.node.node_name: empty");
	a->seq = (double)seq;
	snprintf(a->node_name, sizeof(a->node_name), "%s", name);
	snprintf(a->hostname, sizeof(a->hostname), "%s", host);
	if (cJSON_GetArraySize(workers) > 4096)
		return fail(err, size, "$.workers: more than 4096 entries");
	a->workers = calloc((size_t)cJSON_GetArraySize(workers) + 1, sizeof(*a->workers));
	if (!a->workers)
		return -ENOMEM;
	cJSON_ArrayForEach(w, workers) {
		int rc = parse_worker(w, i, &a->workers[i], err, size);

		if (rc)
			return rc;
		i++;
	}
	a->worker_count = i;
	return 0;
}

static int cmp_cluster_id(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* An agent reports every raylet on its host, and a host may run raylets of
 * other Ray clusters: only the controller's own count.  Under the lock. */
static bool in_cluster(const struct signals *s, const char *ray_node_id)
{
	return !s->cluster || bsearch(ray_node_id, s->cluster, s->ncluster, sizeof(*s->cluster),
				      cmp_cluster_id);
}

int signals_set_cluster_nodes(struct signals *s, const char *const *ids, size_t n)
{
	char (*v)[CLUSTER_ID_MAX];

	if (!n)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		snprintf(v[i], sizeof(v[i]), "%s", ids[i]);
	qsort(v, n, sizeof(*v), cmp_cluster_id);
	pthread_mutex_lock(&s->lock);
	free(s->cluster);
	s->cluster = v;
	s->ncluster = n;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* The hook is set once before the HTTP server starts; it runs on the
 * ingesting thread, outside the lock (only the cluster check takes it). */
static void notify_queueing(struct signals *s, const struct lease_report *r)
{
	bool queueing = false;

	if (!s->on_queueing)
		return;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < r->n && !queueing; i++)
		queueing = r->r[i].slow > 0 && in_cluster(s, r->r[i].ray_node_id);
	pthread_mutex_unlock(&s->lock);
	if (queueing)
		s->on_queueing(s->queueing_ctx);
}

void signals_set_queueing_hook(struct signals *s, void (*fn)(void *ctx), void *ctx)
{
	s->on_queueing = fn;
	s->queueing_ctx = ctx;
}

/* Call fn(ctx, id) for every Ray node id agent `a` reports. */
static void each_ray_id(const struct agent *a, void (*fn)(void *ctx, const char *id), void *ctx)
{
	for (size_t k = 0; k < a->worker_count; k++)
		fn(ctx, a->workers[k].ray_node_id);
	for (size_t k = 0; k < a->leases.n; k++)
		fn(ctx, a->leases.r[k].ray_node_id);
	for (size_t k = 0; k < a->startup.n; k++)
		fn(ctx, a->startup.v[k].ray_node_id);
}

struct ray_ids {
	struct signals *s;
	size_t slot;
};

/* An id that cannot be indexed (out of memory) is then not found: its node
 * has no agent data, which never allows a scale-down by itself. */
static void index_ray_id(void *ctx, const char *id)
{
	struct ray_ids *r = ctx;

	if (id[0] && str_index_put(&r->s->by_ray, id, r->slot))
		rs_warn("agent table: out of memory indexing Ray node %s (its hints are ignored)",
			id);
}

static void unindex_ray_id(void *ctx, const char *id)
{
	struct ray_ids *r = ctx;

	str_index_del_if(&r->s->by_ray, id, r->slot);
}

/* The fresh agent that reported ray_node_id last, or NULL.  Under the lock. */
static const struct agent *reporter(struct signals *s, const char *ray_node_id, double now,
				    double max_age_s)
{
	size_t slot;

	if (!str_index_get(&s->by_ray, ray_node_id, &slot) || slot >= s->count ||
	    now - s->agents[slot].received_at > max_age_s)
		return NULL;
	return &s->agents[slot];
}

bool signals_node_leases(struct signals *s, const char *ray_node_id, double now,
			 double max_age_s, struct node_leases *out)
{
	const struct agent *a;
	const struct raylet_leases *r;
	bool found = false;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	if ((a = reporter(s, ray_node_id, now, max_age_s)) &&
	    (r = lease_report_find(&a->leases, ray_node_id))) {
		out->last_lease_at = r->last_lease_at;
		out->queued = r->slow > 0;
		found = true;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

bool signals_node_startup(struct signals *s, const char *ray_node_id, double now,
			  double max_age_s, double *seconds)
{
	const struct agent *a;
	const struct node_startup *n;
	bool found = false;

	pthread_mutex_lock(&s->lock);
	if ((a = reporter(s, ray_node_id, now, max_age_s)) &&
	    (n = startup_report_find(&a->startup, ray_node_id))) {
		*seconds = n->seconds;
		found = true;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* Per raylet, the rate over the time its agent sampled (lease_report.h):
 * a sampling agent's counts are not diluted over the seconds it did not
 * look, and a raylet with no rate yet adds nothing (rather than a 0). */
double signals_reject_rate(struct signals *s, double now, double max_age_s)
{
	double rate = 0;
	bool any = false;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->count; i++) {
		const struct agent *a = &s->agents[i];

		if (now - a->received_at > max_age_s || a->interval_s <= 0)
			continue;
		for (size_t k = 0; k < a->leases.n; k++)
			if (a->leases.r[k].reject_rate > 0 &&
			    in_cluster(s, a->leases.r[k].ray_node_id))
				rate += a->leases.r[k].reject_rate;
		any = true;
	}
	pthread_mutex_unlock(&s->lock);
	return any ? rate : -1;
}

/* Where a new agent goes: appended (*evict false), or over the entry heard
 * from longest ago when that is older than max_age_s.  Changes nothing but
 * the array's allocation.  Under the lock. */
static int pick_slot(struct signals *s, double now, size_t *slot, bool *evict)
{
	size_t oldest = 0;

	*evict = false;
	if (s->count < s->capacity) {
		if (s->count == s->allocated) {
			size_t n = s->allocated ? s->allocated * 2 : 16;
			struct agent *g;

			n = n > s->capacity ? s->capacity : n;
			g = realloc(s->agents, n * sizeof(*g));
			if (!g)
				return -ENOMEM;
			s->agents = g;
			s->allocated = n;
		}
		*slot = s->count;
		return 0;
	}
	/* Only a full table pays this scan, once per new agent. */
	for (size_t i = 1; i < s->count; i++)
		if (s->agents[i].received_at < s->agents[oldest].received_at)
			oldest = i;
	if (!s->count || now - s->agents[oldest].received_at <= s->max_age_s) {
		s->rejected_full++;
		return -ENOSPC;
	}
	*slot = oldest;
	*evict = true;
	return 0;
}

/* Replace the agent's entry (following its lease counters) or store a new
 * one, and index it.  Under the lock. */
static int keep(struct signals *s, struct agent *a, double now)
{
	struct ray_ids ids = { .s = s };
	bool evict;
	int rc;

	if (str_index_get(&s->by_name, a->node_name, &ids.slot) && ids.slot < s->count &&
	    !strcmp(s->agents[ids.slot].node_name, a->node_name)) {
		struct agent *old = &s->agents[ids.slot];

		each_ray_id(old, unindex_ray_id, &ids);
		lease_report_follow(&a->leases, &old->leases, now, a->interval_s);
		free(old->workers);
		*old = *a;
		each_ray_id(old, index_ray_id, &ids);
		return 0;
	}
	lease_report_follow(&a->leases, NULL, now, a->interval_s);
	if ((rc = pick_slot(s, a->received_at, &ids.slot, &evict)))
		return rc;
	/* Indexed before anything changes, so -ENOMEM leaves the table as it was. */
	if ((rc = str_index_put(&s->by_name, a->node_name, ids.slot)))
		return rc;
	if (evict) {
		struct agent *old = &s->agents[ids.slot];

		str_index_del_if(&s->by_name, old->node_name, ids.slot);
		each_ray_id(old, unindex_ray_id, &ids);
		free(old->workers);
		s->evicted++;
	} else {
		s->count++;
	}
	s->agents[ids.slot] = *a;
	each_ray_id(&s->agents[ids.slot], index_ray_id, &ids);
	return 0;
}

/* One warning per burst of rejections, at most every FULL_LOG_EVERY_S. */
static void note_full(struct signals *s, double now)
{
	struct signals_stats st;
	unsigned long long n = 0;
	double max_age;

	pthread_mutex_lock(&s->lock);
	max_age = s->max_age_s;
	s->full_unlogged++;
	if (s->full_logged_at < 0 || now - s->full_logged_at >= FULL_LOG_EVERY_S) {
		s->full_logged_at = now;
		n = s->full_unlogged;
		s->full_unlogged = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (!n)
		return;
	signals_stats(s, &st);
	rs_warn("agent table full: %zu agents heard from within %.0fs (capacity %zu); refused "
		"%llu snapshot(s) from new agents since the last warning (%llu in all); raise "
		"--agent-capacity", st.entries, max_age, st.capacity, n,
		st.rejected_full_total);
}

/* Is ray_node_id on the sender's node?  1 yes, 0 unknown, -EPERM elsewhere. */
static int on_sender_node(struct signals_sender *from, const char *ray_node_id, char *err,
			  size_t size)
{
	char where[256];

	if (!from->where(from->ctx, ray_node_id, where, sizeof(where)))
		return 0;
	if (!strcmp(where, from->node))
		return 1;
	from->refused = "raylet_elsewhere";
	rs_errf(err, size, "raylet %s runs on node %s, not on this agent's node %s", ray_node_id,
		where, from->node);
	return -EPERM;
}

/* Keep only what the sender may speak for (see signals.h).  Under no lock:
 * `a` is not shared yet. */
static int bind_to_sender(struct agent *a, struct signals_sender *from, char *err, size_t size)
{
	size_t kept = 0;
	int rc;

	if (strcmp(a->node_name, from->node)) {
		from->refused = "node_name";
		rs_errf(err, size, "$.node.node_name '%s' is not this agent's node %s",
			a->node_name, from->node);
		return -EPERM;
	}
	for (size_t i = 0; i < a->worker_count; i++) {
		if ((rc = on_sender_node(from, a->workers[i].ray_node_id, err, size)) < 0)
			return rc;
		if (rc)
			a->workers[kept++] = a->workers[i];
		else
			from->unverified++;
	}
	a->worker_count = kept;
	kept = 0;
	for (size_t i = 0; i < a->leases.n; i++) {
		if ((rc = on_sender_node(from, a->leases.r[i].ray_node_id, err, size)) < 0)
			return rc;
		if (rc)
			a->leases.r[kept++] = a->leases.r[i];
		else
			from->unverified++;
	}
	a->leases.n = kept;
	return 0;
}

int signals_ingest(struct signals *s, const char *body, size_t len, double now, char *err,
		   size_t size)
{
	return signals_ingest_from(s, body, len, now, NULL, err, size);
}

int signals_ingest_from(struct signals *s, const char *body, size_t len, double now,
			struct signals_sender *from, char *err, size_t size)
{
	struct rs_json_error jerr = { { 0 } };
	struct agent a = { 0 };
	cJSON *root;
	int rc;

	if (rs_json_parse(body, len, &root, &jerr))
		return fail(err, size, "%s", jerr.msg);
	rc = parse_doc(root, &a, err, size);
	if (!rc)
		rc = lease_report_parse(root, &a.leases, err, size);
	if (!rc)
		rc = startup_report_parse(root, &a.startup, err, size);
	if (!rc)
		rs_json_get_number(root, "$", "interval_seconds", false, &a.interval_s, &jerr);
	cJSON_Delete(root);
	if (!rc && from)
		rc = bind_to_sender(&a, from, err, size);
	if (rc) {
		free(a.workers);
		return rc;
	}
	a.received_at = now;
	pthread_mutex_lock(&s->lock);
	rc = keep(s, &a, now);
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		free(a.workers);
		snprintf(err, size, "cannot keep the snapshot: %s", rc == -ENOSPC ?
			 "the agent table is full of live agents (--agent-capacity)" :
			 strerror(-rc));
	}
	if (rc == -ENOSPC)
		note_full(s, now);
	if (!rc)
		notify_queueing(s, &a.leases);
	return rc;
}

bool signals_busy_hint(struct signals *s, const char *ray_node_id, double now, double max_age_s,
		       int *busy_workers, double *busy_age_s)
{
	const struct agent *a;
	bool found = false;

	*busy_workers = -1;
	*busy_age_s = -1;
	pthread_mutex_lock(&s->lock);
	a = reporter(s, ray_node_id, now, max_age_s);
	for (size_t k = 0; a && k < a->worker_count; k++) {
		const struct worker_hint *w = &a->workers[k];

		if (strcmp(w->ray_node_id, ray_node_id))
			continue;
		*busy_workers = w->busy_workers;
		*busy_age_s = w->seconds_since_busy < 0 ? -1 :
			      w->seconds_since_busy + (now - a->received_at);
		found = true;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

size_t signals_count(struct signals *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t signals_live_count(struct signals *s, double now)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	if (s->live_at < 0 || now - s->live_at >= 1.0 || now < s->live_at) {
		s->live = 0;
		for (size_t i = 0; i < s->count; i++)
			if (now - s->agents[i].received_at <= s->max_age_s)
				s->live++;
		s->live_at = now;
	}
	n = s->live;
	pthread_mutex_unlock(&s->lock);
	return n;
}

cJSON *signals_to_json(struct signals *s, double now)
{
	cJSON *arr = cJSON_CreateArray();

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; arr && i < s->count; i++) {
		const struct agent *a = &s->agents[i];
		cJSON *o = cJSON_CreateObject(), *ws;

		if (!o)
			break;
		cJSON_AddStringToObject(o, "node_name", a->node_name);
		cJSON_AddStringToObject(o, "hostname", a->hostname);
		cJSON_AddNumberToObject(o, "seq", a->seq);
		cJSON_AddNumberToObject(o, "taken_unix_ms", a->taken_unix_ms);
		cJSON_AddNumberToObject(o, "age_s", now - a->received_at);
		ws = cJSON_AddArrayToObject(o, "workers");
		for (size_t k = 0; ws && k < a->worker_count; k++) {
			cJSON *w = cJSON_CreateObject();

			if (!w)
				break;
			cJSON_AddStringToObject(w, "ray_node_id", a->workers[k].ray_node_id);
			cJSON_AddNumberToObject(w, "busy_workers", a->workers[k].busy_workers);
			cJSON_AddNumberToObject(w, "idle_workers", a->workers[k].idle_workers);
			if (a->workers[k].seconds_since_busy >= 0)
				cJSON_AddNumberToObject(w, "seconds_since_busy",
							a->workers[k].seconds_since_busy);
			else
				cJSON_AddNullToObject(w, "seconds_since_busy");
			cJSON_AddItemToArray(ws, w);
		}
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&s->lock);
	return arr;
}
