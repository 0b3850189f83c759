/* group_set.c -- the provider's worker groups, swapped in at a tick
 * boundary (group_set.h). */
#include "controller/group_set.h"

#include "common/log.h"

#include <errno.h>
#include <stdlib.h>

void group_set_init(struct group_set *gs)
{
	config_init(&gs->cfgs[0]);
	config_init(&gs->cfgs[1]);
	gs->cur = -1;
}

void group_set_free(struct group_set *gs)
{
	config_free(&gs->cfgs[0]);
	config_free(&gs->cfgs[1]);
	gs->cur = -1;
}

static void log_groups(const struct controller_config *c)
{
	for (size_t i = 0; i < c->group_count; i++) {
		const struct worker_group *g = &c->groups[i];

		rs_info("worker group %s: min %d, max %d, idle timeout %g s", g->name,
			g->min_workers, g->max_workers,
			g->idle_timeout_s >= 0 ? g->idle_timeout_s : c->idle_timeout_s);
	}
	rs_info("worker groups from the provider: %zu group(s), upscaling speed %g",
		c->group_count, c->upscaling_speed);
}

static int resize(double **v, size_t n)
{
	double *nv = calloc(n, sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	free(*v);
	*v = nv;
	return 0;
}

/* Point every follower at cfg.  0 or -ENOMEM (some may have moved). */
static int follow(const struct group_followers *f, const struct controller_config *cfg)
{
	int rc = metrics_set_config(f->metrics, cfg);

	if (!rc)
		rc = actuator_set_config(f->act, cfg);
	if (!rc && f->fusion)
		rc = fusion_loop_set_config(f->fusion, cfg);
	if (!rc && f->group_timeouts)
		rc = resize(f->group_timeouts, cfg->group_count + 1);
	return rc;
}

/* Make next (taken) the active set.  0 or -ENOMEM (nothing changed). */
static int swap_in(struct group_set *gs, struct controller_config *next,
		   const struct group_followers *f, const struct controller_config **active)
{
	int slot = gs->cur == 0 ? 1 : 0, rc;

	config_free(&gs->cfgs[slot]);
	gs->cfgs[slot] = *next;
	rc = follow(f, &gs->cfgs[slot]);
	if (rc && follow(f, *active))	/* back, by name again */
		rs_error("out of memory while changing worker groups");
	if (rc) {
		config_free(&gs->cfgs[slot]);
		return rc;
	}
	log_groups(&gs->cfgs[slot]);
	if (gs->cur >= 0)
		config_free(&gs->cfgs[gs->cur]);
	gs->cur = slot;
	*active = &gs->cfgs[slot];
	return 0;
}

int group_set_sync(struct group_set *gs, struct provider *p, const struct group_followers *f,
		   const struct controller_config **active)
{
	struct controller_config next;
	int rc;

	if (!p->ops->groups)
		return 0;
	rc = p->ops->groups(p, &next);
	if (rc)		/* keep the last set; none yet is a reason to wait */
		return gs->cur < 0 ? rc : 0;
	if (gs->cur >= 0 && config_equal(&next, *active)) {
		config_free(&next);
		return 0;
	}
	rc = swap_in(gs, &next, f, active);
	if (rc)
		metrics_error(f->metrics, METRICS_ERR_PROVIDER);
	return gs->cur < 0 ? rc : 0;
}
