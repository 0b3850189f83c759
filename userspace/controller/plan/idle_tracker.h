/* idle_tracker.h -- how long each worker node has been idle, from successive
 * usage reports (the v1 monitor's, or the autoscaler-v2 node summary stamped
 * with the controller's clock).  Ray's v1 report carries no idle duration,
 * so the controller keeps it across ticks.  Loop thread only. */
#ifndef RAYSENSE_CONTROLLER_IDLE_TRACKER_H
#define RAYSENSE_CONTROLLER_IDLE_TRACKER_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/source/demand.h"

/* Forget a node not seen in any snapshot for this long. */
#define IDLE_FORGET_S 300

struct idle_entry {
	char node_id[80];
	double idle_since;	/* report time of the first idle report; 0 = busy */
	/* Report time of the first report of the current busy run (the
	 * node's first use after it was new or idle); 0 = idle or never seen
	 * in use.  Kept while usage is unknown. */
	double busy_since;
	double last_seen;
};

struct idle_tracker {
	struct idle_entry *v;
	size_t n;
};

/* A node's idle run starts at the first fresh report that shows it idle and
 * ends at any report that shows a resource in use; a node whose usage is
 * missing, unparsed or stale loses its run.  A busy run starts at the first
 * fresh report that shows a resource in use and ends at one that shows the
 * node idle.  -ENOMEM leaves the nodes that
 * did not fit untracked (never idle). */
int idle_tracker_update(struct idle_tracker *t, const struct dash_snapshot *s, bool fresh,
			double now);
/* Report time at which the node's current busy run began (see busy_since);
 * 0 when it is idle, was never seen in use or is not tracked. */
double idle_tracker_busy_since(const struct idle_tracker *t, const char *node_id);
/* Seconds idle; 0 while busy; -1 when the node is not tracked. */
double idle_tracker_seconds(const struct idle_tracker *t, const char *node_id, double now);
void idle_tracker_free(struct idle_tracker *t);

#endif
