/* pg_match.h -- give each pending placement group its strategy under
 * autoscaler v2, where no single source has both.
 *
 * The state API (/api/v0/placement_groups) lists every pending group with
 * its exact bundles but no strategy; the v2 status text (ray_text.h) prints
 * strategies, but one line per strategy|state with ONE example group's
 * bundles and the number of groups (Ray 2.60.0 autoscaler/v2/utils.py
 * _demand_report).  A group's strategy is taken only when it follows from
 * that data for certain:
 *   A. a line's example bundles match exactly one pending group: that group
 *      is the example, so it has the line's strategy;
 *   B. when the groups still without a strategy are exactly as many as the
 *      lines of the one strategy with groups left to account for, they all
 *      have it (e.g. every pending group has the same strategy).
 * Any other group stays unknown: the controller holds it (launches nothing
 * for it) rather than guess a strategy that could launch more nodes than the
 * group needs.  If the two sources disagree (counts differ, an example has
 * no group: they were read at different moments) every group is unknown. */
#ifndef RAYSENSE_CONTROLLER_PG_MATCH_H
#define RAYSENSE_CONTROLLER_PG_MATCH_H

#include <stddef.h>

#include "controller/source/demand.h"

/* Sets pgs[i].known/strategy.  0 when the sources agree (some groups may
 * still be unknown), -EINVAL when they disagree (why says how; all unknown). */
int pg_match_strategies(const struct dash_pg *lines, size_t line_count,
			struct dash_api_pg *pgs, size_t pg_count, char *why, size_t why_size);

/* Same bundles, in any order. */
bool pg_same_bundles(const struct resmap *a, size_t na, const struct resmap *b, size_t nb);

#endif
