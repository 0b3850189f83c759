/* provider_kuberay.c -- the kuberay provider's I/O and state machine: read
 * the RayCluster and its worker pods, turn queued launch()/terminate() calls
 * into guarded JSON Patches, clear workersToDelete when the named pods are
 * gone, resolve patches of unknown outcome, back off on errors.  The header
 * explains the rules; kuberay_types.c holds the pure parsing. */
#include "common/util.h"
#include "controller/provider/provider_kuberay.h"

#include "controller/provider/kuberay_groups.h"

#include "common/log.h"
#include "common/prom_text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define seterr(err, ...) rs_errf(err, PROVIDER_ERR_LEN, __VA_ARGS__)

#define PLACEHOLDER_TAG "/pending-"
#define MAX_SEEN 8192
#define MAX_NOTES 256

/* Per-pod memory across reads: Ray ALIVE time and which startup phases have
 * been added to the cumulative metrics. */
struct seen_pod {
	char name[PROVIDER_ID_MAX];
	char group[CONFIG_NAME_MAX + 1];
	bool eci;
	double ray_alive;
	unsigned recorded;		/* PHASE_* bits already counted */
};

enum { PHASE_SCHEDULE, PHASE_START, PHASE_RAY, PHASE_TOTAL, PHASE_COUNT };
static const char *const phase_names[PHASE_COUNT] = {
	"created_to_scheduled", "scheduled_to_containers_ready", "containers_ready_to_ray_alive",
	"created_to_ray_alive",
};

struct phase_stat {
	double sum[2][PHASE_COUNT];	/* [eci][phase] */
	long count[2][PHASE_COUNT];
};

struct counters {
	long reads, read_errors, patches, patch_ok, conflicts, uncertain, resolved_landed,
		resolved_lost, clears, errors;
};

struct kuberay {
	struct provider_kuberay_config cfg;
	char ns[256];
	char name[256];
	bool have_state;
	struct kuberay_group *groups;
	size_t group_count;
	struct kuberay_pod *pods;
	size_t pod_count;
	/* list() view, rebuilt into the same buffer (it may move when it
	 * grows) by refresh(); terminate() marks entries in place (the rule
	 * of provider.h list()).  controller.c copies the ids it acts on
	 * (struct node_ref), so nothing keeps pointers in it across a tick. */
	struct provider_node *nodes;
	size_t node_count, node_cap;
	struct seen_pod *seen;
	size_t seen_count;
	struct phase_stat phases;
	bool stale;			/* a write failed and the re-read too */
	double next_attempt;		/* monotonic */
	double backoff;
	struct counters n;
	char last_error[KUBE_ERR_LEN];
	/* What the RayCluster says about scaling (kuberay_groups.h), as last read. */
	struct kuberay_spec spec;
	bool have_spec;
	char **noted;			/* notes already logged (each once) */
	size_t noted_count;
	char block_reason[1024];
};

static struct kuberay *impl(struct provider *p)
{
	return p->impl;
}

static void note_failure(struct kuberay *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_failure(struct kuberay *k, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->last_error, sizeof(k->last_error), fmt, ap);
	va_end(ap);
	rs_warn("kuberay: %s", k->last_error);
}

/* ---------------------------------------------------------------- lookups */

static struct kuberay_group *find_group(struct kuberay *k, const char *name)
{
	for (size_t i = 0; i < k->group_count; i++)
		if (!strcmp(k->groups[i].name, name))
			return &k->groups[i];
	return NULL;
}

static struct kuberay_pod *find_pod(struct kuberay *k, const char *name)
{
	for (size_t i = 0; i < k->pod_count; i++)
		if (!strcmp(k->pods[i].name, name))
			return &k->pods[i];
	return NULL;
}

/* A provider id: the pod name, or the pod IP of a pod not being deleted
 * (an IP can be reused by a new pod once the old one is gone). */
static struct kuberay_pod *find_pod_by_id(struct kuberay *k, const char *id)
{
	struct kuberay_pod *p = find_pod(k, id);

	for (size_t i = 0; !p && i < k->pod_count; i++)
		if (!strcmp(k->pods[i].ip, id) && !k->pods[i].deleting)
			p = &k->pods[i];
	return p;
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(char *));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static void strv_clear(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* Pods of g that will keep running: not deleting, not named for deletion. */
static int live_pods(struct kuberay *k, const struct kuberay_group *g)
{
	int n = 0;

	for (size_t i = 0; i < k->pod_count; i++) {
		const struct kuberay_pod *p = &k->pods[i];

		if (strcmp(p->group, g->name) || p->deleting ||
		    strv_has(g->workers_to_delete, g->wtd_count, p->name) ||
		    strv_has(g->victims, g->victim_count, p->name) ||
		    strv_has(g->inflight_victims, g->inflight_victim_count, p->name))
			continue;
		n++;
	}
	return n;
}

/* Replicas the group is heading to, counting patches not yet confirmed and
 * queued launches/terminations. */
static int effective_replicas(const struct kuberay_group *g)
{
	int r = g->inflight ? g->inflight_target : g->replicas;

	return r + g->queued_launches - (int)g->victim_count;
}

/* ------------------------------------------------------------- list() view */

static int push_node(struct kuberay *k, const char *id, const char *type, double launched,
		     double started, double stopping)
{
	struct provider_node *n;

	if (k->node_count == k->node_cap) {
		size_t ncap = k->node_cap ? k->node_cap * 2 : 16;
		struct provider_node *nn = realloc(k->nodes, ncap * sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		k->nodes = nn;
		k->node_cap = ncap;
	}
	n = &k->nodes[k->node_count++];
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", id);
	snprintf(n->type, sizeof(n->type), "%s", type);
	n->launched_at = launched;
	n->started_at = started;
	n->stop_requested_at = stopping;
	return 0;
}

static int rebuild_nodes(struct kuberay *k)
{
	double now = rs_now_unix();

	k->node_count = 0;
	for (size_t i = 0; i < k->pod_count; i++) {
		const struct kuberay_pod *p = &k->pods[i];
		const struct kuberay_group *g = find_group(k, p->group);
		bool stopping = p->deleting ||
				(g && (strv_has(g->workers_to_delete, g->wtd_count, p->name) ||
				       strv_has(g->victims, g->victim_count, p->name) ||
				       strv_has(g->inflight_victims, g->inflight_victim_count, p->name)));

		/* The id is what the controller matches against Ray's node name,
		 * which for a KubeRay pod is its IP (ray start's default); until
		 * the pod has an IP it is the pod name. */
		if (!g)
			continue;
		if (push_node(k, p->ip[0] ? p->ip : p->name, p->group, p->created, p->scheduled,
			      stopping ? now : 0))
			return -ENOMEM;
		k->nodes[k->node_count - 1].unschedulable_since = p->unschedulable_since;
		snprintf(k->nodes[k->node_count - 1].unschedulable, PROVIDER_WHY_MAX, "%s",
			 p->unschedulable);
	}
	for (size_t i = 0; i < k->group_count; i++) {
		const struct kuberay_group *g = &k->groups[i];
		int missing = effective_replicas(g) - live_pods(k, g);

		for (int j = 0; j < missing; j++) {
			char id[PROVIDER_ID_MAX];

			snprintf(id, sizeof(id), "%s" PLACEHOLDER_TAG "%d", g->name, j);
			if (push_node(k, id, g->name, now, 0, 0))
				return -ENOMEM;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ reading */

/* Carry intent from the old group list to the fresh one (by name). */
static void carry_intent(struct kuberay_group *from, struct kuberay_group *to)
{
	to->queued_launches = from->queued_launches;
	to->victims = from->victims;
	to->victim_count = from->victim_count;
	to->inflight = from->inflight;
	to->inflight_base = from->inflight_base;
	to->inflight_target = from->inflight_target;
	to->inflight_launches = from->inflight_launches;
	to->inflight_victims = from->inflight_victims;
	to->inflight_victim_count = from->inflight_victim_count;
	from->victims = from->inflight_victims = NULL;
	from->victim_count = from->inflight_victim_count = 0;
}

static int get_json(struct kuberay *k, const char *path, struct kube_response *r)
{
	int rc = kube_request(k->cfg.kube, "GET", path, NULL, NULL, r);

	if (rc) {
		note_failure(k, "GET %s: %s (%s)", path, strerror(-rc), r->error);
		return rc;
	}
	if (r->status != 200) {
		note_failure(k, "GET %s: HTTP %ld %.200s", path, r->status, r->body ? r->body : "");
		return r->status == 404 ? -ENOENT : r->status == 403 ? -EACCES : -EPROTO;
	}
	return 0;
}

static void track_seen(struct kuberay *k);

/* The RayCluster's scaling view (kuberay_groups.h); the old one stays on error. */
static int read_spec(struct kuberay *k, const char *body, size_t len)
{
	struct kuberay_spec spec;
	char err[KUBE_ERR_LEN];
	int rc = kuberay_spec_parse(body, len, &spec, err, sizeof(err));

	if (rc) {
		kuberay_spec_free(&spec);
		if (rc == -EINVAL)
			note_failure(k, "%s", err);
		return rc;
	}
	kuberay_spec_free(&k->spec);
	k->spec = spec;
	k->have_spec = true;
	return 0;
}

static int read_state(struct kuberay *k)
{
	char path[2048], sel[512], esc[768], err[KUBE_ERR_LEN];
	struct kuberay_group *groups;
	struct kuberay_pod *pods;
	struct kube_response r;
	size_t gcount, pcount;
	int rc;

	k->n.reads++;
	snprintf(path, sizeof(path), "/apis/ray.io/v1/namespaces/%s/rayclusters/%s", k->ns, k->name);
	rc = get_json(k, path, &r);
	if (!rc && (rc = kuberay_parse_raycluster(r.body, r.body_len, &groups, &gcount, err,
						  sizeof(err))))
		note_failure(k, "%s", err);
	if (!rc && (rc = read_spec(k, r.body, r.body_len)))
		kuberay_groups_free(groups, gcount);
	kube_response_free(&r);
	if (rc)
		return rc;
	snprintf(sel, sizeof(sel), "ray.io/cluster=%s,ray.io/node-type=worker", k->name);
	kube_url_escape(sel, esc, sizeof(esc));
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s", k->ns, esc);
	rc = get_json(k, path, &r);
	if (!rc && (rc = kuberay_parse_pods(r.body, r.body_len, &pods, &pcount, err, sizeof(err))))
		note_failure(k, "%s", err);
	kube_response_free(&r);
	if (rc) {
		kuberay_groups_free(groups, gcount);
		return rc;
	}
	for (size_t i = 0; i < k->group_count; i++) {
		struct kuberay_group *to = NULL;

		for (size_t j = 0; j < gcount && !to; j++)
			if (!strcmp(groups[j].name, k->groups[i].name))
				to = &groups[j];
		if (to)
			carry_intent(&k->groups[i], to);
		else if (k->groups[i].queued_launches || k->groups[i].victim_count)
			rs_warn("kuberay: worker group %s disappeared; dropping its queued changes",
				k->groups[i].name);
	}
	kuberay_groups_free(k->groups, k->group_count);
	free(k->pods);
	k->groups = groups;
	k->group_count = gcount;
	k->pods = pods;
	k->pod_count = pcount;
	k->have_state = true;
	track_seen(k);
	return 0;
}

/* ----------------------------------------------------------------- patching */

enum patch_outcome { PATCH_OK, PATCH_REJECTED, PATCH_NOT_SENT, PATCH_UNKNOWN };

static enum patch_outcome send_patch(struct kuberay *k, const struct kuberay_group *g,
				     const char *doc)
{
	char path[1024];
	struct kube_response r;
	int rc;

	snprintf(path, sizeof(path), "/apis/ray.io/v1/namespaces/%s/rayclusters/%s", k->ns, k->name);
	k->n.patches++;
	rs_info("kuberay: PATCH group %s: %s", g->name, doc);
	rc = kube_request(k->cfg.kube, "PATCH", path, "application/json-patch+json", doc, &r);
	if (!rc && r.status == 200) {
		kube_response_free(&r);
		k->n.patch_ok++;
		return PATCH_OK;
	}
	if (!rc && (r.status == 409 || r.status == 422)) {
		/* A `test` op failed or the write raced: somebody else changed the
		 * group.  Nothing was applied; re-read and recompute. */
		k->n.conflicts++;
		note_failure(k, "patch of group %s rejected (HTTP %ld): %.200s", g->name, r.status,
			     r.body ? r.body : "");
		kube_response_free(&r);
		return PATCH_REJECTED;
	}
	if (rc == -ECONNREFUSED || rc == -EHOSTUNREACH || (!rc && r.status >= 400 && r.status < 500)) {
		k->n.errors++;
		note_failure(k, "patch of group %s failed: %s HTTP %ld %.200s", g->name,
			     rc ? strerror(-rc) : "", r.status, r.body ? r.body : r.error);
		kube_response_free(&r);
		return PATCH_NOT_SENT;
	}
	/* Timeout, 5xx, dropped connection: it may or may not have landed. */
	k->n.uncertain++;
	note_failure(k, "patch of group %s has an unknown outcome: %s HTTP %ld %.200s", g->name,
		     rc ? strerror(-rc) : "", r.status, r.body ? r.body : r.error);
	kube_response_free(&r);
	return PATCH_UNKNOWN;
}

/* Forget an unknown-outcome patch (landed or not). */
static void drop_inflight(struct kuberay_group *g)
{
	strv_clear(&g->inflight_victims, &g->inflight_victim_count);
	g->inflight_launches = 0;
	g->inflight = false;
}

/* After a fresh read: did the unknown-outcome patch land?  Landed when
 * replicas equals its target and workersToDelete holds its victims; not
 * landed when replicas is still its base.  Anything else means another
 * writer moved the group: assume landed (a lost launch is re-planned by the
 * controller; a duplicate one would over-scale).  Either way the intent is
 * dropped: list() now shows the fresh state and the controller re-plans. */
static void resolve_inflight(struct kuberay *k, struct kuberay_group *g)
{
	bool victims_there = true;

	for (size_t i = 0; i < g->inflight_victim_count; i++)
		victims_there &= strv_has(g->workers_to_delete, g->wtd_count, g->inflight_victims[i]);
	if (g->replicas == g->inflight_target && victims_there) {
		k->n.resolved_landed++;
		rs_info("kuberay: group %s: earlier patch did land (replicas %d)", g->name, g->replicas);
	} else if (g->replicas == g->inflight_base) {
		k->n.resolved_lost++;
		rs_info("kuberay: group %s: earlier patch did not land; the controller re-plans "
			"from the fresh read", g->name);
	} else {
		k->n.resolved_landed++;
		rs_warn("kuberay: group %s: replicas %d is neither the patch's base %d nor target %d; "
			"assuming it landed", g->name, g->replicas, g->inflight_base, g->inflight_target);
	}
	drop_inflight(g);
}

/* The operator never clears workersToDelete: do it once all named pods are
 * gone (Terminating pods still count as present). */
static int clear_finished_deletes(struct kuberay *k, struct kuberay_group *g)
{
	char *doc;
	enum patch_outcome o;

	for (size_t i = 0; i < g->wtd_count; i++)
		if (find_pod(k, g->workers_to_delete[i]))
			return 0;	/* still pending: hold the group */
	doc = kuberay_patch_document(g->index, g->name, g->replicas_present ? g->replicas : -1,
				     g->replicas, NULL, 0, true);
	if (!doc)
		return -ENOMEM;
	o = send_patch(k, g, doc);
	free(doc);
	if (o == PATCH_OK) {
		k->n.clears++;
		strv_clear(&g->workers_to_delete, &g->wtd_count);
		return 0;
	}
	return -EAGAIN;		/* re-read and retry; an unknown clear resolves itself */
}

/* Drop queued victims that are gone, already deleting or not in g. */
static void prune_victims(struct kuberay *k, struct kuberay_group *g)
{
	size_t o = 0;

	for (size_t i = 0; i < g->victim_count; i++) {
		const struct kuberay_pod *p = find_pod(k, g->victims[i]);

		if (p && !p->deleting && !strcmp(p->group, g->name))
			g->victims[o++] = g->victims[i];
		else
			free(g->victims[i]);
	}
	g->victim_count = o;
}

static void drop_intent(struct kuberay_group *g)
{
	g->queued_launches = 0;
	strv_clear(&g->victims, &g->victim_count);
}

/* Turn queued intent into one guarded patch.  0 or -errno. */
static int scale_group(struct kuberay *k, struct kuberay_group *g)
{
	int base = g->replicas, target, launches = g->queued_launches;
	size_t victims = g->victim_count;
	enum patch_outcome o;
	char *doc;

	prune_victims(k, g);
	victims = g->victim_count;
	if (!launches && !victims)
		return 0;
	target = base + launches - (int)victims;
	if (target > g->max_replicas) {
		rs_warn("kuberay: group %s: capping %d replicas at maxReplicas %d", g->name, target,
			g->max_replicas);
		launches -= target - g->max_replicas;
		target = g->max_replicas;
	}
	while (target < g->min_replicas && victims > 0) {
		rs_warn("kuberay: group %s: keeping %s, minReplicas is %d", g->name,
			g->victims[victims - 1], g->min_replicas);
		free(g->victims[--victims]);
		target++;
	}
	g->victim_count = victims;
	if (launches < 0)
		launches = 0;
	if (target == base && !victims) {
		g->queued_launches = 0;
		return 0;
	}
	doc = kuberay_patch_document(g->index, g->name, g->replicas_present ? base : -1, target,
				     (const char *const *)g->victims, victims, victims > 0);
	if (!doc)
		return -ENOMEM;
	o = send_patch(k, g, doc);
	free(doc);
	switch (o) {
	case PATCH_OK:
		rs_info("kuberay: group %s: replicas %d -> %d, workersToDelete %zu", g->name, base,
			target, victims);
		g->replicas = target;
		for (size_t i = 0; i < victims; i++)
			strv_push(&g->workers_to_delete, &g->wtd_count, g->victims[i]);
		strv_clear(&g->victims, &g->victim_count);
		g->queued_launches = 0;
		return 0;
	case PATCH_UNKNOWN:
		g->inflight = true;
		g->inflight_base = base;
		g->inflight_target = target;
		g->inflight_launches = launches;
		g->inflight_victims = g->victims;
		g->inflight_victim_count = g->victim_count;
		g->victims = NULL;
		g->victim_count = 0;
		g->queued_launches = 0;
		return -EAGAIN;
	case PATCH_REJECTED:
	case PATCH_NOT_SENT:
		break;
	}
	/* The intent was computed from a state that is now known to be stale
	 * (409/422) or could not be sent: drop it.  The next refresh re-reads,
	 * list() shows the fresh state and the controller re-plans from it --
	 * re-applying a delta on top of another writer's change would be wrong. */
	drop_intent(g);
	return -EAGAIN;
}

static int reconcile_group(struct kuberay *k, struct kuberay_group *g)
{
	if (g->inflight)
		resolve_inflight(k, g);
	if (g->inflight)
		return -EAGAIN;
	if (g->wtd_count)
		return clear_finished_deletes(k, g);	/* no other change meanwhile */
	return scale_group(k, g);
}

/* spec.enableInTreeAutoscaling: the in-tree Ray autoscaler scales it. */
static const char *blocked(struct kuberay *k)
{
	if (!k->have_spec || !k->spec.in_tree_autoscaling || k->cfg.ignore_in_tree_autoscaler)
		return NULL;
	snprintf(k->block_reason, sizeof(k->block_reason),
		 "RayCluster %s/%s has spec.enableInTreeAutoscaling: true, so Ray's own autoscaler "
		 "scales it; set it to false (ack-ray-cluster values.yaml: "
		 "head.enableInTreeAutoscaling: false) to hand scaling to raysense", k->ns, k->name);
	return k->block_reason;
}

static void backoff(struct kuberay *k, double now, bool failed)
{
	if (!failed) {
		k->backoff = 0;
		k->next_attempt = now;
		return;
	}
	k->backoff = k->backoff ? fmin(k->backoff * 2, k->cfg.backoff_max_s) : k->cfg.backoff_min_s;
	k->next_attempt = now + k->backoff;
}

static int kuberay_refresh(struct provider *p, double now_unused)
{
	struct kuberay *k = impl(p);
	double now = rs_now_mono();
	int rc, first = 0;

	(void)now_unused;
	if (now < k->next_attempt)
		return 0;
	rc = read_state(k);
	if (rc) {
		k->n.read_errors++;
		backoff(k, now, true);
		return rc;
	}
	k->stale = false;
	for (size_t i = 0; i < k->group_count; i++) {
		if (blocked(k)) {	/* another autoscaler owns it: never patch */
			drop_intent(&k->groups[i]);
			continue;
		}
		rc = reconcile_group(k, &k->groups[i]);
		if (rc && !first)
			first = rc;
	}
	/* A rejected or unknown write means our view is out of date: read again
	 * now, so that what list() shows -- and the controller plans from on
	 * its next tick -- is the fresh state, not the one the patch was built
	 * on.  Until a read succeeds, launch()/terminate() refuse. */
	if (first && read_state(k)) {
		k->n.read_errors++;
		k->stale = true;
	}
	backoff(k, now, first != 0);
	if (rebuild_nodes(k))
		return -ENOMEM;
	return first;
}

/* ----------------------------------------------------------- provider ops */

/* Mark list() entries stopping in place (see struct kuberay.nodes). */
static void mark_stopping(struct kuberay *k, const char *id, const char *alt)
{
	double now = rs_now_unix();

	for (size_t i = 0; i < k->node_count; i++)
		if (!strcmp(k->nodes[i].id, id) || (alt && !strcmp(k->nodes[i].id, alt)))
			if (k->nodes[i].stop_requested_at == 0)
				k->nodes[i].stop_requested_at = now;
}

static int kuberay_launch(struct provider *p, const struct worker_group *wg, char *id_out,
			  char *err)
{
	struct kuberay *k = impl(p);
	struct kuberay_group *g;
	int n;

	if (blocked(k)) {
		seterr(err, "%s", k->block_reason);
		return -EPERM;
	}
	if (!k->have_state || k->stale) {
		seterr(err, "RayCluster %s/%s not read yet since the last failed write", k->ns, k->name);
		return -EAGAIN;
	}
	g = find_group(k, wg->name);
	if (!g) {
		seterr(err, "RayCluster %s/%s has no worker group '%s'", k->ns, k->name, wg->name);
		return -ENOENT;
	}
	n = effective_replicas(g);
	if (n >= g->max_replicas) {
		seterr(err, "worker group %s is at maxReplicas %d", g->name, g->max_replicas);
		return -ENOSPC;
	}
	g->queued_launches++;
	snprintf(id_out, PROVIDER_ID_MAX, "%s" PLACEHOLDER_TAG "%d", g->name,
		 effective_replicas(g) - live_pods(k, g) - 1);
	return push_node(k, id_out, g->name, rs_now_unix(), 0, 0);
}

static int kuberay_terminate(struct provider *p, const char *id, char *err)
{
	struct kuberay *k = impl(p);
	const char *tag = strstr(id, PLACEHOLDER_TAG);
	const struct kuberay_pod *pod;
	struct kuberay_group *g;

	if (blocked(k)) {
		seterr(err, "%s", k->block_reason);
		return -EPERM;
	}
	if (k->stale) {
		seterr(err, "RayCluster %s/%s not read yet since the last failed write", k->ns, k->name);
		return -EAGAIN;
	}
	if (tag) {	/* a replica with no pod yet: only an unsent launch can go */
		char group[CONFIG_NAME_MAX + 1];

		snprintf(group, sizeof(group), "%.*s", (int)(tag - id), id);
		g = find_group(k, group);
		if (g && g->queued_launches > 0) {
			g->queued_launches--;
			mark_stopping(k, id, NULL);
			return 0;
		}
		seterr(err, "%s has no pod yet; it can be terminated once the operator creates it", id);
		return -EBUSY;
	}
	pod = find_pod_by_id(k, id);
	if (!pod || pod->deleting)
		return 0;	/* gone or going: idempotent */
	id = pod->name;		/* workersToDelete takes pod names */
	g = find_group(k, pod->group);
	if (!g) {
		seterr(err, "pod %s belongs to unknown worker group '%s'", id, pod->group);
		return -ENOENT;
	}
	if (strv_has(g->victims, g->victim_count, id) ||
	    strv_has(g->workers_to_delete, g->wtd_count, id) ||
	    strv_has(g->inflight_victims, g->inflight_victim_count, id))
		return 0;
	if (strv_push(&g->victims, &g->victim_count, id))
		return -ENOMEM;
	mark_stopping(k, pod->name, pod->ip[0] ? pod->ip : NULL);
	return 0;
}

static size_t kuberay_list(struct provider *p, const struct provider_node **out)
{
	struct kuberay *k = impl(p);

	*out = k->nodes;
	return k->node_count;
}

static void kuberay_destroy(struct provider *p)
{
	struct kuberay *k = impl(p);

	if (!k)
		return;
	kuberay_groups_free(k->groups, k->group_count);
	kuberay_spec_free(&k->spec);
	strv_clear(&k->noted, &k->noted_count);
	free(k->pods);
	free(k->nodes);
	free(k->seen);
	free(k);
	p->impl = NULL;
}

static void provider_kuberay_note_alive(struct provider *p, const char *id, double unix_s);

/* Log each note line once (the same lines come back every tick). */
static void log_notes(struct kuberay *k, const char *notes)
{
	char line[512];

	for (const char *s = notes, *e; *s; s = *e ? e + 1 : e) {
		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		snprintf(line, sizeof(line), "%.*s", (int)(e - s), s);
		if (!line[0] || strv_has(k->noted, k->noted_count, line) ||
		    k->noted_count >= MAX_NOTES)
			continue;
		rs_warn("kuberay: RayCluster %s/%s: %s", k->ns, k->name, line);
		if (strv_push(&k->noted, &k->noted_count, line))
			return;
	}
}

/* provider_ops.groups: the RayCluster's groups narrowed by the config. */
static int kuberay_groups(struct provider *p, struct controller_config *out)
{
	static const struct controller_config none = {
		.max_workers = -1, .upscaling_speed = -1, .idle_timeout_s = -1,
	};
	struct kuberay *k = impl(p);
	char notes[KUBERAY_NOTES_MAX] = "";
	int rc;

	if (!k->have_spec)
		return -EAGAIN;
	rc = kuberay_spec_merge(&k->spec.cfg, k->cfg.overrides ? k->cfg.overrides : &none, out,
				notes, sizeof(notes));
	log_notes(k, k->spec.notes);
	log_notes(k, notes);
	if (rc)
		config_free(out);
	return rc;
}

static const char *kuberay_blocked(struct provider *p)
{
	return blocked(impl(p));
}

static const struct provider_ops kuberay_ops = {
	.groups = kuberay_groups,
	.blocked = kuberay_blocked,
	.name = "kuberay",
	.status_json = provider_kuberay_status_json,
	.node_alive = provider_kuberay_note_alive,
	.metrics_text = provider_kuberay_metrics_text,
	.launch = kuberay_launch,
	.terminate = kuberay_terminate,
	.refresh = kuberay_refresh,
	.list = kuberay_list,
	.destroy = kuberay_destroy,
};

int provider_kuberay_create(const struct provider_kuberay_config *cfg, struct provider *out,
			    char *err)
{
	struct kuberay *k;
	const char *ns = cfg->ns && *cfg->ns ? cfg->ns : cfg->kube ? cfg->kube->ns : NULL;

	if (!cfg->kube || !ns || !cfg->raycluster || !*cfg->raycluster) {
		seterr(err, "kuberay provider needs a Kubernetes config, a namespace and --raycluster");
		return -EINVAL;
	}
	if (strlen(ns) > 253 || strlen(cfg->raycluster) > 253 || strpbrk(ns, "/?#%") ||
	    strpbrk(cfg->raycluster, "/?#%")) {
		seterr(err, "bad namespace or RayCluster name");
		return -EINVAL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->cfg = *cfg;
	if (k->cfg.backoff_min_s <= 0)
		k->cfg.backoff_min_s = 0.5;
	if (k->cfg.backoff_max_s <= 0)
		k->cfg.backoff_max_s = 30;
	snprintf(k->ns, sizeof(k->ns), "%s", ns);
	snprintf(k->name, sizeof(k->name), "%s", cfg->raycluster);
	out->ops = &kuberay_ops;
	out->impl = k;
	return 0;
}

/* ------------------------------------------------------- timings, status */

static struct seen_pod *seen_find(struct kuberay *k, const char *name)
{
	for (size_t i = 0; i < k->seen_count; i++)
		if (!strcmp(k->seen[i].name, name))
			return &k->seen[i];
	return NULL;
}

static void record_phase(struct kuberay *k, struct seen_pod *s, int phase, double from, double to)
{
	if ((s->recorded & (1u << phase)) || from <= 0 || to <= 0 || to < from)
		return;
	s->recorded |= 1u << phase;
	k->phases.sum[s->eci][phase] += to - from;
	k->phases.count[s->eci][phase]++;
}

/* Keep one entry per current pod; add newly completed phases to the sums. */
static void track_seen(struct kuberay *k)
{
	size_t o = 0;

	for (size_t i = 0; i < k->seen_count; i++)	/* forget pods that are gone */
		if (find_pod(k, k->seen[i].name))
			k->seen[o++] = k->seen[i];
	k->seen_count = o;
	for (size_t i = 0; i < k->pod_count; i++) {
		struct kuberay_pod *p = &k->pods[i];
		const struct kuberay_group *g = find_group(k, p->group);
		struct seen_pod *s = seen_find(k, p->name);

		if (!s && k->seen_count < MAX_SEEN) {
			struct seen_pod *ns = realloc(k->seen, (k->seen_count + 1) * sizeof(*ns));

			if (!ns)
				continue;
			k->seen = ns;
			s = &k->seen[k->seen_count++];
			memset(s, 0, sizeof(*s));
			snprintf(s->name, sizeof(s->name), "%s", p->name);
			snprintf(s->group, sizeof(s->group), "%s", p->group);
			s->eci = g && g->eci;
		}
		if (!s)
			continue;
		p->ray_alive = s->ray_alive;
		record_phase(k, s, PHASE_SCHEDULE, p->created, p->scheduled);
		record_phase(k, s, PHASE_START, p->scheduled, p->ready);
		record_phase(k, s, PHASE_RAY, p->ready, p->ray_alive);
		record_phase(k, s, PHASE_TOTAL, p->created, p->ray_alive);
	}
}

/* provider_ops.node_alive: the Ray node of provider id (pod IP or name) is
 * ALIVE; the first report closes its startup timeline. */
static void provider_kuberay_note_alive(struct provider *p, const char *id, double unix_s)
{
	struct kuberay *k = impl(p);
	const struct kuberay_pod *pod = find_pod_by_id(k, id);
	struct seen_pod *s = pod ? seen_find(k, pod->name) : NULL;

	if (s && s->ray_alive <= 0)
		s->ray_alive = unix_s;
	track_seen(k);
}

static cJSON *strv_json(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *group_json(struct kuberay *k, const struct kuberay_group *g)
{
	cJSON *o = cJSON_CreateObject();
	int running = 0, pending = 0, terminating = 0;

	for (size_t i = 0; i < k->pod_count; i++) {
		const struct kuberay_pod *p = &k->pods[i];

		if (strcmp(p->group, g->name))
			continue;
		if (p->deleting)
			terminating++;
		else if (!strcmp(p->phase, "Running") && p->ready > 0)
			running++;
		else
			pending++;
	}
	cJSON_AddStringToObject(o, "name", g->name);
	cJSON_AddNumberToObject(o, "index", g->index);
	cJSON_AddBoolToObject(o, "eci", g->eci);
	cJSON_AddNumberToObject(o, "replicas", g->replicas);
	cJSON_AddNumberToObject(o, "min_replicas", g->min_replicas);
	cJSON_AddNumberToObject(o, "max_replicas", g->max_replicas);
	cJSON_AddNumberToObject(o, "num_of_hosts", g->num_of_hosts);
	cJSON_AddItemToObject(o, "node_type", resmap_to_json(&g->node_type));
	if (!g->type_ok)
		cJSON_AddStringToObject(o, "node_type_error", g->type_error);
	cJSON_AddItemToObject(o, "workers_to_delete", strv_json(g->workers_to_delete, g->wtd_count));
	cJSON_AddBoolToObject(o, "deletes_pending", g->wtd_count > 0);
	cJSON_AddNumberToObject(o, "pods_running", running);
	cJSON_AddNumberToObject(o, "pods_pending", pending);
	cJSON_AddNumberToObject(o, "pods_terminating", terminating);
	/* In-flight capacity: pending pods plus replicas with no pod yet. */
	cJSON_AddNumberToObject(o, "in_flight", pending + (effective_replicas(g) - live_pods(k, g) > 0
							    ? effective_replicas(g) - live_pods(k, g) : 0));
	cJSON_AddNumberToObject(o, "queued_launches", g->queued_launches);
	cJSON_AddItemToObject(o, "queued_victims", strv_json(g->victims, g->victim_count));
	cJSON_AddBoolToObject(o, "patch_outcome_unknown", g->inflight);
	return o;
}

static void add_since(cJSON *o, const char *key, double from, double to)
{
	if (from > 0 && to > 0)
		cJSON_AddNumberToObject(o, key, to - from);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *pod_json(struct kuberay *k, const struct kuberay_pod *p)
{
	const struct kuberay_group *g = find_group(k, p->group);
	cJSON *o = cJSON_CreateObject(), *t;

	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddStringToObject(o, "group", p->group);
	cJSON_AddBoolToObject(o, "eci", g && g->eci);
	cJSON_AddStringToObject(o, "pod_ip", p->ip);
	cJSON_AddStringToObject(o, "host_ip", p->host_ip);
	cJSON_AddStringToObject(o, "phase", p->phase);
	cJSON_AddBoolToObject(o, "deleting", p->deleting);
	if (p->unschedulable_since > 0) {
		cJSON_AddNumberToObject(o, "unschedulable_since", p->unschedulable_since);
		cJSON_AddStringToObject(o, "unschedulable", p->unschedulable);
	}
	t = cJSON_AddObjectToObject(o, "startup_s");
	cJSON_AddNumberToObject(t, "created_at", p->created);
	add_since(t, phase_names[PHASE_SCHEDULE], p->created, p->scheduled);
	add_since(t, phase_names[PHASE_START], p->scheduled, p->ready);
	add_since(t, phase_names[PHASE_RAY], p->ready, p->ray_alive);
	add_since(t, phase_names[PHASE_TOTAL], p->created, p->ray_alive);
	return o;
}

cJSON *provider_kuberay_status_json(struct provider *p)
{
	struct kuberay *k = impl(p);
	cJSON *o = cJSON_CreateObject(), *a, *c;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "provider", "kuberay");
	cJSON_AddStringToObject(o, "namespace", k->ns);
	cJSON_AddStringToObject(o, "raycluster", k->name);
	cJSON_AddBoolToObject(o, "have_state", k->have_state);
	cJSON_AddBoolToObject(o, "stale", k->stale);
	cJSON_AddBoolToObject(o, "in_tree_autoscaling", k->have_spec && k->spec.in_tree_autoscaling);
	cJSON_AddStringToObject(o, "last_error", k->last_error);
	cJSON_AddNumberToObject(o, "backoff_s", k->backoff);
	a = cJSON_AddArrayToObject(o, "groups");
	for (size_t i = 0; a && i < k->group_count; i++)
		cJSON_AddItemToArray(a, group_json(k, &k->groups[i]));
	a = cJSON_AddArrayToObject(o, "pods");
	for (size_t i = 0; a && i < k->pod_count; i++)
		cJSON_AddItemToArray(a, pod_json(k, &k->pods[i]));
	c = cJSON_AddObjectToObject(o, "counters");
	cJSON_AddNumberToObject(c, "reads", k->n.reads);
	cJSON_AddNumberToObject(c, "read_errors", k->n.read_errors);
	cJSON_AddNumberToObject(c, "patches", k->n.patches);
	cJSON_AddNumberToObject(c, "patches_ok", k->n.patch_ok);
	cJSON_AddNumberToObject(c, "conflicts", k->n.conflicts);
	cJSON_AddNumberToObject(c, "unknown_outcome", k->n.uncertain);
	cJSON_AddNumberToObject(c, "unknown_landed", k->n.resolved_landed);
	cJSON_AddNumberToObject(c, "unknown_lost", k->n.resolved_lost);
	cJSON_AddNumberToObject(c, "clears", k->n.clears);
	cJSON_AddNumberToObject(c, "errors", k->n.errors);
	return o;
}

#define M_PATCHES "raysense_kuberay_patches_total"
#define M_STARTUP "raysense_kuberay_pod_startup_seconds"

static void put_patch_counters(struct rs_prom_text *w, const struct counters *n)
{
	rs_prom_family(w, M_PATCHES, "RayCluster JSON patches by outcome.", RS_PROM_COUNTER);
	rs_prom_sample_i64(w, M_PATCHES, NULL, RS_PROM_LABELS({ "outcome", "ok" }), n->patch_ok);
	rs_prom_sample_i64(w, M_PATCHES, NULL, RS_PROM_LABELS({ "outcome", "conflict" }),
			   n->conflicts);
	rs_prom_sample_i64(w, M_PATCHES, NULL, RS_PROM_LABELS({ "outcome", "unknown" }),
			   n->uncertain);
	rs_prom_sample_i64(w, M_PATCHES, NULL, RS_PROM_LABELS({ "outcome", "error" }), n->errors);
}

static void put_startup_phases(struct rs_prom_text *w, const struct phase_stat *ps)
{
	rs_prom_family(w, M_STARTUP, "Pod startup phases seen through the Kubernetes API "
		       "(creation, PodScheduled, ContainersReady, Ray node ALIVE).",
		       RS_PROM_SUMMARY);
	for (int eci = 0; eci < 2; eci++)
		for (int ph = 0; ph < PHASE_COUNT; ph++) {
			const char *e = eci ? "true" : "false";

			rs_prom_sample(w, M_STARTUP, "_sum",
				       RS_PROM_LABELS({ "phase", phase_names[ph] }, { "eci", e }),
				       ps->sum[eci][ph]);
			rs_prom_sample_i64(w, M_STARTUP, "_count",
					   RS_PROM_LABELS({ "phase", phase_names[ph] }, { "eci", e }),
					   ps->count[eci][ph]);
		}
}

char *provider_kuberay_metrics_text(struct provider *p)
{
	struct kuberay *k = impl(p);
	struct rs_prom_text w;

	rs_prom_init(&w, RS_PROM_FLOAT_FIXED6);
	put_patch_counters(&w, &k->n);
	put_startup_phases(&w, &k->phases);
	return rs_prom_finish(&w, NULL);
}
