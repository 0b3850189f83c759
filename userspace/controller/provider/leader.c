/* leader.c -- Lease-based leader election (client-go semantics; the header
 * explains the algorithm and why validity uses the local clock). */
#include "common/util.h"
#include "controller/provider/leader.h"

#include "common/json_util.h"
#include "common/log.h"

#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define seterr(err, ...) rs_errf(err, KUBE_ERR_LEN, __VA_ARGS__)

/* -------------------------------------------------------------- MicroTime */

int lease_time_format(double unix_s, char *buf, size_t size)
{
	time_t sec = (time_t)floor(unix_s);
	long usec = lround((unix_s - (double)sec) * 1e6);
	struct tm tm;

	if (usec >= 1000000) {
		sec++;
		usec -= 1000000;
	}
	if (!gmtime_r(&sec, &tm))
		return -EINVAL;
	if ((size_t)snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			     usec) >= size)
		return -ENOSPC;
	return 0;
}

/* RFC 3339: date 'T' time, optional fraction, 'Z' or +hh:mm/-hh:mm. */
int lease_time_parse(const char *s, double *unix_s)
{
	struct tm tm = { 0 };
	double frac = 0;
	const char *p;
	int off_sign = 0, oh = 0, om = 0;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		const char *start = ++p;
		double scale = 0.1;

		while (*p >= '0' && *p <= '9') {
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
		if (p == start || p - start > 9)
			return -EINVAL;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		off_sign = *p == '+' ? 1 : -1;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || strlen(p) != 6)
			return -EINVAL;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*unix_s = (double)timegm(&tm) + frac - off_sign * (oh * 3600 + om * 60);
	return 0;
}

/* ---------------------------------------------------------------- encoding */

int lease_record_decode(const char *json, size_t len, struct lease_record *r,
			char *resource_version, size_t rv_size, char *err)
{
	const cJSON *meta, *spec, *v;
	struct rs_json_error jerr;
	const char *rv = NULL, *holder = NULL;
	cJSON *root;
	int64_t num = 0;
	int rc = -EINVAL;

	memset(r, 0, sizeof(*r));
	if (rs_json_parse(json, len, &root, &jerr)) {
		seterr(err, "lease: %s", jerr.msg);
		return -EINVAL;
	}
	if (rs_json_get_object(root, "$", "metadata", true, &meta, &jerr) ||
	    rs_json_get_string(meta, "$.metadata", "resourceVersion", true, &rv, &jerr))
		goto bad;
	if (resource_version)
		snprintf(resource_version, rv_size, "%s", rv);
	if (rs_json_get_object(root, "$", "spec", false, &spec, &jerr) == -EINVAL)
		goto bad;
	if (!cJSON_GetObjectItemCaseSensitive(root, "spec")) {
		rc = 0;		/* an empty Lease: nobody holds it */
		goto out;
	}
	if (rs_json_get_string(spec, "$.spec", "holderIdentity", false, &holder, &jerr) == -EINVAL)
		goto bad;
	if (holder)
		snprintf(r->holder, sizeof(r->holder), "%s", holder);
	/* int32 in the Lease API; a missing field leaves 0. */
	if (rs_json_get_int(spec, "$.spec", "leaseDurationSeconds", false, 0, INT32_MAX, &num,
			    &jerr) == -EINVAL)
		goto bad;
	r->duration_s = (int)num;
	num = 0;
	if (rs_json_get_int(spec, "$.spec", "leaseTransitions", false, 0, INT32_MAX, &num,
			    &jerr) == -EINVAL)
		goto bad;
	r->transitions = (int)num;
	v = cJSON_GetObjectItemCaseSensitive(spec, "acquireTime");
	if (cJSON_IsString(v) && lease_time_parse(v->valuestring, &r->acquire_time)) {
		seterr(err, "lease: $.spec.acquireTime '%.64s' is not an RFC 3339 time", v->valuestring);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(spec, "renewTime");
	if (cJSON_IsString(v) && lease_time_parse(v->valuestring, &r->renew_time)) {
		seterr(err, "lease: $.spec.renewTime '%.64s' is not an RFC 3339 time", v->valuestring);
		goto out;
	}
	rc = 0;
	goto out;
bad:
	seterr(err, "lease: %s", jerr.msg);
out:
	cJSON_Delete(root);
	return rc;
}

char *lease_record_encode(const struct lease_record *r, const char *ns, const char *name,
			  const char *resource_version)
{
	cJSON *doc = cJSON_CreateObject(), *meta, *spec;
	char ts[64];
	char *out = NULL;

	if (!doc)
		return NULL;
	cJSON_AddStringToObject(doc, "apiVersion", "coordination.k8s.io/v1");
	cJSON_AddStringToObject(doc, "kind", "Lease");
	meta = cJSON_AddObjectToObject(doc, "metadata");
	spec = cJSON_AddObjectToObject(doc, "spec");
	if (!meta || !spec)
		goto out;
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(meta, "namespace", ns);
	if (resource_version)
		cJSON_AddStringToObject(meta, "resourceVersion", resource_version);
	cJSON_AddStringToObject(spec, "holderIdentity", r->holder);
	cJSON_AddNumberToObject(spec, "leaseDurationSeconds", r->duration_s);
	if (r->acquire_time > 0 && !lease_time_format(r->acquire_time, ts, sizeof(ts)))
		cJSON_AddStringToObject(spec, "acquireTime", ts);
	if (r->renew_time > 0 && !lease_time_format(r->renew_time, ts, sizeof(ts)))
		cJSON_AddStringToObject(spec, "renewTime", ts);
	cJSON_AddNumberToObject(spec, "leaseTransitions", r->transitions);
	out = cJSON_PrintUnformatted(doc);
out:
	cJSON_Delete(doc);
	return out;
}

/* ------------------------------------------------------------------ election */

int leader_init(struct leader *le, const struct leader_config *cfg, char *err)
{
	memset(le, 0, sizeof(*le));
	le->cfg = *cfg;
	if (le->cfg.lease_duration_s <= 0)
		le->cfg.lease_duration_s = 15;
	if (le->cfg.renew_deadline_s <= 0)
		le->cfg.renew_deadline_s = 10;
	if (le->cfg.retry_period_s <= 0)
		le->cfg.retry_period_s = 2;
	if (!cfg->kube || !cfg->ns || !*cfg->ns || !cfg->name || !*cfg->name || !cfg->identity ||
	    !*cfg->identity || strlen(cfg->identity) >= LEADER_ID_MAX) {
		seterr(err, "leader election needs a namespace, a lease name and an identity "
			    "(< %d chars)", LEADER_ID_MAX);
		return -EINVAL;
	}
	if (!(le->cfg.lease_duration_s > le->cfg.renew_deadline_s &&
	      le->cfg.renew_deadline_s > 1.2 * le->cfg.retry_period_s)) {
		seterr(err, "leader election timing must satisfy lease duration (%.1fs) > renew "
			    "deadline (%.1fs) > 1.2 x retry period (%.1fs)",
		       le->cfg.lease_duration_s, le->cfg.renew_deadline_s, le->cfg.retry_period_s);
		return -EINVAL;
	}
	le->last_attempt = -1e9;
	return 0;
}

void leader_free(struct leader *le)
{
	free(le->observed_raw);
	free(le->object_json);
	le->observed_raw = le->object_json = NULL;
}

static void lease_path(const struct leader *le, bool item, char *buf, size_t size)
{
	snprintf(buf, size, "/apis/coordination.k8s.io/v1/namespaces/%s/leases%s%s", le->cfg.ns,
		 item ? "/" : "", item ? le->cfg.name : "");
}

static void note_error(struct leader *le, const char *what, int rc, const struct kube_response *r)
{
	le->api_errors++;
	snprintf(le->last_error, sizeof(le->last_error), "%s: %s (HTTP %ld) %.160s", what,
		 rc ? strerror(-rc) : "bad status", r->status, r->body ? r->body : r->error);
}

/* Remember the record as read; a change restarts the validity clock. */
static void observe(struct leader *le, const struct lease_record *rec, double now)
{
	char raw[512];

	snprintf(raw, sizeof(raw), "%s|%d|%.6f|%.6f|%d", rec->holder, rec->duration_s,
		 rec->acquire_time, rec->renew_time, rec->transitions);
	if (!le->observed_raw || strcmp(raw, le->observed_raw)) {
		free(le->observed_raw);
		le->observed_raw = strdup(raw);
		le->observed_at = now;
	}
	le->observed = *rec;
}

/* POST or PUT rec; 0, -EAGAIN (409: lost a race), or another -errno. */
static int write_lease(struct leader *le, const struct lease_record *rec, const char *rv)
{
	char path[512], *body = lease_record_encode(rec, le->cfg.ns, le->cfg.name, rv);
	struct kube_response r;
	int rc;

	if (!body)
		return -ENOMEM;
	lease_path(le, rv != NULL, path, sizeof(path));
	rc = kube_request(le->cfg.kube, rv ? "PUT" : "POST", path, "application/json", body, &r);
	free(body);
	if (!rc && (r.status == 200 || r.status == 201)) {
		kube_response_free(&r);
		return 0;
	}
	note_error(le, rv ? "update lease" : "create lease", rc, &r);
	if (!rc)
		rc = (r.status == 409) ? -EAGAIN : -EPROTO;
	kube_response_free(&r);
	return rc;
}

int leader_try_acquire_or_renew(struct leader *le, double now)
{
	struct lease_record cur, next = { 0 };
	char path[512], rv[128], err[KUBE_ERR_LEN];
	struct kube_response r;
	double wall = rs_now_unix();
	int rc;

	snprintf(next.holder, sizeof(next.holder), "%s", le->cfg.identity);
	next.duration_s = (int)ceil(le->cfg.lease_duration_s);
	next.acquire_time = next.renew_time = wall;

	lease_path(le, true, path, sizeof(path));
	rc = kube_request(le->cfg.kube, "GET", path, NULL, NULL, &r);
	if (!rc && r.status == 404) {
		kube_response_free(&r);
		rc = write_lease(le, &next, NULL);
		if (!rc) {
			observe(le, &next, now);
			le->last_renew = now;
		}
		return rc;
	}
	if (rc || r.status != 200) {
		note_error(le, "get lease", rc, &r);
		kube_response_free(&r);
		return rc ? rc : -EPROTO;
	}
	rc = lease_record_decode(r.body, r.body_len, &cur, rv, sizeof(rv), err);
	kube_response_free(&r);
	if (rc) {
		le->api_errors++;
		snprintf(le->last_error, sizeof(le->last_error), "%s", err);
		return rc;
	}
	observe(le, &cur, now);
	if (cur.holder[0] && strcmp(cur.holder, le->cfg.identity) &&
	    now < le->observed_at + (cur.duration_s > 0 ? cur.duration_s : 1))
		return -EBUSY;
	if (!strcmp(cur.holder, le->cfg.identity)) {	/* renew */
		next.acquire_time = cur.acquire_time;
		next.transitions = cur.transitions;
	} else {					/* take over */
		next.transitions = cur.transitions + 1;
	}
	rc = write_lease(le, &next, rv);
	if (!rc) {
		observe(le, &next, now);
		le->last_renew = now;
	}
	return rc;
}

bool leader_tick(struct leader *le, double now)
{
	int rc;

	if (now - le->last_attempt < le->cfg.retry_period_s)
		goto check;
	le->last_attempt = now;
	rc = leader_try_acquire_or_renew(le, now);
	if (!rc && !le->leading) {
		le->leading = true;
		le->acquisitions++;
		rs_info("leader election: %s became the leader of lease %s/%s", le->cfg.identity,
			le->cfg.ns, le->cfg.name);
	} else if (rc == -EBUSY && le->leading) {
		le->leading = false;
		rs_warn("leader election: lease %s/%s is held by %s; stepping down", le->cfg.ns,
			le->cfg.name, le->observed.holder);
	} else if (rc && rc != -EBUSY) {
		rs_warn("leader election: %s", le->last_error);
	}
check:
	if (le->leading && now - le->last_renew > le->cfg.renew_deadline_s) {
		le->leading = false;
		rs_warn("leader election: could not renew lease %s/%s within %.1fs; stepping down",
			le->cfg.ns, le->cfg.name, le->cfg.renew_deadline_s);
	}
	return le->leading;
}

int leader_release(struct leader *le)
{
	struct lease_record cur, rel = { 0 };
	char path[512], rv[128], err[KUBE_ERR_LEN];
	struct kube_response r;
	int rc = 0;

	if (!le->leading)
		return 0;
	le->leading = false;
	for (int attempt = 0; attempt < 3; attempt++) {
		lease_path(le, true, path, sizeof(path));
		rc = kube_request(le->cfg.kube, "GET", path, NULL, NULL, &r);
		if (rc || r.status != 200) {
			note_error(le, "get lease", rc, &r);
			kube_response_free(&r);
			return rc ? rc : -EPROTO;
		}
		rc = lease_record_decode(r.body, r.body_len, &cur, rv, sizeof(rv), err);
		kube_response_free(&r);
		if (rc)
			return rc;
		if (strcmp(cur.holder, le->cfg.identity))
			return 0;	/* someone else already took it */
		rel.duration_s = 1;
		rel.acquire_time = cur.acquire_time;
		rel.renew_time = rs_now_unix();
		rel.transitions = cur.transitions;
		rc = write_lease(le, &rel, rv);
		if (rc != -EAGAIN)
			break;
	}
	if (!rc)
		rs_info("leader election: %s released lease %s/%s", le->cfg.identity, le->cfg.ns,
			le->cfg.name);
	return rc;
}

/* ---------------------------------------------------------- blocking use */

int leader_acquire_blocking(struct leader *le, volatile sig_atomic_t *stop)
{
	bool said = false;

	while (!*stop) {
		if (leader_tick(le, rs_now_mono()))
			return 0;
		if (!said && le->observed.holder[0]) {
			rs_info("leader election: waiting for lease %s/%s held by %s", le->cfg.ns,
				le->cfg.name, le->observed.holder);
			said = true;
		}
		usleep(100000);
	}
	return -EINTR;
}

static void *renewer(void *arg)
{
	struct leader *le = arg;

	while (!le->thread_stop) {
		usleep(100000);
		if (!leader_tick(le, rs_now_mono())) {
			rs_error("leader election: lost lease %s/%s; stopping", le->cfg.ns, le->cfg.name);
			*le->on_loss = 1;
			break;
		}
	}
	return NULL;
}

int leader_start_renewer(struct leader *le, volatile sig_atomic_t *on_loss)
{
	int rc;

	le->on_loss = on_loss;
	le->thread_stop = 0;
	rc = pthread_create(&le->thread, NULL, renewer, le);
	if (rc)
		return -rc;
	le->thread_started = true;
	return 0;
}

void leader_stop_renewer(struct leader *le)
{
	if (!le->thread_started)
		return;
	le->thread_stop = 1;
	pthread_join(le->thread, NULL);
	le->thread_started = false;
}
