/* ray_text.h -- strict parsers for the human-readable text that Ray's
 * dashboard serves under autoscaler v2, where /api/cluster_status has no
 * structured report (clusterStatus: null).  Verified on Ray 2.60.0 (see
 * docs/dashboard-facts.md, fixtures tests/fixtures/dashboard/v2_*):
 *
 *   /api/cluster_status?format=1   data.clusterStatus is the text of
 *       ray.autoscaler.v2.utils.ClusterStatusFormatter.format(), live from
 *       the GCS.  We read two sections:
 *         From request_resources:
 *          {'CPU': 4.0}: 2 from request_resources()
 *         Pending Demands:
 *          {'CPU': 1.0}: 2+ pending tasks/actors (1+ using placement groups)
 *          {'CPU': 1.0} * 2 (STRICT_SPREAD): 1+ pending placement groups
 *   /nodes?view=summary             data.nodeLogicalResources[node id] is
 *       parse_usage(verbose=True) text, one "used/total name" per line:
 *         2.0/2.0 CPU (1.0 used of 1.0 reserved in placement groups)
 *         0B/15.69GiB memory
 *
 * Resource shapes in that text are Python dict reprs ({'CPU': 1.0}), not
 * JSON; rtext_parse_pydict reads exactly the subset Ray prints (single-quoted
 * names without quotes or backslashes, non-negative finite numbers) and
 * rejects everything else.  Any line these parsers do not recognise makes
 * the whole text an error: the caller then treats that data as missing,
 * which never scales anything down.
 *
 * Caveat from Ray's code (autoscaler/v2/utils.py _demand_report), observed
 * live: placement-group lines are keyed by strategy|state only, so pending
 * groups with one strategy but different bundles print as ONE line with one
 * group's bundles and the total count.  Strategies of individual groups are
 * therefore recovered by pg_match.c, not here. */
#ifndef RAYSENSE_CONTROLLER_RAY_TEXT_H
#define RAYSENSE_CONTROLLER_RAY_TEXT_H

#include <stddef.h>

#include "controller/source/demand.h"
#include "controller/plan/resmap.h"

/* Largest text accepted (the dashboard's answer is also capped by the
 * client's max_response). */
#define RTEXT_MAX_LEN (4u << 20)

struct rtext_status {
	/* Task/actor demand, not counting tasks inside placement groups. */
	struct dash_shape *tasks;
	size_t task_count;
	/* One per line: an example group's unplaced bundles, its strategy, and
	 * how many pending groups share that strategy (and state). */
	struct dash_pg *pg_lines;
	size_t pg_line_count;
	struct dash_shape *requests;	/* request_resources() bundles */
	size_t request_count;
};

/* {'name': number, ...} at s[0..len).  *consumed = bytes read up to and
 * including '}'.  Zero amounts are kept.  0, -EINVAL (err says why), -ENOMEM. */
int rtext_parse_pydict(const char *s, size_t len, size_t *consumed, struct resmap *out,
		       char *err);

/* The whole ?format=1 text. */
int rtext_parse_status(const char *text, size_t len, struct rtext_status *out, char *err);
void rtext_status_free(struct rtext_status *st);

/* One node's nodeLogicalResources text into used and total per raw resource
 * name.  "used" includes what placement groups reserve on the node (Ray's
 * text shows reserved-but-idle PG capacity as unused; we undo that). */
int rtext_parse_node_usage(const char *text, size_t len, struct resmap *used,
			   struct resmap *total, char *err);

#endif
