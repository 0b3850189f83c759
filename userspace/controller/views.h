/* views.h -- the JSON of GET /api/v1/status: node types, nodes (head,
 * unmanaged, pending, running, stopping), the demand the plan saw and where
 * it came from, the last plan (plan_json.h), the provider's status and the
 * agents.  Built on the loop thread after each tick (HTTP threads must not
 * read the provider), then published by the controller. */
#ifndef RAYSENSE_CONTROLLER_VIEWS_H
#define RAYSENSE_CONTROLLER_VIEWS_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "controller/config.h"
#include "controller/fusion/fusion.h"
#include "controller/source/demand.h"
#include "controller/plan/plan_input.h"
#include "controller/plan/planner.h"
#include "controller/provider/provider.h"
#include "controller/source/signals.h"

/* What every status has, planned or holding. */
cJSON *views_status_base(const struct controller_config *cfg, struct provider *prov,
			 struct signals *sig, bool dry_run, double now);
/* Add "nodes", "demand" and "last_plan" for a planned tick. */
void views_add_plan(cJSON *st, struct provider *prov, const struct dash_snapshot *s,
		    const struct plan_input *p, const struct planner_output *out);

/* Add "fusion": whether it is on, and per group the startup model, the
 * launch timeout, any back-off and the idle timeout in force. */
void views_add_fusion(cJSON *st, const struct fusion *f, const struct controller_config *cfg,
		      const struct plan_input *p);

#endif
