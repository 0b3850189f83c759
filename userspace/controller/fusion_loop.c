/* fusion_loop.c -- the fusion rules wired into the loop (fusion_loop.h). */
#include "controller/fusion_loop.h"

#include "common/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static double obs_timeout(void *ctx, size_t g, double configured)
{
	return fusion_launch_timeout(&((struct fusion_loop *)ctx)->fusion, g, configured);
}

static void obs_launched(void *ctx, size_t g, double t)
{
	fusion_node_launched(&((struct fusion_loop *)ctx)->fusion, g, t);
}

static void obs_alive(void *ctx, size_t g, double startup_s)
{
	struct fusion_loop *c = ctx;

	fusion_node_alive(&c->fusion, g, startup_s);
	if (g < c->fusion.group_count)
		metrics_startup_publish(c->metrics, g, &c->fusion.g[g].startup);
}

static void obs_stopped_idle(void *ctx, size_t g, double t)
{
	fusion_node_stopped_idle(&((struct fusion_loop *)ctx)->fusion, g, t);
}

static void obs_gave_up(void *ctx, size_t g, const char *node, double waited, double t)
{
	struct fusion_loop *c = ctx;

	fusion_launch_given_up(&c->fusion, g, node, waited, t, &c->notes);
}

static const char *group_name(const struct fusion_loop *c, size_t g)
{
	return g < c->cfg->group_count ? c->cfg->groups[g].name : "?";
}

static void record_fallback(struct fusion_loop *c, const struct fusion_note *n, double t)
{
	cJSON *d = decision_new(DECISION_FALLBACK);
	char msg[768];

	if (n->kind == FUSION_FALLBACK_UNSCHEDULABLE)
		snprintf(msg, sizeof(msg), "fallback: %s launch %s Unschedulable for %.0f s (%.160s); "
			 "group %s backed off for %.0f s, its demand goes to %s",
			 group_name(c, n->group), n->node, n->unschedulable_s, n->detail,
			 group_name(c, n->group), n->limit, group_name(c, n->to_group));
	else
		snprintf(msg, sizeof(msg), "fallback: %s launch %s not ALIVE after %.0f s (stuck); "
			 "group %s backed off for %.0f s, its demand goes to the other groups",
			 group_name(c, n->group), n->node, n->value, group_name(c, n->group), n->limit);
	cJSON_AddStringToObject(d, "type", group_name(c, n->group));
	cJSON_AddStringToObject(d, "node", n->node);
	cJSON_AddStringToObject(d, "reason", fusion_note_kind_name(n->kind));
	cJSON_AddNumberToObject(d, "waited_s", round(n->value * 10) / 10);
	cJSON_AddNumberToObject(d, "backoff_s", n->limit);
	if (n->kind == FUSION_FALLBACK_UNSCHEDULABLE) {
		cJSON_AddNumberToObject(d, "unschedulable_s", round(n->unschedulable_s * 10) / 10);
		cJSON_AddStringToObject(d, "unschedulable", n->detail);
		cJSON_AddStringToObject(d, "to", group_name(c, n->to_group));
	}
	decision_record(c->log, d, msg, t);
}

static void record_keep(struct fusion_loop *c, const struct fusion_note *n, double t)
{
	cJSON *d = decision_new(DECISION_KEEP);
	char msg[512];

	if (n->kind == FUSION_KEEP_LEASE)
		snprintf(msg, sizeof(msg), "keep %s: it served a lease %.1f s ago (< %.0f s)",
			 n->node, n->value, n->limit);
	else
		snprintf(msg, sizeof(msg), "keep %s: %.1f rejected/spilled-back leases per second "
			 "(> %.1f): no scale-down in a burst", n->node, n->value, n->limit);
	cJSON_AddStringToObject(d, "type", group_name(c, n->group));
	cJSON_AddStringToObject(d, "node", n->node);
	cJSON_AddStringToObject(d, "reason", fusion_note_kind_name(n->kind));
	cJSON_AddNumberToObject(d, "value", round(n->value * 10) / 10);
	cJSON_AddNumberToObject(d, "limit", n->limit);
	decision_record(c->log, d, msg, t);
}

/* Decisions for what fusion did this tick; a node kept for the same
 * reason as last tick is not recorded again. */
static void record_fusion(struct fusion_loop *c, double t)
{
	char sig[sizeof(c->kept_sig)] = "";
	size_t len = 0;

	for (size_t i = 0; i < c->notes.n; i++) {
		const struct fusion_note *n = &c->notes.v[i];
		char key[160];

		if (n->kind == FUSION_FALLBACK || n->kind == FUSION_FALLBACK_UNSCHEDULABLE) {
			record_fallback(c, n, t);
			continue;
		}
		/* An adaptive timeout is said again when it changes (a new
		 * startup sample moves the p90), so the log names the one in force. */
		if (n->kind == FUSION_ADAPTIVE_IDLE)
			snprintf(key, sizeof(key), "%d:%s:%zu:%.0f,", n->kind, n->node, n->group,
				 n->value);
		else
			snprintf(key, sizeof(key), "%d:%s:%zu,", n->kind, n->node, n->group);
		if (len + strlen(key) < sizeof(sig))
			len += (size_t)snprintf(sig + len, sizeof(sig) - len, "%s", key);
		if (n->kind == FUSION_ADAPTIVE_IDLE) {
			if (!strstr(c->kept_sig, key))
				rs_info("adaptive idle timeout: %s keeps idle nodes %.0f s (demand "
					"returned; configured %.0f s)", group_name(c, n->group),
					n->value, n->limit);
			continue;
		}
		if (!strstr(c->kept_sig, key))
			record_keep(c, n, t);
	}
	snprintf(c->kept_sig, sizeof(c->kept_sig), "%s", sig);
}

/* The cluster's live Ray nodes as the dashboard listed them (head,
 * unmanaged and launched): the signals count only these raylets. */
static void publish_cluster(struct fusion_loop *c, const struct plan_input *p)
{
	const char **ids = calloc(p->in.node_count + 1, sizeof(*ids));
	size_t n = 0;

	for (size_t i = 0; ids && i < p->in.node_count; i++)
		if (p->refs[i].dn)
			ids[n++] = p->refs[i].dn->node_id;
	if (!ids || signals_set_cluster_nodes(c->signals, ids, n))
		rs_warn("fusion: out of memory for the cluster's node ids; the signals keep the last set");
	free(ids);
}

/* Agents' lease times per plan node; the reject rate; says once when the
 * agents' data goes stale (then fusion's keep rules have nothing to act on
 * and decisions follow the logical demand alone). */

static double *lease_times(struct fusion_loop *c, const struct plan_input *p,
			   struct fusion_signals *sig)
{
	double *at = calloc(p->in.node_count + 1, sizeof(*at));
	int fresh;

	publish_cluster(c, p);
	sig->reject_rate = signals_reject_rate(c->signals, p->now, c->signal_max_age_s);
	for (size_t i = 0; at && i < p->in.node_count; i++) {
		struct node_leases nl;

		if (p->refs[i].dn && signals_node_leases(c->signals, p->refs[i].dn->node_id, p->now,
							 c->signal_max_age_s, &nl))
			at[i] = nl.last_lease_at;
	}
	sig->last_lease_at = at;
	fresh = sig->reject_rate >= 0;
	if (c->agents_fresh != fresh) {
		if (fresh)
			rs_info("agent signals fresh: fusion rules active");
		else if (c->agents_fresh > 0)
			rs_warn("agent signals missing or older than %.0f s: deciding from the logical "
				"demand alone", c->signal_max_age_s);
		c->agents_fresh = fresh;
	}
	return at;
}

static int cmp_counted(const void *a, const void *b)
{
	return strcmp(((const struct counted_node *)a)->id, ((const struct counted_node *)b)->id);
}

static bool counted(const struct fusion_loop *c, const char *id)
{
	struct counted_node key;

	snprintf(key.id, sizeof(key.id), "%s", id);
	return c->ncounted && bsearch(&key, c->counted, c->ncounted, sizeof(key), cmp_counted);
}

/* One agent sample per Ray node of a worker group: a node counted before
 * stays counted while it is in the plan (the set holds only those, so it
 * stays bounded by the plan's nodes). */
static void learn_agent_startups(struct fusion_loop *c, const struct plan_input *p)
{
	struct counted_node *next = calloc(p->in.node_count + 1, sizeof(*next));
	size_t n = 0;

	if (!next)
		return;		/* nothing learned this tick; the old set stays */
	for (size_t i = 0; i < p->in.node_count; i++) {
		const struct dash_node *dn = p->refs[i].dn;
		int g = plan_group_index(c->cfg, p->in.nodes[i].type);
		double s;

		if (!dn || !dn->node_id || g < 0 || strlen(dn->node_id) >= sizeof(next->id))
			continue;
		if (!counted(c, dn->node_id)) {
			if (!signals_node_startup(c->signals, dn->node_id, p->now,
						  c->signal_max_age_s, &s))
				continue;
			fusion_agent_startup(&c->fusion, (size_t)g, s);
			metrics_startup_publish(c->metrics, (size_t)g, &c->fusion.g[g].startup);
		}
		snprintf(next[n++].id, sizeof(next->id), "%s", dn->node_id);
	}
	qsort(next, n, sizeof(*next), cmp_counted);
	free(c->counted);
	c->counted = next;
	c->ncounted = n;
}

void fusion_loop_before(struct fusion_loop *c, struct plan_input *p)
{
	learn_agent_startups(c, p);
	fusion_adjust_input(&c->fusion, p, &c->notes);
}

void fusion_loop_unschedulable(struct fusion_loop *c, struct plan_input *p,
			       struct planner_output *out)
{
	if (fusion_unschedulable(&c->fusion, p, out, &c->giveups, &c->notes))
		rs_warn("unschedulable fallback: out of memory; this tick's plan stands as made");
}

void fusion_loop_stop_unplaceable(struct fusion_loop *c, struct actuator *a, double now)
{
	for (size_t i = 0; i < c->giveups.n; i++)
		actuator_give_up(a, c->giveups.v[i].node, c->giveups.v[i].group,
				 c->giveups.v[i].waited_s, TR_UNSCHEDULABLE, c->giveups.v[i].detail,
				 now);
	c->giveups.n = 0;
}

void fusion_loop_after(struct fusion_loop *c, const struct plan_input *p,
		       struct planner_output *out)
{
	struct fusion_signals sig = { 0 };
	double *at;

	if (c->fusion.cfg.enabled) {
		at = lease_times(c, p, &sig);
		fusion_filter_plan(&c->fusion, p, out, &sig, &c->notes);
		free(at);
	}
	record_fusion(c, p->now);
	c->notes.n = 0;
}

struct actuator_observer fusion_loop_observer(struct fusion_loop *c)
{
	return (struct actuator_observer){
		.ctx = c,
		.launch_timeout = obs_timeout,
		.launched = obs_launched,
		.alive = obs_alive,
		.stopped_idle = obs_stopped_idle,
		.gave_up = obs_gave_up,
	};
}

int fusion_loop_init(struct fusion_loop *c, const struct fusion_loop_deps *deps)
{
	memset(c, 0, sizeof(*c));
	c->cfg = deps->cfg;
	c->signals = deps->signals;
	c->log = deps->log;
	c->metrics = deps->metrics;
	c->signal_max_age_s = deps->signal_max_age_s;
	c->agents_fresh = -1;
	return fusion_init(&c->fusion, deps->fusion, deps->cfg->group_count);
}

int fusion_loop_set_config(struct fusion_loop *c, const struct controller_config *cfg)
{
	int *map = calloc(cfg->group_count + 1, sizeof(*map));
	int rc;

	if (!map)
		return -ENOMEM;
	config_group_map(c->cfg, cfg, map);
	rc = fusion_regroup(&c->fusion, map, cfg->group_count);
	free(map);
	if (!rc)
		c->cfg = cfg;
	return rc;
}

void fusion_loop_fini(struct fusion_loop *c)
{
	free(c->counted);
	c->counted = NULL;
	c->ncounted = 0;
	fusion_fini(&c->fusion);
}

