/* actuator.c -- plans to provider calls, with the safety vetoes and the
 * launch/termination bookkeeping (actuator.h). */
#include "controller/act/actuator.h"

#include "common/fnv.h"
#include "common/log.h"
#include "controller/plan/plan_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int actuator_init(struct actuator *a, const struct actuator_deps *deps)
{
	memset(a, 0, sizeof(*a));
	a->d = *deps;
	a->last_launch_at = calloc(deps->config->group_count + 1, sizeof(*a->last_launch_at));
	a->failures = calloc(deps->config->group_count + 1, sizeof(*a->failures));
	if (!a->last_launch_at || !a->failures) {
		actuator_fini(a);
		return -ENOMEM;
	}
	return 0;
}

void actuator_fini(struct actuator *a)
{
	free(a->last_launch_at);
	a->last_launch_at = NULL;
	free(a->failures);
	a->failures = NULL;
	free(a->alive);
	a->alive = NULL;
}

double actuator_launch_timeout(const struct actuator *a, size_t g)
{
	const struct actuator_observer *o = &a->d.obs;

	return o->launch_timeout ? o->launch_timeout(o->ctx, g, a->d.launch_timeout_s) :
	       a->d.launch_timeout_s;
}

/* Per-group state for the n groups of a new set: entry i is the old
 * group map[i]'s (zero for a new group).  NULL when out of memory. */
static void *follow_groups(const void *old, size_t size, const int *map, size_t n)
{
	char *out = calloc(n + 1, size);

	for (size_t i = 0; out && i < n; i++)
		if (map[i] >= 0)
			memcpy(out + i * size, (const char *)old + (size_t)map[i] * size, size);
	return out;
}

int actuator_set_config(struct actuator *a, const struct controller_config *cfg)
{
	int *map = calloc(cfg->group_count + 1, sizeof(*map));
	double *last = NULL;
	struct launch_failures *fail = NULL;

	if (map) {
		config_group_map(a->d.config, cfg, map);
		last = follow_groups(a->last_launch_at, sizeof(*last), map, cfg->group_count);
		fail = follow_groups(a->failures, sizeof(*fail), map, cfg->group_count);
	}
	if (!last || !fail) {
		free(map);
		free(last);
		free(fail);
		return -ENOMEM;
	}
	free(map);
	free(a->last_launch_at);
	a->last_launch_at = last;
	free(a->failures);
	a->failures = fail;
	a->d.config = cfg;
	return 0;
}

static bool provider_stop(struct actuator *a, const char *id)
{
	char err[PROVIDER_ERR_LEN] = "";

	if (a->d.dry_run || !a->d.provider->ops->terminate(a->d.provider, id, err))
		return true;
	metrics_error(a->d.metrics, METRICS_ERR_PROVIDER);
	rs_error("provider: cannot stop %s: %s", id, err);
	return false;
}

/* ---------------------------------------------------------------- reconcile */

void actuator_give_up(struct actuator *a, const char *id, size_t g, double waited_s,
		      enum term_reason why, const char *detail, double now)
{
	const char *type = g < a->d.config->group_count ? a->d.config->groups[g].name : "?";
	cJSON *d = decision_new(DECISION_TERMINATE);
	char msg[512];

	cJSON_AddStringToObject(d, "type", type);
	cJSON_AddStringToObject(d, "node", id);
	if (why == TR_UNSCHEDULABLE) {
		snprintf(msg, sizeof(msg), "terminate %s: Unschedulable %.0f s after launch (%.160s); "
			 "another group takes its demand", id, waited_s, detail ? detail : "");
		cJSON_AddStringToObject(d, "reason", "unschedulable");
		cJSON_AddStringToObject(d, "unschedulable", detail ? detail : "");
	} else {
		snprintf(msg, sizeof(msg), "terminate %s: not ALIVE in Ray %.0f s after launch", id,
			 waited_s);
		cJSON_AddStringToObject(d, "reason", "launch_timeout");
		cJSON_AddNumberToObject(d, "launch_timeout_s", actuator_launch_timeout(a, g));
	}
	provider_stop(a, id);
	metrics_termination(a->d.metrics, g, why);
	decision_record(a->d.log, d, msg, now);
}

static void expire_pending(struct actuator *a, const struct provider_node *pn, int g, double now)
{
	const struct actuator_observer *o = &a->d.obs;

	actuator_give_up(a, pn->id, (size_t)g, now - pn->launched_at, TR_LAUNCH_TIMEOUT, NULL, now);
	if (o->gave_up)
		o->gave_up(o->ctx, (size_t)g, pn->id, now - pn->launched_at, now);
}

static int cmp_id(const void *x, const void *y)
{
	return strcmp(x, y);
}

static bool was_alive(const struct actuator *a, const char *id)
{
	return a->alive_n && bsearch(id, a->alive, a->alive_n, sizeof(*a->alive), cmp_id);
}

/* The ids ALIVE now become the set for next tick.  On allocation failure
 * the old set stays (a first sighting may then be reported late). */
static void remember_alive(struct actuator *a, const struct provider_node *pn, size_t np,
			   const struct dash_snapshot *s)
{
	char (*ids)[PROVIDER_ID_MAX] = malloc((np + 1) * sizeof(*ids));
	size_t n = 0;

	if (!ids)
		return;
	for (size_t i = 0; i < np; i++)
		if (plan_ray_node_of(s, pn[i].id))
			memcpy(ids[n++], pn[i].id, PROVIDER_ID_MAX);
	qsort(ids, n, sizeof(*ids), cmp_id);
	free(a->alive);
	a->alive = ids;
	a->alive_n = n;
}

/* A launch that ended on its own before Ray listed it ALIVE (its `ray
 * start` exited, ...): record it, and hold the group's launches for a
 * back-off that doubles with each such launch in a row. */
static void launch_failed(struct actuator *a, const struct provider_node *pn, size_t g,
			  double now)
{
	struct launch_failures *f = &a->failures[g];
	/* 5 s * 2^16 is far past the max already. */
	double hold = fmin(ldexp(LAUNCH_BACKOFF_FIRST_S, f->streak < 16 ? f->streak : 16),
			   LAUNCH_BACKOFF_MAX_S);
	const char *type = a->d.config->groups[g].name;
	cJSON *d = decision_new(DECISION_LAUNCH_FAILED);
	char msg[512];

	f->streak++;
	f->hold_until = now + hold;
	snprintf(msg, sizeof(msg), "launch %s of %s ended %.0f s after launch, before Ray listed "
		 "it ALIVE (%d in a row); no %s launch for %.0f s", pn->id, type,
		 now - pn->launched_at, f->streak, type, hold);
	cJSON_AddStringToObject(d, "type", type);
	cJSON_AddStringToObject(d, "node", pn->id);
	cJSON_AddStringToObject(d, "reason", "exited_before_alive");
	cJSON_AddNumberToObject(d, "failures_in_a_row", f->streak);
	cJSON_AddNumberToObject(d, "backoff_s", hold);
	metrics_error(a->d.metrics, METRICS_ERR_PROVIDER);
	decision_record(a->d.log, d, msg, now);
}

void actuator_failed_launches(struct actuator *a, double now)
{
	struct provider *prov = a->d.provider;
	const struct provider_node *pn;
	size_t n = prov->ops->failed_launches ? prov->ops->failed_launches(prov, &pn) : 0;

	for (size_t i = 0; i < n; i++) {
		int g = plan_group_index(a->d.config, pn[i].type);

		if (g >= 0)
			launch_failed(a, &pn[i], (size_t)g, now);
	}
}

void actuator_reconcile(struct actuator *a, const struct dash_snapshot *s, double now)
{
	struct provider *prov = a->d.provider;
	const struct provider_node *pn;
	/* terminate edits entries in place (provider.h), so pn stays valid. */
	size_t np = prov->ops->list(prov, &pn);

	for (size_t i = 0; i < np; i++) {
		int g = plan_group_index(a->d.config, pn[i].type);
		const struct dash_node *dn;

		if (pn[i].stop_requested_at > 0 || g < 0)
			continue;
		dn = plan_ray_node_of(s, pn[i].id);
		if (dn && prov->ops->node_alive)
			prov->ops->node_alive(prov, pn[i].id, now);
		if (dn && !was_alive(a, pn[i].id)) {
			a->failures[g].streak = 0;
			if (a->d.obs.alive)
				a->d.obs.alive(a->d.obs.ctx, (size_t)g, now - pn[i].launched_at);
		}
		if (plan_launch_expired(&pn[i], dn, now, actuator_launch_timeout(a, (size_t)g)))
			expire_pending(a, &pn[i], g, now);
	}
	np = prov->ops->list(prov, &pn);
	remember_alive(a, pn, np, s);
}

/* ---------------------------------------------------------------- launches */

static int count_provider_nodes(struct actuator *a, const char *type)
{
	const struct provider_node *pn;
	size_t np = a->d.provider->ops->list(a->d.provider, &pn);
	int n = 0;

	for (size_t i = 0; i < np; i++)
		if (!type || !strcmp(pn[i].type, type))
			n++;
	return n;
}

/* The demand behind the first n launches of type t: one entry per demand
 * item, its counts summed over those nodes. */
static cJSON *launch_demand(const struct plan_input *p, const struct planner_output *out,
			    size_t t, size_t n)
{
	struct planner_reason *sum = calloc(out->reason_count + 1, sizeof(*sum));
	cJSON *because = cJSON_CreateArray();
	size_t seen = 0, ns = 0;

	for (size_t i = 0; sum && i < out->new_node_count && seen < n; i++) {
		const struct planner_new_node *nn = &out->new_nodes[i];

		if (nn->type_index != t || nn->deferred)
			continue;
		seen++;
		for (size_t r = 0; r < nn->reason_count; r++) {
			const struct planner_reason *re = &out->reasons[nn->reason_start + r];
			size_t k = 0;

			while (k < ns && (sum[k].cause != re->cause || sum[k].index != re->index))
				k++;
			if (k == ns)
				sum[ns++] = (struct planner_reason){ re->cause, re->index, 0 };
			sum[k].count += re->count;
		}
	}
	for (size_t k = 0; because && k < ns; k++)
		cJSON_AddItemToArray(because, plan_json_demand(&p->in, sum[k].cause, sum[k].index,
							       sum[k].count));
	free(sum);
	return because;
}

/* Up to LAUNCH_IDS_MAX node ids, comma-separated, into buf. */
static void ids_text(char (*ids)[PROVIDER_ID_MAX], int n, char *buf, size_t size)
{
	size_t w = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && i < LAUNCH_IDS_MAX && w < size; i++)
		w += (size_t)snprintf(buf + w, size - w, "%s%s", i ? "," : "", ids[i]);
}

/* One decision for a group's launches this tick: how many, the node ids
 * (at most LAUNCH_IDS_MAX; none in --dry-run) and the demand behind them. */
static void record_launches(struct actuator *a, const struct plan_input *p,
			    const struct planner_output *out, size_t t, int done,
			    char (*ids)[PROVIDER_ID_MAX])
{
	const struct worker_group *wg = &a->d.config->groups[t - PLAN_FIRST_GROUP_TYPE];
	char msg[1024], list[LAUNCH_IDS_MAX * 24], *dem;
	cJSON *d = decision_new(DECISION_LAUNCH), *nodes = NULL, *because;

	because = launch_demand(p, out, t, (size_t)done);
	dem = because ? cJSON_PrintUnformatted(because) : NULL;
	ids_text(ids, done, list, sizeof(list));
	if (a->d.dry_run)
		snprintf(msg, sizeof(msg), "launch %d %s node(s) (dry-run) for %.600s", done,
			 wg->name, dem ? dem : "?");
	else
		snprintf(msg, sizeof(msg), "launch %d %s node(s) %.200s%s for %.600s", done,
			 wg->name, list, done > LAUNCH_IDS_MAX ? ",..." : "", dem ? dem : "?");
	free(dem);
	cJSON_AddStringToObject(d, "type", wg->name);
	cJSON_AddNumberToObject(d, "count", done);
	if (!a->d.dry_run && (nodes = cJSON_AddArrayToObject(d, "nodes")))
		for (int i = 0; i < done && i < LAUNCH_IDS_MAX; i++)
			cJSON_AddItemToArray(nodes, cJSON_CreateString(ids[i]));
	if (!cJSON_AddItemToObject(d, "demand", because))
		cJSON_Delete(because);
	decision_record(a->d.log, d, msg, p->now);
}

/* Launch n nodes of type t (fewer when the provider fails: it stops at the
 * first failure); one decision for those that started. */
static void launch_group(struct actuator *a, const struct plan_input *p,
			 const struct planner_output *out, size_t t, int n)
{
	size_t g = t - PLAN_FIRST_GROUP_TYPE;
	const struct worker_group *wg = &a->d.config->groups[g];
	char ids[LAUNCH_IDS_MAX][PROVIDER_ID_MAX], id[PROVIDER_ID_MAX], err[PROVIDER_ERR_LEN];
	int done = 0;

	for (; done < n; done++) {
		snprintf(id, sizeof(id), "(dry-run)");
		err[0] = '\0';
		if (!a->d.dry_run && a->d.provider->ops->launch(a->d.provider, wg, id, err)) {
			metrics_error(a->d.metrics, METRICS_ERR_PROVIDER);
			rs_error("provider: cannot launch a %s node (%d of %d launched this "
				 "tick): %s", wg->name, done, n, err);
			break;
		}
		if (done < LAUNCH_IDS_MAX)
			memcpy(ids[done], id, PROVIDER_ID_MAX);
		a->last_launch_at[g] = p->now;
		if (a->d.obs.launched)
			a->d.obs.launched(a->d.obs.ctx, g, p->now);
		metrics_launch(a->d.metrics, g);
	}
	if (done)
		record_launches(a, p, out, t, done, ids);
}

static void do_launches(struct actuator *a, const struct plan_input *p,
			const struct planner_output *out)
{
	const struct controller_config *cfg = a->d.config;
	int total = count_provider_nodes(a, NULL);

	for (size_t t = PLAN_FIRST_GROUP_TYPE; t < out->launch_count; t++) {
		const struct worker_group *g = &cfg->groups[t - PLAN_FIRST_GROUP_TYPE];
		/* Stopping nodes still run: count them so max holds at every instant. */
		int room = g->max_workers - count_provider_nodes(a, g->name);
		int n = out->launches[t].count;

		if (cfg->max_workers >= 0 && cfg->max_workers - total < room)
			room = cfg->max_workers - total;
		if (n > room) {
			rs_info("launch of %d %s node(s) capped to %d: stopping nodes still count "
				"against max", n, g->name, room > 0 ? room : 0);
			n = room;
		}
		if (n > 0 && p->now < a->failures[t - PLAN_FIRST_GROUP_TYPE].hold_until) {
			rs_debug("not launching %d %s node(s): backed off %.1f s more after a failed "
				 "launch", n, g->name,
				 a->failures[t - PLAN_FIRST_GROUP_TYPE].hold_until - p->now);
			n = 0;
		}
		if (n > 0) {
			launch_group(a, p, out, t, n);
			total += n;
		}
	}
}

/* ---------------------------------------------------------------- terminations */

static cJSON *term_json(const struct planner_termination *tm, const struct node_ref *ref,
			enum decision_action action)
{
	cJSON *d = decision_new(action);

	cJSON_AddStringToObject(d, "type", tm->type);
	cJSON_AddStringToObject(d, "node", tm->id);
	if (ref->dn)
		cJSON_AddStringToObject(d, "ray_node_id", ref->dn->node_id);
	cJSON_AddStringToObject(d, "reason", planner_term_reason_name(tm->reason));
	if (tm->idle_s >= 0)
		cJSON_AddNumberToObject(d, "idle_s", round(tm->idle_s * 10) / 10);
	if (tm->timeout_s >= 0)
		cJSON_AddNumberToObject(d, "idle_timeout_s", tm->timeout_s);
	return d;
}

/* A veto that is a decision of its own (recorded as "keep"), not an
 * expected pause such as staleness or the cool-down (logged at debug). */
#define VETO_RECHECK "re-check"

/* Why this termination must not happen now, or NULL. */
static const char *veto(struct actuator *a, const struct plan_input *p,
			const struct planner_termination *tm, const struct node_ref *ref,
			char *buf, size_t size)
{
	int g = plan_group_index(a->d.config, tm->type);
	char err[DASH_ERR_LEN] = "";
	bool busy = true;

	if (ref->kind != REF_PROVIDER || g < 0)
		return "not a node this controller launched";
	if (!p->usage_fresh)
		return "per-node usage is stale";
	if (p->scale_down_hold) {
		snprintf(buf, size, "%.200s", p->scale_down_hold);
		return buf;
	}
	if (p->now - a->last_launch_at[g] < a->d.cooldown_s) {
		snprintf(buf, size, "cool-down: a %s node was launched %.1f s ago (< %.0f s)",
			 tm->type, p->now - a->last_launch_at[g], a->d.cooldown_s);
		return buf;
	}
	if (!ref->dn)
		return NULL;	/* pending (over max): nothing runs there yet */
	if (a->d.source->ops->node_has_work(a->d.source, ref->dn->node_id, &busy, err)) {
		metrics_error(a->d.metrics, DASH_SRC_TASKS);
		snprintf(buf, size, VETO_RECHECK " failed (%.200s)", err);
		return buf;
	}
	return busy ? VETO_RECHECK " found a task or actor on it" : NULL;
}

static enum term_reason term_reason_of(enum planner_term_reason r)
{
	return r == PLANNER_TERM_IDLE ? TR_IDLE : r == PLANNER_TERM_MAX_PER_TYPE ? TR_MAX_PER_TYPE :
	       TR_MAX_GLOBAL;
}

static void terminate_one(struct actuator *a, const struct plan_input *p,
			  const struct planner_termination *tm)
{
	const struct node_ref *ref = &p->refs[tm->node_index];
	char buf[256], msg[512];
	const char *why = veto(a, p, tm, ref, buf, sizeof(buf));

	if (why) {
		snprintf(msg, sizeof(msg), "keep %s: %s", tm->id, why);
		if (!strncmp(why, VETO_RECHECK, strlen(VETO_RECHECK)))
			decision_record(a->d.log, term_json(tm, ref, DECISION_KEEP), msg, p->now);
		else
			rs_debug("not terminating %s: %s", tm->id, why);
		return;
	}
	if (!provider_stop(a, tm->id))
		return;
	if (tm->reason == PLANNER_TERM_IDLE)
		snprintf(msg, sizeof(msg), "terminate %s node %s: idle %.1f s > timeout %.0f s",
			 tm->type, tm->id, tm->idle_s, tm->timeout_s);
	else
		snprintf(msg, sizeof(msg), "terminate %s node %s: %s", tm->type, tm->id,
			 planner_term_reason_name(tm->reason));
	metrics_termination(a->d.metrics, (size_t)plan_group_index(a->d.config, tm->type),
			    term_reason_of(tm->reason));
	if (tm->reason == PLANNER_TERM_IDLE && a->d.obs.stopped_idle)
		a->d.obs.stopped_idle(a->d.obs.ctx, (size_t)plan_group_index(a->d.config, tm->type),
				      p->now);
	decision_record(a->d.log, term_json(tm, ref, DECISION_TERMINATE), msg, p->now);
}

/* FNV-1a of the causes and shapes (not the counts) behind type t's
 * launches: which demand the plan serves. */
static unsigned long long served_hash(const struct plan_input *p, const struct planner_output *out,
				      size_t t)
{
	cJSON *because = launch_demand(p, out, t, (size_t)out->launches[t].count), *d;
	uint64_t h = RS_FNV1A_INIT;

	cJSON_ArrayForEach(d, because) {
		char *shape = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(d, "shape"));
		const char *cause = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "cause"));

		h = rs_fnv1a_str(h, cause ? cause : "");
		h = rs_fnv1a_str(h, shape ? shape : "");
		h = rs_fnv1a(h, "|", 1);
		free(shape);
	}
	cJSON_Delete(because);
	return h;
}

/* In --dry-run the same plan repeats every tick: act on (record) it once.
 * The same plan = the same launch counts, serving the same shapes, and the
 * same terminations. */
static bool dry_run_repeat(struct actuator *a, const struct plan_input *p,
			   const struct planner_output *out)
{
	char sig[sizeof(a->dry_sig)] = "";
	size_t w = 0;

	if (!a->d.dry_run)
		return false;
	for (size_t t = 0; t < out->launch_count && w < sizeof(sig) - 64; t++)
		w += (size_t)snprintf(sig + w, sizeof(sig) - w, "%s=%d#%llx,", out->launches[t].type,
				      out->launches[t].count,
				      t >= PLAN_FIRST_GROUP_TYPE && out->launches[t].count > 0 ?
				      served_hash(p, out, t) : 0ULL);
	for (size_t i = 0; i < out->termination_count && w < sizeof(sig) - 128; i++)
		w += (size_t)snprintf(sig + w, sizeof(sig) - w, "-%s,", out->terminations[i].id);
	if (!strcmp(sig, a->dry_sig))
		return true;
	snprintf(a->dry_sig, sizeof(a->dry_sig), "%s", sig);
	return false;
}

void actuator_apply(struct actuator *a, const struct plan_input *p,
		    const struct planner_output *out)
{
	if (dry_run_repeat(a, p, out))
		return;
	do_launches(a, p, out);
	for (size_t i = 0; i < out->termination_count; i++)
		terminate_one(a, p, &out->terminations[i]);
}
