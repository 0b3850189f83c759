/* pg_match.c -- strategies of pending placement groups from the state API's
 * groups and the v2 status text's lines (rules in pg_match.h). */
#include "controller/source/pg_match.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define N_STRATEGIES (PLANNER_PG_STRICT_SPREAD + 1)	/* the last strategy, as in planner.c */

static size_t occurrences(const struct resmap *arr, size_t n, const struct resmap *m)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += resmap_equal(&arr[i], m);
	return k;
}

bool pg_same_bundles(const struct resmap *a, size_t na, const struct resmap *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (occurrences(a, na, &a[i]) != occurrences(b, nb, &a[i]))
			return false;
	return true;
}

static int disagree(struct dash_api_pg *pgs, size_t n, char *why, size_t size,
		    const char *fmt, long x, long y)
{
	for (size_t i = 0; i < n; i++)
		pgs[i].known = false;
	snprintf(why, size, fmt, x, y);
	return -EINVAL;
}

/* Rule A: a line whose example matches exactly one group names its strategy. */
static int assign_examples(const struct dash_pg *lines, size_t nl, struct dash_api_pg *pgs,
			   size_t np, long *left, char *why, size_t size)
{
	for (size_t l = 0; l < nl; l++) {
		size_t match = 0, which = 0;

		for (size_t i = 0; i < np; i++)
			if (pg_same_bundles(lines[l].bundles, lines[l].bundle_count,
					    pgs[i].bundles, pgs[i].bundle_count)) {
				match++;
				which = i;
			}
		if (match == 0)
			return disagree(pgs, np, why, size, "status text line %ld: no pending "
					"group in the state API has its bundles (%ld matches)",
					(long)l + 1, 0);
		if (match > 1)
			continue;
		if (pgs[which].known)	/* two lines cannot share one example */
			return disagree(pgs, np, why, size, "status text lines: one group is "
					"the example of two lines (line %ld, group %ld)",
					(long)l + 1, (long)which);
		pgs[which].known = true;
		pgs[which].strategy = lines[l].strategy;
		if (--left[lines[l].strategy] < 0)
			return disagree(pgs, np, why, size, "strategy %ld has more example "
					"groups than its count (line %ld)",
					(long)lines[l].strategy, (long)l + 1);
	}
	return 0;
}

int pg_match_strategies(const struct dash_pg *lines, size_t nl, struct dash_api_pg *pgs,
			size_t np, char *why, size_t size)
{
	long left[N_STRATEGIES] = { 0 }, total = 0, unknown = 0;
	int only = -1, with_left = 0, rc;

	why[0] = '\0';
	for (size_t i = 0; i < np; i++)
		pgs[i].known = false;
	for (size_t l = 0; l < nl; l++) {
		if ((unsigned)lines[l].strategy >= N_STRATEGIES)
			return disagree(pgs, np, why, size, "line %ld: bad strategy %ld",
					(long)l + 1, (long)lines[l].strategy);
		left[lines[l].strategy] += lines[l].count;
		total += lines[l].count;
	}
	if (total != (long)np)
		return disagree(pgs, np, why, size, "the status text counts %ld pending groups, "
				"the state API lists %ld", total, (long)np);
	rc = assign_examples(lines, nl, pgs, np, left, why, size);
	if (rc)
		return rc;
	for (int s = 0; s < N_STRATEGIES; s++)
		if (left[s] > 0) {
			with_left++;
			only = s;
		}
	for (size_t i = 0; i < np; i++)
		unknown += !pgs[i].known;
	/* Rule B: the rest all belong to the one strategy left, if it has
	 * exactly that many groups unaccounted for (always true: total == np). */
	if (with_left == 1 && unknown == left[only])
		for (size_t i = 0; i < np; i++)
			if (!pgs[i].known) {
				pgs[i].known = true;
				pgs[i].strategy = (enum planner_pg_strategy)only;
			}
	return 0;
}
